"""Run assembled programs in the sandbox pool and judge them: source text in, Verdict out."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .errors import EvalError
from .languages import Runner, Verdict
from .sandbox import Sandbox, SandboxPool


@dataclass(frozen=True)
class Job:
    """One program to run: the runner of its language and its full source."""

    runner: Runner
    source: str


class SandboxFailure(RuntimeError):
    """The sandbox could not start a program: an installation problem, not the program's fault."""


def execute(sandbox: Sandbox, job: Job) -> Verdict:
    """Compile and run one program in a fresh folder of `sandbox`; a failed compile skips the run."""
    runner = job.runner
    runner.ensure_ready(sandbox)
    start = time.monotonic()
    with sandbox.workdir() as workdir:
        runner.write_program(sandbox, workdir, job.source)
        verdict = _build_and_run(sandbox, runner, workdir)
    return Verdict(verdict.kind, verdict.detail, round(time.monotonic() - start, 3))


def _build_and_run(sandbox: Sandbox, runner: Runner, workdir: Path) -> Verdict:
    """The runner's build, then its steps; the first failed compile decides the verdict."""
    built = runner.build(sandbox, workdir)
    if built is not None and not built.ok:
        return runner.judge_compile(built)
    env = runner.env(workdir)
    results = []
    for step in runner.steps(workdir):
        result = sandbox.run(step.argv, cwd=workdir, env=env, timeout_s=step.timeout_s, limits=runner.limits)
        if result.error:
            raise SandboxFailure(f"{runner.name}: could not start {step.argv[0]}: {result.error}")
        if step.compile and not result.ok:
            return runner.judge_compile(result)
        results.append(result)
    return runner.judge(results)


def check_toolchains(runners: Sequence[Runner]) -> None:
    """Raise EvalError naming the install command if any runner's toolchain is incomplete."""
    problems = [p for p in (r.toolchain_problem() for r in runners) if p]
    if problems:
        raise EvalError("; ".join(dict.fromkeys(problems)))


def execute_all(
    pool: SandboxPool, jobs: Sequence[Job], on_done: Callable[[int, Verdict], None] | None = None
) -> Iterator[tuple[int, Verdict]]:
    """Yield ``(index, verdict)`` for every job as it finishes, `on_done` called first."""
    check_toolchains(list({id(j.runner): j.runner for j in jobs}.values()))
    for index, verdict in pool.map_unordered(execute, jobs):
        if on_done is not None:
            on_done(index, verdict)
        yield index, verdict
