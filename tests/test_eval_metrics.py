"""pass@k, QA token F1 and BLEU against values worked out by hand."""
from __future__ import annotations

import math

import pytest

from eval.metrics import corpus_bleu, mean_pass_at_k, normalize_answer, pass_at_k, qa_f1_score, qa_token_f1
from eval.scoring import nest, summarize


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 2 / 5),  # pass@1 = c / n
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
        (5, 2, 3, 1 - 1 / 10),  # 1 - C(3,3)/C(5,3)
        (5, 2, 4, 1.0),  # n - c < k: some draw must hold a correct sample
        (10, 0, 5, 0.0),
        (1, 1, 1, 1.0),
        (200, 10, 100, 1 - math.comb(190, 100) / math.comb(200, 100)),
    ],
)
def test_pass_at_k_hand_worked(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_rejects_impossible_counts():
    for args in [(5, 6, 1), (5, 2, 6), (0, 0, 1), (5, 2, 0), (5, -1, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(*args)


def test_mean_pass_at_k_and_summary():
    assert mean_pass_at_k([(5, 2), (5, 0)], 1) == pytest.approx(0.2)
    records = [
        {"task_id": "A", "passed": True, "failure": None},
        {"task_id": "A", "passed": False, "failure": "wrong_answer"},
        {"task_id": "B", "passed": False, "failure": "timeout"},
        {"task_id": "B", "passed": False, "failure": "compile_error"},
    ]
    summary = summarize(records)
    assert summary["pass@1"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    assert "pass@10" not in summary  # only 2 samples per problem
    assert (summary["passed"], summary["total"], summary["problems"]) == (1, 4, 2)
    assert summary["failures"] == {"compile_error": 1, "timeout": 1, "wrong_answer": 1}
    assert nest({"humaneval-x/cpp": 1, "mbpp": 2}) == {"humaneval-x": {"cpp": 1}, "mbpp": 2}


def test_normalization_follows_squad():
    assert normalize_answer("The  Eiffel-Tower, (Paris)!") == "eiffeltower paris"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("Theory") == "theory"  # only whole words are articles


@pytest.mark.parametrize(
    "prediction, references, expected",
    [
        ("The Eiffel Tower!", "eiffel tower", 1.0),
        ("in Paris, France", "Paris", 0.5),  # P = 1/3, R = 1: 2PR/(P+R) = 1/2
        ("in Paris, France", ["Paris", "in Paris France"], 1.0),  # the best reference counts
        ("x y y", "y y z z", 4 / 7),  # common {y: 2}: P = 2/3, R = 1/2
        ("London", "Paris", 0.0),
        ("the", "a", 0.0),  # nothing left after normalisation: no common token
    ],
)
def test_qa_token_f1_hand_worked(prediction, references, expected):
    value = qa_token_f1(prediction, references)
    assert value == pytest.approx(expected)
    assert 0.0 <= value <= 1.0


def test_qa_f1_score_is_the_mean_times_100():
    assert qa_f1_score(["Eiffel Tower", "in Paris, France"], ["eiffel tower", ["Paris"]]) == pytest.approx(75.0)
    with pytest.raises(ValueError):
        qa_f1_score(["a"], [])


def test_corpus_bleu_through_sacrebleu():
    pytest.importorskip("sacrebleu", reason='BLEU needs sacrebleu: pip install -e ".[eval]"')
    hyps = ["returns the sum of two numbers", "opens the file for reading"]
    assert corpus_bleu(hyps, hyps) == pytest.approx(100.0)
    assert corpus_bleu(["completely unrelated words here"], ["returns the sum of two numbers"]) == pytest.approx(0.0)
    # several references: the hypothesis equals the second one
    assert corpus_bleu(hyps[:1], [["adds numbers", hyps[0]]]) == pytest.approx(100.0)
    import sacrebleu

    refs = ["returns the sum of both numbers", "open a file for reading"]
    assert corpus_bleu(hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
