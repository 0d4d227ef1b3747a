"""The shipped demo data is what the generator makes, with the properties the demo relies on."""
import json
import os

from launch_helpers import ROOT, assert_generator_reproduces, load_script

make_demo_data = load_script("make_demo_data")

SHIPPED = os.path.join(ROOT, "configs", "demo_data")


def test_generator_reproduces_the_shipped_files(tmp_path):
    assert_generator_reproduces(make_demo_data.generate, SHIPPED, tmp_path)


def test_task_sizes_differ_tenfold_and_splits_are_disjoint():
    sizes = {}
    for task in make_demo_data.MAKERS:
        splits = {}
        for split in ("train", "valid", "test"):
            with open(os.path.join(SHIPPED, f"{task}.{split}.jsonl")) as f:
                splits[split] = {line.strip() for line in f}
        assert not (splits["train"] & splits["valid"]) and not (splits["train"] & splits["test"])
        sizes[task] = len(splits["train"])
    assert max(sizes.values()) >= 10 * min(sizes.values())


def test_addition_answers_are_correct():
    with open(os.path.join(SHIPPED, "addition.train.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            a, b = r["prompt"].rstrip("=").split("+")
            assert int(a) + int(b) == int(r["completion"])
