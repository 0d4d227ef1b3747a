"""Greedy generation speed on the demo model: one prompt at a time vs left-padded batches (KV cache).

    .venv/bin/python benchmarks/generation.py                 # about half a minute on 2 busy cores
    .venv/bin/python benchmarks/generation.py --prompts 32 --batch-size 16 --new-tokens 96

The demo model (configs/demo_cpu.json: a 2-layer Llama, hidden 64, its sentencepiece tokenizer,
untrained weights) continues --prompts prompts from the demo's validation files, in the training
format (eval.prompt_format, the <|user|>/<|assistant|> headers), through
`eval.generation.generate_ids`: with no EOS to stop at, every row makes exactly --new-tokens
tokens, so both ways do the same work. Figures: generated tokens per second, one prompt per call vs
--batch-size prompts per call (each the best of --reps passes), and batches without the KV cache
(one pass): the training config's use_cache=false travels with the exported model, and
`generate` then recomputes the whole prefix at every token unless told otherwise, as it did here
before generate_ids passed use_cache=True. Ends with ``RESULT {json}``.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from data_pipeline.records import normalize_record, read_jsonl
from eval.generation import generate_ids, left_padded
from eval.prompt_format import PromptFormat, Prompter
from mft.config import load_config
from mft.model import build_model
from mft.tokenizer import build_tokenizer, default_cache_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def demo_prompts(cfg, prompter: Prompter, count: int) -> list[list[int]]:
    """Prompt ids of the first validation records of each demo task, in turn, `count` of them."""
    per_task = [[normalize_record(r, "auto")[:-1] for _, r in read_jsonl(t.valid[0])] for t in cfg.data.tasks]
    mixed = [turns for group in zip(*per_task) for turns in group]
    return [prompter.conversation_ids(turns) for turns in mixed[:count]]


def tokens_per_s(model, prompts: list[list[int]], batch_size: int, new_tokens: int, pad: int, reps: int,
                 cache: bool = True) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for i in range(0, len(prompts), batch_size):
            if cache:
                generate_ids(model, prompts[i:i + batch_size], max_new_tokens=new_tokens, pad_token_id=pad, do_sample=False)
            else:  # what `generate` does by itself for a model whose config says use_cache=false
                input_ids, attention = left_padded(prompts[i:i + batch_size], pad, model.device)
                with torch.no_grad():
                    model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=new_tokens,
                                   pad_token_id=pad, do_sample=False, use_cache=False)
        best = min(best, time.perf_counter() - start)
    return len(prompts) * new_tokens / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(os.path.join(ROOT, "configs", "demo_cpu.json"))
    tokenizer = build_tokenizer(cfg.model, cfg.data, cfg.data.cache_dir or default_cache_dir(), rank=0)
    model = build_model(cfg.model, tokenizer, seed=0).eval()
    model.generation_config.eos_token_id = None  # every row runs the full --new-tokens
    prompts = demo_prompts(cfg, Prompter(tokenizer, PromptFormat(cfg.data.chat_template)), args.prompts)
    pad = tokenizer.pad_token_id
    tokens_per_s(model, prompts[:2], 2, 4, pad, 1)  # warm-up
    single = tokens_per_s(model, prompts, 1, args.new_tokens, pad, args.reps)
    batched = tokens_per_s(model, prompts, args.batch_size, args.new_tokens, pad, args.reps)
    no_cache = tokens_per_s(model, prompts, args.batch_size, args.new_tokens, pad, 1, cache=False)
    lengths = [len(p) for p in prompts]
    print(f"{len(prompts)} prompts ({min(lengths)}-{max(lengths)} tokens), {args.new_tokens} new tokens each, "
          f"{args.threads} thread(s)")
    print(f"one at a time: {single:8.1f} tokens/s")
    print(f"batch of {args.batch_size:3d}:  {batched:8.1f} tokens/s  ({batched / single:.1f}x)")
    print(f"batch, no KV cache: {no_cache:8.1f} tokens/s  (the model's own use_cache=false)")
    print("RESULT " + json.dumps({"prompts": len(prompts), "new_tokens": args.new_tokens, "batch_size": args.batch_size,
                                  "threads": args.threads, "one_at_a_time_tokens_per_s": round(single, 1),
                                  "batched_tokens_per_s": round(batched, 1), "speedup": round(batched / single, 2),
                                  "batched_no_cache_tokens_per_s": round(no_cache, 1)}))


if __name__ == "__main__":
    main()
