"""Synthetic text for the CPU experiments: a broad pretraining corpus and the fine-tuning tasks.

Both speak the same surface forms (an instruction and its answer, in the three record schemas
the data pipeline reads) but draw from different distributions:

- corpus (pretraining): ten string operations on short words (1-4 letters of the whole
  alphabet) and arithmetic on small numbers (+ and - up to 99, x up to 12);
- fine-tuning tasks: four of those operations on longer words (5-8 letters from `a`-`h`) and
  the addition of three-digit numbers, which the corpus never shows.

Everything is drawn from `random.Random(seed)`, so a seed gives the same records on any machine.
Bump `mft.base_model.CORPUS_GENERATOR_VERSION` whenever a change alters what a seed produces:
cached base models are keyed by it.
"""
from __future__ import annotations

import json
import os
import random
import string
from typing import Callable

ALPHABET = string.ascii_lowercase
TASK_LETTERS = ALPHABET[:8]

WORD_OPS: dict[str, Callable[[str], str]] = {
    "copy": lambda w: w,
    "reverse": lambda w: w[::-1],
    "sort": lambda w: "".join(sorted(w)),
    "rotate": lambda w: w[1:] + w[:1],
    "double": lambda w: w + w,
    "first": lambda w: w[0],
    "last": lambda w: w[-1],
    "length": lambda w: str(len(w)),
    "upper": str.upper,
    "dedupe": lambda w: "".join(dict.fromkeys(w)),
}
ARITHMETIC = {"+": (99, lambda a, b: a + b), "-": (99, lambda a, b: a - b), "*": (12, lambda a, b: a * b)}


def word(rng: random.Random, letters: str, low: int, high: int) -> str:
    return "".join(rng.choice(letters) for _ in range(rng.randint(low, high)))


def as_record(schema: str, prompt: str, answer: str) -> dict:
    """One exchange in a record schema: "chat" (messages), "mftcoder" (chat_rounds) or "plain"."""
    if schema == "chat":
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}
    if schema == "mftcoder":
        return {"chat_rounds": [{"role": "human", "content": prompt}, {"role": "bot", "content": answer}]}
    return {"prompt": prompt, "completion": answer}


def corpus_record(rng: random.Random) -> dict:
    """One pretraining record: a word operation (4 in 5) or a small arithmetic fact, any schema."""
    if rng.random() < 0.8:
        op = rng.choice(list(WORD_OPS))
        w = word(rng, ALPHABET, 1, 4)
        return as_record(rng.choice(("chat", "mftcoder")), f"{op} {w}", WORD_OPS[op](w))
    sign = rng.choice(list(ARITHMETIC))
    limit, fn = ARITHMETIC[sign]
    a, b = rng.randint(0, limit), rng.randint(0, limit)
    return as_record("plain", f"{a}{sign}{b}=", str(fn(a, b)))


def corpus(seed: int, size: int) -> list[dict]:
    """`size` pretraining records (repeats allowed: short words recur in any broad corpus)."""
    rng = random.Random(seed)
    return [corpus_record(rng) for _ in range(size)]


def task_word(op: str, schema: str, letters: str = TASK_LETTERS, low: int = 5,
              high: int = 8) -> Callable[[random.Random], dict]:
    """Maker of a fine-tuning word task: operation `op` on `low`-`high` letters (default 5-8 from `a`-`h`)."""
    def make(rng: random.Random) -> dict:
        w = word(rng, letters, low, high)
        return as_record(schema, f"{op} {w}", WORD_OPS[op](w))
    return make


def addition(rng: random.Random) -> dict:
    """Maker of the fine-tuning addition task: two three-digit numbers."""
    a, b = rng.randint(100, 999), rng.randint(100, 999)
    return as_record("plain", f"{a}+{b}=", str(a + b))


def corrupt(record: dict, rng: random.Random) -> dict:
    """The record with its answer replaced by a random string of task letters of the same length."""
    def noise(answer: str) -> str:
        return "".join(rng.choice(TASK_LETTERS) for _ in answer)
    if "completion" in record:
        return {**record, "completion": noise(record["completion"])}
    key, answer_role = ("messages", "assistant") if "messages" in record else ("chat_rounds", "bot")
    turns = [dict(t, content=noise(t["content"])) if t["role"] == answer_role else t for t in record[key]]
    return {key: turns}


def distinct_records(make: Callable[[random.Random], dict], rng: random.Random, size: int,
                     seen: set[str]) -> list[dict]:
    """`size` records drawn with `make(rng)`, none of them in `seen` (canonical JSON keys, updated
    here), so that the splits of a task never share a record."""
    records: list[dict] = []
    while len(records) < size:
        record = make(rng)
        key = json.dumps(record, sort_keys=True)
        if key not in seen:
            seen.add(key)
            records.append(record)
    return records


def write_mix(out_dir: str, makers: dict[str, Callable[[random.Random], dict]], sizes: dict[str, tuple[int, int, int]],
              *, seed: int, corrupted: dict[str, float], repeats: dict[str, int]) -> None:
    """A fine-tuning mix as `<task>.<split>.jsonl` files: per task (in `makers`' order, each with
    its own `random.Random`), `sizes` distinct train / valid / test records, no record in two
    splits; the share `corrupted[task]` of its training answers replaced by noise, and each
    training record written `repeats[task]` times. Validation and test stay clean."""
    os.makedirs(out_dir, exist_ok=True)
    for offset, (task, make) in enumerate(makers.items()):
        rng = random.Random(seed * 1000 + offset)
        seen: set[str] = set()
        for split, size in zip(("train", "valid", "test"), sizes[task]):
            records = distinct_records(make, rng, size, seen)
            if split == "train" and task in corrupted:
                for i in rng.sample(range(size), round(corrupted[task] * size)):
                    records[i] = corrupt(records[i], rng)
            if split == "train":
                records = records * repeats.get(task, 1)
            write_jsonl(os.path.join(out_dir, f"{task}.{split}.jsonl"), records)


def write_jsonl(path: str, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
