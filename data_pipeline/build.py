"""`build_datasets`: the tasks' JSONL files -> tokenized train and valid splits (cached).

For every task, in config order: read its train files (and valid files), normalise and encode
every record, apply data.on_bad_record to records that cannot be used, hold out a seeded
valid_fraction when the task has no valid files, and store all samples in two
`TokenizedSplit`s whose task ids are the tasks' positions in data.tasks.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from . import cache
from .config import DataConfig, TaskConfig
from .encode import Encoder
from .errors import DataError
from .parallel import ChunkEncoder, Parsed, chunked
from .records import BadRecord, normalize_record, read_jsonl
from .storage import TokenizedSplit

Sample = tuple[np.ndarray, np.ndarray]  # (input_ids int32, loss_mask uint8)
logger = logging.getLogger(__name__)

RECORD_FIX = 'fix the record or set data.on_bad_record="skip"'
SKIPPED_LINES_SHOWN = 3  # per file, in the summary of skipped records
TOO_LONG_FIX = 'raise data.seq_length or set data.on_bad_record="skip"'


@dataclass
class MultiTaskData:
    """Everything the trainer needs from the data: task names, both splits, statistics.

    stats[task_name] = {"records", "skipped" {reason: n}, "skipped_by_file" {path: {reason: n}},
    "skipped_lines" {path: [the first few line numbers]}, "files" [train then valid paths],
    "train_samples", "valid_samples", "train_tokens", "valid_tokens", "train_loss_tokens",
    "valid_loss_tokens"}.
    """

    task_names: list[str]
    train: TokenizedSplit
    valid: TokenizedSplit
    stats: dict
    from_cache: bool
    cache_path: str | None = None


@dataclass
class _FileResult:
    samples: list[Sample]
    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    first_skipped: list[int] = field(default_factory=list)  # line numbers, the first few


def build_datasets(
    cfg: DataConfig,
    tokenizer: Any,
    *,
    cache_dir: str | None = None,
    num_workers: int = 1,
    log: Callable[[str], None] = logger.info,
) -> MultiTaskData:
    """Tokenize every task of `cfg` (or load the cached result) into train and valid splits.

    `cache_dir` (else cfg.cache_dir; neither means no cache) holds finished entries, see
    cache.py. `num_workers` > 1 tokenizes in a fork-based process pool with identical results.
    `log` receives one-line summaries (what was built or loaded, and skipped records).
    Raises DataError for every problem with the data, naming file and line and the fix.
    """
    cfg.validate()
    check_files(cfg)
    task_names = [task.name for task in cfg.tasks]
    root = cache_dir or cfg.cache_dir or None
    key = cache.cache_key(cfg, tokenizer) if root else ""
    data = _load_cached(root, key, cfg) if root else None
    if data is None:
        train, valid, stats = _tokenize_tasks(cfg, tokenizer, num_workers)
        path = None
        if root:
            path = str(cache.write_entry(root, key, train, valid, {"task_names": task_names, "stats": stats}))
            written = cache.load_entry(root, key)
            assert written is not None, f"cache entry {path} vanished right after it was written"
            train, valid = written[0], written[1]  # memory-mapped, exactly as a later cache hit
        data = MultiTaskData(task_names, train, valid, stats, from_cache=False, cache_path=path)
    _log_summary(data, log)
    return data


def _load_cached(root: str, key: str, cfg: DataConfig) -> MultiTaskData | None:
    hit = cache.load_entry(root, key)
    if hit is None:
        return None
    train, valid, meta = hit
    path = os.path.join(root, key)
    task_names = [task.name for task in cfg.tasks]
    if meta["task_names"] != task_names:
        raise DataError(f"{path}: cache entry lists tasks {meta['task_names']}, not {task_names}; delete it")
    stats = {name: _renamed_files(meta["stats"][name], task) for name, task in zip(task_names, cfg.tasks)}
    return MultiTaskData(task_names, train, valid, stats, from_cache=True, cache_path=path)


def _renamed_files(stats: dict, task: TaskConfig) -> dict:
    """A cached task's statistics with its files named as in this config: entries are keyed by
    content, so a copy of the data elsewhere hits the entry its first location wrote."""
    names = dict(zip(stats["files"], [*task.train, *task.valid]))
    return {**stats, "files": [*task.train, *task.valid],
            "skipped_by_file": {names[p]: v for p, v in stats["skipped_by_file"].items()},
            "skipped_lines": {names[p]: v for p, v in stats["skipped_lines"].items()}}


def _tokenize_tasks(cfg: DataConfig, tokenizer: Any, num_workers: int) -> tuple[TokenizedSplit, TokenizedSplit, dict]:
    """Read and encode every task: (train split, valid split, stats)."""
    encoder = Encoder(tokenizer, cfg.chat_template)
    train_parts: list[list[Sample]] = []
    valid_parts: list[list[Sample]] = []
    stats: dict[str, dict] = {}
    with ChunkEncoder(encoder, num_workers) as chunk_encoder:
        for index, task in enumerate(cfg.tasks):
            train_samples, valid_samples, stats[task.name] = _build_task(cfg, index, task, chunk_encoder)
            train_parts.append(train_samples)
            valid_parts.append(valid_samples)
    train = _to_split(train_parts)
    valid = _to_split(valid_parts)
    _add_token_stats(stats, [task.name for task in cfg.tasks], train, valid)
    return train, valid, stats


def check_files(cfg: DataConfig) -> None:
    """Raise `DataError` for the first training or validation file that is missing or holds no
    record, naming the file and its key; reads no further than each file's first record."""
    for i, task in enumerate(cfg.tasks):
        for kind in ("train", "valid"):
            for j, path in enumerate(getattr(task, kind)):
                key = f"data.tasks[{i}].{kind}[{j}]"
                if not os.path.isfile(path):
                    what = "is a directory, not a JSONL file" if os.path.isdir(path) else "file not found"
                    raise DataError(f"{path}: {what}; fix {key} (task {task.name!r})")
                if not _has_content(path):
                    raise DataError(f"{path}: file is empty (no records); add JSONL records or remove it from {key}")


