"""Fast tests of the mix model: transforms, data readers, priors, SVI fit, report, optimiser,
scenarios, calibration and CLI. The NUTS validations live in test_mmm_validation.py (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.models.mmm import transforms as tf
from revline.models.mmm.data import MMMDataError, Roles, attach_roles, from_csv, linear_time_controls, weekly_from_store
from revline.models.mmm.model import ModelSpec
from revline.models.mmm.priors import PriorError, build_distribution, merge_priors

PYMC_CSV = "/work/shared/data/pymc_marketing/mmm_example.csv"


# ---------------------------------------------------------------- transforms
def test_geometric_weights_match_definition():
    w = np.asarray(tf.geometric_weights(np.array([0.5]), l_max=4))[:, 0]
    raw = 0.5 ** np.arange(4)
    np.testing.assert_allclose(w, raw / raw.sum(), rtol=1e-6)


def test_adstock_convolution_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.random((30, 2)).astype(np.float32)
    alpha = np.array([0.3, 0.7], dtype=np.float32)
    got = np.asarray(tf.geometric_adstock(x, alpha, l_max=5, normalize=False))
    for c in range(2):
        want = np.convolve(x[:, c], alpha[c] ** np.arange(5))[:30]
        np.testing.assert_allclose(got[:, c], want, rtol=1e-5)


def test_lag_shifts_the_kernel():
    x = np.zeros((12, 1), dtype=np.float32)
    x[0] = 1.0
    out = np.asarray(tf.geometric_adstock(x, np.array([0.5]), l_max=3, lag=4))[:, 0]
    assert np.all(out[:4] == 0) and out[4] > out[5] > out[6] > 0 and np.all(out[7:] == 0)


def test_delayed_kernel_peaks_at_theta():
    w = np.asarray(tf.delayed_weights(np.array([0.5]), np.array([3.0]), l_max=10))[:, 0]
    assert int(np.argmax(w)) == 3
    assert w.sum() == pytest.approx(1.0, rel=1e-5)


def test_saturation_half_points():
    assert float(tf.logistic_saturation(np.log(3.0) / 2.0, 2.0)) == pytest.approx(0.5, rel=1e-5)
    assert float(tf.hill_saturation(0.7, 2.5, 0.7)) == pytest.approx(0.5, rel=1e-5)
    assert float(tf.hill_saturation(0.0, 2.5, 0.7)) == 0.0


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.0, 0.95), l_max=st.integers(1, 10), lag=st.integers(0, 5),
       spend=st.lists(st.floats(0, 1e3), min_size=1, max_size=20))
def test_normalised_adstock_conserves_spend(alpha, l_max, lag, spend):
    """With a long enough tail, carry-over only moves spend in time, it never creates or loses it."""
    x = np.array(spend + [0.0] * (l_max + lag), dtype=np.float64)[:, None]
    out = np.asarray(tf.geometric_adstock(x.astype(np.float32), np.array([alpha], dtype=np.float32), l_max, lag))
    assert out.sum() == pytest.approx(x.sum(), rel=1e-4, abs=1e-3)
    assert np.all(out >= -1e-6)


@settings(max_examples=30, deadline=None)
@given(lam=st.floats(0.1, 10), a=st.floats(0, 5), b=st.floats(0, 5))
def test_logistic_saturation_is_monotone_and_bounded(lam, a, b):
    lo, hi = sorted((a, b))
    ya, yb = float(tf.logistic_saturation(lo, lam)), float(tf.logistic_saturation(hi, lam))
    assert 0.0 <= ya <= yb + 1e-6 <= 1.0 + 1e-6


@pytest.mark.slow  # importing PyMC costs ~10 s
def test_transforms_match_pymc_marketing():
    """The peer's own implementation, same inputs (PyTensor, evaluated)."""
    pmm = pytest.importorskip("pymc_marketing.mmm.transformers")
    from pytensor.xtensor import as_xtensor

    rng = np.random.default_rng(1)
    x = rng.random(40)
    xt = as_xtensor(x, dims=("date",))
    want = pmm.geometric_adstock(xt, alpha=0.4, l_max=8, normalize=True, dim="date").eval()
    got = np.asarray(tf.geometric_adstock(x[:, None].astype(np.float32), np.array([0.4], dtype=np.float32), 8))[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    want = pmm.delayed_adstock(xt, alpha=0.5, theta=2, l_max=8, normalize=True, dim="date").eval()
    got = np.asarray(tf.delayed_adstock(x[:, None].astype(np.float32), np.array([0.5], dtype=np.float32),
                                        np.array([2.0], dtype=np.float32), 8))[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(tf.logistic_saturation(x, 3.0)),
                               pmm.logistic_saturation(xt, lam=3.0).eval(), rtol=1e-5, atol=1e-6)
    want = pmm.hill_function(xt, slope=2.0, kappa=0.5).eval()
    np.testing.assert_allclose(np.asarray(tf.hill_saturation(x, 2.0, 0.5)), want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- data
def test_from_csv_reads_pymc_example():
    df = from_csv(PYMC_CSV, "date_week", "y", ["x1", "x2"], ["event_1", "event_2", "t"])
    assert len(df) == 179 and df.attrs["mmm"]["channel_cols"] == ["x1", "x2"]
    # `t` is a week index: the same regressor as the model's own trend, which the CLI then drops
    assert linear_time_controls(df) == ["t"]


def _write(tmp_path, frame: pd.DataFrame):
    p = tmp_path / "weekly.csv"
    frame.to_csv(p, index=False)
    return p


def _weekly(n=20):
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="W-MON").strftime("%Y-%m-%d"),
                         "y": np.arange(n) + 100.0, "tv": np.arange(n) % 3 + 1.0})


