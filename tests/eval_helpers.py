"""Skips for evaluation tests that need a language's toolchain (`bash eval/toolchains/install.sh`).

Outside CI a missing toolchain skips the test with the installer's one-line message, so the
README's test command passes on a fresh machine without root; in CI (`$CI` set) it fails.
"""
from __future__ import annotations

import os

import pytest

from eval.errors import EvalError
from eval.languages import Runner, make_runner
from eval.sandbox.pool import SandboxPool


def _skip_or_fail(problem: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


def sandbox_numpy_problem(runner: Runner) -> str | None:
    """Why the Python runner's interpreter lacks numpy, which HumanEval-X's Python programs import:
    the runner's own choice (eval/languages/python.py), made in a sandbox as an evaluation makes it."""
    try:
        with SandboxPool(1) as pool:
            pool.submit(lambda sandbox, _: runner.ensure_ready(sandbox), None).result()
    except EvalError as exc:  # no Python the sandbox user can run at all
        return str(exc)
    return runner.numpy_problem


def runner_or_skip(language: str, **options) -> Runner:
    """A runner for `language`, or a skip (a failure in CI) naming what to install."""
    runner = make_runner(language, **options)
    problem = runner.toolchain_problem() or (sandbox_numpy_problem(runner) if runner.name == "python" else None)
    if problem:
        _skip_or_fail(problem)
    return runner


def toolchains_or_skip(*languages: str) -> None:
    for language in languages:
        runner_or_skip(language)
