"""Corpus BLEU (code comments) through sacrebleu, the reference implementation (an extra:
``pip install -e ".[eval]"``)."""
from __future__ import annotations

from typing import Sequence

from ..errors import EvalError


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], tokenize: str = "13a"
) -> float:
    """BLEU (0-100) of `hypotheses` against one reference each, or several (a list per hypothesis)."""
    try:
        import sacrebleu
    except ImportError:
        raise EvalError('BLEU needs sacrebleu: pip install -e ".[eval]" (or pip install sacrebleu)')
    if len(hypotheses) != len(references):
        raise ValueError(f"need one reference entry per hypothesis, got {len(hypotheses)} and {len(references)}")
    per_hypothesis = [[r] if isinstance(r, str) else list(r) for r in references]
    width = max((len(r) for r in per_hypothesis), default=1)
    # sacrebleu wants reference streams: stream j holds the j-th reference of every hypothesis
    streams = [[r[j] if j < len(r) else None for r in per_hypothesis] for j in range(width)]
    return float(sacrebleu.corpus_bleu(list(hypotheses), streams, tokenize=tokenize).score)
