"""Task test files scored with F1, BLEU and perplexity (eval.task_files, evaluate.py --task-file)
on the memorised tiny checkpoint of test_eval_generation."""
from __future__ import annotations

import json
import math

import pytest
import torch

from eval.errors import EvalError
from eval.generation import GenerationConfig, generate_batch, load_model
from eval.metrics import corpus_bleu, qa_token_f1
from eval.prompt_format import Prompter
from eval.task_files import metric_name, score_task_file

from test_eval_cli import TOY_PROBLEMS, evaluate, last_json
from test_eval_generation import checkpoint  # noqa: F401  (the module-scoped fixture)

RECORDS = [{"prompt": p["prompt"], "completion": p["canonical_solution"].strip()} for p in TOY_PROBLEMS]


@pytest.fixture()
def task_file(tmp_path):
    path = tmp_path / "code.test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def test_f1_from_the_command_line_with_per_record_lines(checkpoint, task_file, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    summary = last_json(evaluate("--checkpoints", str(checkpoint), "--task-file", f"code={task_file}", "--metric", "f1",
                                 "--prompt-format", "raw", "--max-new-tokens", "8", "--device", "cpu", "--out", str(out)))
    lines = [json.loads(x) for x in (out / checkpoint.name / "task-code.jsonl").read_text().splitlines()]
    model, tokenizer = load_model(checkpoint, GenerationConfig(device="cpu"))
    for line, record in zip(lines, RECORDS):
        assert line["prompt"] == record["prompt"] and line["reference"] == record["completion"]
        # the batched answer equals a separate greedy generation of the same prompt
        [alone] = generate_batch(model, tokenizer, [record["prompt"]], (), GenerationConfig(max_new_tokens=8))
        assert line["prediction"] == alone.strip() and line["prediction"].startswith("return")
        assert line["f1"] == qa_token_f1(line["prediction"], record["completion"])
    assert summary["code:f1"]["f1"] == pytest.approx(100 * sum(x["f1"] for x in lines) / 2)
    assert summary["code:f1"]["samples"] == 2
    assert "| checkpoint | code:f1 | average |" in (out / "results.md").read_text()


def test_bleu_and_perplexity(checkpoint, task_file, tmp_path):  # noqa: F811
    model, tokenizer = load_model(checkpoint, GenerationConfig(device="cpu"))
    prompter = Prompter(tokenizer, None)
    config = GenerationConfig(max_new_tokens=8)
    bleu = score_task_file(model, prompter, [task_file], "bleu", config, tmp_path / "bleu.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "bleu.jsonl").read_text().splitlines()]
    assert bleu["bleu"] == pytest.approx(corpus_bleu([x["prediction"] for x in lines], [r["completion"] for r in RECORDS]))
    assert bleu["bleu"] > 0
    ppl = score_task_file(model, prompter, [task_file, task_file], "perplexity", config)
    # by hand: every answer's tokens and EOS after the training headers, pooled over the records
    piece = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    nll, count = 0.0, 0
    for r in RECORDS:
        prompt = [tokenizer.bos_token_id] + piece("<|user|>\n") + piece(r["prompt"] + "\n") + piece("<|assistant|>\n")
        answer = piece(r["completion"]) + [tokenizer.eos_token_id]
        with torch.no_grad():
            logits = model(torch.tensor([prompt + answer])).logits[0, len(prompt) - 1:-1]
        nll += torch.nn.functional.cross_entropy(logits, torch.tensor(answer), reduction="sum").item()
        count += len(answer)
    assert ppl == {"ppl": pytest.approx(math.exp(nll / count), rel=1e-4), "samples": 4}


def test_task_file_mistakes_are_one_line(tmp_path):
    with pytest.raises(EvalError, match="choose from f1, bleu, ppl"):
        metric_name("rouge")
    result = evaluate("--checkpoints", str(tmp_path), "--task-file", "x", "--metric", "f1", check=False)
    assert result.returncode == 2 and "write NAME=PATH" in result.stderr
