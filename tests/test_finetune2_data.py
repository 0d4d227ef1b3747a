"""The second fine-tuning mix (launch/make_finetune2_data.py): the committed files are what the
generator makes, its tasks, sizes and noise differ from the first mix, and only the small task's
training answers are corrupted."""
import os

from launch_helpers import ROOT, assert_generator_reproduces, exchanges, load_script

from mft.experiments.synthetic import WORD_OPS

mix2 = load_script("make_finetune2_data")
mix1 = load_script("make_finetune_data")
SHIPPED = os.path.join(ROOT, "configs", "finetune2_data")


def _exchanges(task: str, split: str) -> list[tuple[str, str]]:
    return exchanges(SHIPPED, task, split)


def _correct(prompt: str, answer: str) -> bool:
    if "-" in prompt:
        a, b = prompt.rstrip("=").split("-")
        return int(a) - int(b) == int(answer) >= 0
    op, word = prompt.split(" ")
    return WORD_OPS[op](word) == answer and 6 <= len(word) <= 9 and set(word) <= set("abcdefghij")


def test_generator_reproduces_the_shipped_files(tmp_path):
    assert_generator_reproduces(mix2.generate, SHIPPED, tmp_path)


def test_sizes_splits_and_only_the_small_tasks_training_answers_are_corrupted():
    for task, sizes in mix2.SIZES.items():
        splits = {s: _exchanges(task, s) for s in ("train", "valid", "test")}
        repeats = mix2.REPEATS.get(task, 1)
        assert splits["train"] == splits["train"][:sizes[0]] * repeats
        distinct = splits["train"][:sizes[0]]
        assert (len(set(distinct)), len(set(splits["valid"])), len(set(splits["test"]))) == sizes
        assert not set(distinct) & (set(splits["valid"]) | set(splits["test"]))
        assert all(_correct(*x) for x in splits["valid"] + splits["test"]), task
        wrong = sum(not _correct(*x) for x in distinct)
        expected = round(mix2.CORRUPTED.get(task, 0.0) * sizes[0])
        assert expected - 1 <= wrong <= expected, (task, wrong)  # a random answer may be right by chance


def test_the_second_mix_differs_from_the_first_in_tasks_sizes_and_noise():
    assert not set(mix2.SIZES) & set(mix1.SIZES)
    assert sorted(mix2.SIZES.values()) != sorted(mix1.SIZES.values())
    assert mix2.CORRUPTED != mix1.CORRUPTED and mix2.REPEATS != mix1.REPEATS
    assert min(s[0] for s in mix2.SIZES.values()) < min(s[0] for s in mix1.SIZES.values())
