"""Stop sequences: cutting a completion where it ends, and stopping generation there.

`truncate` is what every harness does after generation; `StopOnSequences` lets `generate` end
each row as soon as its text contains a stop sequence, instead of running to max_new_tokens.
"""
from __future__ import annotations

from typing import Sequence

from ..benchmarks.suite import Stop


def truncate(text: str, stops: Sequence[Stop]) -> str:
    """`text` up to its earliest stop sequence (through it when the stop is kept)."""
    best: tuple[int, int] | None = None  # (start, end of the kept text)
    for stop in stops:
        index = text.find(stop.text)
        if index < 0:
            continue
        end = index + len(stop.text) if stop.keep else index
        if best is None or index < best[0] or (index == best[0] and end < best[1]):
            best = (index, end)
    return text if best is None else text[: best[1]]


def make_stopping_criteria(tokenizer, stops: Sequence[Stop], prompt_length: int):
    """A transformers StoppingCriteria that marks each row done once its new text holds a stop."""
    import torch
    from transformers import StoppingCriteria

    texts = [s.text for s in stops]
    # a character can take several tokens (byte fallback): look back far enough for the longest stop
    window = 4 * max((len(t) for t in texts), default=0) + 8

    class StopOnSequences(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            new = input_ids[:, prompt_length:]
            if not texts or new.shape[1] == 0:
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            decoded = tokenizer.batch_decode(new[:, -window:], skip_special_tokens=True)
            done = [any(t in d for t in texts) for d in decoded]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopOnSequences()
