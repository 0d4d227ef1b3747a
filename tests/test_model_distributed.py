"""ZeRO-3 partitioned loading and LoRA on 2 CPU ranks (started by torchrun, launch_helpers), a tiny
model, a few steps."""
import json
import shutil

import pytest
import torch

from launch_helpers import DEMO, final_params, model_built, read_metrics, run_train

pytestmark = pytest.mark.distributed

LORA = {"r": 4, "alpha": 8, "dropout": 0.05, "target_modules": "all-linear"}


def test_lora_run_exports_merged_best_and_resumes_exactly(tmp_path):
    """One run saves at step 2 and 4; a copy cut back to step 2 resumes to the same metrics and
    adapters, bit for bit (dropout included). best/ loads without peft; best/adapter/ is peft's."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    common = [f"data.cache_dir={tmp_path / 'cache'}", "logging.progress_bar=false", "logging.interval=1",
              f"model.lora={json.dumps(LORA)}", "deepspeed=configs/deepspeed/zero2.json", "training.lr=1e-3",
              "training.max_steps=4", "checkpoint.interval=2", "checkpoint.keep_last=3", "validation.interval=2",
              'weighting.params={"history_window": 2, "warmup_steps": 1}']
    full, part = tmp_path / "full", tmp_path / "part"
    run_train([f"output_dir={full}"] + common, ranks=2)
    shutil.copytree(full, part)
    shutil.rmtree(part / "checkpoints" / "step_000004")
    shutil.rmtree(part / "best")
    (part / "checkpoints" / "latest").write_text("step_000002")
    run_train([f"output_dir={part}"] + common, ranks=2, resume="latest")

    drop = ("tokens_per_s", "time_s", "rss_mb")
    a, b = read_metrics(str(full)), read_metrics(str(part))
    assert [{k: v for k, v in r.items() if k not in drop} for r in a] == \
           [{k: v for k, v in r.items() if k not in drop} for r in b]
    pa, pb = final_params(str(full)), final_params(str(part))
    trained = [k for k in pa if "lora_" in k]
    assert trained and all(torch.equal(pa[k], pb[k]) for k in pa)
    # checkpoints hold the adapters only: the frozen base is rebuilt from the seed (or model folder)
    module = torch.load(full / "checkpoints" / "step_000004" / "mp_rank_00_model_states.pt", weights_only=False)["module"]
    assert module and all("lora_" in k or k.endswith("lm_head.weight") for k in module)  # lm_head: tied, an alias

    merged = AutoModelForCausalLM.from_pretrained(full / "best")  # a plain transformers model, no peft
    assert not any("lora" in n for n, _ in merged.named_parameters())
    adapter = load_file(str(full / "best" / "adapter" / "adapter_model.safetensors"))
    assert adapter and all("lora_" in k for k in adapter)
    assert json.loads((full / "best" / "adapter" / "adapter_config.json").read_text())["r"] == LORA["r"]
    # the adapters moved away from their zero start: the merged weights are not the base's
    assert any(v.abs().max() > 0 for k, v in adapter.items() if "lora_B" in k)
    # the merged model computes what the frozen base (rebuilt from the seed) plus the adapter computes
    from peft import PeftModel
    from mft.config import load_config
    from mft.model import build_model
    from data_pipeline import load_tokenizer
    cfg = load_config(DEMO)
    tokenizer = load_tokenizer(str(full / "best"))
    base = build_model(cfg.model, tokenizer, seed=cfg.training.seed)
    with_adapter = PeftModel.from_pretrained(base, full / "best" / "adapter").eval()
    ids = tokenizer("copy abc 123", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-5)


def test_zero3_partitioned_build_is_the_same_on_one_and_two_ranks(tmp_path, monkeypatch):
    """Under ZeRO-3 the model is built partitioned (zero.Init) and initialised on rank 0: right after
    the build each of 2 ranks holds half of the parameters (the memory trace says how many), and a
    seed gives the same model whatever the world size, so 1 process x micro-batch 4 and 2 ranks x
    micro-batch 1 x accumulation 2 end with the same parameters."""
    monkeypatch.setenv("MFT_MEMORY_TRACE", "1")
    common = [f"data.cache_dir={tmp_path / 'cache'}", "logging.progress_bar=false", "logging.interval=1",
              "deepspeed=configs/deepspeed/zero3.json",
              "weighting.method=uniform", "weighting.params={}", "training.max_steps=2", "validation.interval=1000",
              "checkpoint.interval=0", "data.mode=padding", "data.seq_length=64"]
    one, two = tmp_path / "one", tmp_path / "two"
    run_train([f"output_dir={one}", "training.micro_batch_size=4"] + common, ranks=1)
    run_train([f"output_dir={two}", "training.micro_batch_size=1", "training.grad_accum=2"] + common, ranks=2)
    p1, p2 = final_params(str(one)), final_params(str(two))
    assert p1.keys() == p2.keys()
    worst = max((p1[k].float() - p2[k].float()).abs().max().item() for k in p1)
    assert worst < 1e-5, f"parameters differ by {worst}"
    l1 = [r["loss"] for r in read_metrics(str(one)) if "loss" in r]
    l2 = [r["loss"] for r in read_metrics(str(two)) if "loss" in r]
    assert l1 == pytest.approx(l2, abs=1e-5) and l1[0] != pytest.approx(l1[1], abs=1e-6)
    whole, halves = model_built(str(one)), model_built(str(two))
    total = whole[0]["params_total"]
    assert whole[0]["params_held"] == total > 0
    assert sorted(halves) == [0, 1] and all(h["params_total"] == total for h in halves.values())
    assert all(r["zero3_params"] == r["parameters"] > 0 for r in (whole[0], *halves.values()))  # zero.Init built them
    for held in (h["params_held"] for h in halves.values()):  # each parameter split in two, padded to even
        assert total / 2 <= held <= total / 2 + len(p1), (held, total)
