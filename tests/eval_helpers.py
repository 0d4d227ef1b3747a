"""Skips for evaluation tests that need a language's toolchain (`bash eval/toolchains/install.sh`).

Outside CI a missing toolchain skips the test with the installer's one-line message, so the
README's test command passes on a fresh machine without root; in CI (`$CI` set) it fails.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from eval.languages import Runner, make_runner
from eval.languages.python import PYTHON_ENV
from eval.toolchains import INSTALL_COMMAND


def _skip_or_fail(problem: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


def sandbox_numpy_problem() -> str | None:
    """Why the sandbox's Python may lack numpy, which HumanEval-X's Python programs import.

    As root the sandbox runs programs as other users, who cannot reach a Python under /root, so
    it falls back to /usr/bin/python3 (unless $MFT_SANDBOX_PYTHON names one)."""
    if os.geteuid() != 0 or os.environ.get(PYTHON_ENV):
        return None
    probe = subprocess.run(["/usr/bin/python3", "-I", "-c", "import numpy"], capture_output=True)
    if probe.returncode == 0:
        return None
    return f"/usr/bin/python3 has no numpy, which HumanEval-X's Python programs import; install with `{INSTALL_COMMAND}`"


def runner_or_skip(language: str, **options) -> Runner:
    """A runner for `language`, or a skip (a failure in CI) naming what to install."""
    runner = make_runner(language, **options)
    problem = runner.toolchain_problem() or (sandbox_numpy_problem() if runner.name == "python" else None)
    if problem:
        _skip_or_fail(problem)
    return runner


def toolchains_or_skip(*languages: str) -> None:
    for language in languages:
        runner_or_skip(language)
