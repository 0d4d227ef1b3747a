"""Run every reference solution of HumanEval, HumanEval-X (5 languages) and MBPP in the sandbox.

    python benchmarks/eval_canonical.py [--data-dir DIR] [--workers 2] [--languages cpp,java]

Prints, per suite, the wall time and how many references pass, then `RESULT {json}`.
Expected: HumanEval 164/164; HumanEval-X python, cpp, java, go 164/164 and js 162/164
(JavaScript/112 and /155 have wrong references); MBPP test 500/500. Measured on 2 cores:
see docs/evaluation.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

from eval.benchmarks import load_suites
from eval.errors import EvalError
from eval.execution import Job, execute_all
from eval.languages import make_runner
from eval.sandbox import SandboxPool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--benchmarks", default="humaneval,humaneval-x,mbpp")
    parser.add_argument("--languages", default=None, help="HumanEval-X languages (default: all five)")
    parser.add_argument("--java-without-server", action="store_true", help="run javac per program (the fallback)")
    args = parser.parse_args()
    try:
        suites = load_suites(args.benchmarks.split(","), data_dir=args.data_dir,
                             languages=args.languages.split(",") if args.languages else None)
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runners = {}
    result = {}
    start_all = time.monotonic()
    with SandboxPool(args.workers) as pool:
        print(f"{pool.workers} workers, isolated users: {pool.isolated}, namespaces: {pool.namespaces}", flush=True)
        for suite in suites:
            if suite.language not in runners:
                options = {"compile_server": False} if suite.language == "java" and args.java_without_server else {}
                runners[suite.language] = make_runner(suite.language, **options)
            runner = runners[suite.language]
            problem = runner.toolchain_problem()
            if problem:
                print(f"{suite.key:20s} skipped: {problem}", flush=True)
                continue
            jobs = [Job(runner, suite.assemble(p, p.reference)) for p in suite.problems]
            start = time.monotonic()
            verdicts = dict(execute_all(pool, jobs))
            seconds = round(time.monotonic() - start, 1)
            failed = {suite.problems[i].task_id: v.kind for i, v in sorted(verdicts.items()) if not v.passed}
            passed = len(jobs) - len(failed)
            kinds = dict(Counter(failed.values()))
            print(f"{suite.key:20s} {passed:4d}/{len(jobs)} passed  {seconds:6.1f} s  failed: {failed or '-'}", flush=True)
            result[suite.key] = {"passed": passed, "total": len(jobs), "seconds": seconds, "failures": kinds,
                                 "failed": sorted(failed)}
    result["total_seconds"] = round(time.monotonic() - start_all, 1)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
