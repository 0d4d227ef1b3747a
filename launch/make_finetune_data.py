"""Generate the CPU fine-tuning comparison's four tasks (deterministic; the output is committed in
configs/finetune_data/).

    python launch/make_finetune_data.py [--out configs/finetune_data] [--seed 0]

The base model (configs/base_cpu.json) was pretrained on the same operations over short words and
small numbers (mft/experiments/synthetic.py); these tasks move to 5-8 letters from `a`-`h` and to three-digit
addition, so each must still be learned, at its own speed:
- `copy` (600 train records, chat schema): repeat the word. Close to what the base knows.
- `sort` (600, MFTCoder schema): the word's letters in order.
- `addition` (1,500, plain schema): two three-digit numbers, a form the base never saw.
- `reverse` (120 distinct records, MFTCoder schema): the word backwards, with 40% of the training
  answers replaced by random letters, and each record written 8 times (the mix oversamples the
  small task, so it sees 8 epochs to the others' one). Validation and test answers are clean:
  once the model memorises the corrupted answers, its validation loss turns upward.
Validation and test splits hold 200 clean records per task; no record is in two splits.
"""
from __future__ import annotations

import os

from mft.experiments.synthetic import addition, task_word, write_mix
from mft.scripts import generator_main

MAKERS = {"copy": task_word("copy", "chat"), "sort": task_word("sort", "mftcoder"),
          "addition": addition, "reverse": task_word("reverse", "mftcoder")}
SIZES = {"copy": (600, 200, 200), "sort": (600, 200, 200), "addition": (1500, 200, 200), "reverse": (120, 200, 200)}
CORRUPTED = {"reverse": 0.4}  # share of training answers replaced by noise
REPEATS = {"reverse": 8}      # times each training record is written: the mix oversamples the small task


def generate(out_dir: str, seed: int = 0) -> None:
    write_mix(out_dir, MAKERS, SIZES, seed=seed, corrupted=CORRUPTED, repeats=REPEATS)


if __name__ == "__main__":
    generator_main(__doc__, "launch/make_finetune_data.py",
                   os.path.join(os.path.dirname(__file__), "..", "configs", "finetune_data"), generate)
