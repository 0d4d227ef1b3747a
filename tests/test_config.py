"""Config loading: typed sections, --set overrides, paths, and one-line fix-it errors."""
import json
import os

import pytest

from data_pipeline import DataConfig, DataError, TaskConfig
from mft.config import deepspeed_dict, load_config
from mft.config_loader import ConfigError, apply_override
from mft.ds_config import engine_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "demo_cpu.json")


def _write(tmp_path, raw, name="run.json"):
    path = tmp_path / name
    path.write_text(json.dumps(raw))
    return str(path)


def _minimal():
    return {"output_dir": "out", "model": {"tiny": {"model_type": "llama"}, "tokenizer_train_vocab": 100},
            "data": {"tasks": [{"name": "a", "train": "a.jsonl", "valid_fraction": 0.1}]}}


def test_demo_config_loads_and_resolves_paths():
    cfg = load_config(DEMO)
    assert cfg.weighting.method == "coba"
    assert [t.name for t in cfg.data.tasks] == ["copy", "addition", "reverse"]
    for task in cfg.data.tasks:
        assert os.path.isabs(task.train[0]) and os.path.exists(task.train[0])
    assert os.path.exists(cfg.deepspeed)
    assert deepspeed_dict(cfg)["zero_optimization"]["stage"] == 2


def test_paths_relative_to_file_and_overrides_relative_to_cwd(tmp_path, monkeypatch):
    path = _write(tmp_path, _minimal())
    monkeypatch.chdir(ROOT)
    cfg = load_config(path, ["output_dir=elsewhere", "training.lr=0.5", "data.tasks.0.name=b"])
    assert cfg.data.tasks[0].train == [str(tmp_path / "a.jsonl")]   # a single file becomes a list
    assert cfg.output_dir == os.path.join(ROOT, "elsewhere")
    assert cfg.training.lr == 0.5 and cfg.data.tasks[0].name == "b"


@pytest.mark.parametrize("override, message", [
    ("training.lrr=1", "training.lrr: not a valid key; did you mean 'training.lr'?"),
    ("trainin.lr=1", "trainin: not a valid key; did you mean 'training'?"),
    ("training.lr=fast", "training.lr: must be a number, got a string 'fast'"),
    ("training.micro_batch_size=1.5", "training.micro_batch_size: must be an integer"),
    ("logging.tensorboard=1", "logging.tensorboard: must be true or false"),
    ("model.dtype=fp16", "model.dtype: 'fp16' is not one of fp32, bf16"),
    ("data.mode=packed", "data.mode: 'packed' is not one of padding, pack; did you mean 'pack'?"),
    ("model.dtype=bf61", "model.dtype: 'bf61' is not one of fp32, bf16; did you mean 'bf16'?"),
    ("data.group_by_length=1", "data.group_by_length: must be true or false"),
    ("model.attn_implementation=flash", "model.attn_implementation: 'flash' is not one of sdpa, eager, "
                                        "flash_attention_2, flex_attention"),
    ("data.tasks.0.valid_fraction=0", "has no validation data"),
    ("data.tasks.0.tran=x", "data.tasks[0].tran: not a valid key; did you mean 'data.tasks[0].train'?"),
    ("training.min_lr=1", "training.min_lr: must be between 0 and training.lr"),
    ("training.lr=0", "training.lr: must be > 0"),
    ("weighting.valid_batches=0", "weighting.valid_batches: must be >= 1"),
    ("weighting.update_interval=0", "weighting.update_interval: must be >= 1"),
    ("weighting.method=cobaa", "weighting.method: unknown weighting method 'cobaa'; did you mean 'coba'?"),
    ('weighting.params={"tua": 5}', "weighting.params.tua: coba has no parameter 'tua'; did you mean 'tau'?"),
    ('weighting.params={"tau": -1}', "weighting.params.tau: must be > 0.0, got -1"),
    ('weighting.params={"ablate": "dff"}', "weighting.params.ablate: 'dff' is not one of , rcs, acs, df; did you mean 'df'?"),
])
def test_mistakes_name_the_key(tmp_path, override, message):
    path = _write(tmp_path, _minimal())
    with pytest.raises(ConfigError) as err:
        load_config(path, [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("override, key, value", [
    ("validation.interval=0", "validation.interval", "0"),
    ("validation.patience=-1", "validation.patience", "-1"),
    ("checkpoint.interval=-1", "checkpoint.interval", "-1"),
    ("checkpoint.keep_last=0", "checkpoint.keep_last", "0"),
    ("training.max_steps=-1", "training.max_steps", "-1"),
    ("training.epochs=0", "training.epochs", "0.0"),
    ("training.grad_accum=0", "training.grad_accum", "0"),
    ("training.dist_timeout_s=0", "training.dist_timeout_s", "0.0"),
    ("training.betas=[0.9]", "training.betas", "[0.9]"),
    ('model.lora={"r": 0}', "model.lora.r", "0"),
    ('model.lora={"alpha": 0}', "model.lora.alpha", "0.0"),
    ('model.lora={"dropout": 1}', "model.lora.dropout", "1.0"),
    ("weighting.valid_batches=0", "weighting.valid_batches", "0"),
    ('weighting.params={"tau": "x"}', "weighting.params.tau", "a string 'x'"),
    ('weighting.params={"num_valid_batches": 4}', "weighting.params.num_valid_batches", "4"),
    ('weighting.params={"steps_per_epoch": 9}', "weighting.params.steps_per_epoch", "9"),
    ("deepspeed=3", "deepspeed", "3"),
])
def test_value_messages_read_key_problem_got_value(tmp_path, override, key, value):
    """One key per message, then the problem, then the value given: `key: problem, got value`."""
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, _minimal()), [override])
    message = str(err.value)
    assert message.startswith(f"{key}: ") and f", got {value}" in message, message
    assert "\n" not in message


