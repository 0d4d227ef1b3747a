"""The second to fifth fine-tuning mixes (launch/make_finetune{2,3,4,5}_data.py): the
committed files are what each generator makes, each mix's tasks, sizes and noise differ from the
mixes before it, and only the small tasks' training answers are corrupted."""
import os

import pytest
from launch_helpers import ROOT, assert_generator_reproduces, exchanges, load_script

from mft.experiments.synthetic import WORD_OPS

mix1 = load_script("make_finetune_data")
mix2 = load_script("make_finetune2_data")
mix3 = load_script("make_finetune3_data")
mix4 = load_script("make_finetune4_data")
mix5 = load_script("make_finetune5_data")
MIXES = {"finetune2_data": mix2, "finetune3_data": mix3, "finetune4_data": mix4, "finetune5_data": mix5}


def _correct_mix2(prompt: str, answer: str) -> bool:
    if "-" in prompt:
        a, b = prompt.rstrip("=").split("-")
        return int(a) - int(b) == int(answer) >= 0
    op, word = prompt.split(" ")
    return WORD_OPS[op](word) == answer and 6 <= len(word) <= 9 and set(word) <= set("abcdefghij")


def _correct_mix3(prompt: str, answer: str) -> bool:
    if "*" in prompt:
        a, b = prompt.rstrip("=").split("*")
        return 100 <= int(a) <= 999 and 2 <= int(b) <= 9 and int(a) * int(b) == int(answer)
    op, word = prompt.split(" ")
    expected = {"halves": word[len(word) // 2:] + word[:len(word) // 2], "shout": word[::-1].upper(),
                "skip": word[::2]}[op]
    return expected == answer and set(word) <= set("ijklmnopqr")


def _correct_mix4(prompt: str, answer: str) -> bool:
    if "+" in prompt:
        terms = prompt.rstrip("=").split("+")
        return len(terms) == 3 and all(10 <= int(t) <= 99 for t in terms) and sum(map(int, terms)) == int(answer)
    op, word = prompt.split(" ")
    shifted = "".join(chr((ord(c) - ord("a") + 1) % 26 + ord("a")) for c in word)
    pairs = "".join(word[i + 1] + word[i] for i in range(0, len(word) - 1, 2)) + word[len(word) - len(word) % 2:]
    expected = {"shift": shifted, "swap": pairs, "echo": word + word[::-1], "trim": word[1:-1]}[op]
    return expected == answer and set(word) <= set("stuvwxyz")


def _correct_mix5(prompt: str, answer: str) -> bool:
    if "*" in prompt:
        a, b = prompt.rstrip("=").split("*")
        return 10 <= int(a) <= 99 and 10 <= int(b) <= 99 and int(a) * int(b) == int(answer)
    op, word = prompt.split(" ")
    half = len(word) // 2
    expected = {"wrap": word[-1] + word + word[0], "count": str(len(set(word))),
                "flip": "".join(reversed(word[:half])) + "".join(reversed(word[half:]))}[op]
    return expected == answer and set(word) <= set("defghijklm") and 5 <= len(word) <= 8


CORRECT = {"finetune2_data": _correct_mix2, "finetune3_data": _correct_mix3, "finetune4_data": _correct_mix4,
           "finetune5_data": _correct_mix5}


@pytest.mark.parametrize("folder", sorted(MIXES))
def test_generator_reproduces_the_shipped_files(folder, tmp_path):
    assert_generator_reproduces(MIXES[folder].generate, os.path.join(ROOT, "configs", folder), tmp_path)


@pytest.mark.parametrize("folder", sorted(MIXES))
def test_sizes_splits_and_only_the_small_tasks_training_answers_are_corrupted(folder):
    mix, correct = MIXES[folder], CORRECT[folder]
    for task, sizes in mix.SIZES.items():
        splits = {s: exchanges(os.path.join(ROOT, "configs", folder), task, s) for s in ("train", "valid", "test")}
        repeats = mix.REPEATS.get(task, 1)
        assert splits["train"] == splits["train"][:sizes[0]] * repeats
        distinct = splits["train"][:sizes[0]]
        assert (len(set(distinct)), len(set(splits["valid"])), len(set(splits["test"]))) == sizes
        assert not set(distinct) & (set(splits["valid"]) | set(splits["test"]))
        assert all(correct(*x) for x in splits["valid"] + splits["test"]), task
        wrong = sum(not correct(*x) for x in distinct)
        expected = round(mix.CORRUPTED.get(task, 0.0) * sizes[0])
        assert expected - 1 <= wrong <= expected, (task, wrong)  # a random answer may be right by chance


@pytest.mark.parametrize("later, earlier", [(mix2, [mix1]), (mix3, [mix1, mix2]), (mix4, [mix1, mix2, mix3]),
                                            (mix5, [mix1, mix2, mix3, mix4])],
                         ids=["second", "third", "fourth", "fifth"])
def test_each_mix_differs_from_the_earlier_ones_in_tasks_sizes_and_noise(later, earlier):
    for mix in earlier:
        assert not set(later.SIZES) & set(mix.SIZES)
        assert sorted(later.SIZES.values()) != sorted(mix.SIZES.values())
        assert later.CORRUPTED != mix.CORRUPTED and later.REPEATS != mix.REPEATS
    assert min(s[0] for s in later.SIZES.values()) < min(s[0] for s in earlier[0].SIZES.values())


def test_the_third_mix_has_two_small_tasks_that_overfit_at_different_speeds():
    """Two noisy tasks, the smaller one repeated more and noisier (it should overfit first)."""
    noisy = sorted(mix3.CORRUPTED, key=lambda t: mix3.SIZES[t][0])
    assert len(noisy) == 2
    small, large = noisy
    assert mix3.REPEATS[small] > mix3.REPEATS[large] and mix3.CORRUPTED[small] > mix3.CORRUPTED[large]


def test_the_fourth_mix_has_a_small_clean_repeated_task_and_a_noisy_one():
    """Its small tasks are built to overfit two ways: `echo` by memorising clean records (repeated,
    no noise), `trim` by memorising noise."""
    assert "echo" not in mix4.CORRUPTED and mix4.REPEATS["echo"] > 1
    assert mix4.SIZES["echo"][0] == min(s[0] for s in mix4.SIZES.values())
    assert mix4.CORRUPTED["trim"] > 0 and mix4.REPEATS["trim"] > 1
