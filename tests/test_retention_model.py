"""The renewal model and its sBG baseline on data drawn from known parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from revline.models.retention.model import PRIOR_RENEWAL_RATE, SBG, RenewalModel, log_loss


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_logistic_recovers_its_parameters(seed):
    rng = np.random.default_rng(seed)
    touches = rng.poisson(rng.gamma(1.0, 8.0, 3000))
    x = np.log1p(touches)
    a, b = 1.0, 0.6  # log-odds at zero touches, per log(1 + touch)
    won = rng.random(len(x)) < expit(a + b * x)
    m = RenewalModel.fit(touches, won, seed=seed)
    mean, lo, hi = m.slope_per_log_touch()
    assert lo < b < hi or abs(mean - b) < 0.1
    p = m.predict(touches)
    assert np.abs(p - expit(a + b * x)).mean() < 0.02
    assert log_loss(p, won) < log_loss(np.full(len(won), won.mean()), won)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40))
def test_without_a_covariate_the_posterior_lies_between_prior_and_data(renewed, lost):
    won = np.array([True] * renewed + [False] * lost)
    m = RenewalModel.fit(np.zeros(len(won)), won)
    p = float(m.predict(np.zeros(1))[0])
    draws = m.p_draws(np.zeros(1))[0]
    assert 0 < np.quantile(draws, 0.1) <= p <= np.quantile(draws, 0.9) < 1
    # the posterior median (the mode, under Laplace) lies between the prior's centre and the data's rate
    median = float(expit(m.mean[0]))
    assert abs(float(np.median(draws)) - median) < 0.01
    if len(won):
        lo, hi = sorted((won.mean(), PRIOR_RENEWAL_RATE))
        assert lo - 1e-9 <= median <= hi + 1e-9
    else:
        assert median == pytest.approx(PRIOR_RENEWAL_RATE)


def test_sbg_recovers_alpha_and_beta_from_cohort_data():
    rng = np.random.default_rng(7)
    alpha, beta = 1.2, 4.0
    theta = rng.beta(alpha, beta, 20_000)  # each customer's churn probability
    t_rows, y_rows = [], []
    alive = np.ones(len(theta), bool)
    for t in range(1, 6):  # five renewals per cohort; churned customers leave
        churn = rng.random(len(theta)) < theta
        idx = np.flatnonzero(alive)
        t_rows.append(np.full(len(idx), t))
        y_rows.append(~churn[idx])
        alive &= ~churn
    m = SBG.fit(np.concatenate(t_rows), np.concatenate(y_rows))
    assert m.alpha == pytest.approx(alpha, rel=0.15) and m.beta == pytest.approx(beta, rel=0.15)
    assert m.survival(1) == pytest.approx(beta / (alpha + beta), rel=0.02)
    assert m.p_renew(np.array([1, 5]))[1] > m.p_renew(np.array([1, 5]))[0]  # the churn-prone leave first
