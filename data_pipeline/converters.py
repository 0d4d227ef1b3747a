"""Public data sets -> mft task JSONL: record converters and seeded train/valid/test splits.

The CoBa paper's experiments train on public data in other shapes. Each converter here turns one
source record into one training record, an MFTCoder conversation::

    {"chat_rounds": [{"role": "human", "content": PROMPT}, {"role": "bot", "content": ANSWER}]}

or, with ``schema="plain"``, ``{"prompt": PROMPT, "completion": ANSWER}``. Sources:

- XTREME-UP in-language QA (``qa_in_lang/{train,dev,test}/{lang}.jsonl``), records
  ``{"question", "title", "context", "target"}``: the prompt is ``QA_TEMPLATE``, the answer the target.
- MFTCoder code task files, records ``{"chat_rounds": [...]}``: checked with the pipeline's own
  record rules and kept as they are.
- Orca-Math (``{"question", "answer"}``), Alpaca-cleaned and Instinwild
  (``{"instruction", "input", "output"}``; ``input`` may be empty or absent; other keys, such as
  Instinwild's ``id`` or ``annotator``, are ignored).

A malformed record raises `BadRecord`; `convert_file` turns it into a one-line `DataError` naming
``file:line``. A record with an empty prompt or answer is dropped and counted, not an error: the
public sets hold a few, and they teach nothing (a benchmark's test split keeps them). Splits are seeded per task (`split_records`), so a
task's split does not depend on which other tasks are prepared, and each split keeps source order.
Nothing here writes files except `write_jsonl`; ``launch/prepare_data.py`` is the command line.
"""
from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from .choices import choice_error
from .errors import DataError
from .records import BadRecord, normalize_record, read_jsonl

SPLITS = ("train", "valid", "test")
SCHEMAS = ("mftcoder", "plain")
BAD_RECORD_POLICIES = ("error", "skip")

# XTREME-UP v1.1 in-language QA languages (google-research/xtreme-up, evaluation/constants.py):
# the nine TyDi QA GoldP languages.
XTREME_UP_QA_LANGUAGES = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")
# XTREME-UP's own split folders -> ours.
XTREME_UP_SPLIT_DIRS = {"train": "train", "valid": "dev", "test": "test"}

# XTREME-UP's baseline input is "question: Q title: T context: C"; for a decoder-only model the
# question goes last, after the passage it is about.
QA_TEMPLATE = "Title: {title}\nContext: {context}\nQuestion: {question}"

Pair = tuple[str, str]  # (prompt, answer)


# ---- one record -> (prompt, answer) ------------------------------------------------------------
def xtreme_up_qa(record: object) -> Pair:
    """An XTREME-UP QA record ``{question, title, context, target}`` -> (prompt, target)."""
    question, title, context, target = _fields(record, ("question", "title", "context", "target"))
    return QA_TEMPLATE.format(title=title, context=context, question=question), target


def orca_math(record: object) -> Pair:
    """An Orca-Math record ``{question, answer}`` -> (question, answer)."""
    return _fields(record, ("question", "answer"))


def instruction(record: object) -> Pair:
    """An Alpaca-cleaned or Instinwild record ``{instruction, input, output}`` -> (prompt, output).

    The prompt is the instruction, followed by a blank line and the input when there is one."""
    inst, output = _fields(record, ("instruction", "output"))
    extra = _optional(record, "input")
    return (f"{inst}\n\n{extra}" if extra.strip() else inst), output


CONVERTERS: dict[str, Callable[[object], Pair]] = {
    "xtreme-up": xtreme_up_qa,
    "orca-math": orca_math,
    "alpaca": instruction,
    "instinwild": instruction,
}


def render(pair: Pair, schema: str = "mftcoder") -> dict:
    """(prompt, answer) as a record of `schema` ("mftcoder" chat_rounds or "plain")."""
    prompt, answer = pair
    if schema == "plain":
        return {"prompt": prompt, "completion": answer}
    if schema == "mftcoder":
        return {"chat_rounds": [{"role": "human", "content": prompt}, {"role": "bot", "content": answer}]}
    raise DataError(choice_error("schema", schema, SCHEMAS))


