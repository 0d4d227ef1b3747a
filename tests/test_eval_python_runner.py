"""How the Python runner picks the sandbox's interpreter when none has numpy.

A fresh machine often has a Debian python3 without numpy, and an evaluator's Python under /root
that the sandbox user cannot start. HumanEval and MBPP programs do not import numpy and must
still run; a HumanEval-X program, which does, must end the evaluation with one line naming the
install command, not be scored as a runtime error.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from eval.errors import EvalError
from eval.languages.python import PROBE_NO_NUMPY, PythonRunner
from eval.sandbox import StepResult


class ProbeSandbox:
    """Answers the interpreter probe with a fixed exit code per interpreter."""

    def __init__(self, tmp_path: Path, exit_codes: dict[str, int]):
        self.tmp_path, self.exit_codes, self.probed = tmp_path, exit_codes, []

    @contextlib.contextmanager
    def workdir(self):
        yield self.tmp_path

    def give(self, path: Path) -> None:
        pass

    def run(self, argv, **_):
        self.probed.append(argv[0])
        code = self.exit_codes.get(argv[0], 127)
        return StepResult(tuple(argv), code, None, False, "", "permission denied" if code == 127 else "", 0, 0, 0.0, 0.0)


def test_an_interpreter_with_numpy_is_preferred(tmp_path, monkeypatch):
    monkeypatch.setenv("MFT_SANDBOX_PYTHON", "/opt/a")
    monkeypatch.setattr("sys.executable", "/opt/b")
    runner = PythonRunner()
    runner.ensure_ready(ProbeSandbox(tmp_path, {"/opt/a": PROBE_NO_NUMPY, "/opt/b": 0}))
    assert runner.interpreter == "/opt/b" and runner.numpy_problem is None


def test_without_numpy_plain_programs_run_and_numpy_programs_stop_with_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MFT_SANDBOX_PYTHON", raising=False)
    monkeypatch.setattr("sys.executable", "/root/venv/bin/python")
    sandbox = ProbeSandbox(tmp_path, {"/usr/bin/python3": PROBE_NO_NUMPY})
    runner = PythonRunner()
    runner.ensure_ready(sandbox)
    assert sandbox.probed == ["/root/venv/bin/python", "/usr/bin/python3"]
    assert runner.interpreter == "/usr/bin/python3"
    runner.write_program(sandbox, tmp_path, "def f():\n    return 1\n")
    assert (tmp_path / "program.py").exists()
    with pytest.raises(EvalError) as error:
        runner.write_program(sandbox, tmp_path, "import math\nimport numpy as np\n")
    message = str(error.value)
    assert "\n" not in message and "eval/toolchains/install.sh" in message
    assert "/root/venv/bin/python: cannot run as the sandbox user (permission denied)" in message
    assert "/usr/bin/python3: no numpy" in message


def test_no_runnable_interpreter_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MFT_SANDBOX_PYTHON", raising=False)
    monkeypatch.setattr("sys.executable", "/root/venv/bin/python")
    with pytest.raises(EvalError, match=r"no Python that the sandbox user can run \(tried /root/venv/bin/python"):
        PythonRunner().ensure_ready(ProbeSandbox(tmp_path, {}))
