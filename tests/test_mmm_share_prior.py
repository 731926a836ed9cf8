"""The channel-share prior (ModelSpec(media_prior="share")): what it samples, how the coefficient
follows from it, and that old fits and coefficient priors keep meaning what they meant."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.models.mmm import ModelSpec


def test_the_share_prior_scale_is_resolved_per_channel():
    from revline.models.mmm.priors import SHARE_PRIOR_SCALE, resolve_priors

    for spend in (np.array([300.0, 100.0]), np.full(10, 50.0)):
        sigma = resolve_priors({}, spend)["channel_share"]["sigma"]
        # a priori the channels' shares of the outcome add up to 0.8 * sigma * channels (HalfNormal
        # means), the same 40 % whatever the number of channels
        assert 0.8 * sigma * len(spend) == pytest.approx(0.8 * SHARE_PRIOR_SCALE)
    # a user's prior is the user's: no data-dependent rewrite
    own = resolve_priors({"channel_share": {"sigma": 0.2}}, np.array([300.0, 100.0]))
    assert own["channel_share"]["sigma"] == 0.2


def test_priors_for_the_other_parametrisation_are_refused_and_old_fits_keep_theirs():
    with pytest.raises(ValueError, match="media_prior='coefficient'"):
        ModelSpec(media_prior="share", priors={"saturation_beta": {"sigma": 1.0}})
    with pytest.raises(ValueError, match="media_prior='share'"):
        ModelSpec(media_prior="coefficient", priors={"channel_share": {"sigma": 0.1}})
    old = ModelSpec(media_prior="coefficient").to_dict()
    del old["media_prior"]  # a spec.json written before the option existed
    assert ModelSpec.from_dict(old).media_prior == "coefficient"
    assert ModelSpec.from_dict(ModelSpec().to_dict()).media_prior == ModelSpec().media_prior


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_the_derived_coefficient_gives_each_channel_exactly_its_share(seed):
    from revline.models.mmm.posterior import channel_draws, with_beta

    rng = np.random.default_rng(seed)
    spec = ModelSpec(media_prior="share")
    x = rng.gamma(2.0, 0.5, (40, 3))
    x = (x / x.max(axis=0)).astype(np.float32)
    params = {"adstock_alpha": rng.uniform(0.05, 0.9, (5, 3)).astype(np.float32),
              "saturation_lam": rng.uniform(0.3, 8.0, (5, 3)).astype(np.float32),
              "channel_share": rng.uniform(0.0, 0.5, (5, 3)).astype(np.float32)}
    y_total = float(rng.uniform(5, 40))
    out = with_beta(spec, params, x, y_total)
    shares = channel_draws(spec, out, x).sum(axis=1) / y_total
    np.testing.assert_allclose(shares, params["channel_share"], rtol=2e-4, atol=1e-6)
    assert with_beta(ModelSpec(media_prior="coefficient"), {"saturation_beta": 1.0}, x, y_total) == {"saturation_beta": 1.0}


def test_chains_start_at_the_data_level_not_the_prior_mean():
    from revline.models.mmm.fit import _starts

    y = np.array([0.2, 0.4, 0.6, 1.0])
    s = _starts(y, ModelSpec(media_prior="share"))
    assert s is not None and 0 < s["intercept"] < y.mean() and s["sigma"] == pytest.approx(y.std())
    assert _starts(y, ModelSpec(media_prior="coefficient")) is None  # measured with the share prior only
