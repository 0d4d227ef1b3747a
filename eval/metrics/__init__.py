"""Metrics: pass@k, QA token F1, BLEU (sacrebleu) and per-task perplexity.

Importing this package needs neither torch nor sacrebleu; the functions that use them import
them when called.
"""
from .bleu import corpus_bleu
from .pass_at_k import mean_pass_at_k, pass_at_k
from .perplexity import perplexity_from_files, pooled_perplexity, task_perplexity
from .qa_f1 import normalize_answer, qa_f1_score, qa_token_f1

__all__ = [
    "corpus_bleu", "mean_pass_at_k", "normalize_answer", "pass_at_k", "perplexity_from_files",
    "pooled_perplexity", "qa_f1_score", "qa_token_f1", "task_perplexity",
]
