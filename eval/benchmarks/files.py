"""Where the benchmark files are, and reading them with errors that name the file and line.

The folder comes from, in order: an explicit path (the `--data-dir` flag), `$MFT_BENCHMARK_DIR`,
or `../shared/data` next to the repository when that exists. Files are read in place, never copied.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from ..errors import EvalError

ENV_VAR = "MFT_BENCHMARK_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT.parent / "shared" / "data"


def find_data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The benchmark folder from the flag, the environment or the default; None if none is given."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_DIR if DEFAULT_DIR.is_dir() else None


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Like `find_data_dir`, but a missing folder is an EvalError saying how to give one."""
    path = find_data_dir(explicit)
    if path is None:
        raise EvalError(f"no benchmark folder: pass --data-dir DIR or set {ENV_VAR} (expected {DEFAULT_DIR})")
    if not path.is_dir():
        raise EvalError(f"benchmark folder {path} does not exist; pass --data-dir DIR or set {ENV_VAR}")
    return path


def require_file(data_dir: Path, relative: str) -> Path:
    path = data_dir / relative
    if not path.is_file():
        raise EvalError(f"benchmark file {path} is missing; put {relative} under {data_dir} (see its README)")
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
