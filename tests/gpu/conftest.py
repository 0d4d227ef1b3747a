"""GPU tests: skipped on a machine without CUDA (run them with `pytest tests/gpu` on a GPU node)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _needs_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
