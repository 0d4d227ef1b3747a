"""Every shipped run config loads, merges into a valid DeepSpeed config and builds its weighting;
the paper's configs carry the CoBa paper's published settings.

Model folders and data files of the paper configs do not exist here: load_config does not open them.
"""
import glob
import json
import os
import re

import pytest

from mft.base_model import is_base_config, load_base_config
from mft.config import deepspeed_dict, load_config
from mft.ds_config import engine_config, zero_stage
from mft.experiments.reproduce import method_overrides
from mft.weighting import RunContext, available_methods, build_weighting
from mft.weighting.coba import CoBaParams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.json")))
CONFIGS = [p for p in ALL_CONFIGS if not is_base_config(p)]  # base-model configs are checked at the end
BASE_CONFIGS = [p for p in ALL_CONFIGS if is_base_config(p)]
DS_CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "deepspeed", "*.json")))


def _name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


# The paper's experiments: GPUs (A100), published total batch, lr, data mode, dataset folder,
# tasks, benchmarks. Values marked "ours" are choices the paper does not state (see each
# config's description).
PAPER = {
    "cc_phi": dict(gpus=16, batch=160, lr=5e-6, mode="padding", data="cc",
                   tasks=["python", "java", "cpp", "go", "js"], benchmarks=["humaneval", "humaneval-x", "mbpp"]),
    "cc_codellama13b": dict(gpus=16, batch=128, lr=1e-6, mode="padding", data="cc",  # gpus: ours
                            tasks=["python", "java", "cpp", "go", "js"],
                            benchmarks=["humaneval", "humaneval-x", "mbpp"]),
    "crt_phi": dict(gpus=16, batch=160, lr=5e-6, mode="pack", data="crt",  # gpus, batch, lr: ours (CC-Phi's)
                    tasks=["code_completion", "text_to_code", "code_to_text", "code_translation", "unit_test"],
                    benchmarks=["bleu"]),
    "xtreme_up_qwen_3tasks": dict(gpus=8, batch=128, lr=5e-7, mode="padding", data="xtreme_up", famo_lr=5e-6,
                                  tasks=["en", "bn", "te"], benchmarks=["qa_f1"]),
    "xtreme_up_qwen_6tasks": dict(gpus=8, batch=128, lr=5e-7, mode="padding", data="xtreme_up", famo_lr=5e-6,
                                  tasks=["en", "bn", "te", "ar", "ko", "sw"], benchmarks=["qa_f1"]),
    "xtreme_up_qwen_9tasks": dict(gpus=8, batch=128, lr=5e-7, mode="padding", data="xtreme_up", famo_lr=5e-6,
                                  tasks=["en", "bn", "te", "ar", "ko", "sw", "fi", "id", "ru"],
                                  benchmarks=["qa_f1"]),
    "mdqa_phi": dict(gpus=8, batch=80, lr=1e-5, mode="pack", data="mdqa",
                     tasks=["orca_math", "alpaca_cleaned", "instinwild"], benchmarks=["perplexity"]),
}
PAPER_METHODS = {"uniform", "stl", "lbtw_valid", "gradnorm_valid", "famo_valid", "coba",
                 "coba_no_rcs", "coba_no_acs", "coba_no_df"}
CONTEXT = RunContext(num_valid_batches=10, steps_per_epoch=100)  # what the trainer would pass
BASELINE_SETTINGS = {"lbtw": {"alpha": 0.5}, "gradnorm": {"alpha": 1.5}, "famo": {"lr": 0.025, "weight_decay": 0.01}}


def test_paper_table_covers_every_real_model_config():
    """A config that names a model folder (a GPU run) must be in PAPER and so get its checks."""
    assert set(PAPER) <= {_name(p) for p in CONFIGS}
    for path in CONFIGS:
        with open(path) as f:
            raw = json.load(f)
        if raw.get("model", {}).get("path"):
            assert _name(path) in PAPER, f"{_name(path)} names a model folder; add it to PAPER"


