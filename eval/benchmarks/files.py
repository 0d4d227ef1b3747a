"""Where the benchmark files are, and reading them with errors that name the file and line.

The folder comes from, in order: an explicit path (the `--data-dir` flag), `$MFT_BENCHMARK_DIR`,
or the sets converted from the Hugging Face Hub into the user's cache (`--download-benchmarks`,
eval/benchmarks/hub.py). Files are read in place, never copied. The layout is documented in
docs/evaluation.md ("Benchmark files").
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from ..errors import EvalError

ENV_VAR = "MFT_BENCHMARK_DIR"
DOWNLOAD_FLAG = "--download-benchmarks"
LAYOUT_DOC = "docs/evaluation.md, Benchmark files"
READY_MARK = "hub.json"  # written last by the Hub conversion: a folder without it is incomplete


def hub_cache_dir() -> Path:
    """Where `--download-benchmarks` puts the converted sets: $XDG_CACHE_HOME/mft/benchmarks, else
    ~/.cache/mft/benchmarks (read at each call: tests and users may change HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mft" / "benchmarks"


def find_data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The benchmark folder from the flag, the environment or the Hub cache; None if there is none."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    cache = hub_cache_dir()
    return cache if (cache / READY_MARK).is_file() else None


def missing_folder_message() -> str:
    return (f"no benchmark folder: download HumanEval, HumanEval-X and MBPP from the Hugging Face Hub with "
            f"{DOWNLOAD_FLAG} (needs `pip install -e .[hub]` and internet), or pass --data-dir DIR / set "
            f"{ENV_VAR} to a folder laid out as in {LAYOUT_DOC}")


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Like `find_data_dir`, but a missing folder is an EvalError saying how to get one."""
    path = find_data_dir(explicit)
    if path is None:
        raise EvalError(missing_folder_message())
    if not path.is_dir():
        raise EvalError(f"benchmark folder {path} does not exist; pass --data-dir DIR or set {ENV_VAR}")
    return path


def require_file(data_dir: Path, relative: str) -> Path:
    path = data_dir / relative
    if not path.is_file():
        raise EvalError(f"benchmark file {path} is missing; put {relative} under {data_dir} ({LAYOUT_DOC}) "
                        f"or download the sets with {DOWNLOAD_FLAG}")
    return path


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSONL file, gzip-compressed when the name ends in .gz."""
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise EvalError(f"{path}:{number}: not valid JSON ({exc.msg}); fix or replace the line")
                if not isinstance(record, dict):
                    raise EvalError(f"{path}:{number}: expected a JSON object per line")
                records.append(record)
    except (OSError, EOFError) as exc:
        raise EvalError(f"cannot read {path} ({exc}); replace it with an intact copy")
    return records


def require_keys(path: Path, records: list[dict], keys: tuple[str, ...]) -> None:
    for number, record in enumerate(records, 1):
        missing = [k for k in keys if k not in record]
        if missing:
            raise EvalError(f"{path}: record {number} lacks {', '.join(missing)}; is this the right file?")