def test_from_csv_names_file_row_and_field(tmp_path):
    bad = _weekly().astype({"tv": object})
    bad.loc[4, "tv"] = "lots"
    p = _write(tmp_path, bad)
    with pytest.raises(MMMDataError, match=r"weekly\.csv: row 5, field 'tv': not a number"):
        from_csv(p, "date", "y", ["tv"])
    with pytest.raises(MMMDataError, match=r"missing column\(s\) \['radio'\]"):
        from_csv(_write(tmp_path, _weekly()), "date", "y", ["radio"])
    gap = _weekly().drop(index=7)
    with pytest.raises(MMMDataError, match=r"row 8, field 'date': dates must be consecutive weeks"):
        from_csv(_write(tmp_path, gap), "date", "y", ["tv"])
    neg = _weekly()
    neg.loc[2, "tv"] = -5
    with pytest.raises(MMMDataError, match=r"row 3, field 'tv': negative spend"):
        from_csv(_write(tmp_path, neg), "date", "y", ["tv"])


def test_weekly_from_store_pipeline_and_revenue():
    from revline.store import connect

    con = connect(":memory:")
    con.execute("""INSERT INTO spend (date, channel, campaign_id, spend) VALUES
        ('2024-01-01', 'tv', '', 100), ('2024-01-03', 'tv', 'c2', 50), ('2024-01-15', 'paid_search', '', 30)""")
    con.execute("""INSERT INTO opportunities (opportunity_id, revenue_type, amount, created_at, closed_at, is_closed, is_won)
        VALUES ('o1', 'new_business', 1000, '2024-01-02 10:00', '2024-01-16', TRUE, TRUE),
               ('o2', 'renewal', 500, '2024-01-09', NULL, FALSE, FALSE),
               ('o3', 'new_business', 200, '2024-01-10', '2024-01-17', TRUE, FALSE)""")
    pipe = weekly_from_store(con, "pipeline", "new_business")
    assert list(pipe["week"].dt.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-01-08", "2024-01-15"]
    assert pipe["tv"].tolist() == [150.0, 0.0, 0.0] and pipe["paid_search"].tolist() == [0.0, 0.0, 30.0]
    assert pipe["pipeline"].tolist() == [1000.0, 200.0, 0.0]
    assert weekly_from_store(con, "pipeline", None)["pipeline"].tolist() == [1000.0, 700.0, 0.0]
    assert weekly_from_store(con, "revenue", "new_business")["revenue"].tolist() == [0.0, 0.0, 1000.0]
    with pytest.raises(MMMDataError, match="no rows for channel"):
        weekly_from_store(con, channels=["radio"])


# ---------------------------------------------------------------- priors
def test_prior_overrides_per_channel():
    pri = merge_priors({"saturation_beta": {"sigma": {"tv": 0.5, "*": 2.0}}})
    d = build_distribution("saturation_beta", pri["saturation_beta"], ["tv", "search"])
    np.testing.assert_allclose(np.asarray(d.base_dist.scale if hasattr(d, "base_dist") else d.scale), [0.5, 2.0])
    with pytest.raises(PriorError, match="unknown site"):
        merge_priors({"betaa": {"dist": "Normal"}})
    with pytest.raises(PriorError, match="unknown name"):
        build_distribution("saturation_beta", {"dist": "HalfNormal", "sigma": {"radio": 1}}, ["tv"])
    with pytest.raises(ValueError):
        ModelSpec(priors={"adstock_alpha": {"dist": "Nope"}})


def test_priors_from_toml(tmp_path):
    from revline.models.mmm.priors import load_priors

    p = tmp_path / "priors.toml"
    p.write_text('[adstock_alpha]\ndist = "Beta"\nalpha = 2.0\nbeta = 2.0\n')
    assert merge_priors(load_priors(p))["adstock_alpha"] == {"dist": "Beta", "alpha": 2.0, "beta": 2.0}


# ---------------------------------------------------------------- a synthetic world with known truth
# Every fit below uses frames of one length, one spec and one SVI length: a fit costs mostly XLA
# compilation (hundreds of small eager programs plus the optimiser loop), and equal shapes let
# later fits reuse what the first one compiled (in-process and via fit()'s persistent cache).
N_WEEKS = 104
SPEC = ModelSpec(yearly_seasonality=1, trend=False)  # the synthetic world has no trend (ModelSpec has one by default)
SVI = dict(method="svi", draws=400, svi_steps=2000)
TRUE = {"alpha": np.array([0.6, 0.2]), "lam": np.array([2.0, 4.0]), "beta": np.array([0.3, 0.2])}


def _synthetic(n=N_WEEKS, seed=3):
    """Two channels with known adstock/saturation, a seasonal baseline and noise."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=n, freq="W-MON")
    spend = np.column_stack([rng.gamma(2.0, 5000, n) * (rng.random(n) > 0.3), rng.gamma(3.0, 2000, n)])
    xs = spend / spend.max(axis=0)
    ad = np.asarray(tf.geometric_adstock(xs.astype(np.float32), TRUE["alpha"].astype(np.float32), 8))
    contrib = TRUE["beta"] * np.tanh(TRUE["lam"] * ad / 2)
    base = 0.4 + 0.05 * np.sin(2 * np.pi * dates.dayofyear / 365.25)
    y = (base + contrib.sum(axis=1) + rng.normal(0, 0.02, n)) * 100_000
    frame = pd.DataFrame({"week": dates, "tv": spend[:, 0], "search": spend[:, 1], "pipeline": y})
    truth = contrib.sum(axis=0) * 100_000 * (y.max() / y.max())
    return attach_roles(frame, Roles("week", "pipeline", ("tv", "search"))), truth


@pytest.fixture(scope="module")
def svi_fit():
    from revline.models.mmm.fit import fit

    frame, truth = _synthetic()
    return fit(frame, spec=SPEC, seed=0, **SVI), truth


def test_svi_recovers_known_contributions(svi_fit):
    from revline.models.mmm.report import contributions

    f, truth = svi_fit
    c = contributions(f).set_index("channel")
    for j, ch in enumerate(["tv", "search"]):
        assert c.loc[ch, "contribution"] == pytest.approx(truth[j], rel=0.15)
        assert c.loc[ch, "contribution_low"] <= c.loc[ch, "contribution"] <= c.loc[ch, "contribution_high"]
    assert (c["roi"] > 0).all() and (c["mroi"] < c["roi"]).all()  # concave curves: next dollar buys less


def test_save_load_roundtrip(svi_fit, tmp_path):
    from revline.models.mmm.fit import MMMFit
    from revline.models.mmm.report import contributions

    f, _ = svi_fit
    g = MMMFit.load(f.save(tmp_path / "fit"))
    assert g.channels == f.channels and g.spec == f.spec
    pd.testing.assert_frame_equal(contributions(g), contributions(f))


def test_map_is_reproducible_with_seed():
    from revline.models.mmm.fit import fit

    frame, _ = _synthetic()
    a = fit(frame, spec=SPEC, method="map", seed=7, svi_steps=SVI["svi_steps"])
    b = fit(frame, spec=SPEC, method="map", seed=7, svi_steps=SVI["svi_steps"])
    for k in a.samples:
        np.testing.assert_array_equal(a.samples[k], b.samples[k])


def test_curves_and_figures(svi_fit):
    from revline.models.mmm import figures
    from revline.models.mmm.report import adstock_curves, decomposition, fit_metrics, response_curves

    f, _ = svi_fit
    rc = response_curves(f, [0.0, 0.5, 1.0, 2.0], max_draws=200)
    for _, g in rc.groupby("channel"):
        assert g["contribution"].iloc[0] == 0.0 and g["contribution"].is_monotonic_increasing
    ad = adstock_curves(f, max_draws=200)
    assert np.allclose(ad.groupby("channel")["weight"].sum(), 1.0, atol=1e-4)
    assert ad[ad.channel == "tv"]["weight"].iloc[1] > ad[ad.channel == "search"]["weight"].iloc[1]  # tv carries more
    dec = decomposition(f, max_draws=200)
    np.testing.assert_allclose(dec[["baseline", "tv", "search"]].sum(axis=1), dec["fitted"], rtol=1e-3)
    parts = dec[["baseline:intercept", "baseline:seasonality", "baseline:floor"]].sum(axis=1)
    np.testing.assert_allclose(parts, dec["baseline"], rtol=1e-3)
    assert fit_metrics(f)["r2"] > 0.8
    figs = figures.all_figures(f)
    assert set(figs) == {"contributions", "roi", "response_curves", "adstock", "fit", "decomposition"}
    assert all(len(fig.data) > 0 for fig in figs.values())


# ---------------------------------------------------------------- the decomposition adds up
def _random_world(seed: int, level: float, slope: float, noise: float) -> pd.DataFrame:
    """A small weekly data set: three channels, a baseline that may be ~0 or fall steeply, noise."""
    rng = np.random.default_rng(seed)
    n = 52
    dates = pd.date_range("2023-01-02", periods=n, freq="W-MON")
    spend = rng.gamma(2.0, 1000.0, (n, 3)) * (rng.random((n, 3)) > 0.25)
    xs = spend / spend.max(axis=0)
    beta = rng.uniform(0.0, 0.4, 3)
    contrib = beta * np.tanh(rng.uniform(1, 5, 3) * xs / 2)
    base = np.maximum(level + slope * np.linspace(0, 1, n), 0.0)
    y = np.maximum(base + contrib.sum(axis=1) + rng.normal(0, noise, n), 0.0) * 1000.0
    frame = pd.DataFrame({"week": dates, "a": spend[:, 0], "b": spend[:, 1], "c": spend[:, 2], "y": y})
    return attach_roles(frame, Roles("week", "y", ("a", "b", "c")))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), intercept=st.floats(0.0, 3.0), trend=st.floats(-5.0, 5.0),
       season=st.floats(-3.0, 3.0), baseline=st.sampled_from(["additive", "multiplicative"]))
def test_components_baseline_never_negative(seed, intercept, trend, season, baseline):
    """For any parameter values the priors allow (the baseline parts summing far below zero
    included): baseline >= 0 in every week and baseline + channels = mu exactly."""
    from revline.models.mmm.model import Scales, components, make_design

    rng = np.random.default_rng(seed)
    spec = ModelSpec(yearly_seasonality=1, trend=True, baseline=baseline)
    spend = rng.gamma(2.0, 100.0, (30, 2))
    design = make_design(pd.date_range("2024-01-01", periods=30, freq="W-MON"), spend, np.zeros((30, 0)), spec,
                         Scales(spend.max(axis=0), 1.0))
    params = {"intercept": np.float32(intercept), "trend": np.float32(trend),
              "gamma_fourier": np.array([season, -season], np.float32),
              "adstock_alpha": rng.uniform(0, 1, 2).astype(np.float32),
              "saturation_lam": rng.uniform(0.1, 8, 2).astype(np.float32),
              "saturation_beta": rng.uniform(0, 3, 2).astype(np.float32)}
    comp = components(params, design, spec)
    assert (np.asarray(comp["baseline"]) >= 0).all() and (np.asarray(comp["channels"]) >= 0).all()
    np.testing.assert_allclose(np.asarray(comp["baseline"] + comp["channels"].sum(axis=1)), np.asarray(comp["mu"]),
                               rtol=1e-6)
    if baseline == "additive":  # the floor's fill is >= 0 and is exactly what it added to the parts
        raw = intercept + np.asarray(comp["seasonality"] + comp["trend"])
        assert (np.asarray(comp["floor"]) >= 0).all()
        np.testing.assert_allclose(np.asarray(comp["baseline"] - comp["floor"]), raw, rtol=1e-5, atol=1e-5)


def test_floor_fill_is_penalised_in_the_model():
    """The floor guards against a negative baseline but is not free: the model's log density
    carries `floor_penalty` of what the floor fills in, ~0 for a baseline whose parts are
    non-negative on their own, large for one where a negative trend is floored back to zero
    (the recovery suite's failure: docs/mmm.md, "Recovery suite")."""
    from numpyro.infer.util import log_density

    from revline.models.mmm.model import Scales, build_model, components, floor_penalty, make_design

    rng = np.random.default_rng(3)
    spec = ModelSpec(yearly_seasonality=0, trend=True)
    spend = rng.gamma(2.0, 100.0, (40, 1))
    design = make_design(pd.date_range("2024-01-01", periods=40, freq="W-MON"), spend, np.zeros((40, 0)), spec,
                         Scales(spend.max(axis=0), 1.0))
    model = build_model(spec, ["a"], [])
    common = {"adstock_alpha": np.array([0.3], np.float32), "saturation_lam": np.array([2.0], np.float32),
              "saturation_beta": np.array([0.2], np.float32), "sigma": np.float32(0.05)}
    honest = {**common, "intercept": np.float32(0.4), "trend": np.float32(0.1)}
    floored = {**common, "intercept": np.float32(0.1), "trend": np.float32(-2.0)}
    y = np.asarray(components(honest, design, spec)["mu"])
    sites = {}
    for name, params in (("honest", honest), ("floored", floored)):
        _, tr = log_density(model, (design, y), {}, params)
        fill = components(params, design, spec)["floor"]
        got = float(tr["baseline_floor"]["fn"].log_prob(tr["baseline_floor"]["value"]).sum())
        assert got == pytest.approx(float(floor_penalty(fill)), rel=1e-5, abs=1e-6)
        sites[name] = got
    assert sites["honest"] > -0.1 and sites["floored"] < -1e4


@pytest.mark.slow  # four small SVI fits: ~15 s alone, ~45 s on the shared machine
@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), level=st.sampled_from([0.0, 0.05, 0.5]), slope=st.floats(-0.5, 0.5),
       noise=st.sampled_from([0.01, 0.2]))
