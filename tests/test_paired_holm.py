"""mft/experiments/paired.py's p-values and Holm's adjustment, and the report's use of them, against
hand-worked numbers."""
import math

import pytest

from mft.experiments.paired import _T975, holm, paired_difference, t_two_sided_p
from mft.experiments.report import fixed, markdown_table, paired_table


def test_t_p_values_in_closed_form():
    assert t_two_sided_p(1.0, 1) == pytest.approx(0.5)  # Cauchy: P(|T| > 1) = 1 - (2 / pi) atan 1
    assert t_two_sided_p(2.0, 2) == pytest.approx(1 - 2 / math.sqrt(6))  # df 2: 1 - t / sqrt(2 + t^2)
    # df 3, t = 1: theta = pi / 6, 1 - (2 / pi) (pi / 6 + sin cos) = 2/3 - sqrt(3) / (2 pi)
    assert t_two_sided_p(1.0, 3) == pytest.approx(2 / 3 - math.sqrt(3) / (2 * math.pi))
    # df 4, t = 2: theta = atan 1 = pi / 4, 1 - sin(theta) (1 + cos^2 / 2) = 1 - (sqrt 2 / 2) * 1.25
    assert t_two_sided_p(2.0, 4) == pytest.approx(1 - math.sqrt(2) / 2 * 1.25)
    assert t_two_sided_p(0.0, 7) == 1.0 and t_two_sided_p(-2.0, 2) == t_two_sided_p(2.0, 2)
    with pytest.raises(ValueError, match="integer >= 1"):
        t_two_sided_p(1.0, 0)


def test_t_p_value_of_each_tabulated_quantile_is_five_percent():
    """The 0.975 quantiles the intervals use (4-decimal table) give p = 0.05, so the p-values and the
    intervals agree about which differences exclude 0."""
    for df, q in enumerate(_T975, start=1):
        assert t_two_sided_p(q, df) == pytest.approx(0.05, abs=2e-5), df


def test_holm_step_down_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == [] and holm([0.02]) == [0.02]


def test_paired_p_value_by_hand():
    # differences 0.1, 0.05, 0.0: t = sqrt 3 with 2 df
    d = paired_difference([1.1, 1.3, 1.2], [1.0, 1.25, 1.2])
    assert d.p == pytest.approx(1 - math.sqrt(3) / math.sqrt(5))
    assert paired_difference([2.0], [1.5]).p is None
    assert paired_difference([1.0, 2.0], [1.0, 2.0]).p == 1.0


def _scores(loss, em=0.5):
    return {"tasks": {"x": {"loss": loss, "exact_match": em}}, "convergence_spread": 10}


def test_each_column_of_a_paired_table_is_one_holm_family():
    """Two methods against uniform over 3 seeds: `a` differs by 0.1, 0.05, 0.0 (p 0.2254), `b` by
    0.3, 0.2, 0.25 (t = 0.25 / (0.05 / sqrt 3) = 8.660, p = 1 - t / sqrt(2 + t^2) = 0.01307).
    Holm: b 0.01307 x 2 = 0.0261, a max(0.0261, 0.2254) = 0.225."""
    scores = {"uniform": [_scores(1.0), _scores(1.2), _scores(1.1)], "a": [_scores(1.1), _scores(1.25), _scores(1.1)],
              "b": [_scores(1.3), _scores(1.4), _scores(1.35)]}
    seeds = {m: [1, 2, 3] for m in scores}
    table, family, intervals = paired_table(scores, seeds, ["x"], "uniform")
    rows = table.splitlines()
    assert (family, intervals) == (2, 4)
    assert rows[2].startswith("| a | +0.050 [-0.074, +0.174] (0.225) |")
    assert rows[3].startswith("| b | +0.250 [+0.126, +0.374] (0.026) |")


def test_ties_round_half_up_whatever_their_binary_form():
    # 43.55 is stored above the tie and 38.15 below it: f"{v:.1f}" printed 43.6 and 38.1
    assert (fixed(43.550000000000004, 1), fixed(38.15, 1), fixed(48.75, 1)) == ("43.6", "38.2", "48.8")
    assert (fixed(-0.0001, 3, sign=True), fixed(0.0, 3, sign=True), fixed(0.0125, 3)) == ("-0.000", "+0.000", "0.013")


def test_means_that_print_the_same_are_both_bold():
    """0.1001 and 0.1004 both print as 0.100: both are the best of the column as the reader sees it."""
    scores = {"a": [_scores(0.1001)], "b": [_scores(0.1004)], "c": [_scores(0.2)]}
    table = markdown_table(scores, ["x"]).splitlines()
    assert table[2].startswith("| a | **0.100** |") and table[3].startswith("| b | **0.100** |")
    assert table[4].startswith("| c | 0.200 |")
