"""Typed settings of the data section of a run config.

Plain dataclasses: the run's config loader fills them from JSON, checks types and resolves
relative paths before `data_pipeline` sees them. `validate()` (run on construction) checks the
values and their combinations and raises `DataError` naming the offending key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .choices import check_choices
from .errors import DataError
from .mixing import STRATEGIES

MODES = ("padding", "pack")
SCHEMAS = ("auto", "mftcoder", "chat", "plain")
BAD_RECORD_POLICIES = ("error", "skip")
CHAT_TEMPLATE_SETTINGS = ("auto", "default")


@dataclass
class TaskConfig:
    """One task: its training JSONL files and where its validation data comes from."""

    name: str
    train: list[str]  # JSONL files
    valid: list[str] = field(default_factory=list)  # if empty, valid_fraction of train is held out
    valid_fraction: float = 0.0
    test: list[str] = field(default_factory=list)  # held-out files for evaluation only; never trained or validated on
    weight: float | None = None  # data.mixing.strategy "fixed": this task's relative share of the slots (> 0)

    def validate(self, key: str = "task") -> None:
        """Raise `DataError` naming `key` (e.g. ``data.tasks[1]``) if a value is unusable."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataError(f"{key}.name: must be a non-empty string, got {self.name!r}")
        if not self.train:
            raise DataError(f"{key}.train: task {self.name!r} lists no training files; add at least one JSONL file")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise DataError(f"{key}.valid_fraction: {self.valid_fraction!r} is not in [0, 1)")
        if self.valid and self.valid_fraction > 0.0:
            raise DataError(
                f"{key}.valid_fraction: task {self.name!r} has valid files and a valid_fraction; "
                "set valid_fraction to 0 or remove the valid files"
            )
        if not self.valid and self.valid_fraction <= 0.0:
            raise DataError(
                f"{key}: task {self.name!r} has no validation data; give valid files "
                "or a valid_fraction in (0, 1)"
            )


@dataclass
class MixingConfig:
    """How often each task is drawn (docs/mixing.md): data_pipeline.mixing's strategies."""

    # "proportional" (by size, the default) | "fixed" (tasks' weight) | "temperature" | "unimax"
    strategy: str = field(default="proportional", metadata={"choices": STRATEGIES})
    temperature: float | None = None  # "temperature": p_i proportional to n_i^(1/T), T > 0
    max_epochs: float | None = None  # "unimax": the most passes over any one task, >= 1

    def validate(self) -> None:
        """Raise `DataError` naming the first unusable ``data.mixing`` key."""
        check_choices(self, "data.mixing", DataError)
        for key, strategy, rule in (("temperature", "temperature", "a number > 0, e.g. 2.0"),
                                    ("max_epochs", "unimax", "a number >= 1, e.g. 4")):
            value = getattr(self, key)
            if value is None and self.strategy == strategy:
                raise DataError(f"data.mixing.{key}: strategy {strategy!r} needs it; set {rule}")
            if value is not None and self.strategy != strategy:
                raise DataError(f"data.mixing.{key}: only used with strategy {strategy!r} (now {self.strategy!r}); "
                                "remove it or change data.mixing.strategy")
        if self.temperature is not None and not (math.isfinite(self.temperature) and self.temperature > 0):
            raise DataError(f"data.mixing.temperature: must be a number > 0, got {self.temperature!r}")
        if self.max_epochs is not None and not (math.isfinite(self.max_epochs) and self.max_epochs >= 1):
            raise DataError(f"data.mixing.max_epochs: must be a number >= 1 (passes over a task), got {self.max_epochs!r}")

    def check_weight(self, task: TaskConfig, key: str) -> None:
        """A task's `weight` is required, finite and > 0 under "fixed", and absent otherwise."""
        if self.strategy != "fixed":
            if task.weight is not None:
                raise DataError(f"{key}.weight: only used with data.mixing.strategy 'fixed' (now {self.strategy!r}); "
                                "remove it or set the strategy to fixed")
        elif task.weight is None:
            raise DataError(f"{key}.weight: data.mixing.strategy 'fixed' needs a weight > 0 for task {task.name!r}")
        elif not (math.isfinite(task.weight) and task.weight > 0):
            raise DataError(f"{key}.weight: must be a finite number > 0, got {task.weight!r} (task {task.name!r})")


