"""mft.summary.memory_trace: per-phase resident memory and peak, written only when asked for."""
import json
import os
import sys

import pytest

from mft.summary import memory_trace, proc_status_mb

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