def test_baseline_is_non_negative_and_parts_add_up(seed, level, slope, noise):
    """Whatever the data, every posterior draw has a non-negative baseline in every week, baseline
    plus channels is the fitted mean, and the channels' shares add to at most 100 %."""
    from revline.models.mmm.fit import fit
    from revline.models.mmm.posterior import component_draws
    from revline.models.mmm.report import contributions, decomposition

    f = fit(_random_world(seed, level, slope, noise), spec=ModelSpec(yearly_seasonality=1, trend=True),
            method="svi", draws=100, svi_steps=300, seed=seed)
    comp = component_draws(f.spec, f.params(), f.design())
    assert (comp["baseline"] >= 0).all() and (f.params()["intercept"] >= 0).all()
    np.testing.assert_allclose(comp["baseline"] + comp["channels"].sum(axis=2), comp["mu"], rtol=1e-5, atol=1e-6)
    dec = decomposition(f)
    np.testing.assert_allclose(dec[["baseline", "a", "b", "c"]].sum(axis=1), dec["fitted"], rtol=1e-4)
    shares = contributions(f)["share"]
    assert (shares >= 0).all() and shares.sum() <= 1.0 + 1e-6


def test_prior_that_allows_a_negative_baseline_is_refused():
    with pytest.raises(PriorError, match="non-negative prior"):
        merge_priors({"intercept": {"dist": "Normal", "mu": 0.0, "sigma": 2.0}})
    with pytest.raises(PriorError, match="non-negative prior"):
        merge_priors({"intercept": {"dist": "TruncatedNormal", "mu": 0.5, "sigma": 1.0, "lower": -1.0}})
    assert merge_priors({"intercept": {"dist": "LogNormal", "mu": -1.0, "sigma": 1.0}})["intercept"]["dist"] == "LogNormal"


