"""The baseline controllers (lbtw, gradnorm, famo, dwa, uncertainty, random): trajectories over a
few steps of given losses, worked out by hand from each published rule, and their behaviour with
a task absent from a step (NaN) and with a non-finite loss."""
import logging
import math

import numpy as np
import pytest

from mft.weighting import RunContext, Signals, build_weighting

NAN, INF = math.nan, math.inf
LR, EPS = 0.025, 1e-8  # the learned methods' Adam: lr, and the eps in its first step lr * g / (|g| + eps)


def softmax_by_hand(*logits):
    e = [math.exp(z) for z in logits]
    return [v / sum(e) for v in e]


def normalised(*raw):
    return [r / sum(raw) for r in raw]


# ---- LBTW ---------------------------------------------------------------------------------------
def test_lbtw_train_by_hand_with_absent_and_non_finite(caplog):
    ctl = build_weighting("lbtw", num_tasks=2)  # source "train", alpha 0.5
    # t = 0: l(0) = (2, 4); ratios (1, 1)
    np.testing.assert_array_equal(ctl.update(Signals(train_losses=[2.0, 4.0])), [0.5, 0.5])
    # t = 1: ratios (1/2, 3/4) -> raw (sqrt(0.5), sqrt(0.75))
    w = ctl.update(Signals(train_losses=[1.0, 3.0]))
    np.testing.assert_allclose(w, normalised(math.sqrt(0.5), math.sqrt(0.75)), rtol=1e-15)
    assert ctl.scores()["ratios"] == [0.5, 0.75]
    # t = 2: task 0 absent keeps ratio 1/2; task 1: 1/4 -> raw (sqrt(0.5), 0.5)
    w = ctl.update(Signals(train_losses=[NAN, 1.0]))
    np.testing.assert_allclose(w, normalised(math.sqrt(0.5), 0.5), rtol=1e-15)
    # t = 3: an infinite loss is skipped with a warning; task 1: 2/4 -> equal raw weights
    with caplog.at_level(logging.WARNING, logger="mft.weighting.lbtw"):
        w = ctl.update(Signals(train_losses=[INF, 2.0]))
    assert "non-finite or negative train_losses" in caplog.text
    np.testing.assert_allclose(w, [0.5, 0.5], rtol=1e-15)
    assert ctl.state_dict()["initial_losses"] == [2.0, 4.0] and ctl.t == 4


def test_lbtw_task_absent_at_the_start_takes_l0_when_it_appears():
    ctl = build_weighting("lbtw", num_tasks=2)
    ctl.update(Signals(train_losses=[2.0, NAN]))
    w = ctl.update(Signals(train_losses=[1.0, 5.0]))  # task 1's l(0) = 5: ratios (1/2, 1)
    np.testing.assert_allclose(w, normalised(math.sqrt(0.5), 1.0), rtol=1e-15)


def test_lbtw_reset_period():
    ctl = build_weighting("lbtw", num_tasks=2, reset_period="epoch", context=RunContext(steps_per_epoch=2))
    assert ctl.reset_period == 2
    ctl.update(Signals(train_losses=[2.0, 4.0]))       # t = 0: l(0) = (2, 4)
    ctl.update(Signals(train_losses=[1.0, 2.0]))       # t = 1: ratios (1/2, 1/2)
    w = ctl.update(Signals(train_losses=[NAN, 3.0]))   # t = 2: reset; task 1's l(0) = 3, task 0 waits
    assert ctl.scores()["ratios"] == [0.5, 1.0]
    np.testing.assert_allclose(w, normalised(math.sqrt(0.5), 1.0), rtol=1e-15)
    ctl.update(Signals(train_losses=[0.5, 1.5]))       # t = 3: task 0's l(0) = 0.5 -> 1; task 1: 1.5/3
    assert ctl.scores()["ratios"] == [1.0, 0.5]
    assert ctl.state_dict()["initial_losses"] == [0.5, 3.0]
    never = build_weighting("lbtw", num_tasks=2)
    for losses in ([2.0, 4.0], [1.0, 2.0], [1.0, 3.0]):
        never.update(Signals(train_losses=losses))
    assert never.scores()["ratios"] == [0.5, 0.75]  # default: l(0) from before training, kept


