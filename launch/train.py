"""Multi-task fine-tuning with task weighting (CoBa by default) on DeepSpeed.

    deepspeed --num_gpus 2 launch/train.py --config configs/demo_cpu.json       # 2 ranks (GPUs, or CPU processes)
    deepspeed --hostfile hosts --num_nodes 2 launch/train.py --config configs/cc_phi.json
    python launch/train.py --config configs/demo_cpu.json --set training.max_steps=50   # 1 process
    python launch/train.py --config configs/cc_phi.json --check     # everything up to the first step, then exit
    deepspeed --num_gpus 2 launch/train.py --config configs/demo_cpu.json --resume latest

`--set section.key=value` overrides any config key (`data.tasks.0.train` or `data.tasks[0].train`);
`--resume` continues from `latest` or a checkpoint folder; `--check` checks the config, files,
records, tokenizer, model and DeepSpeed config and exits with a one-line verdict.
"""
from __future__ import annotations

import os
import sys

from mft.cli import main

if __name__ == "__main__":
    code = main(doc=__doc__)
    if code == 0:
        # A finished run has closed its files and left its process group. Skip the interpreter's
        # teardown, where a C++ thread that gloo or DeepSpeed still owns can abort the process
        # ("terminate called without an active exception") and fail a run that succeeded.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    sys.exit(code)