@dataclass
class DataConfig:
    """All data settings; see each field's comment."""

    tasks: list[TaskConfig] = field(default_factory=list)
    # "padding": one sample per row | "pack": several samples per row
    mode: str = field(default="padding", metadata={"choices": MODES})
    seq_length: int = 512  # row length in tokens; longer samples are an error (or skipped)
    # "auto" (detect per record) | "mftcoder" | "chat" | "plain"
    schema: str = field(default="auto", metadata={"choices": SCHEMAS})
    # "error" | "skip" (skipped records are counted and reported)
    on_bad_record: str = field(default="error", metadata={"choices": BAD_RECORD_POLICIES})
    cache_dir: str = ""  # "" means no cache dir chosen here; build_datasets may get one by argument
    split_seed: int = 0  # seed of the valid_fraction hold-out
    valid_samples_per_task: int = 2  # samples of EVERY task in one controller validation batch
    # "auto": the tokenizer's template if it has one | "default": built-in
    chat_template: str = field(default="auto", metadata={"choices": CHAT_TEMPLATE_SETTINGS})
    only_task: str = ""  # single-task learning (STL): train and validate on this task alone
    group_by_length: bool = False  # batches of rows of similar length (less padding); see samplers.py
    mixing: MixingConfig = field(default_factory=MixingConfig)  # how often each task is drawn

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `DataError` naming the first unusable key, e.g. ``data.mode: ...``."""
        check_choices(self, "data", DataError)
        if isinstance(self.seq_length, bool) or not isinstance(self.seq_length, int) or self.seq_length < 2:
            raise DataError(f"data.seq_length: must be an integer >= 2, got {self.seq_length!r}")
        if (
            isinstance(self.valid_samples_per_task, bool)
            or not isinstance(self.valid_samples_per_task, int)
            or self.valid_samples_per_task < 1
        ):
            raise DataError(
                f"data.valid_samples_per_task: must be an integer >= 1, got {self.valid_samples_per_task!r}"
            )
        if not isinstance(self.group_by_length, bool):
            raise DataError(f"data.group_by_length: must be true or false, got {self.group_by_length!r}")
        if not isinstance(self.mixing, MixingConfig):
            raise DataError(f"data.mixing: expected a MixingConfig, got {type(self.mixing).__name__}")
        self.mixing.validate()
        if self.group_by_length and self.mixing.strategy != "proportional":
            raise DataError(f"data.group_by_length: works with data.mixing.strategy 'proportional' only (now "
                            f"{self.mixing.strategy!r}); set group_by_length to false")
        if not self.tasks:
            raise DataError("data.tasks: no tasks given; add at least one task with a name and train files")
        seen: dict[str, int] = {}
        for i, task in enumerate(self.tasks):
            key = f"data.tasks[{i}]"
            if not isinstance(task, TaskConfig):
                raise DataError(f"{key}: expected a TaskConfig, got {type(task).__name__}")
            task.validate(key)
            if task.name in seen:
                raise DataError(
                    f"{key}.name: duplicate task name {task.name!r} (also data.tasks[{seen[task.name]}]); "
                    "give every task a unique name"
                )
            seen[task.name] = i
            self.mixing.check_weight(task, key)
        if self.only_task and self.only_task not in seen:
            raise DataError(f"data.only_task: {self.only_task!r} is not a task; choose one of {', '.join(seen)}")

    def selected(self) -> "DataConfig":
        """The config restricted to `only_task` (single-task learning), or itself."""
        if not self.only_task:
            return self
        return replace(self, tasks=[t for t in self.tasks if t.name == self.only_task], only_task="")