def test_student_t_likelihood_is_a_heavy_tailed_option():
    import numpyro.distributions as dist
    from numpyro.handlers import seed, trace

    from revline.models.mmm.model import Scales, build_model, make_design, param_sites

    spec = ModelSpec(likelihood="student_t", yearly_seasonality=1, trend=False)
    assert "nu" in param_sites(spec, 2, 0, 2) and "nu" not in param_sites(ModelSpec(), 2, 0, 2)
    spend = np.random.default_rng(0).gamma(2.0, 100.0, (20, 2))
    design = make_design(pd.date_range("2024-01-01", periods=20, freq="W-MON"), spend, np.zeros((20, 0)), spec,
                         Scales(spend.max(axis=0), 1.0))
    tr = trace(seed(build_model(spec, ["a", "b"], []), 0)).get_trace(design, np.ones(20, np.float32))
    assert isinstance(tr["y"]["fn"], dist.StudentT) and tr["nu"]["value"] > 0
    with pytest.raises(ValueError, match="likelihood"):
        ModelSpec(likelihood="poisson")
    nb = ModelSpec(likelihood="negative_binomial", yearly_seasonality=1, trend=False)
    sites = param_sites(nb, 2, 0, 2)
    assert "concentration" in sites and "sigma" not in sites
    counts = np.random.default_rng(1).poisson(5.0, 20).astype(np.float32)
    tr = trace(seed(build_model(nb, ["a", "b"], [], target_scale=float(counts.max())), 0)).get_trace(
        design, counts / counts.max())
    assert isinstance(tr["y"]["fn"], dist.NegativeBinomial2)
    np.testing.assert_array_equal(np.asarray(tr["y"]["value"]), counts)  # scored on the counts, not the scaled values


