"""mft's data pipeline: JSONL records -> token ids + loss masks -> padded or packed batches.

Usage (see each name's docstring)::

    tok = load_tokenizer("path/to/tokenizer")
    data = build_datasets(cfg, tok, cache_dir=".cache/data")          # MultiTaskData, cached
    rows = plan_rows(data.train, cfg.mode, cfg.seq_length, seed)       # samples per row
    sampler = GlobalBatchSampler(len(rows), world_size=W, rank=r, micro_batch_size=B,
                                 grad_accum=A, seed=seed,
                                 lengths=row_lengths(data.train, rows))  # only if cfg.group_by_length
    # or, with data.mixing (mixing.py: proportions; mixture.py: the sampler):
    rows, row_task = plan_task_rows(data.train, cfg.mode, cfg.seq_length, seed)
    sampler = TaskMixSampler(row_task, K, proportions, world_size=W, rank=r, ...)
    collate = Collator(data.train, cfg.seq_length, tok.pad_token_id)   # pads to the longest row
    for micro in sampler.next_step():                                  # A micro-batches
        batch = collate([rows[i] if i is not None else None for i in micro])
        mask = block_causal_mask(batch["segment_ids"], torch.float32)  # pack mode

Never imports `mft` (dependency direction: launch -> mft -> data_pipeline). `Collator` and
`block_causal_mask` load on first use: they need torch, seconds to import, which reading and
checking a config does not.
"""

from .build import MultiTaskData, build_datasets
from .config import DataConfig, MixingConfig, TaskConfig
from .errors import DataError
from .mixture import ProportionalSampler, TaskMixSampler
from .packing import plan_rows, plan_task_rows, row_lengths
from .samplers import GlobalBatchSampler, StratifiedValidSampler, shard_rows
from .storage import TokenizedSplit
from .tokenizers import load_tokenizer, train_sentencepiece

__all__ = [
    "DataConfig",
    "MixingConfig",
    "TaskConfig",
    "DataError",
    "build_datasets",
    "MultiTaskData",
    "TokenizedSplit",
    "plan_rows",
    "plan_task_rows",
    "row_lengths",
    "Collator",
    "GlobalBatchSampler",
    "ProportionalSampler",
    "TaskMixSampler",
    "StratifiedValidSampler",
    "shard_rows",
    "block_causal_mask",
    "train_sentencepiece",
    "load_tokenizer",
]

_NEED_TORCH = ("Collator", "block_causal_mask")


def __getattr__(name: str) -> object:
    if name in _NEED_TORCH:
        from . import collate

        return getattr(collate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
