"""Identifiability warnings from the spend itself (issue #16 item 3): a channel whose spend barely
varies, two channels that move together, a channel that moves with time; each with what to do."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numpyro")

from revline.models.mmm.diagnostics import CORR_MAX, CV_MIN, data_warnings  # noqa: E402

N = 104


def _spend(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Three independent, well-varying channels (flighted, pulsed, noisy always-on)."""
    rng = np.random.default_rng(seed)
    flighted = rng.gamma(2.0, 5000, N) * (rng.random(N) > 0.4)
    pulsed = np.where(np.arange(N) % 8 < 2, 20_000.0, 1_000.0) * rng.uniform(0.7, 1.3, N)
    noisy = rng.gamma(1.5, 3000, N)
    return np.column_stack([flighted, pulsed, noisy]), ["tv", "events", "search"]


def test_independent_varying_channels_raise_nothing():
    x, names = _spend()
    assert data_warnings(x, names) == []


def test_a_steady_channel_is_flagged_with_a_lift_test():
    x, names = _spend()
    rng = np.random.default_rng(1)
    x[:, 2] = 10_000 * rng.uniform(0.95, 1.05, N)  # always-on, CV ~0.03
    w = data_warnings(x, names)
    assert len(w) == 1 and w[0].startswith("search's weekly spend barely varies")
    assert "lift test" in w[0] and "--priors" in w[0]
    cv = x[:, 2].std() / x[:, 2].mean()
    assert f"{cv:.2f}" in w[0] and cv < CV_MIN


def test_collinear_channels_are_flagged_with_a_holdout():
    x, names = _spend()
    rng = np.random.default_rng(2)
    x[:, 2] = 0.5 * x[:, 0] + rng.normal(0, 300, N)  # search bought in step with tv
    w = data_warnings(x, names)
    pair = [m for m in w if "move together" in m]
    assert len(pair) == 1 and pair[0].startswith("tv and search") and "holdout" in pair[0]
    r = np.corrcoef(x[:, 0], x[:, 2])[0, 1]
    assert abs(r) > CORR_MAX and f"{r:.2f}" in pair[0]


def test_a_channel_that_grows_with_time_is_flagged():
    x, names = _spend()
    rng = np.random.default_rng(3)
    x[:, 1] = 1_000 + 200 * np.arange(N) + rng.normal(0, 500, N)
    w = [m for m in data_warnings(x, names) if "moves with time" in m]
    assert len(w) == 1 and w[0].startswith("events's spend") and "holdout" in w[0]


def test_thresholds_are_parameters_and_a_dark_channel_is_no_error():
    x, names = _spend()
    x[:, 1] = 0.0  # never bought: no variance, no correlation, no CV (nothing to say, nothing to crash on)
    assert data_warnings(x, names) == []
    assert any("barely varies" in m for m in data_warnings(x, names, cv_min=10.0))
