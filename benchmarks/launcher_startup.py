"""What the launcher costs: the same short demo run on 2 CPU ranks through `deepspeed --num_gpus 2`
and through `torchrun --nproc_per_node 2`, alternated, with the median wall time of each and their
ratio measured in this one run.

DeepSpeed's runner and the per-node launcher it starts each import all of DeepSpeed before the
ranks start; torchrun imports torch once. The test suite launches most of its 2-rank runs through
torchrun for this reason (tests/launch_helpers.py), and keeps `deepspeed` for the runs that test
what only it does.

    python benchmarks/launcher_startup.py [--repeats 3] [--steps 2]

Ends with ``RESULT {json}``.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from _runs import median, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per launcher (alternated)")
    parser.add_argument("--steps", type=int, default=2, help="training steps per run")
    args = parser.parse_args()
    if args.repeats < 1 or args.steps < 1:
        parser.error(f"--repeats and --steps must be >= 1, got {args.repeats} and {args.steps}")
    seconds: dict[str, list[float]] = {"deepspeed": [], "torchrun": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for launcher in seconds:
                start = time.perf_counter()
                metrics = train(os.path.join(tmp, f"{launcher}{i}"), [f"training.max_steps={args.steps}"],
                                launcher=launcher)
                seconds[launcher].append(time.perf_counter() - start)
                assert metrics[-1]["step"] == args.steps, metrics[-1]
    for launcher, times in seconds.items():
        print(f"{launcher:>9}: median {median(times):.1f} s over {len(times)} runs "
              f"({', '.join(f'{t:.1f}' for t in times)})")
    ratio = median(seconds["deepspeed"]) / median(seconds["torchrun"])
    print(f"deepspeed / torchrun: {ratio:.2f}x")
    print("RESULT " + json.dumps({"median_s": {k: round(median(v), 2) for k, v in seconds.items()},
                                  "deepspeed_over_torchrun": round(ratio, 3)}))


if __name__ == "__main__":
    main()