def test_lbtw_valid_uses_start_losses(caplog):
    ctl = build_weighting("lbtw", num_tasks=2, source="valid")
    ctl.start([2.0, 4.0])
    # ratios (1/2, 4/4): raw (sqrt(1/2), 1), for THIS step (updated before it)
    w = ctl.update(Signals(val_losses=[1.0, 4.0]))
    np.testing.assert_allclose(w, normalised(math.sqrt(0.5), 1.0), rtol=1e-15)
    without = build_weighting("lbtw", num_tasks=2, source="valid")
    with caplog.at_level(logging.WARNING, logger="mft.weighting.lbtw"):
        np.testing.assert_array_equal(without.update(Signals(val_losses=[1.0, 4.0])), [0.5, 0.5])
    assert "start() was not called" in caplog.text


# ---- GradNorm -----------------------------------------------------------------------------------
def test_gradnorm_train_by_hand():
    ctl = build_weighting("gradnorm", num_tasks=2)  # alpha 1.5, lr 0.025, raw weights (1, 1)
    # t = 0: l(0) = (2, 4) -> r = (1, 1); G = (1*1, 1*3), mean 2 -> targets (2, 2)
    # dL/dw = sign(G - target) * g = (-1 * 1, +1 * 3); Adam's first step: -lr * g / (|g| + eps)
    ctl.update(Signals(train_losses=[2.0, 4.0], grad_norms=[1.0, 3.0]))
    a, b = 1 + LR * 1 / (1 + EPS), 1 - LR * 3 / (3 + EPS)
    raw = [2 * a / (a + b), 2 * b / (a + b)]  # renormalised to sum K = 2
    s = ctl.scores()
    np.testing.assert_allclose(s["raw_weights"], raw, rtol=1e-12)
    np.testing.assert_allclose(ctl.weights, [raw[0] / 2, raw[1] / 2], rtol=1e-12)
    np.testing.assert_allclose(s["targets"], [2.0, 2.0], rtol=1e-15)
    assert s["gradnorm_loss"] == pytest.approx(2.0, rel=1e-15)  # |1 - 2| + |3 - 2|

    # t = 1: L~ = (1/2, 3.6/4 = 0.9), mean 0.7 -> r = (0.5/0.7, 0.9/0.7); G = 2 * raw, mean = 2
    # targets 2 * r^1.5 = (1.207, 2.916) vs G = (2.05, 1.95): signs (+, -), dL/dw = (+2, -2)
    ctl.update(Signals(train_losses=[1.0, 3.6], grad_norms=[2.0, 2.0]))
    s = ctl.scores()
    np.testing.assert_allclose(s["inverse_rates"], [0.5 / 0.7, 0.9 / 0.7], rtol=1e-14)
    np.testing.assert_allclose(s["targets"], [2 * (0.5 / 0.7) ** 1.5, 2 * (0.9 / 0.7) ** 1.5], rtol=1e-12)
    # Adam step 2 per task: m = m1 + 0.1 (g2 - m1), v = 0.999 v1 + 0.001 g2^2
    #   task 0: g = -1, +2: m = -0.1 + 0.1 * 2.1 = 0.11, v = 0.999 * 0.001 + 0.004 = 0.004999
    #   task 1: g = +3, -2: m = 0.3 - 0.1 * 2.3 = 0.07,  v = 0.999 * 0.009 + 0.004 = 0.012991
    def step2(p, m, v):
        return p - LR / (1 - 0.9 ** 2) * m / (math.sqrt(v) / math.sqrt(1 - 0.999 ** 2) + EPS)
    a, b = step2(raw[0], 0.11, 0.004999), step2(raw[1], 0.07, 0.012991)
    raw = [2 * a / (a + b), 2 * b / (a + b)]
    np.testing.assert_allclose(ctl.scores()["raw_weights"], raw, rtol=1e-12)
    # both first moments are still positive (momentum from step 1), so both weights fall before
    # renormalising, task 0's more (m / sqrt(v) about 1.56 vs 0.61): the slower task 1 gains share
    assert ctl.scores()["raw_weights"][1] > 0.975 + 0.002


