"""Completions from a checkpoint: batched Hugging Face generation (left padding, KV cache) with stop sequences."""
from .model import GenerationConfig, generate_batch, generate_ids, left_padded, load_model
from .stops import make_stopping_criteria, truncate

__all__ = ["GenerationConfig", "generate_batch", "generate_ids", "left_padded", "load_model", "make_stopping_criteria",
           "truncate"]
