"""Convert the CoBa paper's public data sets into mft task JSONL with train/valid/test splits.

    python launch/prepare_data.py xtreme-up  --input raw/xtreme_up_v1.1 --out data/xtreme_up
    python launch/prepare_data.py code       --task python --input raw/cc/python.jsonl --out data/cc
    python launch/prepare_data.py orca-math  --task orca_math --input raw/orca_math.jsonl --out data/mdqa
    python launch/prepare_data.py alpaca     --task alpaca_cleaned --input raw/alpaca_data_cleaned.json --out data/mdqa
    python launch/prepare_data.py instinwild --task instinwild --input raw/instinwild_en.json --out data/mdqa

Each task becomes OUT/TASK.train.jsonl, OUT/TASK.valid.jsonl, OUT/TASK.test.jsonl (the names the
configs in configs/ expect) and OUT/TASK.manifest.json (sources, seed, sizes, counts).

- xtreme-up: one task per language (default: all nine in-language QA languages), from XTREME-UP's
  own train/dev/test splits; --valid-size caps dev (default 500, drawn seeded), --train-size and
  --test-size cap train and test (default: all).
- code, orca-math, alpaca, instinwild: one task from one or more files (.jsonl, .json array,
  .parquet with pyarrow), exact duplicate conversations removed, then split seeded by
  (--seed, --task): --valid-size and --test-size records (default 500 each; a number < 1 is a
  fraction), the rest is train (or a random --train-size of it).

Sizes: 500 validation records per task keep CoBa's "auto" window small: M = ceil(500 /
data.valid_samples_per_task) controller batches (63 with the shipped configs' 8), N = 2M, W = M.
A malformed record stops with "file:line: what is wrong" (or is counted with --on-bad skip);
records with an empty prompt or answer are dropped and counted (except in XTREME-UP's test split,
which is kept whole).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

from data_pipeline import converters as cv
from data_pipeline.errors import DataError
from mft.scripts import HelpFormatter, fail, script_parser

DEFAULT_VALID, DEFAULT_TEST = 500, 500


def size(text: str) -> float | int | None:
    """'all' -> None, '500' -> 500, '0.05' -> 0.05."""
    if text == "all":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count, a fraction or 'all'") from None
    return int(value) if value.is_integer() else value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = script_parser(__doc__, prog="launch/prepare_data.py")
    sub = parser.add_subparsers(dest="format", required=True)
    for fmt in ("xtreme-up", "code", "orca-math", "alpaca", "instinwild"):
        p = sub.add_parser(fmt, formatter_class=HelpFormatter, help=f"convert {fmt} records")
        p.add_argument("--out", required=True, help="output folder, e.g. data/cc")
        p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
        p.add_argument("--on-bad", choices=cv.BAD_RECORD_POLICIES, default="error",
                       help="a malformed record stops (error, default) or is counted and skipped")
        p.add_argument("--train-size", type=size, default=None, help="cap on training records (default all)")
        if fmt == "xtreme-up":
            p.add_argument("--input", required=True, help="XTREME-UP's qa_in_lang folder (or the folder above it)")
            p.add_argument("--languages", default=",".join(cv.XTREME_UP_QA_LANGUAGES),
                           help="comma-separated language codes (default: all nine)")
            p.add_argument("--valid-size", type=size, default=DEFAULT_VALID, help="cap on dev records (default 500)")
            p.add_argument("--test-size", type=size, default=None, help="cap on test records (default all)")
        else:
            p.add_argument("--task", required=True, help="task name: the output file prefix, e.g. python")
            p.add_argument("--input", required=True, nargs="+", help="source file(s)")
            p.add_argument("--valid-size", type=size, default=DEFAULT_VALID, help="validation records (default 500)")
            p.add_argument("--test-size", type=size, default=DEFAULT_TEST, help="test records (default 500)")
        if fmt != "code":
            p.add_argument("--schema", choices=cv.SCHEMAS, default="mftcoder",
                           help="output records: MFTCoder chat_rounds (default) or plain prompt/completion")
    return parser.parse_args(argv)


def prepare_xtreme_up(args: argparse.Namespace) -> list[dict]:
    manifests = []
    for lang in [code.strip() for code in args.languages.split(",") if code.strip()]:
        if lang not in cv.XTREME_UP_QA_LANGUAGES:
            raise DataError(f"--languages: {lang!r} is not an XTREME-UP in-language QA language "
                            f"({', '.join(cv.XTREME_UP_QA_LANGUAGES)})")
        files = cv.xtreme_up_files(args.input, lang)
        caps = {"train": args.train_size, "valid": args.valid_size, "test": args.test_size}
        splits, totals = {}, cv.Converted()
        for split, path in files.items():
            got = cv.convert_file(path, "xtreme-up", schema=args.schema, on_bad=args.on_bad,
                                  keep_empty=split == "test")  # the benchmark's test split stays whole
            totals.extend(got)
            splits[split] = cv.subsample(got.records, caps[split], seed=args.seed, key=f"{lang}:{split}", name=split)
        manifests.append(_write_task(args, lang, splits, totals, duplicates=0, sources=list(files.values())))
    return manifests


def prepare_one(args: argparse.Namespace) -> list[dict]:
    totals = cv.Converted()
    schema = getattr(args, "schema", "mftcoder")
    for path in args.input:
        totals.extend(cv.convert_file(path, args.format, schema=schema, on_bad=args.on_bad))
    records, duplicates = cv.deduplicate(totals.records)
    splits = cv.split_records(records, valid=args.valid_size, test=args.test_size, train=args.train_size,
                              seed=args.seed, task=args.task)
    return [_write_task(args, args.task, splits, totals, duplicates, sources=list(args.input))]


def _write_task(args: argparse.Namespace, task: str, splits: dict[str, list[dict]], totals: cv.Converted,
                duplicates: int, sources: list[str]) -> dict:
    for split in cv.SPLITS:
        if not splits[split]:
            raise DataError(f"task {task!r}: the {split} split is empty; check the input and the --*-size options")
        cv.write_jsonl(os.path.join(args.out, f"{task}.{split}.jsonl"), splits[split])
    manifest = {
        "task": task, "format": args.format, "sources": [os.path.abspath(p) for p in sources],
        "seed": args.seed, "schema": getattr(args, "schema", "mftcoder"),
        "sizes": {"train": args.train_size, "valid": args.valid_size, "test": args.test_size},
        "records": {split: len(splits[split]) for split in cv.SPLITS},
        "read": totals.read, "dropped": dict(totals.dropped), "skipped": dict(totals.skipped),
        "duplicates_removed": duplicates,
    }
    with open(os.path.join(args.out, f"{task}.manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(_summary(manifest, args.out))
    return manifest


def _summary(m: dict, out: str) -> str:
    removed = Counter(m["dropped"]) + Counter(m["skipped"])
    if m["duplicates_removed"]:
        removed["duplicate"] += m["duplicates_removed"]
    notes = f" (removed: {', '.join(f'{n} {why}' for why, n in sorted(removed.items()))})" if removed else ""
    counts = ", ".join(f"{split} {n}" for split, n in m["records"].items())
    return f"{m['task']}: read {m['read']}{notes} -> {counts} in {os.path.join(out, m['task'])}.*.jsonl"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        os.makedirs(args.out, exist_ok=True)
        if args.format == "xtreme-up":
            prepare_xtreme_up(args)
        else:
            prepare_one(args)
    except DataError as exc:
        return fail(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