def test_gradnorm_absent_task_keeps_its_weight(caplog):
    ctl = build_weighting("gradnorm", num_tasks=3)
    ctl.update(Signals(train_losses=[2.0, 4.0, 1.0], grad_norms=[1.0, 3.0, 2.0]))
    raw = ctl.scores()["raw_weights"]
    # task 2 absent: only tasks 0 and 1 take part; task 2's raw weight and Adam state do not move
    ctl.update(Signals(train_losses=[1.0, 3.6, NAN], grad_norms=[2.0, 2.0, NAN]))
    after = ctl.scores()["raw_weights"]
    assert after[2] == raw[2] and ctl.state_dict()["adam"]["steps"] == [2, 2, 1]
    assert after[0] + after[1] == pytest.approx(raw[0] + raw[1], rel=1e-14)  # their share is kept
    assert sum(after) == pytest.approx(3.0, rel=1e-15)
    assert math.isnan(ctl.scores()["targets"][2])
    # a non-finite gradient norm or loss: that task sits the step out, with a warning
    before = ctl.scores()["raw_weights"]
    with caplog.at_level(logging.WARNING, logger="mft.weighting.gradnorm"):
        ctl.update(Signals(train_losses=[1.0, INF, 1.0], grad_norms=[1.0, 1.0, INF]))
    assert caplog.text.count("non-finite or negative") == 2
    assert ctl.scores()["raw_weights"][1:] == before[1:]  # tasks 1 and 2 unchanged
    # with a single task taking part its target is its own G: the weights do not move
    np.testing.assert_allclose(ctl.scores()["raw_weights"], before, rtol=1e-14)
    # nothing usable: only t advances
    state = ctl.state_dict()
    ctl.update(Signals(train_losses=[NAN, NAN, NAN], grad_norms=[NAN, NAN, NAN]))
    assert ctl.t == state["t"] + 1 and ctl.state_dict()["raw_weights"] == state["raw_weights"]


def test_gradnorm_valid_ratios_from_start_losses():
    ctl = build_weighting("gradnorm", num_tasks=2, source="valid")
    ctl.start([2.0, 4.0])
    # L~ = (1/2, 3/4), mean 0.625 -> r = (0.8, 1.2); G = (1, 1), targets (0.8^1.5, 1.2^1.5)
    # signs (+, -) -> dL/dw = (+1, -1): the slower task 1 gains lr
    ctl.update(Signals(val_losses=[1.0, 3.0], grad_norms=[1.0, 1.0]))
    np.testing.assert_allclose(ctl.scores()["inverse_rates"], [0.8, 1.2], rtol=1e-14)
    a, b = 1 - LR / (1 + EPS), 1 + LR / (1 + EPS)
    np.testing.assert_allclose(ctl.scores()["raw_weights"], [2 * a / (a + b), 2 * b / (a + b)], rtol=1e-12)


# ---- FAMO ---------------------------------------------------------------------------------------
def famo_first_step(before, after):
    """Logits after FAMO's first update from 0 (K = 2): delta, d = z (delta - z.delta) with
    z = (1/2, 1/2), then Adam's first step -lr * d / (|d| + eps) (weight decay * 0 = 0)."""
    delta = [math.log(b + EPS) - math.log(a + EPS) for b, a in zip(before, after)]
    d0 = 0.5 * (delta[0] - (delta[0] + delta[1]) / 2)
    d = [d0, -d0]
    return [-LR * di / (abs(di) + EPS) for di in d], delta, d


