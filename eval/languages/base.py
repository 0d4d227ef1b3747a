"""What every language runner provides, and the verdict it returns for a program.

A runner knows how one language is compiled, run and judged: the file name of the program, the
steps (compile, run) with their timeouts, the environment, the resource limits, and how to turn
the steps' exit statuses and output into one failure kind.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..sandbox import Limits, Sandbox, StepResult

PASSED = "passed"
COMPILE_ERROR = "compile_error"
RUNTIME_ERROR = "runtime_error"
TIMEOUT = "timeout"
WRONG_ANSWER = "wrong_answer"
FAILURE_KINDS = (COMPILE_ERROR, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER)

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
DETAIL_CHARS = 2000


@dataclass(frozen=True)
class Verdict:
    """The outcome of one program: `kind` is PASSED or one of FAILURE_KINDS."""

    kind: str
    detail: str = ""  # the end of the output that explains a failure
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.kind == PASSED


@dataclass(frozen=True)
class Step:
    """One command of a program; a failed compile step ends the program."""

    argv: tuple[str, ...]
    timeout_s: float
    compile: bool = False


def tail(text: str, chars: int = DETAIL_CHARS) -> str:
    return text[-chars:]


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


PASS_FILE = "pass_nonce"
EARLY_EXIT = "the program ended its process before its tests finished (exit code 0)"


def write_pass_nonce(sandbox: Sandbox, workdir: Path) -> None:
    """A fresh secret for one run. The language's driver reads and deletes the file before the
    program starts, and prints the secret after the program's last line; the command line carries
    only its hash (`pass_digest`). A program that ends its own process early never prints it."""
    path = workdir / PASS_FILE
    path.write_text(f"mft-passed-{secrets.token_hex(16)}")
    sandbox.give(path)


def pass_digest(workdir: Path) -> str:
    return _sha256((workdir / PASS_FILE).read_text())


def printed_pass(run: StepResult) -> bool:
    """Whether the run's driver printed the nonce whose hash ends its command line."""
    return run.argv[-1] in map(_sha256, run.stdout.splitlines()[-3:])


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Runner(ABC):
    """Compiles, runs and judges programs of one language inside a sandbox."""

    name: str
    source_name: str
    limits: Limits = Limits()

    def __init__(self) -> None:
        self._ready = False
        self._lock = threading.Lock()

    def toolchain_problem(self) -> str | None:
        """None when the toolchain is installed, else a one-line message naming the install command."""
        return None

    def ensure_ready(self, sandbox: Sandbox) -> None:
        """One-time preparation (probe an interpreter, warm a build cache), thread-safe."""
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                self._prepare_once(sandbox)
                self._ready = True

    def _prepare_once(self, sandbox: Sandbox) -> None:
        pass

    def write_program(self, sandbox: Sandbox, workdir: Path, source: str) -> None:
        """Put the program (and anything it needs) into `workdir`, owned by the sandbox user."""
        path = workdir / self.source_name
        path.write_text(source, encoding="utf-8")
        sandbox.give(path)

    def env(self, workdir: Path) -> dict[str, str]:
        """The whole environment of each step: nothing of the evaluator's is passed on."""
        return {"PATH": BASE_PATH, "HOME": str(workdir), "TMPDIR": str(workdir), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}

    def build(self, sandbox: Sandbox, workdir: Path) -> StepResult | None:
        """Compile outside the step list (a compile server); None when the steps compile themselves."""
        return None

    @abstractmethod
    def steps(self, workdir: Path) -> list[Step]:
        """The commands that compile (if needed) and run the program."""

    @abstractmethod
    def judge(self, results: list[StepResult]) -> Verdict:
        """One verdict from the results of all steps (every compile step among them succeeded)."""

    def judge_compile(self, result: StepResult) -> Verdict:
        """The verdict when a compile step (or `build`) failed: a timeout, or a compile error."""
        kind = TIMEOUT if result.over_time else COMPILE_ERROR
        return Verdict(kind, tail(result.output))