@pytest.mark.parametrize("path", CONFIGS, ids=_name)
def test_config_loads_merges_and_builds(path):
    cfg = load_config(path)
    gpus = PAPER.get(_name(path), {}).get("gpus", 1)
    ds = engine_config(deepspeed_dict(cfg), cfg, world_size=gpus)
    t = cfg.training
    assert ds["train_batch_size"] == t.micro_batch_size * t.grad_accum * gpus
    assert ds["gradient_clipping"] == t.grad_clip
    tasks = cfg.data.tasks
    ctl = build_weighting(cfg.weighting.method, len(tasks), cfg.weighting.params, context=CONTEXT)
    assert len(ctl.weights) == len(tasks)
    for name, sets in cfg.reproduce.overrides.items():  # a method run by default, or one defined to run by --methods
        assert name in cfg.reproduce.methods or "weighting.method" in sets, f"overrides for {name!r}, which is not run"
    assert len(set(cfg.reproduce.methods)) == len(cfg.reproduce.methods)


@pytest.mark.parametrize("path", CONFIGS, ids=_name)
def test_every_reproduce_method_builds_with_its_overrides(path):
    cfg = load_config(path)
    registered = set(available_methods())
    defined = [n for n, sets in cfg.reproduce.overrides.items() if "weighting.method" in sets]
    for name in [n for n in cfg.reproduce.methods if n != "stl"] + defined:
        sets = method_overrides(cfg, name)  # raises for a name that stands for no registered method
        assert sets[0].split("=", 1)[1] in registered
        run = load_config(path, sets)
        build_weighting(run.weighting.method, len(run.data.tasks), run.weighting.params, context=CONTEXT)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_config_has_published_settings(name):
    want = PAPER[name]
    path = os.path.join(ROOT, "configs", f"{name}.json")
    cfg = load_config(path)
    t = cfg.training
    assert t.micro_batch_size * t.grad_accum * want["gpus"] == want["batch"]
    assert t.lr == want["lr"] and cfg.data.mode == want["mode"]
    assert cfg.model.dtype == "bf16" and cfg.model.path
    # the description states the hardware, the published batch and how the config reaches it
    text = cfg.description
    assert f"{want['gpus']} A100" in text and f"total batch {want['batch']}" in text
    assert f"{t.micro_batch_size} x grad_accum {t.grad_accum} x {want['gpus']} GPUs" in text
    assert f"= {want['batch']}" in text
    # CoBa as published, early stopping on
    assert cfg.weighting.method == "coba"
    assert cfg.weighting.params == CoBaParams(variant="paper", history_window="auto", warmup_steps="auto", tau=5.0)
    assert cfg.validation.patience > 0
    # reproduction: the paper's methods and baseline settings, and the benchmarks
    assert PAPER_METHODS <= set(cfg.reproduce.methods)
    assert cfg.reproduce.benchmarks == want["benchmarks"]
    for name_, overrides in cfg.reproduce.overrides.items():
        base = name_[: -len("_valid")] if name_.endswith("_valid") else name_
        for key, value in BASELINE_SETTINGS.get(base, {}).items():
            assert overrides[f"weighting.params.{key}"] == value, (name_, key)
    for famo in ("famo", "famo_valid"):
        lr = cfg.reproduce.overrides.get(famo, {}).get("training.lr")
        assert lr == want.get("famo_lr"), f"{famo} lr {lr}"


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_config_data_paths_are_prepare_data_outputs(name):
    """Task files are <repo>/data/<set>/<task>.<split>.jsonl, as launch/prepare_data.py writes them."""
    want = PAPER[name]
    cfg = load_config(os.path.join(ROOT, "configs", f"{name}.json"))
    assert [t.name for t in cfg.data.tasks] == want["tasks"]
    for task in cfg.data.tasks:
        for split, files in (("train", task.train), ("valid", task.valid), ("test", task.test)):
            assert [os.path.relpath(f, ROOT) for f in files] == [f"data/{want['data']}/{task.name}.{split}.jsonl"]
    assert os.path.relpath(cfg.model.path, ROOT).startswith("models" + os.sep)
    assert os.path.relpath(cfg.output_dir, ROOT) == os.path.join("runs", name)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_config_passes_deepspeeds_own_validation(name, monkeypatch):
    """DeepSpeed's config class (pydantic, unknown ZeRO keys rejected) accepts the merged config
    at the paper's GPU count, with the published batch."""
    import deepspeed.runtime.config as ds_runtime

    class DataParallel:
        def get_data_parallel_world_size(self):
            return PAPER[name]["gpus"]

    monkeypatch.setattr(ds_runtime.dist, "get_rank", lambda *a, **k: 0)  # no process group here
    cfg = load_config(os.path.join(ROOT, "configs", f"{name}.json"))
    merged = engine_config(deepspeed_dict(cfg), cfg, world_size=PAPER[name]["gpus"])
    parsed = ds_runtime.DeepSpeedConfig(merged, mpu=DataParallel())
    assert parsed.train_batch_size == PAPER[name]["batch"]
    bf16 = parsed.bfloat16_config.enabled if hasattr(parsed, "bfloat16_config") else parsed.bfloat16_enabled
    assert bf16
    assert parsed.zero_optimization_stage == zero_stage(merged) in (2, 3)