def test_famo_train_by_hand(caplog):
    ctl = build_weighting("famo", num_tasks=2)  # lr 0.025, weight decay 0.01, min_losses 0
    np.testing.assert_array_equal(ctl.weights, [0.5, 0.5])  # z = softmax(0) before any update
    # t = 0: task 0 fell from 2 to 1 (delta log 2), task 1 from 4 to 3 (log 4/3): task 0 improved
    # more, so its logit goes down by about lr and task 1's up
    xi, delta, d = famo_first_step([2.0, 4.0], [1.0, 3.0])
    w = ctl.update(Signals(train_losses=[2.0, 4.0], after_losses=[1.0, 3.0]))
    s = ctl.scores()
    np.testing.assert_allclose(s["delta"], delta, rtol=1e-15)
    np.testing.assert_allclose(s["logits"], xi, rtol=1e-12)
    np.testing.assert_allclose(s["logits"], [-LR, LR], rtol=1e-6)
    # weights (z_i / D_i) / sum, D = the after losses (+1e-8)
    z = softmax_by_hand(*xi)
    np.testing.assert_allclose(w, normalised(z[0] / (1 + EPS), z[1] / (3 + EPS)), rtol=1e-12)

    # t = 1: task 1 absent. Task 0 alone: softmax over one task is 1, so d = 1 * (delta - delta)
    # = 0 and only weight decay acts: g = 0.01 * xi0. Adam step 2 for task 0 only.
    ctl.update(Signals(train_losses=[1.2, NAN], after_losses=[0.9, NAN]))
    g1, g2 = d[0], 0.01 * xi[0]
    m = 0.1 * g1 + 0.1 * (g2 - 0.1 * g1)
    v = 0.999 * 0.001 * g1 ** 2 + 0.001 * g2 ** 2
    xi0 = xi[0] - LR / (1 - 0.9 ** 2) * m / (math.sqrt(v) / math.sqrt(1 - 0.999 ** 2) + EPS)
    logit1 = s["logits"][1]
    s = ctl.scores()
    assert s["logits"][1] == logit1  # untouched
    assert s["logits"][0] == pytest.approx(xi0, rel=1e-12)
    assert s["gaps"] == [0.9 + EPS, 3.0 + EPS]  # task 1 keeps its last D
    assert ctl.state_dict()["adam"]["steps"] == [2, 1]
    assert math.isnan(s["delta"][1])

    # t = 2: an infinite after-loss for task 0: skipped with a warning, its D and logit kept
    with caplog.at_level(logging.WARNING, logger="mft.weighting.famo"):
        ctl.update(Signals(train_losses=[1.0, 2.5], after_losses=[INF, 2.0]))
    assert "non-finite or negative after_losses" in caplog.text
    s = ctl.scores()
    assert s["logits"][0] == pytest.approx(xi0, rel=1e-12) and s["gaps"] == [0.9 + EPS, 2.0 + EPS]


def test_famo_valid_reads_validation_losses():
    ctl = build_weighting("famo", num_tasks=2, source="valid", gaps="source")
    xi, _, _ = famo_first_step([2.0, 4.0], [1.0, 3.0])
    ctl.update(Signals(val_losses=[2.0, 4.0], after_losses=[1.0, 3.0]))
    np.testing.assert_allclose(ctl.scores()["logits"], xi, rtol=1e-12)
    with pytest.raises(ValueError, match="needs val_losses="):
        ctl.update(Signals(train_losses=[2.0, 4.0], after_losses=[1.0, 3.0]))


