"""Evaluate checkpoints (or completions, or the reference solutions) on code benchmarks.

    python launch/evaluate.py --checkpoints runs/demo_cpu/best --benchmarks humaneval,mbpp
    python launch/evaluate.py --checkpoints "runs/*/best" --benchmarks humaneval-x --languages cpp,java
    python launch/evaluate.py --checkpoints runs/cc_phi                  # a run's output_dir: best/ and every saved step
    python launch/evaluate.py --checkpoints runs/x/best --prompt-format raw   # the benchmark text as it is
    python launch/evaluate.py --checkpoints runs/x/best --task-file tydiqa=data/xtreme_up/tydiqa.test.jsonl --metric f1
    python launch/evaluate.py --samples completions.jsonl               # {"task_id", "completion"} per line
    python launch/evaluate.py --canonical --benchmarks humaneval,humaneval-x,mbpp
    python launch/evaluate.py --checkpoints runs/x/best --num-samples 20 --temperature 0.8   # pass@1, pass@10

Benchmarks: humaneval, humaneval-x (--languages python,cpp,java,js,go; default all), mbpp (test
task ids 11-510, --mbpp-prompt 3shot or zeroshot). Benchmark files come from --data-dir,
$MFT_BENCHMARK_DIR, or the user's cache, where --download-benchmarks converts the sets from the
Hugging Face Hub once (`pip install -e .[hub]`); the folder layout is in docs/evaluation.md.
Untrusted code runs in a sandbox (see eval/sandbox); C++, Java, JavaScript and Go need
`bash eval/toolchains/install.sh`.

Prompt format (--prompt-format, default auto): a model exported by mft carries prompt_format.json
(chat template or <|user|>/<|assistant|> headers, system turn); each benchmark prompt becomes the
user turn of a conversation encoded by data_pipeline's encoder, as in training. raw: the
benchmark text as it is (base models; the default for folders without a record). chat: the
trained format even without a record (the tokenizer's chat template, else the headers).

Saved training steps: --checkpoints accepts mft's DeepSpeed step folders (checkpoints/step_N, any
ZeRO stage) and a run's output_dir finds them all; each is exported on the fly (CPU, as
launch/export.py does) into <out>/exported/<name>, reused when it is there, then scored.

Task files (--task-file NAME=PATH, repeatable, with --metric): f1 (greedy answers, SQuAD token F1
x 100, XTREME-UP), bleu (greedy answers, sacrebleu corpus BLEU, code comments) or ppl (exp of the
token-averaged answer loss, Multi-Domain QA); records in data_pipeline's schemas, the last answer
is the reference. Without --benchmarks, only the task files are scored.

Writes under --out (default outputs/eval): <source>/<suite>.jsonl (one line per sample: the exact
prompt text, completion, passed, failure kind), <source>/task-<name>.jsonl, <source>/summary.json,
summary.json and results.md (a table: rows are checkpoints, columns benchmarks and languages, and
their average). A rerun with the same
--out skips finished samples. The last line printed is the summary as one JSON object:
{"humaneval-x": {"cpp": {"pass@1": 1.0, "passed": 164, "total": 164, ...}}, ...}, keyed first by
checkpoint name when there are several.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from eval.benchmarks import BENCHMARKS, load_suites
from eval.benchmarks.hub import add_data_dir_arguments, data_dir_from_args
from eval.checkpoints import find_checkpoints, is_training_state, short_names
from eval.errors import EvalError
from eval.execution import SandboxFailure
from eval.generation import GenerationConfig
from eval.pipeline import Evaluator
from eval.prompt_format import CHOICES as PROMPT_CHOICES
from eval.samples import benchmarks_of_samples
from eval.report import markdown_table
from eval.sandbox import SandboxPool
from eval.scoring import nest
from eval.task_files import METRICS, score_checkpoint_tasks
from mft.logs import setup_logging
from mft.scripts import fail, script_parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = script_parser(__doc__, prog="launch/evaluate.py")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoints", nargs="+", metavar="PATH", help="model folders, globs or run output_dirs")
    source.add_argument("--samples", metavar="FILE.jsonl",
                        help='completions made elsewhere: {"task_id", "completion"} per line')
    source.add_argument("--canonical", action="store_true", help="score the benchmarks' reference solutions")
    p.add_argument("--benchmarks", default=None, help=f"comma-separated, from {', '.join(BENCHMARKS)} (default: all; "
                                                      "with --samples: those its task ids belong to)")
    p.add_argument("--languages", default=None, help="HumanEval-X languages: python,cpp,java,js,go (default: all)")
    add_data_dir_arguments(p)
    p.add_argument("--out", default="outputs/eval", help="results folder (reused to resume)")
    p.add_argument("--mbpp-prompt", default="3shot", choices=["3shot", "zeroshot"], help="MBPP prompt: with or without the 3 examples")
    p.add_argument("--limit", type=int, default=None, help="only the first N problems of each suite (quick checks)")
    p.add_argument("--prompt-format", default="auto", choices=list(PROMPT_CHOICES),
                   help="auto: as the model was trained (its prompt_format.json), else raw; raw: the text as it is; "
                        "chat: the trained format even without a record")
    p.add_argument("--task-file", action="append", default=[], metavar="NAME=PATH",
                   help="a task's test file scored with --metric (repeatable; with --checkpoints)")
    p.add_argument("--metric", choices=list(METRICS), default=None, help="the metric of the --task-file files")
    p.add_argument("--workers", type=int, default=None, help="programs run at once (default: CPU count)")
    g = p.add_argument_group("generation")
    g.add_argument("--num-samples", type=int, default=1, help="completions per problem (pass@k needs k of them)")
    g.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    g.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (with --temperature > 0)")
    g.add_argument("--max-new-tokens", type=int, default=512, help="completion length cap")
    g.add_argument("--batch-size", type=int, default=8, help="prompts generated at once")
    g.add_argument("--seed", type=int, default=0, help="sampling seed")
    g.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help="model dtype")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: a GPU when there is one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _task_files(specs: list[str], metric: str | None, checkpoints) -> dict[str, list[str]]:
    tasks: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise EvalError(f"--task-file {spec!r}: write NAME=PATH, e.g. --task-file tydiqa=tydiqa.test.jsonl")
        if not Path(path).is_file():
            raise EvalError(f"--task-file {spec!r}: file {path} not found")
        tasks.setdefault(name, []).append(path)
    if tasks and (metric is None or not checkpoints):
        raise EvalError("--task-file needs --metric f1|bleu|ppl and --checkpoints")
    return tasks


def _model_folder(path: Path, name: str, out: Path) -> Path:
    """`path` itself, or for a saved training step its export under <out>/exported (made once)."""
    if not is_training_state(path):
        return path
    from mft.checkpoint_export import STEP_FILE, ExportError, export_checkpoint

    target = out / "exported" / name
    marker = target / STEP_FILE
    if not (marker.is_file() and json.loads(marker.read_text())["checkpoint"] == str(path.resolve())):
        print(f"exporting {path} -> {target}", file=sys.stderr)
        try:
            export_checkpoint(path, target)
        except ExportError as exc:
            raise EvalError(str(exc)) from None
    return target


def run(args: argparse.Namespace) -> dict:
    names, languages = _csv(args.benchmarks), _csv(args.languages)
    tasks = _task_files(args.task_file, args.metric, args.checkpoints)
    if args.samples and not names:
        names, found = benchmarks_of_samples(Path(args.samples))
        languages = languages or found
    if names is None:
        names = [] if tasks else list(BENCHMARKS)
    data_dir = data_dir_from_args(args) if names else None
    suites = load_suites(names, data_dir=data_dir, languages=languages,
                         mbpp_prompt=args.mbpp_prompt) if names else []
    if args.limit:
        suites = [replace(s, problems=s.problems[: args.limit]) for s in suites]
    out = Path(args.out)
    results: dict[str, dict[str, dict]] = {}
    with SandboxPool(args.workers) as pool:
        evaluator = Evaluator(suites, out, pool, progress=not args.no_progress)
        if args.canonical:
            results["canonical"] = evaluator.canonical()
        elif args.samples:
            name = Path(args.samples).stem
            results[name] = evaluator.samples(args.samples, name)
        else:
            config = GenerationConfig(
                num_samples=args.num_samples, temperature=args.temperature, top_p=args.top_p,
                max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, seed=args.seed,
                dtype=args.dtype, device=args.device,
            )
            paths = find_checkpoints(args.checkpoints)
            for path, name in zip(paths, short_names(paths)):
                model_dir = _model_folder(path, name, out)
                results[name] = evaluator.checkpoint(model_dir, name, config, mbpp_prompt=args.mbpp_prompt,
                                                     prompt_format=args.prompt_format) if suites else {}
                if tasks:
                    results[name].update(score_checkpoint_tasks(model_dir, tasks, args.metric, config, out / name,
                                                                args.prompt_format))
    summary = nest(next(iter(results.values()))) if len(results) == 1 else {n: nest(r) for n, r in results.items()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = markdown_table(results)
    (out / "results.md").write_text(table)
    print(table, file=sys.stderr)
    return summary


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = parse_args(argv)
    try:
        summary = run(args)
    except (EvalError, SandboxFailure) as exc:
        return fail(exc)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
