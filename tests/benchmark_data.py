"""The benchmark folder the tests read: the real sets where one is found, else the fixture.

`find_data_dir()` finds the real sets through $MFT_BENCHMARK_DIR or the Hub download cache; a
clean checkout has neither, and the tests then read tests/fixtures/benchmarks (problems written
for this project in the real files' layout), so no benchmark test skips for want of data.
"""
from __future__ import annotations

from pathlib import Path

from eval.benchmarks import find_data_dir

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "benchmarks"


def benchmark_dir() -> Path:
    """The real benchmark folder when one is configured, else the committed fixture."""
    return find_data_dir() or FIXTURE_DIR


DATA = benchmark_dir()
REAL = DATA != FIXTURE_DIR  # facts of the real sets (164 problems, known wrong references) are checked only there
