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
    parser.add_argument("--stl", action="store_true",
                        help="single-task learning: one training per task, in <output_dir>/stl/<task>")
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
    from .checkpoint import CheckpointError
    from .nonfinite import NonFiniteLossError
    from .trainer import Trainer

    try:
        cfg = load_config(args.config, args.overrides)
        for run in (stl_configs(cfg) if args.stl else [cfg]):
            Trainer(run, resume=args.resume).train()
    except (ConfigError, DataError, FileNotFoundError, NonFiniteLossError, CheckpointError) as exc:
        print(f"mft: error: {exc}", file=sys.stderr)
        return 2
    finally:
        _shutdown()
    return 0


def _shutdown() -> None:
    """Leave the process group cleanly (an exit with live gloo threads can abort the process)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _has_cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def stl_configs(cfg):
    """One run config per task (data.only_task), each with its own output folder."""
    import dataclasses
    return [dataclasses.replace(cfg, output_dir=os.path.join(cfg.output_dir, "stl", task.name),
                                data=dataclasses.replace(cfg.data, only_task=task.name))
            for task in cfg.data.tasks]
