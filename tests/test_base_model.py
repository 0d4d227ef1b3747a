"""The base model: a tiny base config pretrains through launch/pretrain_base.py into a loadable
Hugging Face folder, a second call returns the cached folder without training, and a fine-tuning
config starts from it with model.base."""
import json
import os
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from launch_helpers import ROOT, read_metrics, run_process, run_train

from mft.experiments import pretrain as pretrain_module
from mft.base_model import load_base_config, model_folder
from mft.experiments.pretrain import ensure_base
from mft.config import load_config
from mft.config_loader import ConfigError

PRETRAIN = os.path.join(ROOT, "launch", "pretrain_base.py")
FINETUNE = os.path.join(ROOT, "configs", "finetune_cpu.json")


def tiny_base(folder, **changes) -> str:
    """A base config that trains a ~10k-parameter Llama for 4 steps on 300 corpus records."""
    cfg = {"base": {"seed": 0, "train_records": 300, "valid_records": 20, "ranks": 1},
           "model": {"tiny": {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                              "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 128},
                     "tokenizer_train_vocab": 384},
           "data": {"mode": "pack", "seq_length": 64, "cache_dir": str(folder / "cache")},
           "deepspeed": os.path.join(ROOT, "configs", "deepspeed", "zero2.json"),
           "training": {"max_steps": 4, "micro_batch_size": 4, "lr": 1e-3, "seed": 0},
           "weighting": {"method": "uniform"},
           "validation": {"interval": 2},
           "logging": {"interval": 1, "tensorboard": False, "progress_bar": False}}
    for key, value in changes.items():
        section, name = key.split(".")
        cfg.setdefault(section, {})[name] = value
    path = folder / "base.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def pretrain(config: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = run_process([sys.executable, PRETRAIN, "--config", config], env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    config = tiny_base(folder)
    return config, pretrain(config)


def test_build_writes_a_loadable_model_folder(built):
    config, line = built
    spec = load_base_config(config)
    assert line == f"built: {spec.folder}"
    tokenizer = AutoTokenizer.from_pretrained(spec.folder)
    model = AutoModelForCausalLM.from_pretrained(spec.folder)
    ids = tokenizer("reverse abc", return_tensors="pt").input_ids
    assert tokenizer.decode(ids[0]) == "reverse abc"
    assert torch.isfinite(model(ids).logits).all()
    made = json.load(open(os.path.join(spec.folder, "mft_base.json")))
    assert made["key"] == spec.key and made["base"]["train_records"] == 300
    steps = [r["step"] for r in read_metrics(os.path.join(spec.folder, "pretraining")) if "loss" in r]
    assert steps == [1, 2, 3, 4]
    assert not os.path.exists(spec.folder + ".build")


def test_second_call_returns_the_cache_without_training(built, monkeypatch):
    config, _ = built
    spec = load_base_config(config)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached base was trained again")
    monkeypatch.setattr(pretrain_module, "train", no_training)
    assert ensure_base(spec) == (spec.folder, False)
    assert pretrain(config) == f"cached: {spec.folder}"


def test_finetune_config_starts_from_the_base(built, tmp_path):
    config, _ = built
    out = tmp_path / "run"
    sets = [f"model.base={config}", f"output_dir={out}", f"data.cache_dir={tmp_path / 'cache'}",
            "training.max_steps=2", "validation.interval=2", "validation.patience=0", "logging.progress_bar=false"]
    assert model_folder(load_config(FINETUNE, sets).model) == load_base_config(config).folder
    run_train(sets, ranks=1, config=FINETUNE)
    start = AutoModelForCausalLM.from_pretrained(load_base_config(config).folder).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(str(out / "best")).state_dict()
    assert start.keys() == tuned.keys()
    assert any(not torch.equal(start[k], tuned[k]) for k in start)
    assert all(start[k].shape == tuned[k].shape for k in start)


def test_key_follows_what_changes_the_weights(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    key = load_base_config(tiny_base(tmp_path / "a")).key
    assert load_base_config(tiny_base(tmp_path / "b")).key == key  # another folder, same content
    assert load_base_config(tiny_base(tmp_path / "b", **{"logging.interval": 5})).key == key
    assert load_base_config(tiny_base(tmp_path / "b", **{"training.lr": 2e-3})).key != key
    assert load_base_config(tiny_base(tmp_path / "b", **{"base.seed": 1})).key != key
    assert load_base_config(tiny_base(tmp_path / "b", **{"base.ranks": 2})).key != key


def test_unbuilt_base_and_bad_base_configs_fail_with_the_fix(tmp_path):
    config = tiny_base(tmp_path)
    with pytest.raises(ConfigError, match="not built yet; run python launch/pretrain_base.py --config"):
        model_folder(load_config(FINETUNE, [f"model.base={config}"]).model)
    with pytest.raises(ConfigError, match="remove output_dir"):
        load_base_config(_with(config, output_dir="x"))
    with pytest.raises(ConfigError, match="base.train_records must be >= 1"):
        load_base_config(tiny_base(tmp_path, **{"base.train_records": 0}))
    with pytest.raises(ConfigError, match="training.lrr: not a valid key"):
        load_base_config(tiny_base(tmp_path, **{"training.lrr": 1.0}))
    with pytest.raises(ConfigError, match="exactly one of model.path"):
        load_config(FINETUNE, ["model.path=/tmp"])


def _with(config: str, **top) -> str:
    raw = json.load(open(config))
    raw.update(top)
    path = config.replace(".json", ".extra.json")
    json.dump(raw, open(path, "w"))
    return path
