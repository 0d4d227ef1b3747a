"""What `init_distributed` asks DeepSpeed for: a CPU backend beside NCCL on CUDA, and the timeout.

The trainer all-reduces CPU float64 tensors; a NCCL-only group rejects them ("No backend type
associated with device type cpu"). These tests pretend CUDA is there and capture the request, so
they run (and would fail on a NCCL-only request) without a GPU.
"""
from __future__ import annotations

import sys
import types
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

from mft import distributed


class _Captured(Exception):
    pass


@pytest.fixture
def fake_deepspeed(monkeypatch):
    """A stand-in `deepspeed` module whose init_distributed records its arguments and stops."""
    calls = []

    def init_distributed(**kwargs):
        calls.append(kwargs)
        raise _Captured

    monkeypatch.setitem(sys.modules, "deepspeed", types.SimpleNamespace(init_distributed=init_distributed))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    return calls


def _pretend_cuda(monkeypatch, available: bool) -> list:
    loaded = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    monkeypatch.setattr(distributed, "load_comm_op", lambda: loaded.append(True))
    return loaded


def test_cuda_group_has_a_cpu_backend_for_the_host_reductions(monkeypatch, fake_deepspeed):
    loaded = _pretend_cuda(monkeypatch, True)
    with pytest.raises(_Captured):
        distributed.init_distributed()
    backend = fake_deepspeed[0]["dist_backend"]
    per_device = dict(part.split(":") for part in backend.split(","))
    assert per_device == {"cpu": "gloo", "cuda": "nccl"}
    assert loaded == []  # the CPU shm op is DeepSpeed's CPU-accelerator path only


def test_cpu_group_is_gloo_and_builds_the_shm_op_first(monkeypatch, fake_deepspeed):
    loaded = _pretend_cuda(monkeypatch, False)
    with pytest.raises(_Captured):
        distributed.init_distributed()
    assert fake_deepspeed[0]["dist_backend"] == "gloo"
    assert loaded == [True]


def test_timeout_reaches_the_process_group(monkeypatch, fake_deepspeed):
    _pretend_cuda(monkeypatch, True)
    with pytest.raises(_Captured):
        distributed.init_distributed(timeout_s=7200)
    assert fake_deepspeed[0]["timeout"] == timedelta(seconds=7200)
    with pytest.raises(_Captured):
        distributed.init_distributed()
    assert fake_deepspeed[1]["timeout"] == timedelta(seconds=3600)  # MFTCoder's default
