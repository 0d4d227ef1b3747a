"""Score a saved model on each task's held-out test files: token-averaged loss and exact match.

Records are encoded exactly as in training (same schemas, template and loss mask), so the loss is
the training objective on unseen data. Exact match: greedy decoding from the prompt (the tokens
before the first answer token) must reproduce the answer tokens, closing EOS included; prompts
are generated from in left-padded batches with the KV cache (eval.generation).

    scores = evaluate_tasks("runs/x/best", {"copy": ["copy.test.jsonl"]}, chat_template="auto")
    # {"copy": {"loss": 0.41, "exact_match": 0.73, "samples": 100, "loss_sum": 1230.5, "tokens": 3001}}
    weight_digests("runs/x/best")   # {"model.safetensors": "<sha256>"}: which weights were scored

`loss` is `loss_sum / tokens` (answer tokens only); both are kept so a score can be re-derived and
pooled exactly, and `weight_digests` ties it to the checkpoint it came from (`sha256sum` gives the
same digests).
"""
from __future__ import annotations

import hashlib
import os

import torch
from transformers import AutoModelForCausalLM

from data_pipeline import DataError, load_tokenizer
from data_pipeline.encode import Encoder
from data_pipeline.records import BadRecord, detect_schema, normalize_record, read_jsonl
from eval.generation import generate_ids


def _encoded(files: list[str], encoder: Encoder, schema: str) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids) of every record's first answer turn."""
    out = []
    for path in files:
        for line, record in read_jsonl(path):
            if isinstance(record, BadRecord):
                raise DataError(f"{path}:{line}: {record.detail}")
            try:
                turns = normalize_record(record, detect_schema(record) if schema == "auto" else schema)
            except BadRecord as bad:
                raise DataError(f"{path}:{line}: {bad.detail}") from None
            ids, mask = encoder.encode(turns)
            start = mask.index(1)
            end = start
            while end < len(mask) and mask[end]:
                end += 1
            out.append((ids[:start], ids[start:end]))
    if not out:
        raise DataError(f"{', '.join(files)}: no test records")
    return out


@torch.no_grad()
def evaluate_tasks(model_dir: str, tests: dict[str, list[str]], *, chat_template: str = "auto",
                   schema: str = "auto", batch_size: int = 16) -> dict[str, dict[str, float]]:
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    encoder = Encoder(tokenizer, chat_template)
    scores = {}
    for task, files in tests.items():
        loss_sum, tokens = 0.0, 0
        samples = _encoded(files, encoder, schema)
        for prompt, answer in samples:
            ids = torch.tensor([prompt + answer])
            logits = model(ids, use_cache=False).logits[0, len(prompt) - 1:-1]
            loss_sum += float(torch.nn.functional.cross_entropy(logits.float(), torch.tensor(answer), reduction="sum"))
            tokens += len(answer)
        exact = _exact_matches(model, tokenizer, samples, batch_size)
        scores[task] = {"loss": loss_sum / tokens, "exact_match": exact / len(samples), "samples": len(samples),
                        "loss_sum": loss_sum, "tokens": tokens}
    return scores


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def weight_digests(model_dir: str) -> dict[str, str]:
    """sha256 of each weight file of a saved model (file name -> hex digest, sorted; LoRA adapters
    under `adapter/` by their relative path), read in 1 MiB blocks."""
    digests = {}
    for folder, _, files in sorted(os.walk(model_dir)):
        for name in sorted(files):
            if not name.endswith(WEIGHT_SUFFIXES):
                continue
            path = os.path.join(folder, name)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digests[os.path.relpath(path, model_dir)] = h.hexdigest()
    if not digests:
        raise FileNotFoundError(f"{model_dir}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) to score")
    return digests


def _exact_matches(model, tokenizer, samples: list[tuple[list[int], list[int]]], batch_size: int) -> int:
    """How many answers greedy decoding reproduces, a left-padded batch at a time (greedy output
    does not depend on how far a row runs, so each batch runs to its longest answer)."""
    hits = 0
    for start in range(0, len(samples), batch_size):
        batch = samples[start:start + batch_size]
        new = generate_ids(model, [prompt for prompt, _ in batch], max_new_tokens=max(len(a) for _, a in batch),
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, do_sample=False)
        hits += sum(row[:len(answer)] == answer for row, (_, answer) in zip(new.tolist(), batch))
    return hits
