"""LoRA wrapping, the streamed safetensors export and the model options that must fail at start-up."""
import json

import pytest
import torch
from safetensors.torch import load_file

from data_pipeline import train_sentencepiece
from mft.config import ModelConfig
from mft.config_loader import ConfigError, build
from mft.export import SafetensorsWriter, export_plan
from mft.model import build_model, check_model_options, optimizer_groups

TINY = {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "tie_word_embeddings": True}
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = [f"line {i} with words {i * 7}" for i in range(300)]
    return train_sentencepiece(texts, str(tmp_path_factory.mktemp("tok")), vocab_size=300)


def _model_config(**overrides) -> ModelConfig:
    return build(ModelConfig, {"tiny": TINY, "tokenizer": "x", **overrides}, "model")


def test_safetensors_writer_round_trip(tmp_path):
    tensors = {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.bfloat16), "c": torch.arange(4)}
    writer = SafetensorsWriter(str(tmp_path / "m.safetensors"), [(k, v.dtype, tuple(v.shape)) for k, v in tensors.items()])
    for v in tensors.values():
        writer.write(v)
    writer.close()
    loaded = load_file(str(tmp_path / "m.safetensors"))
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[k], v) and loaded[k].dtype == v.dtype for k, v in tensors.items())
    with pytest.raises(ValueError, match="expected shape"):
        SafetensorsWriter(str(tmp_path / "x.safetensors"), [("a", torch.float32, (2,))]).write(torch.zeros(3))


def test_lora_trains_only_adapters_and_exports_merged(tokenizer, tmp_path):
    """The merged export equals peft's own merge_and_unload, under the plain model's names."""
    model = build_model(_model_config(lora=LORA), tokenizer, seed=0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    assert not any("lm_head" in n for n in trainable)  # all-linear leaves the output layer alone
    assert sum(len(g["params"]) for g in optimizer_groups(model, 0.1)) == len(trainable)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()  # a trained adapter: B starts at zero
    plan = export_plan(model)
    writer = SafetensorsWriter(str(tmp_path / "m.safetensors"), [(e.name, e.dtype, e.shape) for e in plan])
    for e in plan:
        writer.write(e.value())
    writer.close()
    exported = load_file(str(tmp_path / "m.safetensors"))
    expected = model.merge_and_unload().state_dict()
    expected.pop("lm_head.weight")  # tied to the embeddings: stored once
    assert exported.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.allclose(exported[name], value, atol=1e-6), name


def test_lora_target_modules_must_exist(tokenizer):
    with pytest.raises(ConfigError, match=r"model.lora.target_modules\[1\] = 'qkv' matches no linear module; "
                                          r"the model's linear modules are down_proj, gate_proj, k_proj, lm_head"):
        build_model(_model_config(lora={**LORA, "target_modules": ["q_proj", "qkv"]}), tokenizer, seed=0)
    model = build_model(_model_config(lora={**LORA, "target_modules": ["q_proj", "v_proj"]}), tokenizer, seed=0)
    assert {n.split(".")[-4] for n, p in model.named_parameters() if p.requires_grad} == {"q_proj", "v_proj"}


def test_quantization_needs_lora_cuda_and_zero_below_3():
    with pytest.raises(ConfigError, match="model.quantization: needs model.lora .*, got '4bit'"):
        build(ModelConfig, {"path": "m", "quantization": "4bit"}, "model")
    with pytest.raises(ConfigError, match="model.quantization: needs model.path or model.base"):
        _model_config(quantization="4bit", lora=LORA)
    cfg = build(ModelConfig, {"path": "m", "quantization": "4bit", "lora": LORA}, "model")
    with pytest.raises(ConfigError, match="model.quantization = '4bit' needs a CUDA GPU"):
        check_model_options(cfg, {"zero_optimization": {"stage": 2}}, cuda=False)
    with pytest.raises(ConfigError, match="model.quantization with ZeRO-3"):
        check_model_options(cfg, {"zero_optimization": {"stage": 3}}, cuda=True)


def test_remote_code_needs_trust_remote_code(tokenizer, tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "mft-custom", "architectures": ["CustomLM"],
                                                    "auto_map": {"AutoConfig": "modeling_custom.CustomConfig",
                                                                 "AutoModelForCausalLM": "modeling_custom.CustomLM"}}))
    tokenizer.save_pretrained(folder)
    with pytest.raises(ConfigError, match="model.trust_remote_code: .*custom needs the Python code it ships"):
        build_model(ModelConfig(path=str(folder)), tokenizer, seed=0)
