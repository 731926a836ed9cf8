"""The recovery-suite generator (revline.models.mmm.recovery): known truth, reproducible, valid frames.

Fast: pure numpy, no fit. The fits against this truth live in benchmarks/mmm_recovery.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.models.mmm.calibration import lift_arrays, usable_lift_tests, validate_lift_tests
from revline.models.mmm.data import roles_of, validate_frame, weeks_in_window
from revline.models.mmm.recovery import PATTERNS, Scenario, adstock, generate, logistic, scenarios, score


def test_suite_is_varied_and_holds_the_issues_two_failure_shapes():
    suite = scenarios()
    assert 12 <= len(suite) <= 16
    assert len({s.name for s in suite}) == len(suite)
    by_name = {s.name: s for s in suite}
    four = by_name["issue_4ch_3y"]
    assert (four.n_channels, four.weeks, four.l_max) == (4, 156, 8)
    assert "always_on" in by_name["always_on_flat"].patterns
    assert {s.weeks for s in suite} >= {52, 104, 156, 208}
    assert {s.n_channels for s in suite} >= {2, 3, 4, 5, 10}
    assert {p for s in suite for p in s.patterns} == set(PATTERNS)
    assert {s.controls for s in suite} == {0, 1, 2}
    assert all(s.description for s in suite)
    quick = scenarios("quick")
    assert 3 <= len(quick) <= 4 and {s.name for s in quick} <= set(by_name)
    assert {"issue_4ch_3y", "always_on_flat"} <= {s.name for s in quick}
    with pytest.raises(ValueError, match="kind"):
        scenarios("nope")


@pytest.mark.parametrize("sc", scenarios(), ids=lambda s: s.name)
def test_truth_adds_up_to_the_outcome_before_noise(sc):
    rs = generate(sc, seed=3)
    f = rs.frame
    roles = roles_of(f)
    assert roles is not None and roles.channel_cols == sc.channels and roles.control_cols == sc.control_cols
    assert len(f) == sc.weeks and (f["date"].diff().dropna().dt.days == 7).all()
    # baseline + channels = mean (outcome before noise); the noise is of the stated size
    np.testing.assert_allclose(rs.baseline + rs.contributions.sum(axis=1), rs.mean, rtol=1e-12)
    resid = f["y"].to_numpy() - rs.mean.to_numpy()
    assert abs(resid.std() / (sc.noise_sd * sc.intercept) - 1) < 0.35
    truth = rs.truth.set_index("channel")
    np.testing.assert_allclose(truth["contribution"], rs.contributions.sum(axis=0)[truth.index])
    np.testing.assert_allclose(truth["spend"], f[list(sc.channels)].sum(axis=0)[truth.index])
    np.testing.assert_allclose(truth["roi"], truth["contribution"] / truth["spend"])
    # the contribution recomputed from the published parameters and the frame's spend
    for ch, row in truth.iterrows():
        x = f[ch].to_numpy() / f[ch].max()
        np.testing.assert_allclose(rs.contributions[ch], row["beta"] * logistic(adstock(x, row["alpha"], sc.l_max), row["lam"]))
        assert row["beta_scaled"] == pytest.approx(row["beta"] / f["y"].abs().max())


def test_seeds_reproduce_and_differ():
    sc = scenarios("quick")[0]
    a, b, c = generate(sc, 1), generate(sc, 1), generate(sc, 2)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not np.allclose(a.frame["y"], c.frame["y"])


def test_spend_patterns_look_like_their_names():
    rs = generate(scenarios("always_on_flat")[0], 0)
    always = rs.frame["c1_always_on"]
    assert always.std() / always.mean() < 0.1 and (always > 0).all()
    flighted = rs.frame["c3_flighted"]
    assert 0.2 < (flighted == 0).mean() < 0.8
    pair = generate(scenarios("collinear_pair")[0], 0).frame
    assert np.corrcoef(pair["c1_varied"], pair["c2_collinear"])[0, 1] > 0.85
    pulsed = generate(scenarios("issue_4ch_3y")[0], 0).frame["c3_pulsed"]
    assert (pulsed == 0).mean() > 0.6
    trending = generate(scenarios("trending_with_trend")[0], 0).frame["c1_trending"]
    assert np.corrcoef(trending, np.arange(len(trending)))[0, 1] > 0.6


def test_lift_tests_have_the_calibration_shape_and_the_true_window_sum():
    rs = generate(scenarios("quick")[0], 0)
    tests = rs.lift_tests(sd_frac=0.1, weeks=8, seed=0)
    assert list(tests["channel"]) == rs.channels
    clean = validate_lift_tests(tests, channels=rs.channels)
    arrays = lift_arrays(clean, rs.frame["date"], rs.channels, target_scale=1.0)
    # the weeks the model puts in each window hold exactly the true lift
    for i, ch in enumerate(tests["channel"]):
        in_window = arrays["lift_mask"][i].astype(bool)
        assert in_window.sum() == 8
        assert rs.contributions[ch].to_numpy()[in_window].sum() == pytest.approx(tests["true_lift"].iloc[i])
    np.testing.assert_allclose(tests["sd"], 0.1 * tests["true_lift"].abs())
    z = (tests["lift"] - tests["true_lift"]) / tests["sd"]
    assert (z.abs() < 5).all()
    with pytest.raises(ValueError, match="not a channel"):
        rs.lift_test("nope", "2021-01-04", "2021-02-01")


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(-20, 90), length=st.integers(0, 40))
def test_one_window_rule_for_the_mask_the_overlap_check_and_the_simulated_truth(offset, length):
    """A weekly row (dated by its Monday) is in [start, end] when any of its 7 days is; the
    likelihood mask, the usable-test check and the simulated true lift all use that one rule."""
    rs = generate(scenarios("quick")[0], 0)
    dates = pd.DatetimeIndex(rs.frame["date"])
    start = dates[0] + pd.Timedelta(days=offset)
    end = start + pd.Timedelta(days=length)
    days = pd.date_range(start, end, freq="D")
    by_days = np.array([((days >= d) & (days <= d + pd.Timedelta(days=6))).any() for d in dates])
    inside = weeks_in_window(rs.frame["date"], start, end)
    np.testing.assert_array_equal(inside, by_days)
    ch = rs.channels[0]
    row = pd.DataFrame({"channel": [ch], "start": [start], "end": [end], "lift": [1.0], "sd": [1.0]})
    kept, why = usable_lift_tests(row, rs.frame["date"], rs.channels)
    assert (len(kept) == 1) == bool(inside.any()) and (len(why) == 0) == bool(inside.any())
    if not inside.any():
        with pytest.raises(ValueError, match="holds no week"):
            rs.lift_test(ch, start, end)
        return
    mask = lift_arrays(validate_lift_tests(row, channels=rs.channels), rs.frame["date"], rs.channels, 1.0)["lift_mask"][0]
    np.testing.assert_array_equal(mask.astype(bool), inside)
    truth = rs.lift_test(ch, start, end)["true_lift"].iloc[0]
    assert truth == pytest.approx(rs.contributions[ch].to_numpy()[inside].sum())


def test_score_errors_and_coverage():
    rs = generate(scenarios("quick")[0], 0)
    t = rs.truth
    est = pd.DataFrame({"channel": t["channel"], "contribution": t["contribution"] * 1.2,
                        "contribution_low": t["contribution"] * 1.1, "contribution_high": t["contribution"] * 1.3})
    s = score(est, rs).set_index("channel")
    np.testing.assert_allclose(s["contribution_error"], 0.2)
    np.testing.assert_allclose(s["roi_error"], 0.2)
    assert not s["covered"].any() and not s["roi_covered"].any()
    est["contribution_low"] = t["contribution"] * 0.5
    assert score(est, t)["covered"].all()
    with pytest.raises(ValueError, match="no estimate"):
        score(est.iloc[1:], rs)


def test_scenario_rejects_what_it_cannot_generate():
    with pytest.raises(ValueError, match="weeks"):
        Scenario("x", 20, ("varied", "varied"), (0.1, 0.1), (1, 1), (0.1, 0.1))
    with pytest.raises(ValueError, match="one per channel"):
        Scenario("x", 60, ("varied", "varied"), (0.1,), (1, 1), (0.1, 0.1))
    with pytest.raises(ValueError, match="first"):
        Scenario("x", 60, ("collinear", "varied"), (0.1, 0.1), (1, 1), (0.1, 0.1))
    with pytest.raises(ValueError, match="pattern"):
        Scenario("x", 60, ("weird", "varied"), (0.1, 0.1), (1, 1), (0.1, 0.1))


@st.composite
def _scenario(draw):
    n = draw(st.integers(2, 10))
    first = draw(st.sampled_from([p for p in PATTERNS if p != "collinear"]))
    rest = draw(st.lists(st.sampled_from(PATTERNS), min_size=n - 1, max_size=n - 1))
    unit = st.floats(0.0, 0.9)
    return Scenario(
        "prop", draw(st.integers(52, 208)), (first, *rest),
        tuple(draw(st.lists(unit, min_size=n, max_size=n))),
        tuple(draw(st.lists(st.floats(0.2, 8.0), min_size=n, max_size=n))),
        tuple(draw(st.lists(st.floats(0.0, 0.4), min_size=n, max_size=n))),
        spend=tuple(draw(st.lists(st.floats(10.0, 1e5), min_size=n, max_size=n))),
        noise_sd=draw(st.floats(0.0, 0.2)), trend=draw(st.floats(-0.3, 0.5)),
        seasonality=draw(st.floats(0.0, 0.4)), controls=draw(st.integers(0, 2)),
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=_scenario(), seed=st.integers(0, 2**31 - 1))
def test_generator_invariants(sc, seed):
    rs = generate(sc, seed)
    f = rs.frame
    spend = f[list(sc.channels)]
    assert (spend >= 0).all().all() and (spend > 0).any().all()  # every channel spent something
    validate_frame(f, roles_of(f))  # a frame fit() accepts, as is
    c = rs.contributions.to_numpy()
    # contributions are non-negative, below the channel's cap, zero until the first spend
    assert (c >= 0).all()
    assert (c <= np.asarray(sc.beta) * sc.intercept + 1e-9).all()
    for j, ch in enumerate(sc.channels):
        first = int(np.argmax(spend[ch].to_numpy() > 0))
        assert (c[:first, j] == 0).all()
    np.testing.assert_allclose(rs.baseline + rs.contributions.sum(axis=1), rs.mean, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(rs.truth["contribution"], c.sum(axis=0))
    assert np.isfinite(rs.truth[["contribution", "roi", "beta_scaled"]].to_numpy()).all()


def test_the_benchmark_summary_and_docs_table_add_up(monkeypatch):
    """benchmarks/mmm_recovery.py: the overall line is the median over every channel of every fit,
    coverage the share of covered channels, the ESS/s ratio the median of per-set ratios."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    sys.modules.pop("mmm_recovery", None)
    import mmm_recovery as bench

    def run(contender, name, errs, covered, ess_per_s, div=0):
        return {"contender": contender, "set": name, "seed": 0, "divergences": div, "ess_per_s": ess_per_s,
                "wall": 10.0, "max_r_hat": 1.01,
                "channels": [{"contribution_error": e, "roi_error": e, "covered": c} for e, c in zip(errs, covered)]}

    runs = [run("revline", "issue_4ch_3y", [0.1, -0.3], [True, False], 10.0, div=3),
            run("pymc", "issue_4ch_3y", [0.2, 0.2], [True, True], 1.0),
            run("revline", "short_1y", [0.05, 0.5, -0.6], [True, True, True], 8.0),
            run("pymc", "short_1y", [0.1, 0.1, 0.1], [True, True, False], 4.0),
            {"contender": "pymc", "set": "saturated", "seed": 0, "error": "boom"}]
    s = bench.summarize(runs)
    assert s["revline"]["median_abs_contribution_error"] == pytest.approx(0.3)
    assert s["revline"]["coverage"] == pytest.approx(4 / 5) and s["pymc"]["coverage"] == pytest.approx(4 / 5)
    assert s["revline"]["divergences"] == 3 and s["revline"]["fits_with_divergences"] == 1
    assert s["revline"]["ess_per_s_ratio_vs_pymc"] == pytest.approx(np.median([10.0, 2.0]))
    md = bench.markdown({"meta": {"seeds": [0]}, "summary": s, "runs": runs})
    assert "| issue_4ch_3y (156 x 4) | +10% / -30% | 20% | 1/2 | +20% / +20% | 20% | 2/2 |" in md
    assert "| saturated (156 x 3) | not run |" in md and "failed" in md


