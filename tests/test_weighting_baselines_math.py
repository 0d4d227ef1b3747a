"""The baseline rules (mft.weighting.baselines_math) and the NumPy Adam (mft.weighting.adam)
against numbers worked out by hand, each written as the arithmetic of the rule it checks."""
import math

import numpy as np
import pytest
import torch

from mft.weighting import baselines_math as bm
from mft.weighting.adam import Adam


def softmax_by_hand(*logits):
    e = [math.exp(z) for z in logits]
    return [v / sum(e) for v in e]


def test_normalise():
    np.testing.assert_allclose(bm.normalise([1.0, 3.0]), [1 / 4, 3 / 4], rtol=1e-15)
    np.testing.assert_array_equal(bm.normalise([0.0, 0.0, 0.0]), [1 / 3] * 3)  # nothing to prefer
    np.testing.assert_array_equal(bm.normalise([math.inf, 1.0]), [0.5, 0.5])


# ---- LBTW ---------------------------------------------------------------------------------------
def test_lbtw_raw_weights():
    # (l/l0)^0.5 for ratios 0.25, 1, 0.81 -> 0.5, 1, 0.9
    np.testing.assert_allclose(bm.lbtw_raw_weights([0.25, 1.0, 0.81], 0.5), [0.5, 1.0, 0.9], rtol=1e-15)
    np.testing.assert_array_equal(bm.lbtw_raw_weights([0.3, 2.0], 0.0), [1.0, 1.0])  # alpha 0: uniform


# ---- GradNorm -----------------------------------------------------------------------------------
def test_gradnorm_inverse_rates():
    # L~ = (1/2, 3/2), mean 1 -> r = (0.5, 1.5); with l0 = (1, 4): L~ = (1, 0.75), mean 0.875
    np.testing.assert_allclose(bm.gradnorm_inverse_rates([1.0, 3.0], [2.0, 2.0]), [0.5, 1.5], rtol=1e-15)
    np.testing.assert_allclose(bm.gradnorm_inverse_rates([1.0, 3.0], [1.0, 4.0]),
                               [1 / 0.875, 0.75 / 0.875], rtol=1e-15)
    np.testing.assert_array_equal(bm.gradnorm_inverse_rates([0.0, 0.0], [1.0, 2.0]), [1.0, 1.0])  # not 0/0


def test_gradnorm_targets_loss_and_weight_gradient():
    g_weighted, rates = [1.0, 3.0], [0.5, 1.5]
    # mean(G) = 2; alpha 2: targets 2 * 0.25, 2 * 2.25
    np.testing.assert_allclose(bm.gradnorm_targets(g_weighted, rates, 2.0), [0.5, 4.5], rtol=1e-15)
    # alpha 1.5: 2 * 0.5^1.5, 2 * 1.5^1.5
    np.testing.assert_allclose(bm.gradnorm_targets(g_weighted, rates, 1.5),
                               [2 * 0.5 ** 1.5, 2 * 1.5 ** 1.5], rtol=1e-15)
    # L_grad = |1 - 0.5| + |3 - 4.5| = 2
    assert bm.gradnorm_loss(g_weighted, [0.5, 4.5]) == 2.0
    # w = (1, 1), raw norms g = (1, 3): G - target = (0.5, -1.5) -> sign (1, -1) * g = (1, -3)
    np.testing.assert_array_equal(bm.gradnorm_weight_grad([1.0, 1.0], [1.0, 3.0], [0.5, 4.5]), [1.0, -3.0])
    # w = (2, 0.5), g = (1, 4): G = (2, 2) on target (2, 1) -> (0, +4)
    np.testing.assert_array_equal(bm.gradnorm_weight_grad([2.0, 0.5], [1.0, 4.0], [2.0, 1.0]), [0.0, 4.0])


def test_gradnorm_renormalise_clips_at_zero():
    # (1.5, -0.2, 0.5) -> clip (1.5, 0, 0.5), sum 2 -> * 3/2
    np.testing.assert_allclose(bm.gradnorm_renormalise([1.5, -0.2, 0.5], 3.0), [2.25, 0.0, 0.75], rtol=1e-15)
    np.testing.assert_array_equal(bm.gradnorm_renormalise([-1.0, -2.0], 2.0), [1.0, 1.0])


# ---- FAMO ---------------------------------------------------------------------------------------
def test_famo_gaps_and_delta():
    np.testing.assert_array_equal(bm.famo_gaps([1.0, 0.5], [0.0, 0.5]), [1.0 + 1e-8, 1e-8])
    # log(e) - log(1) = 1; log 2 - log 1
    np.testing.assert_allclose(bm.famo_delta([math.e, 2.0], [1.0, 1.0]), [1.0, math.log(2.0)], rtol=1e-15)


def test_famo_effective_weights():
    # z = (1/2, 1/2), D = (1, 3): z/D = (1/2, 1/6), sum 2/3 -> (3/4, 1/4)
    np.testing.assert_allclose(bm.famo_effective_weights([0.0, 0.0], [1.0, 3.0]), [0.75, 0.25], rtol=1e-15)
    # z = softmax(log 3, 0) = (3/4, 1/4), D = (1, 3): (3/4, 1/12), sum 5/6 -> (0.9, 0.1)
    np.testing.assert_allclose(bm.famo_effective_weights([math.log(3.0), 0.0], [1.0, 3.0]), [0.9, 0.1],
                               rtol=1e-14)
    # weights grow like 1/D: a task near its minimum takes almost everything
    assert bm.famo_effective_weights([0.0, 0.0], [1e-6, 1.0])[0] > 0.999


