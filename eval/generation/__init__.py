"""Completions from a checkpoint: batched Hugging Face generation with stop sequences."""
from .model import GenerationConfig, generate_batch, load_model
from .stops import make_stopping_criteria, truncate

__all__ = ["GenerationConfig", "generate_batch", "load_model", "make_stopping_criteria", "truncate"]
