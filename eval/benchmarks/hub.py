"""HumanEval, HumanEval-X and MBPP from the Hugging Face Hub, converted to the files the loaders read.

    python launch/evaluate.py --canonical --download-benchmarks     # once, with internet

Needs the optional extra `pip install -e .[hub]` (the `datasets` package). The Hub's rows become
the records of docs/evaluation.md's layout, written under `hub_cache_dir()` (or a chosen folder),
with `hub.json` written last naming the datasets: `find_data_dir` then finds the folder on every
later run, offline. The conversion is pure (`convert_*` below) and tested on rows built locally.

Hub layouts: openai/openai_humaneval (split test) has HumanEval's fields; THUDM/humaneval-x
(one config per language, split test) has task_id, prompt, declaration, canonical_solution,
test and example_test, and for Go lacks the `import` and `test_setup` fields that the Go
assembler needs: they are derived from the prompt's import block and the test's packages (on the
original file, the derived test_setup differs for 8 of 164 problems, each time by naming a
package the test calls, which the assembler would otherwise add from the completion).
google-research-datasets/mbpp (config full) splits the 974 problems into train, test,
validation and prompt; they are joined in task-id order, as in the original file.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..errors import EvalError
from .files import READY_MARK, find_data_dir, hub_cache_dir
from .humaneval import FILE as HUMANEVAL_FILE
from .humaneval_x import GO_PACKAGES, LANGUAGES
from .mbpp import FILE as MBPP_FILE

HUMANEVAL_ID = "openai/openai_humaneval"
HUMANEVAL_X_ID = "THUDM/humaneval-x"
MBPP_ID = "google-research-datasets/mbpp"
GO_TEST_SETUP = 'package main\n\nimport (\n    "testing"\n{extra}    "github.com/stretchr/testify/assert"\n)\n'
HUMANEVAL_X_FIELDS = ("task_id", "prompt", "declaration", "canonical_solution", "test", "example_test")


def convert_humaneval(rows: Iterable[Mapping]) -> list[dict]:
    return [{k: row[k] for k in ("task_id", "prompt", "entry_point", "canonical_solution", "test")} for row in rows]


def go_import_block(prompt: str) -> str:
    """The import block a Go prompt opens with ('import (\\n ... )\\n' or 'import "x"\\n'), else ''."""
    if prompt.startswith("import ("):
        return prompt[: prompt.index(")\n") + 2]
    if prompt.startswith("import "):
        return prompt[: prompt.index("\n") + 1]
    return ""


def go_test_setup(test: str) -> str:
    """package main, testing and testify, plus the helper packages the test itself calls."""
    extra = "".join(f'    "{pkg}"\n' for pkg in GO_PACKAGES if pkg.split("/")[-1] + "." in test)
    return GO_TEST_SETUP.format(extra=extra)


def convert_humaneval_x(language: str, rows: Iterable[Mapping]) -> list[dict]:
    records = []
    for row in rows:
        record = {k: row[k] for k in HUMANEVAL_X_FIELDS if k in row}
        if language == "go":
            record["import"] = row.get("import") or go_import_block(row["prompt"])
            record["test_setup"] = row.get("test_setup") or go_test_setup(row["test"])
        records.append(record)
    return records


def convert_mbpp(splits: Mapping[str, Iterable[Mapping]]) -> list[dict]:
    rows = [dict(row) for split in splits.values() for row in split]
    keys = ("text", "code", "task_id", "test_setup_code", "test_list", "challenge_test_list")
    return sorted(({k: row.get(k, [] if k.endswith("list") else "") for k in keys} for row in rows),
                  key=lambda r: int(r["task_id"]))


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def write_sets(folder: Path, load: Callable[[str, str | None, str | None], Iterable[Mapping]]) -> Path:
    """Convert every set that `load(dataset_id, config, split)` returns into `folder`, atomically:
    the files go to a temporary sibling that replaces `folder` only when all are written."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder.parent))
    try:
        write_jsonl(staging / HUMANEVAL_FILE, convert_humaneval(load(HUMANEVAL_ID, None, "test")))
        for language in LANGUAGES:
            records = convert_humaneval_x(language, load(HUMANEVAL_X_ID, language, "test"))
            write_jsonl(staging / f"humaneval-x/humaneval_{language}.jsonl.gz", records)
        splits = {s: load(MBPP_ID, "full", s) for s in ("prompt", "test", "validation", "train")}
        write_jsonl(staging / MBPP_FILE, convert_mbpp(splits))
        (staging / READY_MARK).write_text(json.dumps(
            {"humaneval": HUMANEVAL_ID, "humaneval-x": HUMANEVAL_X_ID, "mbpp": f"{MBPP_ID} (full)"}, indent=1) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def download_benchmarks(folder: Path | None = None) -> Path:
    """Fetch the three sets through `datasets` (its own cache) and convert them; the folder written."""
    try:
        import datasets
    except ImportError:
        raise EvalError("--download-benchmarks needs the `datasets` package: pip install -e .[hub]") from None

    def load(dataset_id: str, config: str | None, split: str | None) -> Iterable[Mapping]:
        try:
            return datasets.load_dataset(dataset_id, config, split=split)
        except Exception as exc:  # network, authentication or a renamed dataset: one line, not a traceback
            raise EvalError(f"cannot load {dataset_id}{f' ({config})' if config else ''} from the Hugging Face "
                            f"Hub: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    return write_sets(folder or hub_cache_dir(), load)


def add_data_dir_arguments(parser) -> None:
    """--data-dir and --download-benchmarks, the same in every script that scores benchmarks."""
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="benchmark folder (default: $MFT_BENCHMARK_DIR, else the sets downloaded into "
                             f"{hub_cache_dir()}; layout: docs/evaluation.md)")
    parser.add_argument("--download-benchmarks", action="store_true",
                        help="when no folder is found, fetch HumanEval, HumanEval-X and MBPP from the Hugging Face "
                             "Hub into the cache once (pip install -e .[hub]; needs internet)")


def data_dir_from_args(args) -> Path | None:
    """The folder `--data-dir` / `$MFT_BENCHMARK_DIR` / the cache gives; with --download-benchmarks
    and none of them, the sets are fetched first. None lets the loaders say what is missing."""
    found = find_data_dir(args.data_dir)
    if found is None and getattr(args, "download_benchmarks", False):
        print(f"downloading the benchmark sets from the Hugging Face Hub into {hub_cache_dir()}",
              file=sys.stderr, flush=True)
        found = download_benchmarks()
    return found
