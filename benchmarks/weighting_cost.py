"""Step time of every weighting method relative to `uniform`, on the CPU demo (2 ranks).

    python benchmarks/weighting_cost.py [--steps 80] [--repeats 2]

Each method trains the demo model for the same steps; the runs are interleaved and repeated, and
the ratio is median(step time of the method) / median(step time of uniform), where step time is
the whole loop iteration (controller forward passes, re-measures and gradient norms included).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

from _runs import median, train

METHODS = {
    "uniform": {}, "coba": {"history_window": 100, "warmup_steps": 50},
    "lbtw": {"source": "train"}, "lbtw_valid": {"source": "valid"},
    "gradnorm": {"source": "train"}, "gradnorm_valid": {"source": "valid"},
    "famo": {"source": "train"}, "famo_valid": {"source": "valid"},
    "dwa": {}, "uncertainty": {}, "random": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    common = [f"training.max_steps={args.steps}", "validation.interval=1000000", "checkpoint.interval=0",
              "logging.tensorboard=false"]
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for name, params in METHODS.items():
                method = name.removesuffix("_valid")
                metrics = train(os.path.join(tmp, f"{name}_{rep}"),
                                common + [f"weighting.method={method}", f"weighting.params={json.dumps(params)}"])
                times[name] += [r["time_s"]["step"] for r in metrics if "time_s" in r][10:]
    base = median(times["uniform"])
    result = {}
    print(f"{'method':>15} {'step ms':>8} {'ratio':>6}")
    for name in METHODS:
        step = median(times[name])
        result[name] = round(step / base, 3)
        print(f"{name:>15} {1e3 * step:8.2f} {step / base:6.3f}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
