"""Checkpoints that hold everything needed to continue a run exactly.

Layout of `<output_dir>/checkpoints/`:
    step_000100/            DeepSpeed engine state (model, optimizer, lr schedule; per-rank ZeRO shards)
        trainer_state.json  step, data position, controller, early stopping, ... (replicated, rank 0 writes)
        rng_rank{r}.pt      python, numpy and torch RNG states of rank r
    latest                  the name of the newest complete checkpoint

A checkpoint is written under a temporary name and renamed into place only after every rank
finished, then `latest` is replaced atomically: a crash while saving leaves the previous
checkpoint complete and `latest` on it.
"""
from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
from typing import Iterable

import numpy as np
import torch

from data_pipeline.prompt_format import write_prompt_format

from .config import read_json_file
from .config_loader import ConfigError
from .distributed import barrier
from .export import export_hf

def save_best(engine, tokenizer, output_dir: str, *, rank: int, info: dict, chat_template: str) -> str:
    """Export the model as the run's best so far to `<output_dir>/best` (a Hugging Face folder,
    collective call), with `mft_best.json` holding `info` (its step and validation losses) and the
    prompt format the evaluation reuses."""
    path = os.path.join(output_dir, "best")
    export_hf(engine, tokenizer, path, rank=rank)
    if rank == 0:
        with open(os.path.join(path, "mft_best.json"), "w") as f:
            json.dump(info, f, indent=1)
        write_prompt_format(path, tokenizer, chat_template)
    return path


class CheckpointError(RuntimeError):
    """A checkpoint could not be written; the message names the folder and the last good one."""


