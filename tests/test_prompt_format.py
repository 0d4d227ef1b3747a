"""A checkpoint is scored on the prompt format it was trained on: the prompt ids equal the training
encoder's, for the built-in headers and for a tokenizer's chat template, and launch/evaluate.py
keeps that exact prompt in every per-sample line."""
from __future__ import annotations

import json

import pytest
import torch
import transformers

from data_pipeline import train_sentencepiece
from data_pipeline.encode import Encoder
from data_pipeline.records import Turn
from data_pipeline.prompt_format import FILE, PromptFormat, write_prompt_format
from eval.prompt_format import Prompter, make_prompter, read_prompt_format

from launch_helpers import checkout_env
from test_eval_cli import TOY_PROBLEMS, evaluate, write_toy_benchmarks

TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
TEXT = TOY_PROBLEMS[0]["prompt"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    return train_sentencepiece([p["prompt"] + p["canonical_solution"] for p in TOY_PROBLEMS] * 20, str(folder),
                               vocab_size=300)


def training_prompt(tokenizer, chat_template: str, turns: list[Turn]) -> list[int]:
    """The ids training puts before the first answer token of `turns` + an answer."""
    ids, mask = Encoder(tokenizer, chat_template).encode(turns + [Turn("assistant", "    return a + b\n")])
    return ids[:mask.index(1)]


def test_prompt_ids_equal_the_training_encoders(tokenizer):
    headers = Prompter(tokenizer, PromptFormat("default"))
    assert headers.ids(TEXT) == training_prompt(tokenizer, "default", [Turn("user", TEXT)])
    assert headers.name == "headers"
    assert headers.text(headers.ids(TEXT)) == "<s><|user|>\n" + TEXT + "\n<|assistant|>\n"
    with_system = Prompter(tokenizer, PromptFormat("default", system="Complete the code."))
    assert with_system.ids(TEXT) == training_prompt(tokenizer, "default",
                                                    [Turn("system", "Complete the code."), Turn("user", TEXT)])
    raw = Prompter(tokenizer, None)
    assert raw.ids(TEXT) == tokenizer(TEXT)["input_ids"] and raw.name == "raw"


def test_a_chat_template_is_used_as_in_training(tokenizer):
    tokenizer.chat_template = TEMPLATE
    try:
        chat = Prompter(tokenizer, PromptFormat("auto"))
        assert chat.name == "chat-template"
        assert chat.ids(TEXT) == training_prompt(tokenizer, "auto", [Turn("user", TEXT)])
        assert chat.text(chat.ids(TEXT)) == "<|user|>\n" + TEXT + "</s><|assistant|>\n"
        # a run trained with data.chat_template="default" keeps the headers even when the tokenizer has a template
        assert Prompter(tokenizer, PromptFormat("default")).ids(TEXT) == training_prompt(tokenizer, "default",
                                                                                        [Turn("user", TEXT)])
    finally:
        tokenizer.chat_template = None


def test_record_round_trip_and_choices(tokenizer, tmp_path):
    assert read_prompt_format(tmp_path) is None
    assert make_prompter(tmp_path, tokenizer, "auto").format is None  # no record: raw
    assert make_prompter(tmp_path, tokenizer, "chat").format == PromptFormat()
    write_prompt_format(tmp_path, tokenizer, "default", system="be brief")
    assert json.loads((tmp_path / FILE).read_text()) == {"chat_template": "default", "system": "be brief",
                                                          "uses_chat_template": False}
    assert make_prompter(tmp_path, tokenizer, "auto").format == PromptFormat("default", "be brief")
    assert make_prompter(tmp_path, tokenizer, "raw").format is None


def test_evaluate_keeps_the_trained_prompt_in_each_sample_line(tokenizer, tmp_path):
    model_dir = tmp_path / "best"
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id))
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    write_prompt_format(model_dir, tokenizer, "auto")
    data = write_toy_benchmarks(tmp_path / "data")
    common = ("--checkpoints", str(model_dir), "--benchmarks", "humaneval", "--data-dir", str(data),
              "--max-new-tokens", "4", "--device", "cpu")
    evaluate(*common, "--out", str(tmp_path / "auto"))
    evaluate(*common, "--out", str(tmp_path / "raw"), "--prompt-format", "raw")
    for fmt, expected in (("auto", lambda p: Prompter(tokenizer, PromptFormat("auto")).text(
            training_prompt(tokenizer, "auto", [Turn("user", p)]))), ("raw", lambda p: p)):
        lines = [json.loads(x) for x in (tmp_path / fmt / "best" / "humaneval.jsonl").read_text().splitlines()]
        by_id = {p["task_id"]: p["prompt"] for p in TOY_PROBLEMS}
        assert len(lines) == 2 and all(line["prompt"] == expected(by_id[line["task_id"]]) for line in lines)
    settings = json.loads((tmp_path / "auto" / "best" / "settings.json").read_text())
    assert settings["prompt_format"] == {"chat_template": "auto", "system": ""}


def test_eval_imports_data_pipeline_but_not_the_trainer():
    import subprocess
    import sys

    code = ("import sys, eval.pipeline, eval.task_files, eval.prompt_format, eval.metrics.perplexity, eval.checkpoints; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'mft', 'data_pipeline'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=checkout_env()).stdout
    assert out.strip() == "['data_pipeline']"