def code_record(record: object) -> dict:
    """An MFTCoder ``chat_rounds`` record, checked by the pipeline's rules and returned as is."""
    if isinstance(record, dict) and "chat_rounds" not in record:
        keys = ", ".join(sorted(record)[:5]) or "none"
        raise BadRecord("bad_fields", f"record has no 'chat_rounds' list (has: {keys})")
    normalize_record(record, "mftcoder")
    return record


# ---- files ------------------------------------------------------------------------------------
@dataclass
class Converted:
    """What `convert_file` kept, and what it dropped (empty) or skipped (malformed), by reason."""

    records: list[dict] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    read: int = 0

    def extend(self, other: "Converted") -> None:
        self.records += other.records
        self.dropped += other.dropped
        self.skipped += other.skipped
        self.read += other.read


def convert_file(path: str, fmt: str, *, schema: str = "mftcoder", on_bad: str = "error",
                 keep_empty: bool = False) -> Converted:
    """Read `path` (.jsonl, .json array or JSON Lines, .parquet) and convert every record.

    `fmt` is "code" or a key of CONVERTERS. A malformed record raises `DataError`
    ("path:line: what is wrong; the fix"), or with ``on_bad="skip"`` is counted in ``skipped``.
    A record with an empty prompt or answer is counted in ``dropped``, or kept with `keep_empty`
    (a benchmark's test split stays whole).
    """
    for key, value, choices in (("format", fmt, ("code", *CONVERTERS)), ("on_bad", on_bad, BAD_RECORD_POLICIES),
                                ("schema", schema, SCHEMAS)):
        message = choice_error(key, value, choices)
        if message:
            raise DataError(message)
    out = Converted()
    for where, value in read_source(path):
        out.read += 1
        try:
            if isinstance(value, BadRecord):
                raise value
            if fmt == "code":
                record = code_record(value)
                empty = _empty_code_reason(record)
            else:
                prompt, answer = CONVERTERS[fmt](value)
                empty = "empty_prompt" if not prompt.strip() else "empty_answer" if not answer.strip() else ""
                record = render((prompt, answer), schema)
        except BadRecord as bad:
            if on_bad == "skip":
                out.skipped[bad.reason] += 1
                continue
            raise DataError(f"{where}: {bad.detail}; fix the record or pass --on-bad skip") from None
        if empty and not keep_empty:
            out.dropped[empty] += 1
        else:
            out.records.append(record)
    return out


def read_source(path: str) -> Iterator[tuple[str, object]]:
    """Yield ("path:line", parsed value or BadRecord) for each record of a source file.

    JSON Lines (any extension), a JSON array (the line where each element starts), or Parquet
    ("path:row N", needs pyarrow). A broken JSON array raises `DataError` at its line.
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found; check the --input path")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory; give the data file(s) with --input")
    if path.endswith(".parquet"):
        yield from _read_parquet(path)
        return
    if _starts_json_array(path):
        yield from _read_json_array(path)
        return
    for line, value in read_jsonl(path):
        yield f"{path}:{line}", value


def write_jsonl(path: str, records: Sequence[dict]) -> None:
    """Write records one per line (UTF-8, non-ASCII kept), atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    os.replace(tmp, path)


# ---- splits -----------------------------------------------------------------------------------
def deduplicate(records: Sequence[dict]) -> tuple[list[dict], int]:
    """Records with the same conversation removed (first kept), and how many were removed.

    A record in two splits would put validation or test data into training. Only the
    conversation counts (``chat_rounds``, or the whole plain record), not ids or other keys."""
    seen: set[str] = set()
    unique = []
    for record in records:
        key = json.dumps(record.get("chat_rounds", record), sort_keys=True, ensure_ascii=False)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique, len(records) - len(unique)


def resolve_size(spec: float | int | None, n: int, name: str) -> int | None:
    """A size given as a count (int >= 0), a fraction of `n` (float in (0, 1)) or None (all)."""
    if spec is None:
        return None
    if isinstance(spec, float) and not spec.is_integer():
        if not 0.0 < spec < 1.0:
            raise DataError(f"--{name}-size {spec}: a fraction must be in (0, 1), a count a whole number")
        return round(n * spec)
    if spec < 0:
        raise DataError(f"--{name}-size {spec}: must be >= 0")
    return int(spec)


