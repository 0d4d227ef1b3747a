"""A benchmark suite: problems of one language, each with a prompt, a reference and a test.

A `Suite` is the unit that is generated, executed and scored: HumanEval, one language of
HumanEval-X, or MBPP. Its `assemble` turns a problem and a completion into the program the
established harness runs for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Mapping


@dataclass(frozen=True)
class Stop:
    """Generation ends at `text`; with `keep`, the text belongs to the completion (a closing brace)."""

    text: str
    keep: bool = False


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str  # what the model continues
    reference: str  # the canonical completion (what --canonical scores)
    record: Mapping = field(repr=False)  # the raw benchmark record (tests, entry point, ...)


@dataclass(frozen=True)
class Suite:
    """Problems of one benchmark and language, with their stop sequences and program assembler."""

    benchmark: str  # "humaneval", "humaneval-x", "mbpp"
    language: str  # a runner name: "python", "cpp", "java", "js", "go"
    problems: tuple[Problem, ...]
    stops: tuple[Stop, ...]
    assemble: Callable[[Problem, str], str] = field(repr=False, compare=False)
    aliases: Mapping[str, str] = field(default_factory=dict, repr=False)  # other spellings of task ids

    @property
    def key(self) -> str:
        """'humaneval', 'humaneval-x/cpp', 'mbpp'."""
        return f"{self.benchmark}/{self.language}" if self.benchmark == "humaneval-x" else self.benchmark

    def problem(self, task_id: str | int) -> Problem | None:
        """The problem with this id (or an alias of it), None if the suite has none."""
        task_id = self.aliases.get(str(task_id), str(task_id))
        return self._by_id.get(task_id)

    @cached_property
    def _by_id(self) -> dict[str, Problem]:
        return {p.task_id: p for p in self.problems}
