"""SQuAD-style token F1, as XTREME-UP scores in-language QA.

Normalisation: lowercase, delete ASCII punctuation, replace the words a/an/the by a space,
collapse whitespace, split on whitespace. F1 = 2PR / (P + R) over the multiset of tokens the
prediction and a reference share (0 when they share none); the best reference counts.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    text = text.lower().translate(_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _f1(prediction_tokens: list[str], reference_tokens: list[str]) -> float:
    common = sum((Counter(prediction_tokens) & Counter(reference_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(prediction_tokens)
    recall = common / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_token_f1(prediction: str, references: str | Sequence[str]) -> float:
    """Token F1 in [0, 1] of one prediction against its reference(s), the max over references."""
    if isinstance(references, str):
        references = [references]
    if not references:
        raise ValueError("qa_token_f1 needs at least one reference answer")
    tokens = normalize_answer(prediction).split()
    return max(_f1(tokens, normalize_answer(r).split()) for r in references)


def qa_f1_score(predictions: Sequence[str], references: Sequence[str | Sequence[str]]) -> float:
    """Mean token F1 over examples, times 100 (the number XTREME-UP reports)."""
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"need as many predictions as references (>0), got {len(predictions)} and {len(references)}")
    return 100.0 * sum(qa_token_f1(p, r) for p, r in zip(predictions, references)) / len(predictions)