def test_famo_logit_grad_by_hand_and_against_autograd():
    # z = (1/2, 1/2), delta = (1, 0): z.delta = 1/2; d = (1/2 * (1 - 1/2), 1/2 * (0 - 1/2))
    np.testing.assert_allclose(bm.famo_logit_grad([0.0, 0.0], [1.0, 0.0]), [0.25, -0.25], rtol=1e-15)
    # the reference code: torch.autograd.grad(softmax(w), w, grad_outputs=delta)
    rng = np.random.default_rng(0)
    logits, delta = rng.normal(size=4), rng.normal(size=4)
    w = torch.tensor(logits, requires_grad=True)
    (expected,) = torch.autograd.grad(torch.softmax(w, -1), w, grad_outputs=torch.tensor(delta))
    np.testing.assert_allclose(bm.famo_logit_grad(logits, delta), expected.numpy(), rtol=1e-12, atol=1e-15)


# ---- DWA ----------------------------------------------------------------------------------------
def test_dwa_raw_weights():
    np.testing.assert_allclose(bm.dwa_raw_weights([1.0, 1.0, 1.0], 2.0), [1.0, 1.0, 1.0], rtol=1e-15)
    # r = (0.8, 1.0), T = 2: K * softmax(0.4, 0.5)
    expected = [2 * p for p in softmax_by_hand(0.4, 0.5)]
    np.testing.assert_allclose(bm.dwa_raw_weights([0.8, 1.0], 2.0), expected, rtol=1e-15)
    assert bm.dwa_raw_weights([0.8, 1.0], 2.0).sum() == pytest.approx(2.0, rel=1e-15)


# ---- uncertainty --------------------------------------------------------------------------------
def test_uncertainty_weights_and_gradient():
    s = [0.0, math.log(2.0)]
    # 1/(2 e^0) = 1/2, 1/(2 * 2) = 1/4; normalised (2/3, 1/3)
    np.testing.assert_allclose(bm.uncertainty_raw_weights(s), [0.5, 0.25], rtol=1e-15)
    np.testing.assert_allclose(bm.uncertainty_weights(s), [2 / 3, 1 / 3], rtol=1e-15)
    # (1 - l e^-s) / 2 with l = (1, 4): (1 - 1)/2 = 0; (1 - 4/2)/2 = -1/2
    np.testing.assert_allclose(bm.uncertainty_grad([1.0, 4.0], s), [0.0, -0.5], rtol=1e-15, atol=1e-16)
    # a zero loss at a very negative s: (1 - 0)/2, not 0 * inf = NaN; weights stay finite
    np.testing.assert_array_equal(bm.uncertainty_grad([0.0], [-1000.0]), [0.5])
    np.testing.assert_allclose(bm.uncertainty_weights([-1000.0, 0.0]), [1.0, 0.0], atol=1e-300)


def test_rlw_weights_are_a_softmax():
    np.testing.assert_allclose(bm.rlw_weights([0.0, math.log(3.0)]), [0.25, 0.75], rtol=1e-15)


# ---- Adam ---------------------------------------------------------------------------------------
def test_adam_two_steps_by_hand():
    lr, b1, b2, eps = 0.025, 0.9, 0.999, 1e-8
    opt = Adam(2, lr=lr)
    p0 = np.array([1.0, 1.0])
    g1, g2 = np.array([-1.0, 3.0]), np.array([2.0, -2.0])
    p1 = opt.step(p0, g1)
    # step 1: m = 0.1 g, v = 0.001 g^2, so the step is lr * g / (|g| + eps), about lr * sign(g)
    m1, v1 = (1 - b1) * g1, (1 - b2) * g1 ** 2
    np.testing.assert_allclose(p1, p0 - lr / (1 - b1) * m1 / (np.sqrt(v1) / math.sqrt(1 - b2) + eps), rtol=1e-15)
    np.testing.assert_allclose(p1, [1 + 0.025, 1 - 0.025], rtol=1e-9)
    p2 = opt.step(p1, g2)
    # step 2: m = (-0.1 + 0.1 * (2 + 0.1), 0.3 + 0.1 * (-2 - 0.3)) = (0.11, 0.07)
    #         v = (0.999 * 0.001 + 0.001 * 4, 0.999 * 0.009 + 0.001 * 4)
    m2, v2 = np.array([0.11, 0.07]), np.array([0.004999, 0.012991])
    expected = p1 - lr / (1 - b1 ** 2) * m2 / (np.sqrt(v2) / math.sqrt(1 - b2 ** 2) + eps)
    np.testing.assert_allclose(p2, expected, rtol=1e-14)
    assert opt.steps.tolist() == [2, 2]


def test_adam_matches_torch_with_weight_decay():
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(6, 3))
    ours = Adam(3, lr=0.025, weight_decay=0.01)
    p = np.array([0.3, -0.2, 0.0])
    w = torch.tensor(p.copy(), requires_grad=True)
    ref = torch.optim.Adam([w], lr=0.025, weight_decay=0.01)
    for g in grads:
        p = ours.step(p, g)
        w.grad = torch.tensor(g)
        ref.step()
    np.testing.assert_allclose(p, w.detach().numpy(), rtol=1e-13, atol=1e-16)


def test_adam_mask_leaves_other_coordinates_alone():
    opt = Adam(3, lr=0.1)
    p = opt.step(np.zeros(3), np.array([1.0, 5.0, -1.0]), mask=np.array([True, False, True]))
    assert p[1] == 0.0 and opt.steps.tolist() == [1, 0, 1] and opt.m[1] == 0.0 and opt.v[1] == 0.0
    p = opt.step(p, np.array([1.0, 1.0, 1.0]))
    # coordinate 1 takes its FIRST step now (bias correction of step 1): 0 - 0.1 * 1 / (1 + eps)
    assert p[1] == pytest.approx(-0.1 / (1 + 1e-8), rel=1e-14)
    assert opt.steps.tolist() == [2, 1, 2]