# ---------------------------------------------------------------- can the data tell?
def test_well_measured_channels_are_identified(svi_fit):
    from revline.models.mmm.diagnostics import identification, identification_messages

    f, truth = svi_fit
    ident = identification(f).set_index("channel")
    assert ident["identified"].all(), ident
    assert (ident["contraction"] < 0.5).all() and (ident["relative_width"] < 1.0).all()
    assert (ident["prior_low"] <= ident["low"]).all() and (ident["high"] <= ident["prior_high"]).all()
    assert identification_messages(ident.reset_index()) == []


def test_a_posterior_that_is_its_prior_is_not_identified(svi_fit):
    """Draws taken from the priors alone stand for data that told the model nothing: every
    channel must be reported as not pinned down, with its range and an experiment to run."""
    from dataclasses import replace

    from revline.models.mmm.diagnostics import identification, identification_messages, prior_draws
    from revline.models.mmm.report import fit_report

    f, _ = svi_fit
    blind = replace(f, samples={k: v[None] for k, v in prior_draws(f, 2000, seed=5).items()})
    ident = identification(blind, seed=6)
    assert not ident["identified"].any()
    assert ((ident["contraction"] > 0.8) & (ident["contraction"] < 1.25)).all(), ident["contraction"]
    messages = identification_messages(ident)
    assert len(messages) == 2 and messages[0].startswith("the data cannot pin tv down: plausible range ")
    assert all("lift test" in m or "geo holdout" in m for m in messages)
    text = fit_report(blind)
    assert "What the data cannot tell" in text and "| tv |" in text and "| no |" in text


