"""Command line of `launch/train.py`: parse, load and check the config, train.

A user's mistake ends in one line, ``mft: error: ...``. Mistakes found before training starts
(the config, its files, the tokenizer) are the same on every rank, so only rank 0 reports them.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import warnings

from data_pipeline import DataError

from .config import RunConfig, load_config
from .config_loader import ConfigError
from .logs import setup_logging
from .preflight import check_run, launch_local_rank, launch_rank

logger = logging.getLogger("mft")


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
    args = parse_args(argv)
    rank = launch_rank()
    setup_logging(rank)
    try:
        cfg = load_config(args.config, args.overrides)
        for run in (stl_configs(cfg) if args.stl else [cfg]):
            check_run(run, local_rank=launch_local_rank(), resume=args.resume)
    except (ConfigError, DataError, FileNotFoundError) as exc:
        if rank == 0:
            logger.error("mft: error: %s", exc)
        return 2
    return _train(cfg, args)


def _train(cfg: RunConfig, args: argparse.Namespace) -> int:
    os.environ.setdefault("DS_ACCELERATOR", "cuda" if _has_cuda() else "cpu")
    # DeepSpeed's ZeRO collectives call deprecated torch APIs every step; the warnings say nothing to users
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.distributed")
    from .checkpoint import CheckpointError
    from .nonfinite import NonFiniteLossError
    from .trainer import Trainer

    try:
        for run in (stl_configs(cfg) if args.stl else [cfg]):
            Trainer(run, resume=args.resume).train()
    except (ConfigError, DataError, FileNotFoundError, NonFiniteLossError, CheckpointError) as exc:
        logger.error("mft: error: %s", exc)
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


def stl_configs(cfg: RunConfig) -> list[RunConfig]:
    """One run config per task (data.only_task), each with its own output folder."""
    return [dataclasses.replace(cfg, output_dir=os.path.join(cfg.output_dir, "stl", task.name),
                                data=dataclasses.replace(cfg.data, only_task=task.name))
            for task in cfg.data.tasks]
