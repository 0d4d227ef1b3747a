"""Batched sampling from a Hugging Face checkpoint folder: prompts in, cut completions out.

Greedy decoding when temperature is 0 (pass@1), sampling otherwise. Each batch is seeded from
the run's seed and its first request, so a run (or a resumed run with the same pending work)
draws the same samples again.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..benchmarks.suite import Stop
from ..errors import EvalError
from .stops import make_stopping_criteria, truncate


@dataclass(frozen=True)
class GenerationConfig:
    """How completions are drawn (recorded with the results, so a resume cannot mix settings)."""

    num_samples: int = 1  # completions per problem
    temperature: float = 0.0  # 0: greedy
    top_p: float = 0.95  # nucleus sampling, when temperature > 0
    max_new_tokens: int = 512
    batch_size: int = 8
    seed: int = 0
    dtype: str = "auto"  # auto (bf16 on a GPU that has it, else fp32), fp32, bf16, fp16
    device: str = "auto"  # auto (cuda if present), cpu, cuda, cuda:1, ...

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.batch_size < 1 or self.max_new_tokens < 1:
            raise EvalError("--num-samples, --batch-size and --max-new-tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise EvalError("--temperature must be >= 0 and --top-p in (0, 1]")
        if self.num_samples > 1 and self.temperature == 0:
            raise EvalError("--num-samples > 1 with greedy decoding repeats one completion; set --temperature (e.g. 0.8)")


def _dtype(name: str, device: str):
    import torch

    if name == "auto":
        cuda_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if name not in table:
        raise EvalError(f"unknown --dtype {name!r}; choose from auto, {', '.join(table)}")
    return table[name]


def load_model(path: str | Path, config: GenerationConfig):
    """Model (eval mode) and tokenizer (left padding, a pad token) from a checkpoint folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise EvalError(f"{path} is not a Hugging Face model folder (no config.json); give an exported checkpoint")
    device = config.device if config.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise EvalError(f"the tokenizer in {path} has neither a pad nor an eos token; save one with it")
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=_dtype(config.dtype, device))
    return model.to(device).eval(), tokenizer


def _batch_seed(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:4], "little")


def _continuation(tokenizer, prompt_ids: list[int], new_ids: list[int]) -> str:
    """The text the new tokens add to the prompt (decoding them alone can drop a leading space)."""
    prompt_text = tokenizer.decode(prompt_ids, skip_special_tokens=True)
    full = tokenizer.decode(prompt_ids + new_ids, skip_special_tokens=True)
    if full.startswith(prompt_text):
        return full[len(prompt_text):]
    return tokenizer.decode(new_ids, skip_special_tokens=True)


def left_padded(prompt_ids: Sequence[Sequence[int]], pad_token_id: int, device) -> tuple:
    """(input_ids, attention_mask) of prompts padded on the left to one length, so every row's
    next token is generated at the same position."""
    import torch

    width = max(len(ids) for ids in prompt_ids)
    input_ids = torch.tensor([[pad_token_id] * (width - len(ids)) + list(ids) for ids in prompt_ids], device=device)
    attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids], device=device)
    return input_ids, attention


def generate_ids(model, prompt_ids: Sequence[Sequence[int]], *, max_new_tokens: int, pad_token_id: int,
                 stopping_criteria: Sequence = (), **options):
    """The new token ids (rows x up to max_new_tokens, a finished row padded) of one batched
    `generate` call over left-padded prompts, with the KV cache (exported training models say
    use_cache=false in their config). `options`: sampling settings, eos_token_id."""
    import torch

    input_ids, attention = left_padded(prompt_ids, pad_token_id, model.device)
    with torch.no_grad():
        output = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=max_new_tokens,
                                stopping_criteria=list(stopping_criteria), pad_token_id=pad_token_id,
                                use_cache=True, **options)
    return output[:, input_ids.shape[1]:]


def generate_batch(
    model, tokenizer, prompts: Sequence[str] | Sequence[Sequence[int]], stops: Sequence[Stop],
    config: GenerationConfig, seed_key: str = ""
) -> list[str]:
    """One completion per prompt, cut at the stop sequences. A prompt is text (tokenized as it is:
    no BOS unless the tokenizer adds one by itself) or token ids (a prompt in the trained format,
    see eval.prompt_format)."""
    import torch

    rows = [tokenizer(p)["input_ids"] if isinstance(p, str) else list(p) for p in prompts]
    width = max(len(r) for r in rows)
    sampling = config.temperature > 0
    options = dict(do_sample=True, temperature=config.temperature, top_p=config.top_p) if sampling else dict(do_sample=False)
    torch.manual_seed(_batch_seed(config.seed, seed_key))
    new = generate_ids(model, rows, max_new_tokens=config.max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                       stopping_criteria=[make_stopping_criteria(tokenizer, stops, width)], **options)
    completions = []
    for prompt_ids, new_ids in zip(rows, new.tolist()):
        while new_ids and new_ids[-1] == tokenizer.pad_token_id:  # padding after a row ended
            new_ids.pop()
        completions.append(truncate(_continuation(tokenizer, prompt_ids, new_ids), stops))
    return completions