@pytest.mark.parametrize("path", DS_CONFIGS, ids=_name)
def test_deepspeed_jsons_hold_no_key_mft_owns(path):
    with open(path) as f:
        ds = json.load(f)
    owned = {"train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
             "gradient_clipping", "optimizer", "scheduler", "bf16", "fp16"}  # set from the mft config
    assert not owned & set(ds), f"{_name(path)} sets {owned & set(ds)}; mft sets those"
    assert isinstance(ds.get("zero_optimization"), dict)
    if _name(path).startswith("zero3"):
        assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # best/ export


def test_bf16_deepspeed_files_are_used_with_bf16_models():
    for path in CONFIGS:
        cfg = load_config(path)
        if isinstance(cfg.deepspeed, str) and cfg.deepspeed.endswith("_bf16.json"):
            assert cfg.model.dtype == "bf16", _name(path)


def test_hostfile_example_parses_with_deepspeeds_parser():
    from deepspeed.launcher.runner import _parse_hostfile

    with open(os.path.join(ROOT, "configs", "hostfile.example")) as f:
        pool = _parse_hostfile(f.readlines())
    assert list(pool.values()) == [8, 8]  # 2 nodes x 8 GPUs = the 16 A100 of the CC and CRT runs


def test_experiments_doc_names_every_paper_config():
    with open(os.path.join(ROOT, "docs", "experiments.md")) as f:
        doc = f.read()
    for name in PAPER:
        assert f"configs/{name}.json" in doc, name
    for bench in {b for want in PAPER.values() for b in want["benchmarks"]}:
        assert f"`{bench}`" in doc, bench
    for command in re.findall(r"launch/prepare_data\.py (\S+)", doc):
        assert command in ("xtreme-up", "code", "orca-math", "alpaca", "instinwild"), command


@pytest.mark.parametrize("path", BASE_CONFIGS, ids=_name)
def test_base_config_loads_and_every_model_base_names_one(path):
    spec = load_base_config(path)
    assert spec.build.ranks >= 1 and spec.key in spec.folder
    for config in CONFIGS:
        base = load_config(config).model.base
        if base:
            assert base in BASE_CONFIGS, f"{_name(config)}: model.base {base} is not a base config in configs/"
            load_base_config(base)


def test_recommended_is_one_setting_that_names_no_task_or_file_in_every_fine_tuning_config():
    """`reproduce.py --methods uniform,recommended` applies to any mix as it is: the setting only
    sets weighting and validation keys, to values that are no task name or path, and it is the same
    in the five fine-tuning configs (chosen on the first two, checked unchanged on the others)."""
    configs = [load_config(os.path.join(ROOT, "configs", f))
               for f in ("finetune_cpu.json", "finetune2_cpu.json", "finetune3_cpu.json", "finetune4_cpu.json",
                         "finetune5_cpu.json")]
    first = configs[0]
    recommended = first.reproduce.overrides["recommended"]
    assert all(cfg.reproduce.overrides["recommended"] == recommended for cfg in configs)
    names = {t.name for cfg in configs for t in cfg.data.tasks}
    for key, value in recommended.items():
        assert key.split(".")[0] in ("weighting", "validation"), key
        assert not (isinstance(value, str) and (value in names or "/" in value or value.endswith(".jsonl"))), (key, value)
    assert "coba" in first.reproduce.methods and "weighting.method" not in first.reproduce.overrides.get("coba", {})
