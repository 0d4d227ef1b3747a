"""Per-task perplexity of a causal LM on a JSONL file: exp(mean negative log-likelihood) over
the scored tokens of each task's records.

Records: {"text": ...} (every token but the first is scored) or {"prompt": ..., "completion": ...}
(the completion is scored), or a chat {"messages": [...]} / {"chat_rounds": [...]} whose last
assistant ("bot") turn is scored after the rest, rendered with the tokenizer's chat template when
it has one (else "role: content" lines). "task" names the record's task (default: the file name).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from ..errors import EvalError

_ASSISTANT = {"assistant", "bot"}
_ROLE = {"human": "user", "bot": "assistant"}


def _chat_parts(turns: list, tokenizer) -> tuple[str, str]:
    last = max((i for i, t in enumerate(turns) if t.get("role") in _ASSISTANT), default=None)
    if last is None:
        raise ValueError("no assistant turn to score")
    history = [{"role": _ROLE.get(t["role"], t["role"]), "content": t["content"]} for t in turns[:last]]
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    else:
        prompt = "".join(f"{t['role']}: {t['content']}\n" for t in history) + "assistant: "
    return prompt, turns[last]["content"]


def record_parts(record: dict, tokenizer) -> tuple[str, str]:
    """(context, scored text) of one record."""
    if "text" in record:
        return "", record["text"]
    if "prompt" in record and "completion" in record:
        return record["prompt"], record["completion"]
    for key in ("messages", "chat_rounds"):
        if key in record:
            return _chat_parts(record[key], tokenizer)
    raise ValueError("expected text, prompt/completion, messages or chat_rounds")


def _encode(tokenizer, context: str, scored: str) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 where not scored); BOS as the tokenizer adds it to the start."""
    head = tokenizer(context, add_special_tokens=True)["input_ids"] if context else []
    body = tokenizer(scored, add_special_tokens=not context)["input_ids"]
    ids = head + body
    labels = [-100] * len(head) + body
    if not head:
        labels[0] = -100  # the first token has nothing to be predicted from
    return ids, labels


def task_perplexity(
    model, tokenizer, path: str | Path, *, batch_size: int = 8, max_length: int | None = None
) -> dict[str, float]:
    """Perplexity per task of the records in `path` (see the module docstring for the schemas)."""
    import torch

    path = Path(path)
    items: list[tuple[str, list[int], list[int]]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                ids, labels = _encode(tokenizer, *record_parts(record, tokenizer))
            except (ValueError, KeyError, TypeError) as exc:
                raise EvalError(f"{path}:{number}: cannot score this record ({exc}); see eval.metrics.perplexity")
            if max_length:
                ids, labels = ids[:max_length], labels[:max_length]
            items.append((str(record.get("task", path.stem)), ids, labels))
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
        for row, (task, _, _) in enumerate(batch):
            nll[task] += losses[row][scored[row]].sum().item()
            count[task] += int(scored[row].sum().item())
    return {task: math.exp(nll[task] / count[task]) if count[task] else float("nan") for task in nll}


def perplexity_from_files(model, tokenizer, paths: Sequence[str | Path], **options) -> dict[str, float]:
    """`task_perplexity` over several files; a task in two files is an error."""
    result: dict[str, float] = {}
    for path in paths:
        for task, value in task_perplexity(model, tokenizer, path, **options).items():
            if task in result:
                raise EvalError(f"task {task!r} appears in more than one perplexity file; give each a distinct task name")
            result[task] = value
    return result
