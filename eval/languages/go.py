"""Go: ``go test main_test.go`` offline against Debian's testify, with a warm, private build cache.

GOPATH mode (GO111MODULE=off, GOPATH=/usr/share/gocode) resolves
github.com/stretchr/testify/assert from golang-github-stretchr-testify-dev without a network.
Without a warm cache every program would rebuild testify and its dependencies (seconds each), but
one cache shared by all programs would let one program plant build outputs that another links.
So a template cache is built once, by the evaluator, from a fixed program (testify plus every
package the HumanEval-X import helper may add), and each program gets a copy of it: hard links to
files the sandbox user cannot change, in folders it owns, so its own builds stay private.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import EvalError
from ..sandbox import Limits, Sandbox, StepResult
from ..toolchains import find_tool, missing_message
from .base import COMPILE_ERROR, PASSED, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, Runner, Step, Verdict, tail

GOPATH = "/usr/share/gocode"
TESTIFY = f"{GOPATH}/src/github.com/stretchr/testify/assert"
CACHE_ENV = "MFT_GO_CACHE"
WARMUP_PROGRAM = """package main

import (
    "bytes"
    "crypto/md5"
    "fmt"
    "math"
    "math/rand"
    "regexp"
    "sort"
    "strconv"
    "strings"
    "testing"
    "time"

    "github.com/stretchr/testify/assert"
)

func TestWarmup(t *testing.T) {
    _ = bytes.NewBuffer(nil)
    _ = md5.Sum(nil)
    _ = fmt.Sprint(math.Abs(-1), rand.Intn(2), regexp.MustCompile("a"), strconv.Itoa(1), strings.ToUpper("a"), time.Second)
    s := []int{2, 1}
    sort.Ints(s)
    assert.Equal(t, []int{1, 2}, s)
}
"""


def _go_env(gocache: str, home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "GOTMPDIR": home,
        "GOCACHE": gocache,
        "GO111MODULE": "off",
        "GOPATH": GOPATH,
        "GOPROXY": "off",
        "GOFLAGS": "",
        "CGO_ENABLED": "0",  # no C compiler reachable from a program's build
        "LANG": "C.UTF-8",
    }


def _default_cache_root() -> Path:
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root)
    return Path(os.environ.get("MFT_CACHE", Path.home() / ".cache" / "mft")) / "eval" / "go-build"


def clone_tree(src: Path, dst: Path, sandbox: Sandbox) -> None:
    """Copy `src` into `dst` as hard links (copies across file systems); folders go to the sandbox user."""
    for root, dirs, files in os.walk(src):
        target = dst / os.path.relpath(root, src)
        target.mkdir(exist_ok=True)
        sandbox.give_path(target)
        for name in files:
            try:
                os.link(os.path.join(root, name), target / name)
            except OSError:
                shutil.copy2(os.path.join(root, name), target / name)


class GoRunner(Runner):
    name = "go"
    source_name = "main_test.go"
    limits = Limits(processes=256)

    def __init__(self, timeout_s: float = 60.0, test_timeout_s: float = 10.0, cache_root: str | None = None):
        super().__init__()
        self.timeout_s = timeout_s  # the whole `go test`: build, vet and run
        self.test_timeout_s = test_timeout_s  # go test's own -timeout for the tests
        self.cache_root = Path(cache_root) if cache_root else _default_cache_root()
        self.template: Path | None = None

    def toolchain_problem(self) -> str | None:
        missing = [] if find_tool("go") else ["golang-go"]
        if not os.path.isdir(TESTIFY):
            missing.append("golang-github-stretchr-testify-dev")
        return missing_message("Go", missing) if missing else None

    def _prepare_once(self, sandbox: Sandbox) -> None:
        go = find_tool("go")
        version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip() if go else ""
        template = self.cache_root / (version or "go")
        if not (template / "READY").exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            build = Path(tempfile.mkdtemp(prefix=".build-", dir=template.parent))
            (build / "main_test.go").write_text(WARMUP_PROGRAM)
            result = subprocess.run(
                [go or "go", "test", "main_test.go"], cwd=build, env=_go_env(str(build / "cache"), str(build)),
                capture_output=True, text=True, timeout=600,
            )
            if result.returncode != 0:
                shutil.rmtree(build, ignore_errors=True)
                raise EvalError(f"Go warm-up build failed ({(result.stdout + result.stderr).strip()[-300:]}); "
                                f"check the Go toolchain (`bash eval/toolchains/install.sh`)")
            (build / "cache" / "READY").write_text(version)
            for root, dirs, files in os.walk(build / "cache"):  # readable by every sandbox user, whatever the umask
                os.chmod(root, 0o755)
                for name in files:
                    os.chmod(os.path.join(root, name), 0o644)
            try:
                os.rename(build / "cache", template)
            except OSError:  # another evaluator finished first
                pass
            shutil.rmtree(build, ignore_errors=True)
        self.template = template

    def write_program(self, sandbox: Sandbox, workdir: Path, source: str) -> None:
        super().write_program(sandbox, workdir, source)
        clone_tree(self.template, workdir / "gocache", sandbox)

    def env(self, workdir: Path) -> dict[str, str]:
        return _go_env(str(workdir / "gocache"), str(workdir))

    def steps(self, workdir: Path) -> list[Step]:
        go = find_tool("go") or "go"
        return [Step((go, "test", f"-timeout={self.test_timeout_s:g}s", self.source_name), self.timeout_s)]

    def judge(self, results: list[StepResult]) -> Verdict:
        run = results[-1]
        out = run.output
        if run.ok:
            return Verdict(PASSED)
        if run.over_time or "panic: test timed out" in out:
            return Verdict(TIMEOUT, tail(out))
        if "[build failed]" in out or "[setup failed]" in out:
            return Verdict(COMPILE_ERROR, tail(out))
        if "panic:" in out or "fatal error:" in out:
            return Verdict(RUNTIME_ERROR, tail(out))
        if "--- FAIL" in out:
            return Verdict(WRONG_ANSWER, tail(out))
        return Verdict(RUNTIME_ERROR, tail(out) or f"exit code {run.exit_code}, signal {run.signal}")
