"""Shared fixtures and helpers of the data_pipeline tests (imported by tests/test_data_*.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from data_pipeline import DataConfig, TaskConfig, load_tokenizer, train_sentencepiece

WORDS = (
    "def return print for while if else class import self value list dict the a of to and in is "
    "sum max min len range x y z answer question code write function"
).split()


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    """Deterministic code-ish lines for tokenizer training."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        if i % 3 == 0:
            line += "\n    return x + 1"
        lines.append(line)
    return lines


@pytest.fixture(scope="session")
def spm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a small trained BPE tokenizer.model (vocab 320)."""
    out = tmp_path_factory.mktemp("spm")
    train_sentencepiece(corpus(), str(out), vocab_size=320)
    return out


@pytest.fixture(scope="session")
def tokenizer(spm_dir: Path):
    """The session's tokenizer; tests must not modify it (copy.deepcopy it first)."""
    return load_tokenizer(str(spm_dir))


def write_jsonl(path: Path, records: list) -> str:
    """Write records (dicts, or raw strings written as is) one per line; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(record if isinstance(record, str) else json.dumps(record))
            handle.write("\n")
    return str(path)


def qa(i: int, words: int = 3) -> dict:
    """A plain record whose answer grows with `words`."""
    return {"prompt": f"question {i}: write code", "completion": " ".join(["return x"] * words) + f" {i}"}


def one_task_cfg(train: list[str], valid: list[str] | None = None, **kw) -> DataConfig:
    task = TaskConfig(name="t", train=train, valid=valid or [], valid_fraction=0.0 if valid else 0.25)
    return DataConfig(tasks=[task], **kw)
