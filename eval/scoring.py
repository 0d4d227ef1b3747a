"""Summaries of scored samples: pass@k, counts and failure kinds per suite, nested for reports."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, Sequence

from .languages import FAILURE_KINDS
from .metrics import mean_pass_at_k

KS = (1, 10, 100)


def summarize(records: Iterable[dict], ks: Sequence[int] = KS) -> dict:
    """{"pass@1": .., "passed": .., "total": .., "problems": .., "failures": {kind: n}} for one suite.

    `passed` and `total` count samples (problems, with one sample each). pass@k is given for each
    k no larger than the fewest samples any problem has.
    """
    per_task: dict[str, list[bool]] = defaultdict(list)
    failures: Counter = Counter()
    for record in records:
        per_task[record["task_id"]].append(bool(record["passed"]))
        if not record["passed"]:
            failures[record["failure"]] += 1
    summary: dict = {}
    if per_task:
        fewest = min(len(v) for v in per_task.values())
        counts = [(len(v), sum(v)) for v in per_task.values()]
        for k in ks:
            if k <= fewest:
                summary[f"pass@{k}"] = round(mean_pass_at_k(counts, k), 6)
    summary["passed"] = sum(sum(v) for v in per_task.values())
    summary["total"] = sum(len(v) for v in per_task.values())
    summary["problems"] = len(per_task)
    summary["failures"] = {kind: failures[kind] for kind in FAILURE_KINDS if failures[kind]}
    return summary


def nest(by_suite_key: dict[str, dict]) -> dict:
    """{"humaneval-x/cpp": s} -> {"humaneval-x": {"cpp": s}}; other keys stay as they are."""
    nested: dict = {}
    for key, summary in by_suite_key.items():
        if "/" in key:
            benchmark, language = key.split("/", 1)
            nested.setdefault(benchmark, {})[language] = summary
        else:
            nested[key] = summary
    return nested
