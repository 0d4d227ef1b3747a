"""Python: the program is exec'd by a small driver, as the human-eval and CodeGeeX harnesses do.

Running the file as a script would differ from those harnesses in two ways that change scores:
an `if __name__ == "__main__":` block in a completion would run (and, say, wait on input()), and
a completion that calls exit(0) before the asserts would pass. The driver compiles the program
(a SyntaxError is a compile error), execs it in a fresh namespace whose __name__ is not
"__main__", and reports through its exit code: an AssertionError is a wrong answer, any other
exception, SystemExit included, a runtime error. A program passes only when the driver, after
the program's last line, prints the run's nonce, which it read from a file and deleted before the
program started (the command line carries only its hash): one that ends its own process early,
`os._exit(0)` say, never prints it, and cannot find it to print.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ..errors import EvalError
from ..sandbox import Sandbox, StepResult
from ..toolchains import INSTALL_COMMAND
from .base import (COMPILE_ERROR, EARLY_EXIT, PASS_FILE, PASSED, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, Runner, Step,
                   Verdict, last_line, pass_digest, printed_pass, tail, write_pass_nonce)

PYTHON_ENV = "MFT_SANDBOX_PYTHON"
EXIT_COMPILE, EXIT_ASSERT, EXIT_ERROR = 3, 4, 5
DRIVER = f'''import os, sys, traceback
path = sys.argv[1]
with open("{PASS_FILE}") as f:
    nonce = f.read()
os.remove("{PASS_FILE}")
stdout_fd = os.dup(1)  # the nonce reaches the real stdout even if the program swaps sys.stdout
with open(path, encoding="utf-8") as f:
    source = f.read()
try:
    code = compile(source, path, "exec")
except (SyntaxError, ValueError):
    traceback.print_exc()
    sys.exit({EXIT_COMPILE})
status = 0
try:
    exec(code, {{"__name__": "__program__", "__file__": path}})
except AssertionError:
    traceback.print_exc()
    status = {EXIT_ASSERT}
except BaseException:
    traceback.print_exc()
    status = {EXIT_ERROR}
for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
    try:
        stream.flush()
    except BaseException:
        pass
if status == 0:
    os.write(stdout_fd, ("\\n" + nonce + "\\n").encode())
os._exit(status)  # no waiting on threads the program left running
'''


NUMPY_IMPORT = re.compile(r"^\s*(import|from)\s+numpy\b", re.MULTILINE)
# exit 0: runs and has numpy; exit 3: runs without numpy; anything else: cannot run
PROBE = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('numpy') else 3)"
PROBE_NO_NUMPY = 3


class PythonRunner(Runner):
    """Runs ``python -I driver.py program.py``.

    The interpreter is the first of `$MFT_SANDBOX_PYTHON`, the evaluator's own and
    /usr/bin/python3 that the sandbox user can start, preferring one that imports numpy
    (HumanEval-X's import helper needs it; HumanEval and MBPP do not). The evaluator's own often
    lives under /root (pyenv), out of the sandbox user's reach. Without any numpy, programs that
    do not import it still run, and the first one that does ends the evaluation with one line
    saying what was tried and how to install numpy, rather than scoring it as a runtime error.
    """

    name = "python"
    source_name = "program.py"

    def __init__(self, timeout_s: float = 10.0):
        super().__init__()
        self.timeout_s = timeout_s
        self.interpreter: str | None = None
        self.numpy_problem: str | None = None  # why no interpreter with numpy was found

    def _prepare_once(self, sandbox: Sandbox) -> None:
        candidates = [os.environ.get(PYTHON_ENV), sys.executable, "/usr/bin/python3"]
        tried, without_numpy = [], []
        for candidate in dict.fromkeys(c for c in candidates if c):
            with sandbox.workdir() as wd:
                probe = sandbox.run([candidate, "-I", "-c", PROBE], cwd=wd, env=self.env(wd), timeout_s=30,
                                    limits=self.limits)
            if probe.ok:
                self.interpreter = candidate
                return
            if probe.exit_code == PROBE_NO_NUMPY:
                without_numpy.append(candidate)
                tried.append(f"{candidate}: no numpy")
            else:
                why = last_line(probe.stderr) or f"exit code {probe.exit_code}, signal {probe.signal}"
                tried.append(f"{candidate}: cannot run as the sandbox user ({why})")
        if not without_numpy:
            raise EvalError(f"no Python that the sandbox user can run (tried {'; '.join(tried)}); "
                            f"run `{INSTALL_COMMAND}` (installs python3) or set {PYTHON_ENV}")
        self.interpreter = without_numpy[0]
        self.numpy_problem = (f"this program imports numpy, and no Python that the sandbox user can run has it "
                              f"(tried {'; '.join(tried)}); run `{INSTALL_COMMAND}` (installs python3-numpy) "
                              f"or set {PYTHON_ENV}")

    def write_program(self, sandbox: Sandbox, workdir: Path, source: str) -> None:
        if self.numpy_problem and NUMPY_IMPORT.search(source):
            raise EvalError(self.numpy_problem)
        super().write_program(sandbox, workdir, source)
        (workdir / "driver.py").write_text(DRIVER)
        write_pass_nonce(sandbox, workdir)

    def env(self, workdir: Path) -> dict[str, str]:
        return {**super().env(workdir), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

    def steps(self, workdir: Path) -> list[Step]:
        argv = (self.interpreter or sys.executable, "-I", "driver.py", self.source_name, pass_digest(workdir))
        return [Step(argv, self.timeout_s)]

    def judge(self, results: list[StepResult]) -> Verdict:
        run = results[-1]
        if run.ok and printed_pass(run):
            return Verdict(PASSED)
        if run.ok:
            return Verdict(RUNTIME_ERROR, EARLY_EXIT)
        if run.over_time:
            return Verdict(TIMEOUT, tail(run.stderr))
        kind = {EXIT_COMPILE: COMPILE_ERROR, EXIT_ASSERT: WRONG_ANSWER}.get(run.exit_code, RUNTIME_ERROR)
        return Verdict(kind, tail(run.stderr) or f"exit code {run.exit_code}, signal {run.signal}")
