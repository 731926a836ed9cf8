"""The default priors pass their own prior predictive check on the demo companies.

Why a test: with PyMC-Marketing's HalfNormal(2) on every channel coefficient, the channels' prior
total grows with the channel count (each coefficient is a channel's contribution at saturation in
max|y| units), and on the demo's 10 channels the prior predictive outcome started at ~2.5x the
largest observed week: every default demo fit printed "the priors cannot produce the observed
outcome" (docs/mmm.md, "Predictive checks")."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40))
def test_the_channels_prior_total_does_not_grow_with_their_count(n_channels):
    from revline.models.mmm.priors import BETA_PRIOR_SIGMA, BETA_PRIOR_TOTAL, resolve_priors

    sigma = resolve_priors({}, np.ones(n_channels))["saturation_beta"]["sigma"]
    assert 0 < sigma <= BETA_PRIOR_SIGMA
    assert n_channels * sigma <= BETA_PRIOR_TOTAL + 1e-12  # the sum of the HalfNormal scales is capped
    if n_channels <= 2:  # PyMC-Marketing's prior, as-is, where its quick start lives
        assert sigma == BETA_PRIOR_SIGMA


def test_a_users_coefficient_prior_is_kept():
    from revline.models.mmm.priors import resolve_priors

    spend = np.ones(10)
    assert resolve_priors({"saturation_beta": {"sigma": 2.0}}, spend)["saturation_beta"]["sigma"] == 2.0
    per_name = {"tv": 0.5, "*": 1.0}
    assert resolve_priors({"saturation_beta": {"sigma": per_name}}, spend)["saturation_beta"]["sigma"] == per_name
    lognormal = {"dist": "LogNormal", "mu": -1.0, "sigma": 0.5}
    assert resolve_priors({"saturation_beta": lognormal}, spend)["saturation_beta"] == lognormal


@pytest.mark.slow  # builds two tiny demo companies (~10 s each) and compiles a MAP fit per company
@pytest.mark.parametrize("config", ["default", "long_cycle"])
def test_the_demo_passes_its_prior_predictive_check(simulated_company, config):
    """The default spec on the demo's new-business pipeline (what `revline mmm fit` fits): the
    priors' 94 % predictive range covers the observed weeks, no warning. The same data with the
    coefficient prior of every channel at HalfNormal(2) fail the check: that was the cause."""
    from revline.models.mmm.data import weekly_from_store
    from revline.models.mmm.diagnostics import predictive_checks
    from revline.models.mmm.fit import fit
    from revline.models.mmm.spec import ModelSpec, SamplerConfig
    from revline.store import connect

    db, _, _ = simulated_company(config=config, size="tiny")
    con = connect(db, read_only=True)
    try:
        frame = weekly_from_store(con, "pipeline", "new_business", 0)
    finally:
        con.close()
    assert frame.shape[1] - 1 >= 8  # the demo's many channels are what made the old prior too large
    # the prior check does not read the posterior: a short MAP fit gives the design and scales
    f = fit(frame, ModelSpec(), SamplerConfig(method="map", svi_steps=50))
    checks = predictive_checks(f)
    assert checks["prior_covers_observed"], checks
    assert checks["prior_low"] <= checks["observed_min"] and checks["observed_max"] <= checks["prior_high"]
    assert not any("priors cannot produce" in w for w in checks["warnings"])
    # still weakly informative: room far above the largest week
    assert checks["prior_high"] > 3 * checks["observed_max"]
    old = predictive_checks(replace(f, spec=replace(f.spec, priors={"saturation_beta": {"sigma": 2.0}})))
    assert not old["prior_covers_observed"] and old["prior_low"] > checks["observed_max"]