def test_predictive_checks(svi_fit):
    """The synthetic world is the model's own: the priors cover its outcomes and about 94 % of the
    weeks fall inside the posterior predictive interval. Observed data far outside what the priors
    allow must be called out."""
    from dataclasses import replace

    from revline.models.mmm.diagnostics import predictive_checks, predictive_sentences

    f, _ = svi_fit
    c = predictive_checks(f)
    assert c["prior_covers_observed"] and c["prior_low"] < c["observed_min"] and c["observed_max"] < c["prior_high"]
    assert 0.8 <= c["posterior_coverage"] <= 1.0 and c["warnings"] == []
    assert c["posterior_total_low"] <= c["observed_total"] <= c["posterior_total_high"]
    assert "covered" in predictive_sentences(c)[0]
    spiky = f.frame.copy()
    spiky.loc[10, "pipeline"] = spiky["pipeline"].max() * 50  # a week the model (scaled to the old max) cannot reach
    bad = predictive_checks(replace(f, frame=spiky))
    assert not bad["prior_covers_observed"] and "widen the priors" in bad["warnings"][0]


def test_flighted_channels_get_a_geo_holdout():
    from revline.models.mmm.diagnostics import _advice

    assert "geo holdout" in _advice(np.array([0, 0, 0, 5.0, 5.0, 0]), "tv")
    assert "lift test" in _advice(np.array([1.0, 2.0, 0, 3.0]), "search")


def test_convergence_warnings_name_the_channel():
    from revline.models.mmm.diagnostics import convergence_warnings

    table = pd.DataFrame({"parameter": ["adstock_alpha[tv]", "adstock_alpha[search]", "sigma"],
                          "r_hat": [1.05, 1.0, 1.0], "ess_bulk": [900.0, 120.0, 800.0]})
    out = convergence_warnings({"divergences": 31, "chains": 2, "draws": 500}, table)
    assert len(out) == 3
    assert out[0].startswith("31 divergent transitions (3.1% of draws)") and "target_accept" in out[0]
    assert "adstock_alpha[tv]" in out[1] and "search" not in out[1] and "adstock_alpha[search]" in out[2]
    assert convergence_warnings({"divergences": 0}, table.assign(r_hat=1.0, ess_bulk=1000.0)) == []


