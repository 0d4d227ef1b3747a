"""Evaluation of code and QA models: benchmarks, sandboxed execution, metrics, batch reports.

    python launch/evaluate.py --checkpoints runs/demo_cpu/best --benchmarks humaneval,mbpp
    python launch/evaluate.py --canonical --benchmarks humaneval-x --languages cpp,go

Independent of the trainer (`mft`): it reads Hugging Face checkpoint folders and JSONL files.
The parts, each usable on its own:

- `eval.benchmarks`   HumanEval, HumanEval-X (python, cpp, java, js, go), MBPP: problems, prompts,
                      stop sequences and the program each harness assembles from a completion.
- `eval.sandbox`      runs untrusted programs: one subprocess per step, fresh temp dir, resource
                      limits, an unprivileged user per worker, no network, a worker pool.
- `eval.languages`    how each language is compiled, run and judged (failure kinds).
- `eval.generation`   batched Hugging Face generation with stop sequences.
- `eval.metrics`      pass@k, QA token F1, BLEU, per-task perplexity.
- `eval.pipeline`     generate -> execute -> score for checkpoints, sample files or references.
"""
