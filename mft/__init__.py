"""mft: multi-task fine-tuning of causal language models with convergence balancing (CoBa)."""
__version__ = "0.1.0"
