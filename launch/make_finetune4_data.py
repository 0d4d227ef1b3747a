"""Generate the fourth CPU fine-tuning mix, the check of the retired weight (deterministic; the
output is committed in configs/finetune4_data/): written after a retired weight of 0.1 was chosen
from the first three mixes' logs, and used for nothing but comparing it with `recommended` (0.25).

    python launch/make_finetune4_data.py [--out configs/finetune4_data] [--seed 0]

Same base model (configs/base_cpu.json); other operations, sizes and noise than the first three
mixes, on words from the last letters (`s`-`z`; the others use `a`-`h`, `a`-`j` and `i`-`r`). Its
two small tasks were meant to overfit in two ways, one by memorising a clean set, one by
memorising noise; in 300 steps under uniform weights neither did (their validation losses
flattened, ending within 0.03 of their best: docs/results/retired_weight_mix4/notes.md).
- `sum3` (900 train records, plain schema): the sum of three two-digit numbers (the corpus adds two).
- `shift` (600, chat schema): every letter moved one place on in the alphabet (`z` becomes `a`).
- `swap` (400, MFTCoder schema): each pair of neighbouring letters swapped (an odd last letter stays).
- `echo` (100 distinct records, plain schema): the word, then the word backwards (4-6 letters),
  clean but each record written 10 times: the smallest task, memorised without noise.
- `trim` (200 distinct records, chat schema): the word without its first and last letter, with
  30% of the training answers replaced by noise (random letters from `a`-`h`, as in every mix)
  and each record written 5 times.
Words have 5-8 letters unless said. Validation and test splits hold 150 clean records per task;
no record is in two splits.
"""
from __future__ import annotations

import os
import random
from typing import Callable

from mft.experiments.synthetic import ALPHABET, as_record, word, write_mix
from mft.scripts import generator_main

LETTERS = ALPHABET[18:26]


def shift(w: str) -> str:
    return "".join(ALPHABET[(ALPHABET.index(c) + 1) % len(ALPHABET)] for c in w)


def swap(w: str) -> str:
    return "".join(w[i + 1] + w[i] for i in range(0, len(w) - 1, 2)) + (w[-1] if len(w) % 2 else "")


OPS: dict[str, Callable[[str], str]] = {
    "shift": shift,
    "swap": swap,
    "echo": lambda w: w + w[::-1],
    "trim": lambda w: w[1:-1],
}


def sum3(rng: random.Random) -> dict:
    """Three two-digit numbers and their sum."""
    a, b, c = (rng.randint(10, 99) for _ in range(3))
    return as_record("plain", f"{a}+{b}+{c}=", str(a + b + c))


def word_task(op: str, schema: str, low: int, high: int) -> Callable[[random.Random], dict]:
    """Maker of operation `op` on `low`-`high` letters from `s`-`z`."""
    def make(rng: random.Random) -> dict:
        w = word(rng, LETTERS, low, high)
        return as_record(schema, f"{op} {w}", OPS[op](w))
    return make


MAKERS = {"sum3": sum3, "shift": word_task("shift", "chat", 5, 8), "swap": word_task("swap", "mftcoder", 5, 8),
          "echo": word_task("echo", "plain", 4, 6), "trim": word_task("trim", "chat", 5, 8)}
SIZES = {"sum3": (900, 150, 150), "shift": (600, 150, 150), "swap": (400, 150, 150), "echo": (100, 150, 150),
         "trim": (200, 150, 150)}
CORRUPTED = {"trim": 0.3}         # share of training answers replaced by noise
REPEATS = {"echo": 10, "trim": 5}  # times each training record is written


def generate(out_dir: str, seed: int = 0) -> None:
    write_mix(out_dir, MAKERS, SIZES, seed=seed, corrupted=CORRUPTED, repeats=REPEATS)


if __name__ == "__main__":
    generator_main(__doc__, "launch/make_finetune4_data.py",
                   os.path.join(os.path.dirname(__file__), "..", "configs", "finetune4_data"), generate)
