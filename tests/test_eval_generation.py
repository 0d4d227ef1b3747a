"""Generation and perplexity on a tiny Llama saved by the test, then launch/evaluate.py on it.

The model is trained for a few seconds to continue the two toy HumanEval prompts of
test_eval_cli with their solutions followed by more code, so that greedy decoding is
predictable: the stop sequences must cut that extra code away for the problems to pass.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from data_pipeline import train_sentencepiece  # noqa: E402
from eval.benchmarks.suite import Stop  # noqa: E402
from eval.generation import GenerationConfig, generate_batch, generate_ids, load_model, make_stopping_criteria  # noqa: E402
from eval.metrics import task_perplexity  # noqa: E402

from test_eval_cli import TOY_PROBLEMS, evaluate, last_json, write_toy_benchmarks  # noqa: E402

TAIL = "\n\ndef unrelated():\n    return 42\n"  # what the model says after each solution
TEXTS = [p["prompt"] + p["canonical_solution"] + TAIL for p in TOY_PROBLEMS]
STOPS = (Stop("\ndef"), Stop("\nif"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny Llama that has memorised TEXTS, saved with its tokenizer as a checkpoint folder."""
    folder = tmp_path_factory.mktemp("tiny-checkpoint")
    tokenizer = train_sentencepiece(TEXTS * 20 + ["x = y + 1", "print(value)"], str(folder), vocab_size=400)
    tokenizer.padding_side = "left"
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = transformers.AutoModelForCausalLM.from_config(config)
    batch = tokenizer(TEXTS, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains 10x faster on one thread of a busy machine
    try:
        for _ in range(150):
            loss = model(**batch, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    # what is left is the first token of each name ("add" or "sub"), which nothing predicts
    assert loss.item() < 0.3, f"the tiny model did not memorise its texts (loss {loss.item():.3f})"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return load_model(checkpoint, GenerationConfig(dtype="fp32", device="cpu"))


def test_greedy_batched_generation_honours_stop_sequences(loaded):
    model, tokenizer = loaded
    prompts = [p["prompt"] for p in TOY_PROBLEMS]
    config = GenerationConfig(max_new_tokens=60, batch_size=2)
    completions = generate_batch(model, tokenizer, prompts, STOPS, config)
    # both rows (left-padded to one length) give their solution, cut before "\ndef unrelated"
    assert completions == [p["canonical_solution"] + "\n" for p in TOY_PROBLEMS]
    assert generate_batch(model, tokenizer, prompts[1:], STOPS, config) == completions[1:]  # alone = in a batch
    uncut = generate_batch(model, tokenizer, prompts[:1], (), GenerationConfig(max_new_tokens=30))
    assert uncut[0].startswith(TOY_PROBLEMS[0]["canonical_solution"] + "\n\ndef unrelated")


def test_a_kept_stop_ends_the_completion_with_it(loaded):
    model, tokenizer = loaded
    [completion] = generate_batch(model, tokenizer, [TOY_PROBLEMS[0]["prompt"]], (Stop("b\n", keep=True),),
                                  GenerationConfig(max_new_tokens=60))
    assert completion == "    return a + b\n"


def test_stopping_criteria_end_generation_early(loaded):
    model, tokenizer = loaded
    prompt = tokenizer(TOY_PROBLEMS[0]["prompt"], return_tensors="pt")["input_ids"]
    criteria = make_stopping_criteria(tokenizer, STOPS, prompt.shape[1])
    output = model.generate(prompt, max_new_tokens=60, do_sample=False, stopping_criteria=[criteria],
                            pad_token_id=tokenizer.pad_token_id)
    new_text = tokenizer.decode(output[0, prompt.shape[1]:])
    assert new_text.endswith("\ndef") or new_text.endswith("\ndef ")  # stopped right after the stop sequence
    no_stop = make_stopping_criteria(tokenizer, STOPS, output.shape[1])
    assert not no_stop(output, None).any()  # nothing new yet: not done


def test_sampling_is_seeded(loaded):
    model, tokenizer = loaded
    prompts = ["x = "] * 3
    sample = lambda seed: generate_batch(model, tokenizer, prompts, (), GenerationConfig(  # noqa: E731
        num_samples=3, temperature=5.0, top_p=1.0, max_new_tokens=12, seed=seed), seed_key="k")
    first = sample(1)
    assert sample(1) == first
    assert sample(2) != first
    assert len(set(first)) > 1  # rows of one batch differ


def test_generation_config_rejects_contradictions():
    from eval.errors import EvalError

    with pytest.raises(EvalError, match="--temperature"):
        GenerationConfig(num_samples=5, temperature=0.0)


def test_task_perplexity_matches_the_model_loss(loaded, tmp_path):
    model, tokenizer = loaded
    records = [
        {"task": "code", "text": TEXTS[0]},
        {"task": "qa", "prompt": "x = ", "completion": "y + 1"},
        {"task": "qa_rounds", "chat_rounds": [{"role": "human", "content": "x = "}, {"role": "bot", "content": "y + 1"}]},
    ]
    path = tmp_path / "valid.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = task_perplexity(model, tokenizer, path, batch_size=2)
    ids = torch.tensor([tokenizer(TEXTS[0])["input_ids"]])
    piece = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    with torch.no_grad():
        expected_code = math.exp(model(input_ids=ids, labels=ids).loss.item())
        # as training encodes it (no chat template: the built-in headers); the answer and its EOS are scored
        prompt_ids = [tokenizer.bos_token_id] + piece("<|user|>\n") + piece("x = \n") + piece("<|assistant|>\n")
        answer_ids = piece("y + 1") + [tokenizer.eos_token_id]
        ids = torch.tensor([prompt_ids + answer_ids])
        labels = torch.tensor([[-100] * len(prompt_ids) + answer_ids])
        expected_qa = math.exp(model(input_ids=ids, labels=labels).loss.item())
    assert result["code"] == pytest.approx(expected_code, rel=1e-4)
    assert result["qa"] == pytest.approx(expected_qa, rel=1e-4)
    assert result["qa_rounds"] == pytest.approx(expected_qa, rel=1e-4)  # one encoder for every schema
    assert result["code"] < 1.2  # memorised


def test_batched_ids_generation_equals_one_at_a_time(loaded):
    model, tokenizer = loaded
    prompts = [tokenizer(p["prompt"])["input_ids"] for p in TOY_PROBLEMS] + [tokenizer("x = ")["input_ids"]]
    assert len({len(p) for p in prompts}) == 3  # rows of three lengths: two are left-padded
    batched = generate_ids(model, prompts, max_new_tokens=12, pad_token_id=tokenizer.pad_token_id, do_sample=False)
    for row, prompt in zip(batched.tolist(), prompts):
        alone = generate_ids(model, [prompt], max_new_tokens=12, pad_token_id=tokenizer.pad_token_id, do_sample=False)
        assert row[:alone.shape[1]] == alone[0].tolist()


def test_evaluate_checkpoints_end_to_end_and_resume(checkpoint, tmp_path):
    data = write_toy_benchmarks(tmp_path / "data")
    out = tmp_path / "out"
    run_dir = tmp_path / "run"  # a run's output_dir holding the exported model as best/
    run_dir.mkdir()
    (run_dir / "best").symlink_to(checkpoint, target_is_directory=True)
    args = ("--checkpoints", str(run_dir), "--benchmarks", "humaneval", "--data-dir", str(data), "--out", str(out),
            "--max-new-tokens", "60", "--device", "cpu")
    summary = last_json(evaluate(*args))
    assert summary == {"humaneval": {"pass@1": 1.0, "passed": 2, "total": 2, "problems": 2, "failures": {}}}
    records = [json.loads(line) for line in (out / "best" / "humaneval.jsonl").read_text().splitlines()]
    assert sorted(r["completion"] for r in records) == sorted(p["canonical_solution"] + "\n" for p in TOY_PROBLEMS)
    again = evaluate(*args)
    assert last_json(again) == summary
    assert len((out / "best" / "humaneval.jsonl").read_text().splitlines()) == 2  # nothing redone
    assert "| best | 100.0 | 100.0 |" in (out / "results.md").read_text()