def test_run_context_names_are_refused_as_parameters_saying_the_trainer_sets_them(tmp_path):
    for name in ("num_valid_batches", "steps_per_epoch"):
        with pytest.raises(ConfigError) as err:
            load_config(_write(tmp_path, _minimal()), ["weighting.method=dwa", f'weighting.params={{"{name}": 4}}'])
        assert str(err.value) == f"weighting.params.{name}: set by the trainer from the run, not a parameter; remove it, got 4"


def test_weighting_params_are_parsed_into_the_methods_params(tmp_path):
    from mft.weighting.coba import CoBaParams
    from mft.weighting.dwa import DWAParams
    cfg = load_config(_write(tmp_path, _minimal()), ['weighting.params={"tau": 2, "warmup_steps": 3}'])
    assert cfg.weighting.params == CoBaParams(tau=2.0, warmup_steps=3)
    cfg = load_config(_write(tmp_path, _minimal()), ["weighting.method=dwa"])
    assert cfg.weighting.params == DWAParams() and cfg.weighting.params.period == "epoch"  # resolved when built


def test_loader_and_data_config_reject_a_choice_with_the_same_line(tmp_path):
    with pytest.raises(ConfigError) as loaded:
        load_config(_write(tmp_path, _minimal()), ["data.schema=chats"])
    with pytest.raises(DataError) as built:
        DataConfig(tasks=[TaskConfig(name="a", train=["a.jsonl"], valid_fraction=0.1)], schema="chats")
    assert str(loaded.value) == str(built.value) == (
        "data.schema: 'chats' is not one of auto, mftcoder, chat, plain; did you mean 'chat'?")


def test_missing_required_and_exclusive_model_source(tmp_path):
    raw = _minimal()
    del raw["output_dir"]
    with pytest.raises(ConfigError, match="output_dir: required"):
        load_config(_write(tmp_path, raw))
    raw = _minimal()
    raw["model"]["path"] = "some/folder"
    with pytest.raises(ConfigError, match="exactly one of model.path"):
        load_config(_write(tmp_path, raw))


def test_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"output_dir": "x",\n  // comment\n}')
    with pytest.raises(ConfigError, match=r"bad.json:2: invalid JSON"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.json"))


def test_override_syntax():
    raw = {"a": {"b": [1, 2]}}
    apply_override(raw, "a.b.1=[3, 4]")
    apply_override(raw, "a.c=text with spaces")
    assert raw == {"a": {"b": [1, [3, 4]], "c": "text with spaces"}}
    with pytest.raises(ConfigError, match="must look like"):
        apply_override(raw, "a.b")
    with pytest.raises(ConfigError, match="index below 2"):
        apply_override(raw, "a.b.5=1")


def test_deepspeed_json_may_not_contradict_the_mft_config(tmp_path):
    cfg = load_config(_write(tmp_path, {**_minimal(), "deepspeed": {"zero_optimization": {"stage": 3},
                                                                   "gradient_clipping": 5.0}}))
    with pytest.raises(ConfigError, match="deepspeed.gradient_clipping = 5.0 conflicts.*training.grad_clip"):
        engine_config(deepspeed_dict(cfg), cfg, world_size=2)
    cfg.deepspeed = {"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": "auto"}
    merged = engine_config(deepspeed_dict(cfg), cfg, world_size=2)
    assert merged["train_batch_size"] == cfg.training.micro_batch_size * cfg.training.grad_accum * 2
    assert merged["gradient_clipping"] == cfg.training.grad_clip and merged["bf16"]["enabled"] is False
