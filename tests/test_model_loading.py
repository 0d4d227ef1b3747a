"""Model and tokenizer loading: a tiny model from an inline config, and a saved Hugging Face folder."""
import pytest
import torch

from data_pipeline import DataConfig, TaskConfig, train_sentencepiece
from mft.config import ModelConfig
from mft.config_loader import ConfigError
from mft.model import build_model
from mft.tokenizer import build_tokenizer

TINY = {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2}


def _data(tmp_path):
    return DataConfig(tasks=[TaskConfig(name="a", train=[str(tmp_path / "a.jsonl")], valid_fraction=0.1)])


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = [f"line {i} with words {i * 7}" for i in range(300)]
    return train_sentencepiece(texts, str(tmp_path_factory.mktemp("tok")), vocab_size=300)


def test_tiny_model_matches_tokenizer_and_switches(tokenizer):
    model = build_model(ModelConfig(tiny=TINY, tokenizer="x", gradient_checkpointing=True), tokenizer, seed=0)
    assert model.config.vocab_size == len(tokenizer)
    assert model.is_activation_checkpointing
    again = build_model(ModelConfig(tiny=TINY, tokenizer="x"), tokenizer, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))  # same on every rank


def test_saved_folder_round_trip(tokenizer, tmp_path):
    model = build_model(ModelConfig(tiny=TINY, tokenizer="x"), tokenizer, seed=1)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    cfg = ModelConfig(path=str(tmp_path / "m"))
    loaded_tok = build_tokenizer(cfg, _data(tmp_path), str(tmp_path / "cache"), rank=0)
    assert loaded_tok("line 5 with words").input_ids == tokenizer("line 5 with words").input_ids
    loaded = build_model(cfg, loaded_tok, seed=123)
    for (name, a), b in zip(model.named_parameters(), loaded.parameters()):
        assert torch.equal(a, b), name


def test_loading_errors(tokenizer, tmp_path):
    with pytest.raises(ConfigError, match="holds no config.json"):
        build_model(ModelConfig(path=str(tmp_path)), tokenizer, seed=0)
    with pytest.raises(ConfigError, match="model_type"):
        build_model(ModelConfig(tiny={"hidden_size": 8}, tokenizer="x"), tokenizer, seed=0)
    with pytest.raises(ConfigError, match="folder .* not found"):
        build_tokenizer(ModelConfig(path=str(tmp_path / "none")), _data(tmp_path), str(tmp_path), rank=0)