def split_records(records: Sequence[dict], *, valid: float | int, test: float | int, train: float | int | None = None,
                  seed: int = 0, task: str = "") -> dict[str, list[dict]]:
    """Seeded train/valid/test split of one task's records.

    `valid` and `test` are counts or fractions of all records; train gets the rest, or a random
    `train` of them. The shuffle is seeded by (seed, task); each split keeps source order.
    """
    n = len(records)
    n_valid, n_test = resolve_size(valid, n, "valid"), resolve_size(test, n, "test")
    if n_valid + n_test >= n:
        raise DataError(f"task {task!r}: {n} records cannot give {n_valid} valid and {n_test} test records "
                        "and leave any for training; lower --valid-size / --test-size")
    order = list(range(n))
    random.Random(f"{seed}:{task}").shuffle(order)
    parts = {"valid": order[:n_valid], "test": order[n_valid:n_valid + n_test], "train": order[n_valid + n_test:]}
    n_train = resolve_size(train, len(parts["train"]), "train")
    if n_train is not None:
        if n_train < 1:
            raise DataError(f"task {task!r}: --train-size must leave at least one training record")
        parts["train"] = parts["train"][:n_train]
    return {split: [records[i] for i in sorted(parts[split])] for split in SPLITS}


def subsample(records: Sequence[dict], size: float | int | None, *, seed: int, key: str,
              name: str = "train") -> list[dict]:
    """At most `size` records (count or fraction; None = all), drawn seeded by (seed, key), in
    source order; `name` is the split, for error messages."""
    n = resolve_size(size, len(records), name)
    if n is None or n >= len(records):
        return list(records)
    keep = random.Random(f"{seed}:{key}").sample(range(len(records)), n)
    return [records[i] for i in sorted(keep)]


def xtreme_up_files(root: str, language: str) -> dict[str, str]:
    """Our split -> XTREME-UP's file for `language`, under ``qa_in_lang`` or its parent folder."""
    if os.path.isdir(os.path.join(root, "qa_in_lang")):
        root = os.path.join(root, "qa_in_lang")
    files = {split: os.path.join(root, folder, f"{language}.jsonl") for split, folder in XTREME_UP_SPLIT_DIRS.items()}
    for path in files.values():
        if not os.path.isfile(path):
            raise DataError(f"{path}: file not found; --input must be XTREME-UP's qa_in_lang folder "
                            "(with train/, dev/ and test/ holding <language>.jsonl)")
    return files


# ---- helpers ----------------------------------------------------------------------------------
def _fields(record: object, names: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(record, dict):
        raise BadRecord("not_object", f"record is a JSON {_kind(record)}, not an object")
    values = []
    for name in names:
        if name not in record:
            keys = ", ".join(sorted(record)[:6]) or "none"
            raise BadRecord("bad_fields", f"field {name!r} is missing (record has: {keys})")
        if not isinstance(record[name], str):
            raise BadRecord("bad_fields", f"field {name!r} is not a string (got a JSON {_kind(record[name])})")
        values.append(record[name])
    return tuple(values)


def _optional(record: dict, name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRecord("bad_fields", f"field {name!r} is not a string (got a JSON {_kind(value)})")
    return value


def _empty_code_reason(record: dict) -> str:
    turns = normalize_record(record, "mftcoder")
    if not any(t.role == "assistant" and t.content.strip() for t in turns):
        return "empty_answer"
    return ""


def _starts_json_array(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _read_json_array(path: str) -> Iterator[tuple[str, object]]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not valid UTF-8 (byte {err.start + 1}); re-encode the file as UTF-8") from None
    decoder = json.JSONDecoder()
    pos, line, counted = _skip_space(text, text.index("[") + 1), 1, 0
    while True:
        if pos >= len(text):
            raise DataError(f"{path}:{line + text.count(chr(10), counted, pos)}: the JSON array is not closed "
                            "(missing ']'); the file may be truncated")
        if text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
        yield f"{path}:{line}", value
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
        elif pos < len(text) and text[pos] != "]":
            bad_line = line + text.count("\n", counted, pos)
            raise DataError(f"{path}:{bad_line}: invalid JSON (expected ',' or ']' between array elements)")


def _read_parquet(path: str) -> Iterator[tuple[str, object]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow), or convert it to "
                        "JSON Lines first, e.g. with datasets: load_dataset(...).to_json(path)") from None
    for row, record in enumerate(pq.read_table(path).to_pylist(), start=1):
        yield f"{path}:row {row}", record


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)
