"""Command line of `launch/train.py`: parse, load and check the config, train.

A user's mistake ends in one line, ``mft: error: ...``. Mistakes found before training starts
(the config, its files and records, the tokenizer) are the same on every rank of a node, so rank 0
reports them, and on a multi-node run the first rank of every other node too (its files and
cache are its own); the other ranks wait, silent, at most 30 s, for the launcher to end them once
the reporting rank has exited. `--check` stops there, after the model has been built on the meta device, with a
one-line verdict: what a cluster user runs before queueing a job.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
import warnings

from data_pipeline import DataError

from .config import RunConfig, deepspeed_dict, load_config
from .config_loader import ConfigError
from .logs import setup_logging
from .preflight import Checked, check_run, launch_local_rank, launch_local_world_size, launch_rank, launch_world_size
from .scripts import script_parser

logger = logging.getLogger("mft")
QUIET_RANK_WAIT_S = 30.0  # the longest a rank that does not report a load error waits for its launcher


def parse_args(argv: list[str] | None = None, doc: str | None = None) -> argparse.Namespace:
    """`doc`: launch/train.py's docstring, the commands --help shows."""
    parser = script_parser(doc or "mft multi-task fine-tuning", prog="launch/train.py")
    parser.add_argument("--config", required=True, help="run config JSON, e.g. configs/demo_cpu.json")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set training.lr=1e-5 (repeatable)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None,
                        help="continue from the latest checkpoint, or from the given checkpoint folder")
    parser.add_argument("--stl", action="store_true",
                        help="single-task learning: one training per task, in <output_dir>/stl/<task>")
    parser.add_argument("--check", action="store_true",
                        help="check everything up to the first step (config, files, records, tokenizer, model on the "
                             "meta device, DeepSpeed config), print a one-line verdict and exit without training")
    parser.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)  # set by the deepspeed launcher
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, doc: str | None = None) -> int:
    args = parse_args(argv, doc)
    rank = launch_rank()
    setup_logging(rank)
    try:
        cfg = load_config(args.config, args.overrides)
        found = [check_run(run, local_rank=launch_local_rank(), resume=args.resume, model=args.check)
                 for run in (stl_configs(cfg) if args.stl else [cfg])]
    except (ConfigError, DataError, FileNotFoundError) as exc:
        if rank == 0:
            logger.error("mft: error: %s", exc)
        elif launch_local_rank() == 0:  # another node: its own files and cache may differ from node 0's
            logger.error("mft: error: %s", exc)  # the log prefixes the rank
        elif wait_for_the_reporting_rank():  # still running: no launcher ended this rank
            logger.error("mft: error: %s", exc)
        return 2
    if args.check:
        if rank == 0:
            print(verdict(cfg, found), flush=True)
        return 0
    return _train(cfg, args)


def wait_for_the_reporting_rank(sleep=time.sleep) -> bool:
    """A rank that found a load error but does not report it waits QUIET_RANK_WAIT_S before
    exiting when a launcher started other ranks beside it: the deepspeed launcher and torchrun end
    every rank of a run as soon as one fails, so a quiet rank that exited first could end its
    node's reporting rank before that had printed the error, and the user would see no reason.
    The launcher ends this wait when the reporting rank exits; True when it did not (a slow
    reporting rank, or a launcher that leaves the other ranks running), and the caller then
    reports the error itself."""
    if launch_local_world_size() <= 1:
        return False
    sleep(QUIET_RANK_WAIT_S)
    return True


def verdict(cfg: RunConfig, found: list[Checked]) -> str:
    """`--check`'s one line: what was checked and found."""
    first = found[0]
    stage = deepspeed_dict(cfg).get("zero_optimization", {}).get("stage", 0)
    runs = f"{len(found)} single-task runs, " if len(found) > 1 else ""
    skipped = f", {sum(c.skipped for c in found)} bad records skipped" if any(c.skipped for c in found) else ""
    return (f"mft: check passed: {runs}{first.tasks} task(s), {sum(c.train_samples for c in found)} train / "
            f"{sum(c.valid_samples for c in found)} valid samples{skipped}, tokenizer of {first.vocab} tokens, "
            f"model {'from model.tiny' if cfg.model.tiny is not None else 'builds'}, DeepSpeed ZeRO-{stage} on "
            f"{launch_world_size()} rank(s); nothing was trained")


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
