"""Generate the fifth CPU fine-tuning mix, the second check of the retired weight (deterministic;
the output is committed in configs/finetune5_data/): written after the fourth mix, on which no
task overfit in 300 steps, so that its small task does; used for nothing but comparing a retired
weight of 0.1 (`uniform_hold10_rollback`) with `recommended` (0.25).

    python launch/make_finetune5_data.py [--out configs/finetune5_data] [--seed 0]

Same base model (configs/base_cpu.json); other operations, sizes and noise than the first four
mixes, on 5-8 letters from `d`-`m`, and one small noisy task, sized like the tasks that overfit
on the first three mixes (120, 60 and 50 distinct records written 8-15 times):
- `times` (1,100 train records, plain schema): a two-digit number times a two-digit number (the
  corpus stops at 12 x 12).
- `wrap` (600, chat schema): the word's last letter, the word, then its first letter.
- `count` (400, MFTCoder schema): how many distinct letters the word has.
- `flip` (90 distinct records, chat schema): each half of the word reversed in place, with 40% of
  the training answers replaced by noise (random letters from `a`-`h`, as in every mix) and each
  record written 10 times: the smallest task, meant to overfit.
Validation and test splits hold 150 clean records per task; no record is in two splits.
"""
from __future__ import annotations

import os
import random
from typing import Callable

from mft.experiments.synthetic import ALPHABET, as_record, word, write_mix
from mft.scripts import generator_main

LETTERS = ALPHABET[3:13]


def flip(w: str) -> str:
    half = len(w) // 2
    return w[:half][::-1] + w[half:][::-1]


OPS: dict[str, Callable[[str], str]] = {
    "wrap": lambda w: w[-1] + w + w[0],
    "count": lambda w: str(len(set(w))),
    "flip": flip,
}


def times(rng: random.Random) -> dict:
    """Two two-digit numbers and their product."""
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return as_record("plain", f"{a}*{b}=", str(a * b))


def word_task(op: str, schema: str) -> Callable[[random.Random], dict]:
    """Maker of operation `op` on 5-8 letters from `d`-`m`."""
    def make(rng: random.Random) -> dict:
        w = word(rng, LETTERS, 5, 8)
        return as_record(schema, f"{op} {w}", OPS[op](w))
    return make


MAKERS = {"times": times, "wrap": word_task("wrap", "chat"), "count": word_task("count", "mftcoder"),
          "flip": word_task("flip", "chat")}
SIZES = {"times": (1100, 150, 150), "wrap": (600, 150, 150), "count": (400, 150, 150), "flip": (90, 150, 150)}
CORRUPTED = {"flip": 0.4}  # share of training answers replaced by noise
REPEATS = {"flip": 10}     # times each training record is written


def generate(out_dir: str, seed: int = 0) -> None:
    write_mix(out_dir, MAKERS, SIZES, seed=seed, corrupted=CORRUPTED, repeats=REPEATS)


if __name__ == "__main__":
    generator_main(__doc__, "launch/make_finetune5_data.py",
                   os.path.join(os.path.dirname(__file__), "..", "configs", "finetune5_data"), generate)