def _has_content(path: str) -> bool:
    with open(path, "rb") as f:
        return any((line[3:] if n == 0 and line.startswith(b"\xef\xbb\xbf") else line).strip()
                   for n, line in enumerate(f))


def _build_task(
    cfg: DataConfig, index: int, task: TaskConfig, chunk_encoder: ChunkEncoder
) -> tuple[list[Sample], list[Sample], dict]:
    """Samples of one task: (train, valid, stats)."""
    per_file = {}
    for kind in ("train", "valid"):
        for j, path in enumerate(getattr(task, kind)):
            per_file[(kind, j)] = _read_file(cfg, path, f"data.tasks[{index}].{kind}[{j}]", chunk_encoder)
    train = [s for (kind, _), res in per_file.items() if kind == "train" for s in res.samples]
    valid = [s for (kind, _), res in per_file.items() if kind == "valid" for s in res.samples]
    if not task.valid:
        train, valid = _hold_out(train, task, index, cfg.split_seed)

    skipped_by_file: dict[str, dict[str, int]] = {}
    skipped_lines: dict[str, list[int]] = {}
    for (kind, j), res in per_file.items():
        if res.skipped:
            path = getattr(task, kind)[j]
            merged = Counter(skipped_by_file.get(path, {})) + res.skipped
            skipped_by_file[path] = dict(sorted(merged.items()))
            skipped_lines[path] = sorted(set(skipped_lines.get(path, []) + res.first_skipped))[:SKIPPED_LINES_SHOWN]
    skipped = sum((res.skipped for res in per_file.values()), Counter())
    stats = {
        "records": sum(res.records for res in per_file.values()),
        "skipped": dict(sorted(skipped.items())),
        "skipped_by_file": skipped_by_file,
        "skipped_lines": skipped_lines,
        "files": [*task.train, *task.valid],
        "train_samples": len(train),
        "valid_samples": len(valid),
    }
    return train, valid, stats


