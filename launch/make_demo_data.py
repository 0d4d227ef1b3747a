"""Generate the CPU demo's three tasks (deterministic; the output is committed in configs/demo_data/).

    python launch/make_demo_data.py [--out configs/demo_data] [--seed 0]

The tasks differ in size by 60x and in how fast a tiny model learns them under uniform weights:
- `copy` (1,000 train records, chat schema): repeat a random letter string. Learned fast.
- `addition` (3,000 train, plain schema): add two numbers of up to 3 digits. Learned slowly.
- `reverse` (48 train, MFTCoder schema): reverse a letter string. Far too few examples to learn
  the rule: the model memorises them and its validation loss turns upward (it overfits),
  the case CoBa is meant to hold back.
Each task has train, valid and test files.
"""
from __future__ import annotations

import os
import random
import string

from mft.experiments.synthetic import distinct_records, write_jsonl
from mft.scripts import generator_main

LETTERS = string.ascii_lowercase[:8]
SIZES = {"copy": (1000, 100, 100), "addition": (3000, 100, 100), "reverse": (48, 24, 24)}


def _word(rng: random.Random, low: int = 3, high: int = 5) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(low, high)))


def copy_record(rng: random.Random) -> dict:
    w = _word(rng)
    return {"messages": [{"role": "user", "content": f"copy {w}"}, {"role": "assistant", "content": w}]}


def addition_record(rng: random.Random) -> dict:
    a, b = rng.randint(0, 999), rng.randint(0, 999)
    return {"prompt": f"{a}+{b}=", "completion": str(a + b)}


def reverse_record(rng: random.Random) -> dict:
    w = _word(rng)
    return {"chat_rounds": [{"role": "human", "content": f"reverse {w}"}, {"role": "bot", "content": w[::-1]}]}


MAKERS = {"copy": copy_record, "addition": addition_record, "reverse": reverse_record}


def generate(out_dir: str, seed: int = 0) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for offset, (task, make) in enumerate(MAKERS.items()):
        rng = random.Random(seed * 1000 + offset)
        seen: set[str] = set()
        for split, size in zip(("train", "valid", "test"), SIZES[task]):
            write_jsonl(os.path.join(out_dir, f"{task}.{split}.jsonl"), distinct_records(make, rng, size, seen))


if __name__ == "__main__":
    generator_main(__doc__, "launch/make_demo_data.py",
                   os.path.join(os.path.dirname(__file__), "..", "configs", "demo_data"), generate)
