"""The run configuration: one JSON file, typed sections, `--set` overrides.

    cfg = load_config("configs/demo_cpu.json", overrides=["training.lr=1e-4"])

Relative paths inside the file are resolved against the file's folder; paths given with
`--set` are resolved against the current directory. Every mistake raises `ConfigError` naming
the key (see `mft.config_loader`).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from data_pipeline import DataConfig, DataError

from .config_loader import ConfigError, apply_override, build
from .task_mix import check_mix_config
from .weighting import weighting_params


@dataclass
class LoraSettings:
    """LoRA adapters through peft: only the adapters train; best/ holds the merged model."""
    r: int = 8                          # adapter rank
    alpha: float = 16.0                 # scaling alpha / r
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])  # module names, or "all-linear" (every linear layer but the output layer)

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ConfigError(f"model.lora.r: must be >= 1, got {self.r}")
        if self.alpha <= 0:
            raise ConfigError(f"model.lora.alpha: must be > 0, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.lora.dropout: must be >= 0 and < 1, got {self.dropout}")
        if not self.target_modules:
            raise ConfigError('model.lora.target_modules: must not be empty; give module names or "all-linear", got []')


@dataclass
class ModelConfig:
    path: str = ""                      # Hugging Face model folder (config + weights)
    base: str = ""                      # or: a base-model config (configs/base_cpu.json); its cached model (launch/pretrain_base.py)
    tiny: dict | None = None            # or: an inline transformers config, e.g. {"model_type": "llama", ...}
    tokenizer: str = ""                 # tokenizer folder; "" = model.path
    tokenizer_train_vocab: int = 0      # with model.tiny and no tokenizer: train a sentencepiece tokenizer of this size on the training data
    dtype: str = field(default="fp32", metadata={"choices": ("fp32", "bf16")})
    attn_implementation: str = field(default="sdpa", metadata={"choices": ("sdpa", "eager", "flash_attention_2", "flex_attention")})
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False     # run the Python code a model folder ships (config.json "auto_map")
    lora: LoraSettings | None = None    # e.g. {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}
    quantization: str = field(default="", metadata={"choices": ("", "4bit")})  # "4bit": QLoRA, a frozen NF4 base (CUDA, bitsandbytes)

    def __post_init__(self) -> None:
        given = [f"model.{key}" for key in ("path", "base", "tiny") if getattr(self, key)]
        if len(given) != 1:
            raise ConfigError("model: set exactly one of model.path (a model folder), model.base (a base-model "
                              f"config) and model.tiny (an inline config), got {' and '.join(given) or 'none'}")
        if self.tiny and not (self.tokenizer or self.tokenizer_train_vocab):
            raise ConfigError("model.tokenizer: required with model.tiny (a tokenizer folder; or set "
                              "model.tokenizer_train_vocab, e.g. 512), got ''")
        if self.quantization and self.lora is None:
            raise ConfigError("model.quantization: needs model.lora (a quantized base cannot be trained, only "
                              f"adapters on top of it), got {self.quantization!r}")
        if self.quantization and self.tiny:
            raise ConfigError("model.quantization: needs model.path or model.base (a pretrained folder; "
                              f"model.tiny is built unquantized), got {self.quantization!r}")


@dataclass
class TrainingConfig:
    max_steps: int = 0                  # optimizer steps; 0 = run training.epochs
    epochs: float = 1.0
    micro_batch_size: int = 4           # rows per rank per forward
    grad_accum: int = 1                 # micro-batches per optimizer step
    lr: float = 1e-5
    min_lr: float = 0.0                 # the cosine schedule's floor
    warmup_steps: int = 0               # linear lr warm-up
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0              # 0 = off
    max_nonfinite_steps: int = 3        # stop after this many steps in a row with a non-finite loss (each is skipped)
    seed: int = 42
    dist_timeout_s: float = 3600.0      # how long a collective waits for the other ranks (rank 0 tokenises alone at start)

    def __post_init__(self) -> None:
        for key in ("micro_batch_size", "grad_accum"):
            if getattr(self, key) < 1:
                raise ConfigError(f"training.{key}: must be >= 1, got {getattr(self, key)}")
        if self.max_steps < 0:
            raise ConfigError(f"training.max_steps: must be >= 0 (0 = run training.epochs), got {self.max_steps}")
        if self.max_steps == 0 and self.epochs <= 0:
            raise ConfigError(f"training.epochs: must be > 0 when training.max_steps is 0, got {self.epochs}")
        if not self.lr > 0:
            raise ConfigError(f"training.lr: must be > 0 (the schedule scales it), got {self.lr}")
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"training.min_lr: must be between 0 and training.lr ({self.lr}), got {self.min_lr}")
        if self.dist_timeout_s <= 0:
            raise ConfigError(f"training.dist_timeout_s: must be > 0 seconds, got {self.dist_timeout_s}")
        if len(self.betas) != 2:
            raise ConfigError(f"training.betas: must hold two numbers, got {self.betas}")


@dataclass
class WeightingConfig:
    method: str = "coba"                # see mft.weighting.available_methods()
    update_interval: int = 1            # controller updates every N optimizer steps
    params: Any = field(default_factory=dict)  # the method's parameters, e.g. {"tau": 5.0}; held as its parsed Params
    valid_batches: int = 1              # m: stratified validation batches averaged per controller step (authors' coba_sample_valid_num)
    apply: str = field(default="loss", metadata={"choices": ("loss", "sampling")})  # weights scale the task losses, or set the task proportions (docs/mixing.md)
    probe: str = field(default="resample", metadata={"choices": ("resample", "fixed")})  # "fixed": the same m batches at every controller step

    def __post_init__(self) -> None:
        if self.update_interval < 1:
            raise ConfigError(f"weighting.update_interval: must be >= 1, got {self.update_interval}")
        if self.valid_batches < 1:
            raise ConfigError(f"weighting.valid_batches: must be >= 1, got {self.valid_batches}")
        # the method's typed Params: names, types and values checked before any data is read; what
        # needs the run (CoBa's "auto", a period of "epoch") when the trainer builds the method
        self.params = weighting_params(self.method, self.params)


@dataclass
class ValidationConfig:
    interval: int = 100                 # full validation every N steps (and at the end)
    patience: int = 0                   # early stopping after N validations without improvement; 0 = off
    min_delta: float = 0.0              # an improvement must lower the mean loss ratio (a task's loss, for task_patience) by more than this
    task_patience: int = 0              # retire a task after N validations without improving its own best loss; 0 = off
    rollback: bool = False              # on a retirement, go back to the retired task's best step (needs task_patience)
    retired_weight: float = 0.0         # a retired task's weight, as a factor on its method weight, before renormalising; 0 = dropped

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ConfigError(f"validation.interval: must be >= 1, got {self.interval}")
        if self.patience < 0:
            raise ConfigError(f"validation.patience: must be >= 0 (0 = no early stopping), got {self.patience}")
        if self.task_patience < 0:
            raise ConfigError(f"validation.task_patience: must be >= 0 (0 = no per-task stop), got {self.task_patience}")
        if self.rollback and not self.task_patience:
            raise ConfigError("validation.rollback: needs validation.task_patience >= 1 (it rolls back when a task "
                              "is retired); set validation.task_patience or validation.rollback=false, got true")
        if not 0.0 <= self.retired_weight < 1.0:
            raise ConfigError(f"validation.retired_weight: must be in [0, 1) (a factor on a retired task's weight; "
                              f"0 drops it, 1 would not retire it), got {self.retired_weight}")
        if self.retired_weight and not self.task_patience:
            raise ConfigError(f"validation.retired_weight: needs validation.task_patience >= 1 (it weights retired "
                              f"tasks); set validation.task_patience or validation.retired_weight=0, got {self.retired_weight}")


@dataclass
class CheckpointConfig:
    interval: int = 100                 # save every N steps; 0 = only at the end
    keep_last: int = 2                  # older checkpoints are deleted, never the best one

    def __post_init__(self) -> None:
        if self.interval < 0:
            raise ConfigError(f"checkpoint.interval: must be >= 0 (0 = only at the end), got {self.interval}")
        if self.keep_last < 1:
            raise ConfigError(f"checkpoint.keep_last: must be >= 1, got {self.keep_last}")


@dataclass
class LoggingConfig:
    interval: int = 1                   # metrics.jsonl / TensorBoard every N steps
    tensorboard: bool = True
    progress_bar: bool = True


@dataclass
class ReproduceConfig:
    """Read by launch/reproduce.py only: the methods to compare and how to score them."""
    methods: list[str] = field(default_factory=lambda: ["uniform", "stl", "lbtw_valid", "gradnorm_valid",
                                                         "famo_valid", "coba"])
    overrides: dict = field(default_factory=dict)     # per method, --set style overrides: {"famo_valid": {"training.lr": 5e-6}}
    benchmarks: list[str] = field(default_factory=list)  # e.g. ["humaneval", "humaneval-x", "mbpp"]; [] = per-task test loss


@dataclass
class RunConfig:
    output_dir: str
    model: ModelConfig
    data: DataConfig
    deepspeed: Any = field(default_factory=lambda: {"zero_optimization": {"stage": 2}})  # a DeepSpeed JSON path or an inline object
    training: TrainingConfig = field(default_factory=TrainingConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    reproduce: ReproduceConfig = field(default_factory=ReproduceConfig)
    description: str = ""               # free text: what the run reproduces, on what hardware

    def __post_init__(self) -> None:
        if not isinstance(self.deepspeed, (str, dict)):
            raise ConfigError("deepspeed: must be a path to a DeepSpeed JSON file or an inline object, "
                              f"got {self.deepspeed!r}")
        check_mix_config(self.data, self.training, self.weighting)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _path_keys(raw: dict) -> list[tuple[Any, Any]]:
    """(container, key) pairs of every path-valued entry in a raw config dict."""
    found: list[tuple[Any, Any]] = []
    if isinstance(raw.get("output_dir"), str):
        found.append((raw, "output_dir"))
    if isinstance(raw.get("deepspeed"), str):
        found.append((raw, "deepspeed"))
    model = raw.get("model")
    if isinstance(model, dict):
        found += [(model, k) for k in ("path", "base", "tokenizer") if isinstance(model.get(k), str)]
    data = raw.get("data")
    if isinstance(data, dict):
        if isinstance(data.get("cache_dir"), str):
            found.append((data, "cache_dir"))
        tasks = data.get("tasks")
        for task in tasks if isinstance(tasks, list) else []:  # a wrong type is reported by the type check
            if not isinstance(task, dict):
                continue
            for k in ("train", "valid", "test"):
                value = task.get(k)
                if isinstance(value, str):
                    found.append((task, k))
                elif isinstance(value, list):
                    found += [(value, i) for i, v in enumerate(value) if isinstance(v, str)]
    return found


def make_paths_absolute(raw: dict, base: str) -> None:
    """Resolve every relative path of a raw config dict against folder `base`, in place."""
    for container, key in _path_keys(raw):
        value = os.path.expanduser(container[key])
        if value:
            container[key] = os.path.normpath(os.path.join(base, value))


def read_json_file(path: str, what: str = "config file", fix: str = "") -> Any:
    """A JSON file's content; `ConfigError` naming the file (and line) when it is missing or invalid.
    The one reader of mft's JSON files (configs, DeepSpeed configs, checkpoint states); `fix` is
    appended to the not-found message."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"{path}: {what} not found{'; ' + fix if fix else ''}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); JSON allows no comments or trailing commas") from None


def load_config(path: str, overrides: list[str] = ()) -> RunConfig:
    """Read, override and type-check a run config; relative paths become absolute."""
    raw = read_json_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a run config must be a JSON object, got {type(raw).__name__}")
    make_paths_absolute(raw, os.path.dirname(os.path.abspath(path)))
    for assignment in overrides:
        apply_override(raw, assignment)
    make_paths_absolute(raw, os.getcwd())  # only paths set by --set are still relative
    try:
        return build(RunConfig, raw)
    except DataError as exc:
        raise ConfigError(str(exc)) from None


def deepspeed_dict(cfg: RunConfig) -> dict:
    """The DeepSpeed config as a dict (read from its file when given as a path)."""
    if isinstance(cfg.deepspeed, dict):
        return dict(cfg.deepspeed)
    return read_json_file(cfg.deepspeed, "deepspeed config",
                          fix="set the key deepspeed to a DeepSpeed JSON path or an inline object")
