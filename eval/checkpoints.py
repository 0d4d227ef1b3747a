"""Finding checkpoint folders: a folder, a glob, or a run's output_dir searched for model folders
and for mft's saved training steps (DeepSpeed states, which need an export before scoring)."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Sequence

from .errors import EvalError

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")
SEARCH_DEPTH = 3


def is_model_dir(path: Path) -> bool:
    """A Hugging Face model folder: config.json and weights."""
    return (path / "config.json").is_file() and any(any(path.glob(p)) for p in WEIGHT_PATTERNS)


def is_training_state(path: Path) -> bool:
    """A training step saved by mft (checkpoints/step_N: DeepSpeed state and trainer_state.json)."""
    return (path / "trainer_state.json").is_file()


def _scorable(path: Path) -> bool:
    return is_model_dir(path) or is_training_state(path)


def _model_dirs_under(root: Path) -> list[Path]:
    found = []
    for folder, dirs, _ in os.walk(root, followlinks=True):  # depth-limited, so links cannot loop
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < SEARCH_DEPTH else []
        if _scorable(Path(folder)):
            found.append(Path(folder))
            dirs[:] = []
    return found


def find_checkpoints(specs: Sequence[str]) -> list[Path]:
    """Model folders and saved training steps (`is_training_state`) from paths or globs; a folder
    that is neither is searched below, so a run's output_dir gives best/ and every saved step."""
    result: list[Path] = []
    for spec in specs:
        paths = sorted(Path(p) for p in glob.glob(spec)) if glob.has_magic(spec) else [Path(spec)]
        if not paths or not all(p.exists() for p in paths):
            raise EvalError(f"checkpoint {spec!r} matches nothing; give a model folder, a glob or a run's output_dir")
        for path in paths:
            found = [path] if _scorable(path) else _model_dirs_under(path) if path.is_dir() else []
            if not found and not glob.has_magic(spec):
                raise EvalError(
                    f"no Hugging Face model folder (config.json + weights) or mft checkpoint in {path}; "
                    "give a model folder, a run's output_dir or a checkpoints/step_* folder"
                )
            result += [p for p in found if p.resolve() not in {r.resolve() for r in result}]
    if not result:
        raise EvalError(f"no model folders found in {', '.join(specs)}")
    return result


def short_names(paths: Sequence[Path]) -> list[str]:
    """The shortest trailing part of each path that tells them apart ('run1/best', 'run2/best')."""
    parts = [p.absolute().parts for p in paths]
    for width in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-width:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]
