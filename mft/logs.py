"""One logging channel for every command: rank 0 reports, the other ranks only their own problems.

Modules log through ``logging.getLogger(__name__)``; the command lines (`mft.cli`, launch/*.py)
call `setup_logging` once, with the rank the launcher gave the process:

- rank 0 writes mft's and data_pipeline's INFO and above to stderr, as plain lines;
- every other rank writes WARNING and above, prefixed ``[rank N]``, except records of loggers
  whose computation every rank repeats on the same all-reduced inputs (the weighting methods):
  rank 0 already said the same, so the warning appears once, not once per rank.

Other libraries keep their own levels (WARNING by default).
"""
from __future__ import annotations

import logging
import sys

PACKAGES = ("mft", "data_pipeline", "eval")
REPLICATED = ("mft.weighting",)  # loggers whose records are identical on every rank


def setup_logging(rank: int = 0) -> None:
    """Route the packages' logging to stderr for `rank` (see the module docstring); idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    if rank == 0:
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler.setLevel(logging.WARNING)
        handler.addFilter(_not_replicated)
        handler.setFormatter(logging.Formatter(f"[rank {rank}] %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_mft", False)]:
        root.removeHandler(old)
    handler._mft = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    for name in PACKAGES:
        logging.getLogger(name).setLevel(logging.INFO)


def _not_replicated(record: logging.LogRecord) -> bool:
    return not any(record.name == name or record.name.startswith(name + ".") for name in REPLICATED)