def test_the_information_table_puts_each_error_against_its_posterior_sd(monkeypatch):
    """benchmarks/mmm_recovery.py --information: |error| in posterior sds (from the recorded sd, or the
    94 % interval's width / 3.76 for runs saved without it, marked ~), the relative sd, and the median
    |error| a calibrated normal posterior of those widths would give (median |N(0, 1)| = 0.674 x sd)."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    sys.modules.pop("mmm_recovery", None)
    import mmm_recovery as bench

    def channel(err, rel_sd, sd=True):
        row = {"true_contribution": 100.0, "contribution_error": err,
               "contribution_low": 100.0 * (1 + err) - 188.0 * rel_sd,
               "contribution_high": 100.0 * (1 + err) + 188.0 * rel_sd}
        return {**row, "contribution_sd": 100.0 * rel_sd} if sd else row

    # errors of 0.5, 1.5 and 3 sds; relative sds 0.1, 0.2, 0.05 (one below 7.2 %)
    chans = [channel(0.05, 0.1), channel(-0.3, 0.2), channel(0.15, 0.05)]
    out = bench.information({"runs": [{"contender": "revline", "channels": chans},
                                      {"contender": "old", "channels": [channel(0.05, 0.1, sd=False)]},
                                      {"contender": "pymc", "error": "boom"}]}).splitlines()
    assert len(out) == 4 and "pymc" not in "\n".join(out)
    cells = [c.strip() for c in out[2].strip("|").split("|")]
    assert cells[:6] == ["revline", "3", "15.0%", "10.0%", "33%", "67%"] and cells[-1] == "1/3"
    assert float(cells[6]) == pytest.approx(0.5)  # |error| ranks 1, 3, 2 against sd ranks 2, 3, 1
    assert float(cells[7].rstrip("%")) == pytest.approx(100 * 0.674 * 0.1, abs=1.0)
    old = [c.strip() for c in out[3].strip("|").split("|")]
    assert old[3] == "~10.0%" and old[4] == "100%"