def test_famo_valid_objectives_by_hand():
    """FAMO*: the logits learn from the validation batch before/after the step. By hand: delta =
    (log 2/1, log 4/3) = (0.6931, 0.2877); the softmax Jacobian at z = (1/2, 1/2) gives the logit
    gradient (+0.1014, -0.1014); Adam's first step moves each logit by lr = 0.025 against its
    gradient: xi = (-0.025, +0.025), z = (1 / (1 + e^0.05), ...) = (0.487503, 0.512497).
    - default (gaps "none", the CoBa paper's FAMO*): the weights are z;
    - gaps "train", training losses (1.0, 0.25): ~ (0.487503 / 1, 0.512497 / 0.25) =
      (0.487503, 2.049990), normalised (0.192120, 0.807880);
    - gaps "source", D = the validation losses after the step (1, 3): (0.487503, 0.170832) ->
      (0.740508, 0.259492)."""
    signals = Signals(val_losses=[2.0, 4.0], train_losses=[1.0, 0.25], after_losses=[1.0, 3.0])
    plain = build_weighting("famo", num_tasks=2, source="valid")
    assert plain.needs.val_losses and not plain.needs.train_losses and plain.needs.after_step == "valid"
    np.testing.assert_allclose(plain.update(Signals(val_losses=[2.0, 4.0], after_losses=[1.0, 3.0])),
                               [0.487503, 0.512497], atol=2e-6)
    np.testing.assert_allclose(plain.scores()["logits"], [-0.025, 0.025], rtol=1e-6)
    train = build_weighting("famo", num_tasks=2, source="valid", gaps="train")
    assert train.needs.train_losses and train.needs.val_losses
    np.testing.assert_allclose(train.update(signals), [0.192120, 0.807880], atol=2e-6)
    assert train.scores()["logits"] == plain.scores()["logits"]  # the same logits whatever the objective
    source = build_weighting("famo", num_tasks=2, source="valid", gaps="source")
    assert not source.needs.train_losses
    np.testing.assert_allclose(source.update(Signals(val_losses=[2.0, 4.0], after_losses=[1.0, 3.0])),
                               [0.740508, 0.259492], atol=2e-6)
    # FAMO (train source) keeps its rule by default: D from the re-measured training batch
    famo = build_weighting("famo", num_tasks=2)
    famo.update(Signals(train_losses=[2.0, 4.0], after_losses=[1.0, 3.0]))
    np.testing.assert_allclose(famo.weights, [0.740508, 0.259492], atol=2e-6)
    with pytest.raises(ValueError, match="cannot resume famo's state"):  # a state saved with another objective
        plain.load_state_dict(train.state_dict())


def test_famo_weights_are_z_until_every_task_is_measured_and_min_losses():
    ctl = build_weighting("famo", num_tasks=3)
    w = ctl.update(Signals(train_losses=[2.0, 4.0, NAN], after_losses=[1.0, 3.0, NAN]))
    np.testing.assert_allclose(w, softmax_by_hand(*ctl.scores()["logits"]), rtol=1e-15)
    # m = 0.5 for every task: D = l - 0.5 + 1e-8; a loss below its minimum is skipped
    ctl = build_weighting("famo", num_tasks=2, min_losses=[0.5, 0.5])
    ctl.update(Signals(train_losses=[2.5, 4.5], after_losses=[1.5, 3.5]))
    xi, _, _ = famo_first_step([2.0, 4.0], [1.0, 3.0])  # the same gaps as above
    np.testing.assert_allclose(ctl.scores()["logits"], xi, rtol=1e-12)
    before = ctl.scores()
    ctl.update(Signals(train_losses=[0.4, 3.0], after_losses=[0.3, 2.9]))  # task 0 below m: only task 1
    assert ctl.scores()["logits"][0] == before["logits"][0]


def test_famo_memorised_task_takes_the_weight():
    # the documented reference behaviour: weights grow like 1 / l_i
    ctl = build_weighting("famo", num_tasks=2)
    for _ in range(3):
        w = ctl.update(Signals(train_losses=[1e-4, 1.0], after_losses=[1e-4, 1.0]))
    assert w[0] > 0.999


# ---- DWA ----------------------------------------------------------------------------------------
def test_dwa_by_hand():
    ctl = build_weighting("dwa", num_tasks=2, period=2)  # T = 2
    for losses in ([2.0, 4.0], [2.0, 4.0], [1.0, 3.0]):  # period 0 closes at t = 1: L(0) = (2, 4)
        np.testing.assert_array_equal(ctl.update(Signals(train_losses=losses)), [0.5, 0.5])
    # t = 3 closes period 1: L(1) = (1, 3); r = (1/2, 3/4); w = softmax(r / 2)
    w = ctl.update(Signals(train_losses=[1.0, 3.0]))
    np.testing.assert_allclose(w, softmax_by_hand(0.25, 0.375), rtol=1e-15)
    np.testing.assert_allclose(ctl.scores()["raw_weights"], [2 * p for p in softmax_by_hand(0.25, 0.375)],
                               rtol=1e-15)
    # period 2 with task 0 absent at t = 4: L(2) = (0.5, (2.4 + 1.8) / 2 = 2.1); r = (0.5/1, 2.1/3)
    np.testing.assert_array_equal(ctl.update(Signals(train_losses=[NAN, 2.4])), w)  # mid-period: unchanged
    w = ctl.update(Signals(train_losses=[0.5, 1.8]))
    np.testing.assert_allclose(ctl.scores()["loss_ratios"], [0.5, 0.7], rtol=1e-15)
    np.testing.assert_allclose(w, softmax_by_hand(0.25, 0.35), rtol=1e-15)
    # period 3: task 0 absent throughout (one step inf: a warning) carries L = 0.5, so r0 = 1
    ctl.update(Signals(train_losses=[NAN, 2.0]))
    w = ctl.update(Signals(train_losses=[INF, 2.0]))
    np.testing.assert_allclose(ctl.scores()["loss_ratios"], [1.0, 2.0 / 2.1], rtol=1e-15)
    np.testing.assert_allclose(w, softmax_by_hand(0.5, 1.0 / 2.1), rtol=1e-15)