def _read_file(cfg: DataConfig, path: str, key: str, chunk_encoder: ChunkEncoder) -> _FileResult:
    """Encode every record of one JSONL file, applying data.on_bad_record."""
    result = _FileResult(samples=[])

    def parsed() -> Iterator[Parsed]:
        for line_no, value in read_jsonl(path):
            if not isinstance(value, BadRecord):
                try:
                    value = normalize_record(value, cfg.schema)
                except BadRecord as bad:
                    value = bad
            yield line_no, value

    for chunk in chunk_encoder.map(chunked(parsed())):
        for line_no, outcome in chunk:
            result.records += 1
            if isinstance(outcome, DataError):
                raise DataError(f"{path}:{line_no}: {outcome}")
            if not isinstance(outcome, BadRecord) and len(outcome[0]) > cfg.seq_length:
                outcome = BadRecord(
                    "too_long", f"sample is {len(outcome[0])} tokens, longer than data.seq_length={cfg.seq_length}"
                )
            if isinstance(outcome, BadRecord):
                if cfg.on_bad_record == "error":
                    fix = TOO_LONG_FIX if outcome.reason == "too_long" else RECORD_FIX
                    raise DataError(f"{path}:{line_no}: {outcome.detail}; {fix}")
                result.skipped[outcome.reason] += 1
                if len(result.first_skipped) < SKIPPED_LINES_SHOWN:
                    result.first_skipped.append(line_no)
                continue
            result.samples.append(outcome)

    if not result.samples:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items()))
        raise DataError(
            f"{path}: no usable records, all {result.records} were skipped ({reasons}); "
            f"fix the records or remove the file from {key}"
        )
    return result


def _hold_out(samples: list[Sample], task: TaskConfig, index: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Split off a seeded random valid_fraction (at least 1 sample, leaving at least 1)."""
    n = len(samples)
    n_valid = max(1, round(n * task.valid_fraction))
    if n_valid >= n:
        raise DataError(
            f"data.tasks[{index}].valid_fraction: task {task.name!r} has {n} usable training record(s), "
            f"too few to hold out {task.valid_fraction} and keep 1 for training; add records or give valid files"
        )
    rng = np.random.default_rng([seed, index])
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.permutation(n)[:n_valid]] = True
    train = [s for s, c in zip(samples, chosen) if not c]
    valid = [s for s, c in zip(samples, chosen) if c]
    return train, valid


def _to_split(parts: list[list[Sample]]) -> TokenizedSplit:
    samples = [s for part in parts for s in part]
    task_ids = np.concatenate([np.full(len(part), k, dtype=np.int32) for k, part in enumerate(parts)])
    return TokenizedSplit.from_samples(samples, task_ids, num_tasks=len(parts))


def _add_token_stats(stats: dict, task_names: list[str], train: TokenizedSplit, valid: TokenizedSplit) -> None:
    for split_name, split in (("train", train), ("valid", valid)):
        lengths = np.asarray(split.lengths, dtype=np.int64)
        sample_of_token = np.repeat(np.asarray(split.task_ids), lengths)
        learned = np.asarray(split.loss_mask, dtype=bool)
        for k, name in enumerate(task_names):
            stats[name][f"{split_name}_tokens"] = int(lengths[np.asarray(split.task_ids) == k].sum())
            stats[name][f"{split_name}_loss_tokens"] = int(np.count_nonzero(learned & (sample_of_token == k)))


def _first_lines(path: str, lines: list[int], total: int) -> str:
    """' (at a.jsonl:3, a.jsonl:7, ...)': where to look first among a file's skipped records."""
    if not lines:
        return ""
    more = ", ..." if total > len(lines) else ""
    return " (at " + ", ".join(f"{path}:{n}" for n in lines) + more + ")"


def _log_summary(data: MultiTaskData, log: Callable[[str], None]) -> None:
    source = f"loaded from cache {data.cache_path}" if data.from_cache else "tokenized"
    if data.cache_path and not data.from_cache:
        source += f", cached at {data.cache_path}"
    log(
        f"data: {len(data.task_names)} task(s), {len(data.train)} train / {len(data.valid)} valid samples, "
        f"{data.train.num_tokens()} train tokens ({source})"
    )
    skipped = [
        f"{path}: " + ", ".join(f"{n} {reason}" for reason, n in reasons.items())
        + _first_lines(path, data.stats[task]["skipped_lines"].get(path, []), sum(reasons.values()))
        for task in data.task_names
        for path, reasons in data.stats[task]["skipped_by_file"].items()
    ]
    if skipped:
        total = sum(sum(data.stats[task]["skipped"].values()) for task in data.task_names)
        log(f"data: skipped {total} bad record(s): " + "; ".join(skipped))
