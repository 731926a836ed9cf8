"""Shapley attribution: hand examples, the axioms, exact vs sampled, determinism."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.attribution.shapley import moebius_transform, shapley_model, shapley_values, zeta_transform

MTA = "/work/shared/data/mta_paths/paths.csv.gz"


def _paths(rows):
    return pd.DataFrame(rows, columns=["path", "total_conversions", "total_conversion_value", "total_null"])


def _res(df, **kw):
    return shapley_model(df, **kw)["result"].set_index("channel_name")


def _brute_force(v: np.ndarray) -> np.ndarray:
    """The textbook definition: average marginal contribution over all orderings of the players."""
    n = int(np.log2(len(v)))
    phi = np.zeros(n)
    for perm in itertools.permutations(range(n)):
        mask = 0
        for p in perm:
            phi[p] += v[mask | (1 << p)] - v[mask]
            mask |= 1 << p
    return phi / math.factorial(n)


# ------------------------------------------------------------------ hand examples

def test_two_channels_by_hand():
    # v(a) = 10, v(b) = 4, v(ab) = 10 + 4 + 6 = 20
    # phi_a = 1/2 (v(a) - 0) + 1/2 (v(ab) - v(b)) = 5 + 8 = 13 ; phi_b = 2 + 5 = 7
    df = _paths([("a", 10, 100.0, 0), ("b", 4, 40.0, 0), ("a > b > a", 6, 60.0, 0)])
    r = _res(df)
    assert r.loc["a", "total_conversions"] == pytest.approx(13.0)
    assert r.loc["b", "total_conversions"] == pytest.approx(7.0)
    assert r.loc["a", "total_conversion_value"] == pytest.approx(130.0)


def test_three_channels_rate_worth_by_hand():
    # journeys: {a}: 2 conv of 4 ; {b}: 0 of 4 ; {a,c}: 3 of 4 ; rates of coalitions (conv / journeys):
    # v(a)=2/4, v(b)=0, v(c)=0 (no journey), v(ab)=2/8, v(ac)=5/8, v(bc)=0, v(abc)=5/12
    df = _paths([("a", 2, 0.0, 2), ("b", 0, 0.0, 4), ("a > c", 3, 0.0, 1)])
    v = {(): 0, ("a",): 2 / 4, ("b",): 0, ("c",): 0, ("a", "b"): 2 / 8, ("a", "c"): 5 / 8, ("b", "c"): 0, ("a", "b", "c"): 5 / 12}
    def val(s):
        return v[tuple(sorted(s))]
    phi = {}
    for i in "abc":
        others = [c for c in "abc" if c != i]
        total = 0.0
        for k in range(3):
            for s in itertools.combinations(others, k):
                total += math.factorial(k) * math.factorial(2 - k) / 6 * (val(s + (i,)) - val(s))
        phi[i] = total
    r = _res(df, worth="rate")
    for i in "abc":
        assert r.loc[i, "total_conversions"] == pytest.approx(phi[i] * 12)  # scaled by 12 journeys
    assert r.loc["b", "total_conversions"] < 0  # b only lowers the rate: a negative value, by design
    assert r["total_conversions"].sum() == pytest.approx(5.0)
    floored = _res(df, worth="rate", floor_negative=True)
    assert (floored["total_conversions"] >= 0).all()
    assert floored["total_conversions"].sum() == pytest.approx(5.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.lists(st.floats(-50, 50), min_size=2**n, max_size=2**n)))
def test_engine_matches_permutation_definition(values):
    v = np.array(values)
    v[0] = 0.0
    assert np.allclose(shapley_values(v), _brute_force(v), atol=1e-9)
    assert np.allclose(moebius_transform(zeta_transform(v)), v, atol=1e-9)


# ------------------------------------------------------------------ axioms

def test_efficiency_symmetry_dummy():
    df = _paths(
        [
            ("a > b", 4, 40.0, 1),
            ("b > a", 4, 40.0, 1),  # a and b are interchangeable
            ("a", 2, 20.0, 3),
            ("b", 2, 20.0, 3),
            ("c > a > b", 5, 10.0, 0),
            ("x", 0, 0.0, 7),  # x never converts: a dummy under the conversions worth
            ("x > c", 0, 0.0, 2),
        ]
    )
    r = _res(df)
    assert r["total_conversions"].sum() == pytest.approx(df.total_conversions.sum())
    assert r["total_conversion_value"].sum() == pytest.approx(df.total_conversion_value.sum())
    assert r.loc["a", "total_conversions"] == pytest.approx(r.loc["b", "total_conversions"])
    assert r.loc["x", "total_conversions"] == 0.0
    rate = _res(df, worth="rate")
    assert rate["total_conversions"].sum() == pytest.approx(df.total_conversions.sum())
    assert rate.loc["a", "total_conversions"] == pytest.approx(rate.loc["b", "total_conversions"])


def test_closed_form_equals_exact_table_and_ordered_sums():
    df = pd.read_csv(MTA)
    exact = _res(df, method="exact")
    closed = _res(df, max_exact=0)  # auto -> closed form above max_exact
    pd.testing.assert_frame_equal(exact, closed, check_exact=False, rtol=1e-9)
    out = shapley_model(df, ordered=True)
    by_channel = out["ordered"].groupby("channel_name")[["total_conversions", "total_conversion_value"]].sum()
    pd.testing.assert_frame_equal(
        by_channel, exact[["total_conversions", "total_conversion_value"]].loc[by_channel.index],
        check_exact=False, rtol=1e-9,
    )
    assert (out["ordered"]["position"] >= 1).all()


@pytest.mark.parametrize("worth", ["conversions", "rate"])
def test_sampled_agrees_with_exact(worth):
    df = pd.read_csv(MTA)
    exact = _res(df, worth=worth, method="exact")
    sampled = _res(df, worth=worth, method="sampled", n_permutations=3000, seed=7)
    assert sampled["total_conversions"].sum() == pytest.approx(df.total_conversions.sum())
    se = sampled["std_error_conversions"]
    assert (se > 0).any()
    z = (sampled["total_conversions"] - exact["total_conversions"]).abs() / (se + 1e-9)
    assert (z < 4.5).all(), z


def test_many_channels_sampled_rate_has_standard_errors():
    rng = np.random.default_rng(3)
    chans = [f"c{i:02d}" for i in range(24)]
    rows = []
    for _ in range(400):
        k = int(rng.integers(1, 6))
        conv = int(rng.integers(0, 3))
        rows.append((" > ".join(rng.choice(chans, size=k)), conv, conv * 10.0, int(rng.integers(0, 3))))
    df = _paths(rows).groupby("path", as_index=False).sum()
    out = shapley_model(df, worth="rate", n_permutations=400)
    assert out["result"].attrs["method"] == "sampled"
    assert out["result"]["total_conversions"].sum() == pytest.approx(df.total_conversions.sum())
    assert (out["result"]["std_error_conversions"] > 0).any()
    assert shapley_model(df)["result"].attrs["method"] == "closed_form"


# ------------------------------------------------------------------ determinism

rows_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from(list("abcdef")), min_size=1, max_size=5).map(" > ".join),
        st.integers(0, 5),
        st.floats(0, 100),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(rows=rows_strategy, seed=st.integers(0, 2**31 - 1), worth=st.sampled_from(["conversions", "rate"]))
def test_row_order_does_not_matter(rows, seed, worth):
    df = _paths(rows)
    a = _res(df, worth=worth)
    b = _res(df.sample(frac=1.0, random_state=seed).reset_index(drop=True), worth=worth)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)
    assert a["total_conversions"].sum() == pytest.approx(df.total_conversions.sum(), abs=1e-6)
    s1 = _res(df, worth=worth, method="sampled", n_permutations=50, seed=1)
    s2 = _res(df, worth=worth, method="sampled", n_permutations=50, seed=1)
    pd.testing.assert_frame_equal(s1, s2)


def test_bad_options():
    df = _paths([("a", 1, 1.0, 0)])
    with pytest.raises(ValueError, match="worth"):
        shapley_model(df, worth="bogus")
    with pytest.raises(ValueError, match="ordered"):
        shapley_model(df, worth="rate", ordered=True)