def test_dwa_epoch_period_and_a_task_never_seen():
    ctl = build_weighting("dwa", num_tasks=2, context=RunContext(steps_per_epoch=3))  # period "epoch" by default
    assert ctl.period == 3
    for _ in range(6):
        w = ctl.update(Signals(train_losses=[1.0, NAN]))  # task 1 never seen: its ratio counts as 1
    np.testing.assert_allclose(ctl.scores()["loss_ratios"], [1.0, 1.0])
    np.testing.assert_allclose(w, [0.5, 0.5], rtol=1e-15)


# ---- uncertainty --------------------------------------------------------------------------------
def test_uncertainty_by_hand(caplog):
    ctl = build_weighting("uncertainty", num_tasks=2)  # s = -0.5, lr 0.025
    np.testing.assert_allclose(ctl.weights, [0.5, 0.5], rtol=1e-15)
    assert ctl.scores()["log_variance"] == [-0.5, -0.5]
    # t = 0: ds = (1 - l e^{0.5}) / 2: task 0 (l = 2) negative -> s up by lr; task 1 (l = 0.1) up
    g = [0.5 * (1 - 2.0 * math.exp(0.5)), 0.5 * (1 - 0.1 * math.exp(0.5))]
    s = [-0.5 - LR * gi / (abs(gi) + EPS) for gi in g]
    w = ctl.update(Signals(train_losses=[2.0, 0.1]))
    np.testing.assert_allclose(ctl.scores()["log_variance"], s, rtol=1e-12)
    np.testing.assert_allclose(ctl.scores()["raw_weights"], [0.5 * math.exp(-si) for si in s], rtol=1e-12)
    # weights: 1/(2 e^s) normalised; the low-loss task gains
    np.testing.assert_allclose(w, normalised(*[math.exp(-si) for si in s]), rtol=1e-12)
    assert w[1] > w[0]
    # t = 1: task 0 absent keeps s and Adam state; t = 2: a negative and an infinite loss, skipped
    ctl.update(Signals(train_losses=[NAN, 0.1]))
    assert ctl.scores()["log_variance"][0] == s[0] and ctl.state_dict()["adam"]["steps"] == [1, 2]
    before = ctl.state_dict()
    with caplog.at_level(logging.WARNING, logger="mft.weighting.uncertainty"):
        ctl.update(Signals(train_losses=[-1.0, INF]))
    assert "non-finite or negative" in caplog.text
    after = ctl.state_dict()
    assert after["log_variance"] == before["log_variance"] and after["t"] == before["t"] + 1


# ---- random -------------------------------------------------------------------------------------
def test_random_weighting_is_a_seeded_softmax_of_normals():
    ctl = build_weighting("random", num_tasks=3, seed=7)
    reference = np.random.default_rng(7)
    for _ in range(3):
        z = reference.standard_normal(3)
        w = ctl.update()
        np.testing.assert_allclose(w, softmax_by_hand(*z), rtol=1e-14)
        assert ctl.scores()["logits"] == z.tolist()
    other = build_weighting("random", num_tasks=3, seed=7)
    assert other.update().tolist() != w.tolist()  # a fresh draw sequence starts over
    assert build_weighting("random", num_tasks=3, seed=8).update().tolist() != \
        build_weighting("random", num_tasks=3, seed=7).update().tolist()