_STEP_DIR = re.compile(r"^step_(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step_{step:06d}"


def resume_checkpoint(root: str, resume: str, tasks: list[str]) -> str:
    """The checkpoint folder `--resume RESUME` names ('latest': the newest in `root`), checked to
    be an mft checkpoint of the same tasks; reads only its trainer_state.json, so the command
    line runs it before any process group and the trainer again before loading the engine.
    Raises FileNotFoundError (no checkpoint) or ConfigError (other tasks), naming the fix."""
    path = resume
    if resume == "latest":
        pointer = os.path.join(root, "latest")
        if not os.path.isfile(pointer):
            raise FileNotFoundError(f"--resume latest: no checkpoint in {root}; "
                                    "start without --resume or give a checkpoint folder")
        with open(pointer, encoding="utf-8") as f:
            path = os.path.join(root, f.read().strip())
    trained = read_trainer_state(path, root).get("tasks")
    if trained != tasks:
        raise ConfigError(f"--resume {resume}: {path} was trained on tasks {trained}, this config has {tasks}")
    return path


def read_trainer_state(path: str, root: str) -> dict:
    """`path`/trainer_state.json; FileNotFoundError saying what a checkpoint folder looks like."""
    state_file = os.path.join(path, "trainer_state.json")
    if not os.path.isfile(state_file):
        raise FileNotFoundError(f"{path} is not an mft checkpoint (no trainer_state.json); "
                                f"give --resume a folder like {root}/step_000100, or 'latest'")
    return read_json_file(state_file, "checkpoint state")


class Checkpointer:
    def __init__(self, root: str, *, rank: int, keep_last: int, frozen_base: bool = False):
        """`frozen_base`: the model's frozen parameters (a LoRA base) are left out of checkpoints;
        the run rebuilds them from the model folder or seed before loading one."""
        self.root = root
        self.rank = rank
        self.keep_last = keep_last
        self.frozen_base = frozen_base

    def save(self, engine, step: int, trainer_state: dict, *, protect_step: int | Iterable[int] | None = None) -> str:
        """Save on every rank (a collective call); returns the checkpoint folder. Pruning to
        keep_last spares `protect_step` (a step or several: the best, each task's best).

        Raises CheckpointError (naming the folder and the last good checkpoint) when the disk is
        full or the folder cannot be written; the previous checkpoint and `latest` stay intact.
        """
        name = step_dir_name(step)
        tmp_name = f".tmp_{name}"
        final = os.path.join(self.root, name)
        tmp = os.path.join(self.root, tmp_name)
        try:
            if self.rank == 0:
                os.makedirs(self.root, exist_ok=True)
                shutil.rmtree(tmp, ignore_errors=True)
            barrier()
            engine.save_checkpoint(self.root, tag=tmp_name, save_latest=False,
                                   exclude_frozen_parameters=self.frozen_base)
            torch.save(_rng_state(), os.path.join(tmp, f"rng_rank{self.rank}.pt"))
            if self.rank == 0:
                _write_json(os.path.join(tmp, "trainer_state.json"), trainer_state)
        except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as RuntimeError
            cause = _cause(exc, self.root)  # before the partial folder is removed: is the disk full?
            shutil.rmtree(tmp, ignore_errors=True)
            raise CheckpointError(f"cannot write checkpoint {final}: {cause}; the last good checkpoint is "
                                  f"{self.latest() or 'none'}; free disk space or fix the folder's permissions, "
                                  "then continue with --resume") from None
        barrier()
        if self.rank == 0:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            _write_text(os.path.join(self.root, "latest"), name)
            self._prune(protect_step)
        barrier()
        return final

    def _prune(self, protect_step: int | Iterable[int] | None) -> None:
        steps = sorted(self.steps())
        protected = {protect_step} if isinstance(protect_step, int) else set(protect_step or ())
        for step in steps[:-self.keep_last]:
            if step not in protected:
                shutil.rmtree(os.path.join(self.root, step_dir_name(step)), ignore_errors=True)

    def drop_after(self, step: int) -> None:
        """Delete the checkpoints after `step` (collective call): after a rollback they belong to
        the abandoned branch, and `latest` must not lead back to it (it is moved to the newest one
        left first, so a crash in between still resumes from a complete checkpoint)."""
        if self.rank == 0:
            kept = [s for s in self.steps() if s <= step]
            if kept:
                _write_text(os.path.join(self.root, "latest"), step_dir_name(max(kept)))
            for later in self.steps():
                if later > step:
                    shutil.rmtree(os.path.join(self.root, step_dir_name(later)), ignore_errors=True)
        barrier()

    def steps(self) -> list[int]:
        if not os.path.isdir(self.root):
            return []
        return [int(m.group(1)) for name in os.listdir(self.root) if (m := _STEP_DIR.match(name))]

    def latest(self) -> str | None:
        """The newest complete checkpoint folder, or None."""
        pointer = os.path.join(self.root, "latest")
        if not os.path.exists(pointer):
            return None
        with open(pointer, encoding="utf-8") as f:
            return os.path.join(self.root, f.read().strip())

    def load(self, engine, path: str) -> dict:
        """Restore engine and RNG state from `path`; returns the trainer state."""
        state = read_trainer_state(path, self.root)
        root, tag = os.path.split(os.path.normpath(path))
        loaded, _ = engine.load_checkpoint(root, tag=tag, load_optimizer_states=True, load_lr_scheduler_states=True,
                                           load_module_strict=not self.frozen_base)
        if loaded is None:
            raise RuntimeError(f"DeepSpeed could not load the engine state from {path}")
        rng_file = os.path.join(path, f"rng_rank{self.rank}.pt")
        if os.path.exists(rng_file):
            _set_rng_state(torch.load(rng_file, weights_only=False))
        return state


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _write_json(path: str, obj: dict) -> None:
    _write_text(path, json.dumps(obj, indent=1))


def _write_text(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


FULL_BELOW_BYTES = 2**20


def _cause(exc: BaseException, folder: str) -> str:
    """One line saying why a save failed. torch reports a full disk as an opaque RuntimeError
    ("enforce fail at inline_container.cc ... unexpected pos"), so the free space is checked."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return text
    if free < FULL_BELOW_BYTES or getattr(exc, "errno", None) == errno.ENOSPC:
        return f"no space left on device ({free / 2**20:.1f} MB free where {folder} is) ({text})"
    return text
