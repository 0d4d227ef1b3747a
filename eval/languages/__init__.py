"""Language runners by name: how programs are compiled, run and judged."""
from __future__ import annotations

from ..errors import EvalError
from .base import COMPILE_ERROR, FAILURE_KINDS, PASSED, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, Runner, Step, Verdict
from .cpp import CppRunner
from .go import GoRunner
from .java import JavaRunner
from .javascript import JavaScriptRunner
from .python import PythonRunner

RUNNERS: dict[str, type[Runner]] = {
    "python": PythonRunner,
    "cpp": CppRunner,
    "java": JavaRunner,
    "js": JavaScriptRunner,
    "go": GoRunner,
}
ALIASES = {"py": "python", "c++": "cpp", "javascript": "js", "golang": "go"}


def canonical_language(name: str) -> str:
    """'JavaScript' -> 'js'; an unknown name is an EvalError listing the known ones."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in RUNNERS:
        raise EvalError(f"unknown language {name!r}; choose from {', '.join(RUNNERS)}")
    return key


def make_runner(name: str, **options) -> Runner:
    """A new runner for `name` (options: the runner's timeouts)."""
    return RUNNERS[canonical_language(name)](**options)


__all__ = [
    "COMPILE_ERROR", "FAILURE_KINDS", "PASSED", "RUNTIME_ERROR", "TIMEOUT", "WRONG_ANSWER",
    "Runner", "Step", "Verdict", "RUNNERS", "canonical_language", "make_runner",
    "CppRunner", "GoRunner", "JavaRunner", "JavaScriptRunner", "PythonRunner",
]
