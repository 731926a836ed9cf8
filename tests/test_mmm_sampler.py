"""The flat-vector NUTS path (revline.models.mmm.sampler) and the ArviZ-free diagnostics.

What must hold: the flattened potential is NumPyro's own potential of the model (same posterior,
Jacobians included) for every kind of site; draws map back to the right supports; R-hat and bulk
ESS equal ArviZ's; a NUTS fit is reproducible with its seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.models.mmm.diagnostics import ess_bulk, rhat


def _ar1(seed: int, chains: int, draws: int, phi: float, shift: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(chains, draws))
    x = np.zeros_like(e)
    for t in range(draws):
        x[:, t] = phi * (x[:, t - 1] if t else 0.0) + e[:, t]
    x[0] += shift  # a chain off the others: R-hat must see it
    return x


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), chains=st.integers(1, 4), draws=st.integers(4, 400),
       phi=st.floats(-0.5, 0.99), shift=st.floats(0, 2), ties=st.booleans())
def test_diagnostics_equal_arviz(seed, chains, draws, phi, shift, ties):
    az = pytest.importorskip("arviz")
    x = _ar1(seed, chains, draws, phi, shift)
    if ties:
        x = np.round(x)
    assert ess_bulk(x) == pytest.approx(float(az.ess(x, method="bulk")), rel=1e-9, nan_ok=True)
    if chains > 1:
        assert rhat(x) == pytest.approx(float(az.rhat(x)), rel=1e-9, nan_ok=True)


def _world(n: int = 60):
    """A model with every kind of site: delayed adstock (theta), Hill (slope, kappa), trend,
    seasonality, a rescaled control prior and both calibration terms."""
    import jax.numpy as jnp

    from revline.models.mmm.calibration import lift_arrays, make_calibration, roi_arrays
    from revline.models.mmm.model import ModelSpec, build_model, compute_scales, make_design

    rng = np.random.default_rng(1)
    dates = pd.date_range("2023-01-02", periods=n, freq="W-MON")
    spend = rng.gamma(2.0, 1000.0, (n, 2))
    ctrl = np.arange(n, dtype=float)[:, None]
    y = 5000 + spend @ [0.5, 0.3] + rng.normal(0, 200, n)
    spec = ModelSpec(adstock="delayed", saturation="hill", yearly_seasonality=1, trend=True, l_max=4)
    scales = compute_scales(spend, y, ctrl)
    design = make_design(dates, spend, ctrl, spec, scales)
    lift = pd.DataFrame({"channel": ["a"], "start": [dates[10]], "end": [dates[20]], "lift": [3000.0], "sd": [500.0]})
    calib = make_calibration(lift_arrays(lift, pd.Series(dates), ["a", "b"], scales.target),
                             roi_arrays({"a": 0.5}, ["a", "b"], spend.sum(axis=0), scales.target))
    model = build_model(spec, ["a", "b"], ["t"], scales.control)
    return model, (design, jnp.asarray(y / scales.target, dtype=jnp.float32), calib)


def test_flat_potential_is_numpyros_potential():
    import jax
    from numpyro.infer import init_to_median
    from numpyro.infer.util import initialize_model

    from revline.models.mmm.sampler import constrain, flatten

    model, args = _world()
    info = initialize_model(jax.random.PRNGKey(0), model, model_args=args, init_strategy=init_to_median)
    post = flatten(model, args)
    reference = info.param_info.z
    assert post.size == sum(int(np.size(v)) for v in reference.values())
    rng = np.random.default_rng(0)
    qs = rng.uniform(-1.5, 1.5, (5, post.size)).astype(np.float32)
    for q in qs:
        z = post.unravel(q)
        assert set(z) == set(reference) and all(z[k].shape == reference[k].shape for k in z)
        assert float(post.potential(q)) == pytest.approx(float(info.potential_fn(z)), rel=1e-5)
    drawn = constrain(post, qs.reshape(1, 5, -1))
    for i, q in enumerate(qs):
        expected = info.postprocess_fn(post.unravel(q))
        for k, v in drawn.items():
            np.testing.assert_allclose(v[0, i], np.asarray(expected[k]), rtol=1e-5)
    assert ((drawn["adstock_alpha"] > 0) & (drawn["adstock_alpha"] < 1)).all() and (drawn["sigma"] > 0).all()


def test_start_is_prior_mean_plus_bounded_jitter():
    import jax.numpy as jnp

    from revline.models.mmm.sampler import _keys_and_starts, flatten

    model, args = _world()
    post = flatten(model, args)
    center = np.asarray(post.center())
    mean = post.unravel(jnp.asarray(center))
    np.testing.assert_allclose(np.asarray(post.transforms["adstock_alpha"](mean["adstock_alpha"])), 0.25, rtol=1e-5)
    # HalfNormal(2) baseline level: its mean is 2 * sqrt(2 / pi)
    np.testing.assert_allclose(np.asarray(post.transforms["intercept"](mean["intercept"])), 2 * np.sqrt(2 / np.pi),
                               rtol=1e-5)
    z, keys = _keys_and_starts(post, 3, 2)
    assert z.shape == (2, post.size) and keys.shape[0] == 2
    assert np.all(np.abs(np.asarray(z) - center) <= 1.0) and not np.allclose(z[0], z[1])


@pytest.mark.slow  # compiles one NUTS program (a few seconds; the second fit reuses it)
def test_nuts_fit_is_reproducible_and_reports_convergence():
    from revline.models.mmm.data import Roles, attach_roles
    from revline.models.mmm.fit import fit
    from revline.models.mmm.model import ModelSpec

    rng = np.random.default_rng(2)
    n = 52
    dates = pd.date_range("2023-01-02", periods=n, freq="W-MON")
    spend = rng.gamma(2.0, 1000.0, n)
    y = 3000 + 400 * np.tanh(spend / 2000) + rng.normal(0, 50, n)
    frame = attach_roles(pd.DataFrame({"week": dates, "tv": spend, "pipeline": y}), Roles("week", "pipeline", ("tv",)))
    kw = dict(spec=ModelSpec(l_max=4), chains=2, tune=150, draws=150, seed=5)
    a, b = fit(frame, **kw), fit(frame, **kw)
    for k in a.samples:
        assert a.samples[k].shape[:2] == (2, 150)
        np.testing.assert_array_equal(a.samples[k], b.samples[k])
    assert np.isfinite(a.run_info["max_r_hat"]) and a.run_info["min_ess_bulk"] > 0
    assert a.run_info["divergences"] >= 0 and a.run_info["mean_leapfrog_steps"] >= 1
