"""Generate -> execute -> score, for checkpoints, sample files or the reference solutions.

    evaluator = Evaluator(suites, out_dir, pool)
    evaluator.canonical()                      # {suite key: summary}
    evaluator.samples("completions.jsonl")
    evaluator.checkpoint("runs/x/best", "x", GenerationConfig(num_samples=1))

Each source gets a folder under `out_dir` with one JSONL file per suite (one line per scored
sample, appended as samples finish, so an interrupted run resumes where it stopped), a
`settings.json` (resuming with other settings is refused) and a `summary.json`. Completions are
executed while the next batch is generated.
"""
from __future__ import annotations

import hashlib
import json
import sys
from concurrent.futures import Future, wait
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .benchmarks import Problem, Suite
from .execution import Job, check_toolchains, execute
from .generation import GenerationConfig
from .languages import Runner, make_runner
from .prompt_format import Prompter, resolve_format
from .results import SampleStore, check_settings
from .samples import read_samples
from .sandbox import SandboxPool
from .scoring import summarize

Work = Iterator[tuple[Problem, int, str, str | None]]  # (problem, sample index, completion, prompt text or None)


def suite_file(suite: Suite) -> str:
    return suite.key.replace("/", "-") + ".jsonl"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Evaluator:
    """Scores sources on `suites` in `pool`, writing results under `out_dir`."""

    def __init__(
        self,
        suites: Sequence[Suite],
        out_dir: str | Path,
        pool: SandboxPool,
        *,
        progress: bool = True,
        runners: dict[str, Runner] | None = None,
    ):
        self.suites = list(suites)
        self.out_dir = Path(out_dir)
        self.pool = pool
        self.progress = progress
        self.runners = runners or {}
        for suite in self.suites:
            self.runners.setdefault(suite.language, make_runner(suite.language))
        check_toolchains([self.runners[s.language] for s in self.suites])

    # --- sources ---------------------------------------------------------------------------

    def canonical(self, name: str = "canonical") -> dict[str, dict]:
        """Score each suite's reference solutions."""
        folder = self._folder(name, {"source": "canonical"})
        return {s.key: self._score(folder, s, name, [(p, 0, p.reference, None) for p in s.problems]) for s in self.suites}

    def samples(self, path: str | Path, name: str | None = None) -> dict[str, dict]:
        """Score completions produced elsewhere; only suites with samples are reported."""
        path = Path(path)
        by_suite = read_samples(path, self.suites)
        name = name or path.stem
        folder = self._folder(name, {"source": "samples", "file": str(path.resolve()), "sha256": _file_digest(path)})
        return {s.key: self._score(folder, s, name, [(*w, None) for w in by_suite[s.key]])
                for s in self.suites if s.key in by_suite}

    def checkpoint(
        self, path: str | Path, name: str, config: GenerationConfig, *, mbpp_prompt: str = "3shot",
        prompt_format: str = "auto",
    ) -> dict[str, dict]:
        """Generate completions with the model in `path` and score them (the model is loaded
        only if some sample is not scored yet). `prompt_format`: see eval.prompt_format."""
        from .generation import load_model

        fmt = resolve_format(path, prompt_format)
        settings = {"source": "checkpoint", "path": str(Path(path).resolve()), "mbpp_prompt": mbpp_prompt,
                    "prompt_format": "raw" if fmt is None else asdict(fmt),
                    **{k: v for k, v in asdict(config).items() if k not in ("batch_size", "device")}}
        folder = self._folder(name, settings)
        pending = {}
        for suite in self.suites:
            store = SampleStore(folder / suite_file(suite))
            samples = [(p, i) for p in suite.problems for i in range(config.num_samples)]
            pending[suite.key] = [(p, i) for p, i in samples if not store.done(p.task_id, i)]
        model, tokenizer = load_model(path, config) if any(pending.values()) else (None, None)
        prompter = Prompter(tokenizer, fmt) if model is not None else None
        return {
            s.key: self._score(folder, s, name, _generate(model, prompter, s, pending[s.key], config), len(pending[s.key]))
            for s in self.suites
        }

    # --- the shared part --------------------------------------------------------------------

    def _folder(self, name: str, settings: dict) -> Path:
        folder = self.out_dir / name
        check_settings(folder, settings)
        return folder

    def _score(self, folder: Path, suite: Suite, source: str, work: Iterable[tuple[Problem, int, str, str | None]],
               total: int | None = None) -> dict:
        """Run the completions of `work` not scored yet, append their results, summarize the suite.

        `work` may be lazy (generation); then `total` says how many items it will yield.
        """
        store = SampleStore(folder / suite_file(suite))
        if total is None:
            work = [w for w in work if not store.done(w[0].task_id, w[1])]
            total = len(work)
        runner = self.runners[suite.language]
        bar = _progress_bar(total, f"{source} {suite.key}", self.progress)
        futures: list[Future] = []
        try:
            for problem, sample, completion, prompt in work:
                if store.done(problem.task_id, sample):
                    continue
                job = Job(runner, suite.assemble(problem, completion))
                record = _execute_and_record(store, problem.task_id, sample, completion, prompt, bar)
                futures.append(self.pool.submit(record, job))
            wait(futures)
            for future in futures:
                future.result()  # a sandbox failure stops the run with its message
        finally:
            for future in futures:
                future.cancel()
            bar.close()
        (folder / "summary.json").write_text(json.dumps(self._summaries(folder), indent=2) + "\n")
        return _summarize_suite(suite, store)

    def _summaries(self, folder: Path) -> dict:
        """Summaries of every suite with results in `folder` (this run's and earlier runs')."""
        return {s.key: _summarize_suite(s, SampleStore(folder / suite_file(s)))
                for s in self.suites if (folder / suite_file(s)).exists()}


def _summarize_suite(suite: Suite, store: SampleStore) -> dict:
    ids = {p.task_id for p in suite.problems}  # with --limit, only the problems asked for
    return summarize(r for (task_id, _), r in store.records.items() if task_id in ids)


def _generate(model, prompter: Prompter, suite: Suite, pending: list[tuple[Problem, int]], config: GenerationConfig) -> Work:
    """Completions for `pending` (problem, sample index), a batch at a time, as they are made."""
    from .generation import generate_batch

    for start in range(0, len(pending), config.batch_size):
        batch = pending[start:start + config.batch_size]
        first_problem, first_sample = batch[0]
        prompts = [prompter.ids(p.prompt) for p, _ in batch]
        completions = generate_batch(model, prompter.tokenizer, prompts, suite.stops, config,
                                     seed_key=f"{suite.key}:{first_problem.task_id}:{first_sample}")
        yield from ((p, i, c, prompter.text(ids)) for (p, i), c, ids in zip(batch, completions, prompts))


def _execute_and_record(store: SampleStore, task_id: str, sample: int, completion: str, prompt: str | None, bar):
    """The pool task: run the program, then append its record (before the future completes)."""

    def task(sandbox, job: Job) -> None:
        store.add(task_id, sample, completion, execute(sandbox, job), prompt=prompt)
        bar.update(1)

    return task


def _progress_bar(total: int, description: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="sample", disable=not enabled, file=sys.stderr, dynamic_ncols=True)
