"""Generate the second CPU fine-tuning mix (deterministic; the output is committed in
configs/finetune2_data/), to check that a setting chosen on configs/finetune_cpu.json is not
fitted to that one mix.

    python launch/make_finetune2_data.py [--out configs/finetune2_data] [--seed 0]

Same base model (configs/base_cpu.json), other tasks, sizes and noise: five tasks on 6-9 letters
from `a`-`j` (the first mix: 5-8 from `a`-`h`) and three-digit subtraction, which the corpus
never shows (its arithmetic stops at 99):
- `rotate` (900 train records, chat schema): the first letter moved to the end.
- `upper` (500, MFTCoder schema): the word in capitals; close to what the base knows.
- `subtraction` (1,200, plain schema): a - b of two three-digit numbers, a >= b.
- `double` (300, chat schema): the word written twice; long answers.
- `dedupe` (60 distinct records, MFTCoder schema): the letters without repeats, with 25% of the
  training answers replaced by random letters and each record written 12 times; the smallest
  task, and the one that overfits (clean validation).
Validation and test splits hold 150 clean records per task; no record is in two splits.
"""
from __future__ import annotations

import os
import random

from mft.scripts import generator_main
from mft.experiments.synthetic import ALPHABET, as_record, task_word, write_mix

LETTERS = ALPHABET[:10]


def subtraction(rng: random.Random) -> dict:
    """Two three-digit numbers, the larger first, and their difference."""
    a, b = sorted((rng.randint(100, 999), rng.randint(100, 999)), reverse=True)
    return as_record("plain", f"{a}-{b}=", str(a - b))


MAKERS = {"rotate": task_word("rotate", "chat", LETTERS, 6, 9), "upper": task_word("upper", "mftcoder", LETTERS, 6, 9),
          "subtraction": subtraction, "double": task_word("double", "chat", LETTERS, 6, 9),
          "dedupe": task_word("dedupe", "mftcoder", LETTERS, 6, 9)}
SIZES = {"rotate": (900, 150, 150), "upper": (500, 150, 150), "subtraction": (1200, 150, 150),
         "double": (300, 150, 150), "dedupe": (60, 150, 150)}
CORRUPTED = {"dedupe": 0.25}  # share of training answers replaced by noise
REPEATS = {"dedupe": 12}      # times each training record is written


def generate(out_dir: str, seed: int = 0) -> None:
    write_mix(out_dir, MAKERS, SIZES, seed=seed, corrupted=CORRUPTED, repeats=REPEATS)


if __name__ == "__main__":
    generator_main(__doc__, "launch/make_finetune2_data.py",
                   os.path.join(os.path.dirname(__file__), "..", "configs", "finetune2_data"), generate)