@pytest.mark.slow  # compiles a NUTS program
def test_cli_convergence_rows_name_their_channel(tmp_path):
    """Issue #16: rich read "adstock_alpha[tv]" as a style tag and printed "adstock_alpha" per channel."""
    from typer.testing import CliRunner

    from revline.cli import app

    frame, _ = _synthetic()
    csv = tmp_path / "w.csv"
    frame.to_csv(csv, index=False)
    res = CliRunner().invoke(app, ["mmm", "fit", "--csv", str(csv), "--date-col", "week", "--outcome-col", "pipeline",
                                   "--channels", "tv,search", "--yearly-seasonality", "1", "--no-trend",
                                   "--chains", "2", "--draws", "100", "--tune", "100", "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    for name in ("adstock_alpha[tv]", "adstock_alpha[search]", "saturation_beta[tv]", "saturation_lam[search]"):
        assert name in res.output


# ---------------------------------------------------------------- optimiser and scenarios
def test_optimizer_respects_budget_and_bounds_and_beats_current_mix(svi_fit):
    from revline.models.mmm.optimizer import optimize_budget, parse_bounds

    f, _ = svi_fit
    budget = float(f.spend[-13:].sum())
    out = optimize_budget(f, budget, parse_bounds(f"tv=0:{budget * 0.6:.0f}"), max_draws=200)
    assert out["optimal_spend"].sum() == pytest.approx(budget, rel=1e-4)
    assert out.set_index("channel").loc["tv", "optimal_spend"] <= budget * 0.6 + 1
    assert out.attrs["optimal_outcome"] >= out.attrs["current_mix_at_budget_outcome"] - 1e-6 * budget
    with pytest.raises(ValueError, match="outside what the bounds allow"):
        optimize_budget(f, budget, {"tv": (0, 1), "search": (0, 1)})
    with pytest.raises(MMMDataError, match="unknown channel"):
        optimize_budget(f, budget, {"radio": (0, 1)})
    assert parse_bounds("tv=10:,search=:5") == {"tv": (10.0, np.inf), "search": (0.0, 5.0)}


def test_optimizer_current_plan_is_the_scenario_baseline_and_the_fit(svi_fit):
    """Issue 22.7: at today's mix the optimiser's current plan, the scenario baseline and the fitted
    outcome agree, and the promised gain carries an interval computed on the same draws."""
    from revline.models.mmm.optimizer import optimize_budget
    from revline.models.mmm.scenario import scenario

    f, _ = svi_fit
    today = float(f.spend[-13:].sum())
    out = optimize_budget(f, today * 2, max_draws=200)
    a = out.attrs
    base = scenario(f).set_index("plan")
    assert a["current_outcome"] == pytest.approx(base.loc["baseline", "mean"], rel=1e-9)
    assert a["current_total_spend"] == pytest.approx(base.loc["baseline", "spend"], rel=1e-9)
    # the synthetic world has no trend: next quarter at today's spend looks like the last one
    assert a["current_outcome"] == pytest.approx(a["fitted_last_weeks"], rel=0.15)
    assert a["fitted_last_weeks"] == pytest.approx(a["actual_last_weeks"], rel=0.1)
    # the gain is the per-draw difference with today's mix at the same budget, and its interval holds it
    assert a["gain"] == pytest.approx(a["optimal_outcome"] - a["current_mix_at_budget_outcome"], rel=1e-6, abs=1e-6)
    assert a["gain_low"] <= a["gain"] <= a["gain_high"]
    assert a["optimal_carryover_after_window"] >= 0
    # doubling the budget cannot more than double the media part (saturation), and adds something
    assert a["current_outcome"] < a["current_mix_at_budget_outcome"]
    media_today = out["current_contribution"].sum()
    assert a["current_mix_at_budget_outcome"] - a["current_outcome"] <= media_today * 1.0001 + 1e-6


def test_scenario_more_spend_more_outcome(svi_fit):
    from revline.models.mmm.scenario import scenario

    f, _ = svi_fit
    out = scenario(f, add={"tv": 200_000}, quarter="next").set_index("plan")
    assert out.attrs["weeks"] == 13
    assert out.loc["difference", "spend"] == pytest.approx(200_000)
    assert out.loc["difference", "q0.03"] > 0 and out.loc["scenario", "mean"] > out.loc["baseline", "mean"]
    carry = scenario(f, add={"tv": 200_000}, include_carryover=True).set_index("plan")
    assert carry.loc["difference", "mean"] >= out.loc["difference", "mean"]
    with pytest.raises(MMMDataError, match="unknown channel"):
        scenario(f, add={"radio": 1})
    later = scenario(f, add={"tv": 1000}, quarter="2025Q1")
    assert later.attrs["window_start"] >= "2025-01-01"


# ---------------------------------------------------------------- calibration
@pytest.mark.slow  # one more SVI fit
def test_lift_test_pulls_contribution_toward_measurement(svi_fit):
    """A precise lift test stating tv did (almost) nothing in a window must shrink tv's modelled
    contribution there, compared to the same fit without the test."""
    from revline.models.mmm.fit import fit
    from revline.models.mmm.report import contribution_draws

    plain, _ = svi_fit
    frame, _ = _synthetic()
    weeks = frame["week"]
    lift = pd.DataFrame({"channel": ["tv"], "start": [weeks.iloc[40]], "end": [weeks.iloc[60]], "lift": [1000.0],
                         "sd": [500.0]})
    kw = dict(spec=SPEC, seed=0, **SVI)
    calib = fit(frame, lift_tests=lift, **kw)
    window = slice(40, 61)
    before = contribution_draws(plain)[:, window, 0].sum(axis=1).mean()
    after = contribution_draws(calib)[:, window, 0].sum(axis=1).mean()
    assert after < 0.5 * before
    bad = lift.assign(channel="radio")
    with pytest.raises(MMMDataError, match="row 1, field 'channel'"):
        fit(frame, lift_tests=bad, **kw)


def test_lift_window_outside_history_is_an_error():
    from revline.models.mmm.calibration import lift_arrays

    lift = pd.DataFrame({"channel": ["tv"], "start": ["2030-01-01"], "end": ["2030-02-01"], "lift": [1.0], "sd": [1.0]})
    with pytest.raises(MMMDataError, match="outside the modelled weeks"):
        lift_arrays(lift, pd.Series(pd.date_range("2024-01-01", periods=10, freq="W-MON")), ["tv"], 1.0)


def test_mmm_vs_mta_side_by_side(svi_fit):
    from revline.models.mmm.calibration import mmm_vs_mta

    f, _ = svi_fit
    mta = pd.DataFrame({"channel": ["tv", "search", "email"], "roi": [0.5, 3.0, 10.0]})
    out = mmm_vs_mta(f, mta).set_index("channel")
    assert set(out.index) == {"tv", "search", "email"}
    assert np.isnan(out.loc["email", "mmm_roi"]) and out.loc["email", "mta_roi"] == 10.0
    assert out.loc["search", "roi_ratio_mmm_over_mta"] == pytest.approx(out.loc["search", "mmm_roi"] / 3.0)


@pytest.mark.slow  # one more SVI fit
def test_roi_prior_moves_roi(svi_fit):
    from revline.models.mmm.fit import fit
    from revline.models.mmm.report import contributions

    frame, _ = _synthetic()
    plain = contributions(svi_fit[0]).set_index("channel")  # the same fit without the prior
    target = plain.loc["search", "roi"] * 0.3
    calib = contributions(fit(frame, roi_prior={"search": target, "organic": 9.9}, spec=SPEC, seed=0, **SVI)
                          ).set_index("channel")
    assert abs(calib.loc["search", "roi"] - target) < abs(plain.loc["search", "roi"] - target)


# ---------------------------------------------------------------- CLI
def test_cli_fit_fast_then_scenario_and_optimize(tmp_path):
    from typer.testing import CliRunner

    from revline.cli import app

    frame, _ = _synthetic()
    csv = tmp_path / "w.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "fit"
    runner = CliRunner()
    res = runner.invoke(app, ["mmm", "fit", "--csv", str(csv), "--date-col", "week", "--outcome-col", "pipeline",
                              "--channels", "tv,search", "--fast", "--yearly-seasonality", "1", "--out", str(out),
                              "--svi-steps", str(SVI["svi_steps"]), "--draws", str(SVI["draws"]), "--no-trend"])
    assert res.exit_code == 0, res.output
    assert "Channel contribution" in res.output and (out / "posterior.npz").exists() and (out / "spec.json").exists()
    assert "shares add up to" in " ".join(res.output.split())
    assert "| identified |" in (out / "report.md").read_text()
    res = runner.invoke(app, ["mmm", "scenario", "--add", "tv=50000", "--fit-dir", str(out)])
    assert res.exit_code == 0 and "differ" in res.output, res.output
    res = runner.invoke(app, ["mmm", "optimize", "--budget", "100000", "--bounds", "tv=0:60000", "--fit-dir", str(out)])
    assert res.exit_code == 0 and "optimal" in res.output, res.output
    res = runner.invoke(app, ["mmm", "fit", "--csv", str(csv), "--date-col", "week", "--outcome-col", "pipeline",
                              "--channels", "radio", "--fast", "--out", str(out)])
    assert res.exit_code == 1 and "radio" in res.output
