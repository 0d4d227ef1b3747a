"""Generate the third CPU fine-tuning mix, the held-out check (deterministic; the output is committed
in configs/finetune3_data/): no setting was chosen or compared on it before `recommended` was fixed.

    python launch/make_finetune3_data.py [--out configs/finetune3_data] [--seed 0]

Same base model (configs/base_cpu.json); other operations, sizes and noise than the first two mixes,
on words from other letters (`i`-`r`; the first two use `a`-`h` and `a`-`j`), and two small tasks
that overfit at different speeds instead of one:
- `multiply` (1,000 train records, plain schema): a three-digit number times a one-digit number
  (the corpus stops at 12 x 12).
- `halves` (700, MFTCoder schema): the word's second half, then its first (6-10 letters).
- `shout` (300 distinct records, chat schema): the word backwards in capitals (4-8 letters), with
  15% of the training answers replaced by noise and each record written 3 times: overfits late.
- `skip` (50 distinct records, plain schema): every second letter of the word (5-9 letters),
  with 35% of the training answers replaced by noise and each record written 15 times: the
  smallest task, and the first to overfit.
Validation and test splits hold 150 clean records per task; no record is in two splits.
"""
from __future__ import annotations

import os
import random
from typing import Callable

from mft.experiments.synthetic import ALPHABET, as_record, word, write_mix
from mft.scripts import generator_main

LETTERS = ALPHABET[8:18]
OPS: dict[str, Callable[[str], str]] = {
    "halves": lambda w: w[len(w) // 2:] + w[:len(w) // 2],
    "shout": lambda w: w[::-1].upper(),
    "skip": lambda w: w[::2],
}


def multiply(rng: random.Random) -> dict:
    """A three-digit number times a one-digit number, and the product."""
    a, b = rng.randint(100, 999), rng.randint(2, 9)
    return as_record("plain", f"{a}*{b}=", str(a * b))


def word_task(op: str, schema: str, low: int, high: int) -> Callable[[random.Random], dict]:
    """Maker of operation `op` on `low`-`high` letters from `i`-`r`."""
    def make(rng: random.Random) -> dict:
        w = word(rng, LETTERS, low, high)
        return as_record(schema, f"{op} {w}", OPS[op](w))
    return make


MAKERS = {"multiply": multiply, "halves": word_task("halves", "mftcoder", 6, 10),
          "shout": word_task("shout", "chat", 4, 8), "skip": word_task("skip", "plain", 5, 9)}
SIZES = {"multiply": (1000, 150, 150), "halves": (700, 150, 150), "shout": (300, 150, 150), "skip": (50, 150, 150)}
CORRUPTED = {"shout": 0.15, "skip": 0.35}  # share of training answers replaced by noise
REPEATS = {"shout": 3, "skip": 15}         # times each training record is written


def generate(out_dir: str, seed: int = 0) -> None:
    write_mix(out_dir, MAKERS, SIZES, seed=seed, corrupted=CORRUPTED, repeats=REPEATS)


if __name__ == "__main__":
    generator_main(__doc__, "launch/make_finetune3_data.py",
                   os.path.join(os.path.dirname(__file__), "..", "configs", "finetune3_data"), generate)
