"""Per-task perplexity of a causal LM on a JSONL file: exp(mean negative log-likelihood) over
the scored tokens of each task's records.

Records in data_pipeline's schemas ({"prompt", "completion"}, {"messages"}, {"chat_rounds"}) are
encoded by data_pipeline's own Encoder, exactly as training encodes them (same template choice,
same loss mask: every answer turn and the token that closes it). A {"text": ...} record has no
prompt: every token but the first is scored. "task" names the record's task (default: the file
name).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from data_pipeline.encode import Encoder
from data_pipeline.records import BadRecord, normalize_record

from ..errors import EvalError


def encode_record(record: Any, encoder: Encoder) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 where not scored) of one record."""
    if isinstance(record, dict) and "text" in record:
        ids = encoder.tokenizer(record["text"])["input_ids"]
        return ids, [-100] + ids[1:]
    ids, mask = encoder.encode(normalize_record(record, "auto"))
    return ids, [i if m else -100 for i, m in zip(ids, mask)]


def task_perplexity(
    model, tokenizer, path: str | Path, *, chat_template: str = "auto", batch_size: int = 8,
    max_length: int | None = None,
) -> dict[str, float]:
    """Perplexity per task of the records in `path` (see the module docstring for the schemas);
    `chat_template` is the model's data.chat_template ("auto" or "default")."""
    items = _read_items(Path(path), Encoder(tokenizer, chat_template), max_length)
    nll, count = _nll_sums(model, tokenizer, items, batch_size)
    return {name: math.exp(nll[name] / count[name]) if count[name] else float("nan") for name in nll}


def pooled_perplexity(model, tokenizer, paths: Sequence[str | Path], *, chat_template: str = "auto",
                      batch_size: int = 8) -> float:
    """One perplexity over every scored token of every record in `paths` (one task's test files)."""
    encoder = Encoder(tokenizer, chat_template)
    items = [(str(p), ids, labels) for p in paths for _, ids, labels in _read_items(Path(p), encoder, None)]
    nll, count = _nll_sums(model, tokenizer, items, batch_size)
    total = sum(count.values())
    return math.exp(sum(nll.values()) / total) if total else float("nan")


def _read_items(path: Path, encoder: Encoder, max_length: int | None) -> list[tuple[str, list[int], list[int]]]:
    """(task, ids, labels) of every record in `path`."""
    items = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                ids, labels = encode_record(record, encoder)
            except BadRecord as bad:
                raise EvalError(f"{path}:{number}: cannot score this record ({bad.detail}); see eval.metrics.perplexity")
            except (ValueError, KeyError, TypeError) as exc:
                raise EvalError(f"{path}:{number}: cannot score this record ({exc}); see eval.metrics.perplexity")
            if max_length:
                ids, labels = ids[:max_length], labels[:max_length]
            items.append((str(record.get("task", path.stem)), ids, labels))
    return items


def _nll_sums(model, tokenizer, items, batch_size: int) -> tuple[dict[str, float], dict[str, int]]:
    """Summed negative log-likelihood and scored-token count per task name."""
    import torch

    nll: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        width = max(len(ids) for _, ids, _ in batch)
        ids = torch.tensor([i + [pad] * (width - len(i)) for _, i, _ in batch], device=model.device)
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for _, i, _ in batch], device=model.device)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, _, lab in batch], device=model.device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=-100, reduction="none"
        )
        scored = labels[:, 1:] != -100
        for row, (name, _, _) in enumerate(batch):
            nll[name] += losses[row][scored[row]].sum().item()
            count[name] += int(scored[row].sum().item())
    return nll, count


def perplexity_from_files(model, tokenizer, paths: Sequence[str | Path], **options) -> dict[str, float]:
    """`task_perplexity` over several files; a task in two files is an error."""
    result: dict[str, float] = {}
    for path in paths:
        for task, value in task_perplexity(model, tokenizer, path, **options).items():
            if task in result:
                raise EvalError(f"task {task!r} appears in more than one perplexity file; give each a distinct task name")
            result[task] = value
    return result
