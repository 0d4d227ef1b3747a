"""The shipped fine-tuning data is what the generator makes: sizes, a corrupted share in the small
task's training answers only, and answers the base corpus never shows in that form."""
import os

from launch_helpers import ROOT, assert_generator_reproduces, exchanges, load_script

from mft.experiments.synthetic import WORD_OPS, corpus

make_finetune_data = load_script("make_finetune_data")

SHIPPED = os.path.join(ROOT, "configs", "finetune_data")


def _exchanges(task: str, split: str) -> list[tuple[str, str]]:
    return exchanges(SHIPPED, task, split)


def _correct(prompt: str, answer: str) -> bool:
    if "+" in prompt:
        a, b = prompt.rstrip("=").split("+")
        return int(a) + int(b) == int(answer)
    op, word = prompt.split(" ")
    return WORD_OPS[op](word) == answer


def test_generator_reproduces_the_shipped_files(tmp_path):
    assert_generator_reproduces(make_finetune_data.generate, SHIPPED, tmp_path)


def test_sizes_and_only_the_small_tasks_training_answers_are_corrupted():
    for task, sizes in make_finetune_data.SIZES.items():
        splits = {s: _exchanges(task, s) for s in ("train", "valid", "test")}
        repeats = make_finetune_data.REPEATS.get(task, 1)
        assert len(splits["train"]) == repeats * sizes[0]
        assert splits["train"] == splits["train"][:sizes[0]] * repeats
        splits["train"] = splits["train"][:sizes[0]]
        assert tuple(len(set(splits[s])) for s in ("train", "valid", "test")) == sizes
        assert not set(splits["train"]) & set(splits["valid"]) and not set(splits["train"]) & set(splits["test"])
        assert all(_correct(*x) for x in splits["valid"] + splits["test"]), task
        wrong = sum(not _correct(*x) for x in splits["train"])
        share = make_finetune_data.CORRUPTED.get(task, 0.0)
        # a random answer can be right by chance (1 in 8^len): allow one such draw
        assert round(share * sizes[0]) - 1 <= wrong <= round(share * sizes[0]), (task, wrong)
    assert min(s[0] for s in make_finetune_data.SIZES.values()) <= 120


def test_tasks_lie_outside_the_pretraining_distribution():
    pretraining = set()
    for r in corpus(seed=0, size=2000):
        pretraining.add(r["prompt"] if "prompt" in r else (r.get("messages") or r["chat_rounds"])[0]["content"])
    for task in make_finetune_data.SIZES:
        prompts = {p for p, _ in _exchanges(task, "train")}
        assert not prompts & pretraining
        if task != "addition":
            assert all(len(p.split(" ")[1]) >= 5 for p in prompts)  # the corpus has words of at most 4 letters
