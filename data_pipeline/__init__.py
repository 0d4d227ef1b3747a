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

Never imports `mft` (dependency direction: launch -> mft -> data_pipeline). Every name loads
its module on first use (PEP 562 `__getattr__`), so `data_pipeline.choices` or
`data_pipeline.config` imports without the reading dependencies (`jsonlines`) or torch
(`Collator`, `block_causal_mask`: seconds to import, which reading a config does not need).
"""
from __future__ import annotations

from importlib import import_module

# each public name -> the module that defines it, imported on first use
_HOMES = {
    "MultiTaskData": "build", "build_datasets": "build",
    "DataConfig": "config", "MixingConfig": "config", "TaskConfig": "config",
    "DataError": "errors",
    "plan_rows": "packing", "plan_task_rows": "packing", "row_lengths": "packing",
    "ProportionalSampler": "mixture", "TaskMixSampler": "mixture",
    "GlobalBatchSampler": "samplers", "StratifiedValidSampler": "samplers", "shard_rows": "samplers",
    "TokenizedSplit": "storage",
    "load_tokenizer": "tokenizers", "train_sentencepiece": "tokenizers",
    "Collator": "collate", "block_causal_mask": "collate",
}
__all__ = list(_HOMES)


def __getattr__(name: str) -> object:
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
