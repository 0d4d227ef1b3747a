"""Command line of `launch/train.py`: parse, load the config, train; user mistakes end in one line."""
from __future__ import annotations

import argparse
import os
import sys
import warnings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launch/train.py", description="mft multi-task fine-tuning")
    parser.add_argument("--config", required=True, help="run config JSON, e.g. configs/demo_cpu.json")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set training.lr=1e-5 (repeatable)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None,
                        help="continue from the latest checkpoint, or from the given checkpoint folder")
    parser.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)  # set by the deepspeed launcher
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DS_ACCELERATOR", "cpu" if not _has_cuda() else "cuda")
    # DeepSpeed's ZeRO collectives call deprecated torch APIs every step; the warnings say nothing to users
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.distributed")
    args = parse_args(argv)
    from data_pipeline import DataError
    from .config import load_config
    from .config_loader import ConfigError

    try:
        cfg = load_config(args.config, args.overrides)
        from .trainer import Trainer
        trainer = Trainer(cfg, resume=args.resume)
        trainer.train()
    except (ConfigError, DataError, FileNotFoundError) as exc:
        print(f"mft: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _has_cuda() -> bool:
    import torch
    return torch.cuda.is_available()
