"""Score a saved model on each task's held-out test files: token-averaged loss and exact match.

Records are encoded exactly as in training (same schemas, template and loss mask), so the loss is
the training objective on unseen data. Exact match: greedy decoding from the prompt (the tokens
before the first answer token) must reproduce the answer tokens, closing EOS included.

    scores = evaluate_tasks("runs/x/best", {"copy": ["copy.test.jsonl"]}, chat_template="auto")
    # {"copy": {"loss": 0.41, "exact_match": 0.73, "samples": 100}}
"""
from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from data_pipeline import DataError, load_tokenizer
from data_pipeline.encode import Encoder
from data_pipeline.records import BadRecord, detect_schema, normalize_record, read_jsonl


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
                   schema: str = "auto") -> dict[str, dict[str, float]]:
    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    encoder = Encoder(tokenizer, chat_template)
    scores = {}
    for task, files in tests.items():
        loss_sum, tokens, exact = 0.0, 0, 0
        samples = _encoded(files, encoder, schema)
        for prompt, answer in samples:
            ids = torch.tensor([prompt + answer])
            logits = model(ids, use_cache=False).logits[0, len(prompt) - 1:-1]
            loss_sum += float(torch.nn.functional.cross_entropy(logits.float(), torch.tensor(answer), reduction="sum"))
            tokens += len(answer)
            generated = model.generate(torch.tensor([prompt]), max_new_tokens=len(answer), do_sample=False,
                                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
            exact += int(generated[0, len(prompt):].tolist() == answer)
        scores[task] = {"loss": loss_sum / tokens, "exact_match": exact / len(samples), "samples": len(samples)}
    return scores
