"""mft.summary.memory_trace: per-phase resident memory and peak, written only when asked for."""
import json
import os
import sys

import pytest

from mft.summary import live_tensor_mb, memory_trace, proc_status_mb

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")


def test_off_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("MFT_MEMORY_TRACE", raising=False)
    assert memory_trace(str(tmp_path), 0, "load") is None
    assert not os.path.exists(tmp_path / "memory_trace.jsonl")


def test_records_the_phase_peak_and_resets_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MFT_MEMORY_TRACE", "1")
    memory_trace(str(tmp_path), 1, "before")
    block = bytearray(64 * 2**20)  # touched pages: 64 MB more resident during the phase
    del block
    peak = memory_trace(str(tmp_path), 1, "allocate")
    records = [json.loads(line) for line in open(tmp_path / "memory_trace.jsonl")]
    assert [(r["rank"], r["phase"]) for r in records] == [(1, "before"), (1, "allocate")]
    assert peak == records[1]["peak_mb"] and peak >= records[1]["rss_mb"] + 50
    assert proc_status_mb("VmHWM") < peak - 50  # the peak restarts from the current resident memory


def test_tensor_census_counts_each_storage_once_by_dtype(tmp_path, monkeypatch):
    import torch
    before = live_tensor_mb()
    weights = torch.zeros(2**20)                       # 4 MB
    views = [weights[:10], weights.view(2, -1)]        # the same storage: not counted again
    half = torch.nn.Parameter(torch.zeros(2**20, dtype=torch.bfloat16))  # 2 MB
    after = live_tensor_mb()
    assert after.get("float32", 0) - before.get("float32", 0) == pytest.approx(4.0, abs=0.2)
    assert after.get("bfloat16", 0) - before.get("bfloat16", 0) == pytest.approx(2.0, abs=0.2)
    monkeypatch.setenv("MFT_MEMORY_TRACE", "1")
    memory_trace(str(tmp_path), 0, "census")
    record = json.loads(open(tmp_path / "memory_trace.jsonl").read())
    assert record["tensors_mb"]["float32"] >= 4.0 and record["tensors_mb"]["bfloat16"] >= 2.0
    del views, half


def test_tensor_census_skips_tensors_without_host_memory():
    """torch.compile leaves FakeTensors reachable (the attention tests compile flex attention): they
    report device cpu but have no memory behind them; reading their data pointer warns or raises."""
    import warnings

    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        fake = torch.zeros(2**20)
    assert fake.device.type == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = live_tensor_mb()
        real = torch.zeros(2**20)
        assert live_tensor_mb().get("float32", 0) - before.get("float32", 0) == pytest.approx(4.0, abs=0.2)
    del fake, real
