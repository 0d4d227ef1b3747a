"""Task test files scored with the paper's QA, comment and perplexity metrics.

    score_task_file(model, prompter, ["xquad.test.jsonl"], "f1", config, out_file)   # {"f1": 61.2, "samples": 100}
    score_checkpoint_tasks("runs/x/best", {"xquad": ["xquad.test.jsonl"]}, "f1", config, out_folder)

Records are read in data_pipeline's schemas ({"prompt", "completion"}, {"messages"},
{"chat_rounds"}); a record's reference is its last answer turn and its prompt the conversation
before it, in the model's prompt format (eval.prompt_format).
- `f1` (XTREME-UP): greedy generation; mean SQuAD token F1 x 100 against the reference.
- `bleu` (code comments): greedy generation; sacrebleu's corpus BLEU (0-100).
- `ppl` (Multi-Domain QA): exp of the token-averaged loss of the answer tokens, as training's
  loss mask scores them (eval.metrics.perplexity); nothing is generated.
Generation ends at EOS or `max_new_tokens`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from data_pipeline.records import BadRecord, Turn, normalize_record, read_jsonl

from .errors import EvalError
from .generation import GenerationConfig, generate_ids
from .metrics import corpus_bleu, pooled_perplexity, qa_f1_score, qa_token_f1
from .prompt_format import Prompter, make_prompter

METRICS = ("f1", "bleu", "ppl")
ALIASES = {"qa_f1": "f1", "perplexity": "ppl"}  # the names reproduce.benchmarks uses


def metric_name(name: str) -> str:
    """`name` or its alias as one of METRICS, or an EvalError listing them."""
    metric = ALIASES.get(name, name)
    if metric not in METRICS:
        raise EvalError(f"unknown task-file metric {name!r}; choose from {', '.join(METRICS)} "
                        f"(or {', '.join(ALIASES)})")
    return metric


def read_conversations(path: str | Path) -> list[tuple[list[Turn], str]]:
    """(turns before the last answer, the last answer) of every record in `path`."""
    out = []
    for line, record in read_jsonl(str(path)):
        try:
            if isinstance(record, BadRecord):
                raise record
            turns = normalize_record(record, "auto")
        except BadRecord as bad:
            raise EvalError(f"{path}:{line}: {bad.detail}; task files use data_pipeline's record schemas") from None
        last = max(i for i, t in enumerate(turns) if t.role == "assistant")
        out.append((turns[:last], turns[last].content))
    if not out:
        raise EvalError(f"{path}: no records to score")
    return out


def greedy_answers(model, prompter: Prompter, prompts: Sequence[list[int]], config: GenerationConfig) -> list[str]:
    """Greedy answers to prompt ids, a batch at a time, each ending at EOS."""
    tokenizer = prompter.tokenizer
    answers = []
    for start in range(0, len(prompts), config.batch_size):
        new = generate_ids(model, prompts[start:start + config.batch_size], max_new_tokens=config.max_new_tokens,
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, do_sample=False)
        answers += [tokenizer.decode(row, skip_special_tokens=True).strip() for row in new.tolist()]
    return answers


def score_task_file(model, prompter: Prompter, paths: Sequence[str | Path], metric: str, config: GenerationConfig,
                    out_file: Path | None = None) -> dict:
    """{metric: value, "samples": n} over the records of `paths` (one task's test files); with
    `out_file`, one JSON line per record (prompt text, prediction, reference) is written there
    (generated metrics only)."""
    metric = metric_name(metric)
    conversations = [c for path in paths for c in read_conversations(path)]
    if metric == "ppl":
        template = prompter.format.chat_template if prompter.format else "auto"
        value = pooled_perplexity(model, prompter.tokenizer, paths, chat_template=template, batch_size=config.batch_size)
        return {"ppl": value, "samples": len(conversations)}
    prompts = [prompter.conversation_ids(turns) for turns, _ in conversations]
    predictions = greedy_answers(model, prompter, prompts, config)
    references = [reference for _, reference in conversations]
    value = qa_f1_score(predictions, references) if metric == "f1" else corpus_bleu(predictions, references)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        with open(out_file, "w", encoding="utf-8") as f:
            for index, (ids, prediction, reference) in enumerate(zip(prompts, predictions, references)):
                line = {"index": index, "prompt": prompter.text(ids), "prediction": prediction, "reference": reference}
                if metric == "f1":
                    line["f1"] = qa_token_f1(prediction, reference)
                f.write(json.dumps(line) + "\n")
    return {metric: value, "samples": len(conversations)}


def score_checkpoint_tasks(model_dir: str | Path, tasks: dict[str, Sequence[str | Path]], metric: str,
                           config: GenerationConfig, out_folder: Path, prompt_format: str = "auto") -> dict[str, dict]:
    """{"<task>:<metric>": summary} for the model in `model_dir` on each task's files; per-record
    lines go to `out_folder`/task-<task>.jsonl."""
    from .generation import load_model

    metric = metric_name(metric)
    model, tokenizer = load_model(model_dir, config)
    prompter = make_prompter(model_dir, tokenizer, prompt_format)
    return {f"{task}:{metric}": score_task_file(model, prompter, paths, metric, config, out_folder / f"task-{task}.jsonl")
            for task, paths in tasks.items()}
