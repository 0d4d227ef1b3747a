"""The checks of a run that need neither the trained model nor the other ranks.

The command line runs `check_run` right after loading the config, before DeepSpeed's process
group exists: a missing or empty data file, a record that cannot train (not JSON, no answer, an
empty answer, a wrong role, a conversation ending on a user turn, a sample longer than
data.seq_length; skipped or refused as data.on_bad_record says), a missing model folder or a Hub
id given as one, a trained tokenizer's vocabulary too small for the data, a `--resume` without a
checkpoint of the same tasks, an attention kernel this machine cannot train with, a DeepSpeed
JSON that contradicts the run config, or model options that cannot run together ends the run
here, with one line naming the file, line or key. Local rank 0 of each node tokenizes the records
here; the result is cached, so the trainer then loads it. The launcher's environment ($RANK, $WORLD_SIZE) says
which rank this is before any process group exists.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from data_pipeline import build_datasets
from data_pipeline.build import check_files

from .base_model import model_folder
from .config import ModelConfig, RunConfig, deepspeed_dict
from .config_loader import ConfigError
from .tokenizer import build_tokenizer, default_cache_dir, load_tokenizer, train_tokenizer

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "microsoft/phi-1_5": an organisation and a name


@dataclass(frozen=True)
class Checked:
    """What `check_run` found on rank 0, for `launch/train.py --check`'s verdict."""

    tasks: int = 0
    train_samples: int = 0
    valid_samples: int = 0
    skipped: int = 0
    vocab: int = 0


def launch_rank() -> int:
    """This process's rank as the launcher set it; 0 for a plain `python` run."""
    return int(os.environ.get("RANK") or 0)


def launch_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE") or 1)


def launch_local_world_size() -> int:
    """How many ranks the launcher started on this node (torchrun: $LOCAL_WORLD_SIZE, the deepspeed
    launcher: $LOCAL_SIZE); 1 when neither is set."""
    return int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("LOCAL_SIZE") or 1)


def launch_local_rank() -> int:
    """This process's rank among those of its node, as the launcher set it; without $LOCAL_RANK
    the global rank (one node), 0 for a plain `python` run."""
    return int(os.environ.get("LOCAL_RANK") or launch_rank())


def check_run(cfg: RunConfig, *, local_rank: int, resume: str | None = None, model: bool = False) -> Checked:
    """Raise `ConfigError`, `DataError` or `FileNotFoundError` for the first mistake found, the
    quick ones first: files, model folder, `--resume`, the run's own tokenizer (local rank 0 trains
    it when the config asks for one); then, importing torch (seconds), attention, DeepSpeed and
    model options; then local rank 0 tokenizes every record. Each node's local rank 0 does the
    work into its node's own cache (nodes may share no cache folder). `model`: local rank 0 also
    builds the model on the meta device (no weights are read), as `--check` does."""
    check_files(cfg.data)
    folder = check_model_folder(cfg.model)
    if resume:
        from .checkpoint import resume_checkpoint

        resume_checkpoint(os.path.join(cfg.output_dir, "checkpoints"), resume,
                          [t.name for t in cfg.data.selected().tasks])
    trained_tokenizer = None
    if local_rank == 0 and not (cfg.model.tokenizer or folder):  # trained for the run (cached), before torch loads
        trained_tokenizer = train_tokenizer(cfg.model, cfg.data, cfg.data.cache_dir or default_cache_dir())
    import torch

    from .attention import check_attention
    from .ds_config import check_deepspeed

    check_attention(cfg.model.attn_implementation, cfg.model.dtype,
                    torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    check_deepspeed(deepspeed_dict(cfg), cfg, launch_world_size())
    from .model import check_model_options

    check_model_options(cfg.model, deepspeed_dict(cfg), cuda=torch.cuda.is_available())
    checked = check_records(cfg, trained_tokenizer) if local_rank == 0 else Checked()
    if model and local_rank == 0:
        check_model_on_meta(cfg.model, folder, checked.vocab)
    return checked


def check_model_folder(model: ModelConfig) -> str:
    """The model folder, checked to be a Hugging Face folder ('' for a model built from model.tiny)."""
    folder = model_folder(model)  # model.path, or the cached model of model.base (an error until built)
    if folder and not os.path.isfile(os.path.join(folder, "config.json")):
        if not os.path.exists(folder):
            hub_id = "/".join(os.path.normpath(folder).split(os.sep)[-2:])  # paths arrive absolute
            hint = (f"; if {hub_id!r} is a Hugging Face Hub id: mft does not download models, fetch it first "
                    f"(huggingface-cli download {hub_id} --local-dir models/{hub_id.split('/')[-1]}) and set "
                    "model.path to that folder") if HUB_ID.match(hub_id) else "; give a Hugging Face model folder"
            raise ConfigError(f"model.path: folder {folder} does not exist{hint}")
        raise ConfigError(f"model.path: {folder} holds no config.json; give a Hugging Face model folder")
    if model.tokenizer and not os.path.isdir(model.tokenizer):
        raise ConfigError(f"model.tokenizer: folder {model.tokenizer} not found")
    if model.tiny is not None and not model.tiny.get("model_type"):
        raise ConfigError("model.tiny needs a model_type, e.g. \"llama\"")
    return folder


def check_records(cfg: RunConfig, trained_tokenizer: str | None) -> Checked:
    """Load the tokenizer (`trained_tokenizer`: the folder of the run's own) and tokenize every
    record as the trainer will, into the same cache, where the trainer then finds them;
    DataError names the first bad record's file and line."""
    cache_dir = cfg.data.cache_dir or default_cache_dir()
    tokenizer = (load_tokenizer(trained_tokenizer) if trained_tokenizer
                 else build_tokenizer(cfg.model, cfg.data, cache_dir, rank=0))
    data = build_datasets(cfg.data.selected(), tokenizer, cache_dir=cache_dir, log=lambda *_: None)
    skipped = sum(sum(stats["skipped"].values()) for stats in data.stats.values())
    return Checked(len(data.task_names), len(data.train), len(data.valid), skipped, len(tokenizer))


def check_model_on_meta(model: ModelConfig, folder: str, vocab: int) -> None:
    """The model's architecture builds (on the meta device: no memory, no weights read) and its
    vocabulary holds the tokenizer's tokens."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if not folder:
        return  # model.tiny: sized by the tokenizer when it is built
    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=model.trust_remote_code)
        with torch.device("meta"):
            built = AutoModelForCausalLM.from_config(config, trust_remote_code=model.trust_remote_code)
    except (ValueError, OSError, KeyError) as exc:
        raise ConfigError(f"model.path: {folder}: {str(exc).splitlines()[0]}") from None
    size = built.get_input_embeddings().weight.shape[0]
    if vocab > size:
        raise ConfigError(f"the tokenizer has {vocab} tokens but the model's vocabulary only {size}; "
                          "use the model's own tokenizer")
