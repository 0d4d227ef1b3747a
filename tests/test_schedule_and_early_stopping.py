import math

import pytest

from mft.early_stopping import EarlyStopping, mean_loss_ratio
from mft.schedule import lr_at


def test_cosine_schedule_with_warmup_and_floor():
    kw = dict(lr=1.0, min_lr=0.1, warmup_steps=4, total_steps=14)
    assert [lr_at(s, **kw) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, **kw) == 1.0
    assert lr_at(9, **kw) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cos(pi/2) = 0
    assert lr_at(14, **kw) == pytest.approx(0.1)
    assert lr_at(100, **kw) == pytest.approx(0.1)


def test_mean_loss_ratio():
    assert mean_loss_ratio([1.0, 3.0], [2.0, 2.0]) == 1.0


def test_early_stopping_patience_and_state():
    es = EarlyStopping(patience=2, min_delta=0.01)
    assert es.observe(10, 1.0) and es.best_step == 10
    assert not es.observe(20, 0.995)          # within min_delta: not an improvement
    assert not es.should_stop
    state = es.state_dict()
    assert not es.observe(30, math.nan)       # NaN never improves
    assert es.should_stop
    fresh = EarlyStopping()
    fresh.load_state_dict(state)
    assert (fresh.best, fresh.best_step, fresh.bad_evaluations, fresh.patience) == (1.0, 10, 1, 2)


def test_patience_zero_never_stops():
    es = EarlyStopping(patience=0)
    for step in range(10):
        es.observe(step, 5.0)
    assert not es.should_stop
