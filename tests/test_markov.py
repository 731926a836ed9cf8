"""Exact Markov attribution: hand-solved chains, ChannelAttribution agreement, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.attribution.markov import markov_model
from revline.attribution.paths import PathsError

MTA = "/work/shared/data/mta_paths/paths.csv.gz"


def _paths(rows):
    return pd.DataFrame(rows, columns=["path", "total_conversions", "total_conversion_value", "total_null"])


def _re(df, order=1, **kw):
    return markov_model(df, order=order, **kw)["removal_effects"].set_index("channel_name")


# ------------------------------------------------------------------ hand-solved chains

def test_two_channel_chain_closed_form():
    # start -> a (4/6), b (2/6); a -> b 1/2, conv 1/4, null 1/4; b -> conv 1/2, null 1/2
    df = _paths([("a", 1, 10.0, 1), ("a > b", 2, 4.0, 0), ("b", 0, 0.0, 2)])
    pa, pb = 4 / 6, 2 / 6
    h_b = 0.5
    h_a = 0.25 + 0.5 * h_b
    p_full = pa * h_a + pb * h_b
    p_no_a = pb * h_b
    p_no_b = pa * 0.25
    # values: conversions ending in a are worth 10 each, in b 4/2 = 2 each
    v_full = pa * (0.25 * 10 + 0.5 * 0.5 * 2) + pb * 0.5 * 2
    v_no_a = pb * 0.5 * 2
    v_no_b = pa * 0.25 * 10
    re = _re(df)
    assert re.loc["a", "removal_effects_conversion"] == pytest.approx(1 - p_no_a / p_full, abs=1e-12)
    assert re.loc["b", "removal_effects_conversion"] == pytest.approx(1 - p_no_b / p_full, abs=1e-12)
    assert re.loc["a", "removal_effects_conversion_value"] == pytest.approx(1 - v_no_a / v_full, abs=1e-12)
    assert re.loc["b", "removal_effects_conversion_value"] == pytest.approx(1 - v_no_b / v_full, abs=1e-12)
    res = markov_model(df)["result"].set_index("channel_name")
    ra, rb = 1 - v_no_a / v_full, 1 - v_no_b / v_full
    assert res.loc["a", "total_conversion_value"] == pytest.approx(14.0 * ra / (ra + rb))
    assert res["total_conversions"].sum() == pytest.approx(3.0)


def test_loop_between_two_channels_geometric_series():
    # a <-> b loops: absorption needs the full geometric series, which a truncated walk misses
    df = _paths([("a > b > a > b > a", 1, 1.0, 0), ("a > b", 0, 0.0, 1)])
    tm = markov_model(df)["transition_matrix"]
    p = {(r.channel_from, r.channel_to): r.transition_probability for r in tm.itertuples()}
    # a -> b always; b -> a 2/3, b -> null 1/3; a -> conv only from the last a: a has 3 exits
    # a: to b 3/4? count: transitions a->b: 2 (path1) + 1 (path2) = 3, a->conv 1 => 3/4, 1/4
    assert p[("a", "b")] == pytest.approx(0.75)
    assert p[("b", "a")] == pytest.approx(2 / 3)
    # h_a = 1/4 + 3/4 h_b, h_b = 2/3 h_a  ->  h_a = 1/4 / (1 - 1/2) = 1/2
    re = _re(df)
    assert re.loc["a", "removal_effects_conversion"] == pytest.approx(1.0)
    assert re.loc["b", "removal_effects_conversion"] == pytest.approx(1 - 0.25 / 0.5)


def test_order_two_states_and_short_paths():
    df = _paths([("a > a > b", 1, 1.0, 1), ("b > c", 2, 4.0, 0), ("a > c > b", 0, 0.0, 2), ("c", 1, 3.0, 3)])
    tm = markov_model(df, order=2)["transition_matrix"]
    froms = set(tm["channel_from"])
    assert {"a, a", "a, b", "b, c", "a, c", "c, b", "c"} <= froms
    re = _re(df, order=2)
    # P(conv) = .2*.5 + .2*1 + .2*0 + .4*.25 = .4 ; without a: .3 ; without b: .1 ; without c: .1
    assert re.loc["a", "removal_effects_conversion"] == pytest.approx(0.25)
    assert re.loc["b", "removal_effects_conversion"] == pytest.approx(0.75)
    assert re.loc["c", "removal_effects_conversion"] == pytest.approx(0.75)


def test_transition_rows_sum_to_one():
    df = pd.read_csv(MTA).head(500)
    for order in (1, 3):
        tm = markov_model(df, order=order)["transition_matrix"]
        sums = tm.groupby("channel_from")["transition_probability"].sum()
        assert np.allclose(sums.to_numpy(), 1.0)


def test_collapse_options():
    df = _paths([("a > a > b", 1, 1.0, 1), ("a > b > b > c", 2, 4.0, 1), ("c > c", 0, 0.0, 2), ("b", 1, 2.0, 1)])
    # merging repeated states only drops self-loops: absorption is unchanged at every order
    for order in (1, 2, 3):
        pd.testing.assert_frame_equal(_re(df, order, collapse_repeats=True), _re(df, order, collapse_repeats=False))
    # merging repeated channels before k-tuples changes the order-2 chain but not order 1
    pd.testing.assert_frame_equal(_re(df, 1), _re(df, 1, collapse_channels=True))
    states = set(markov_model(df, order=2)["transition_matrix"]["channel_from"])
    merged = set(markov_model(df, order=2, collapse_channels=True)["transition_matrix"]["channel_from"])
    assert "a, a" in states and "a, a" not in merged and "b, b" not in merged
    tm = markov_model(df, collapse_repeats=False)["transition_matrix"]
    assert ((tm.channel_from == "a") & (tm.channel_to == "a")).any()


# ------------------------------------------------------------------ against ChannelAttribution

def _ca_removal(df, order, seeds=(1, 2, 3), nsim=3e5, max_step=None):
    from ChannelAttribution import markov_model as ca_markov

    runs = []
    for seed in seeds:
        out = ca_markov(
            df, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null",
            order=order, sep=">", out_more=True, verbose=False, flg_pro=False, seed=seed, nsim_start=nsim,
            max_step=max_step,
        )
        runs.append(out["removal_effects"].set_index("channel_name").sort_index())
    stack = pd.concat(runs)
    g = stack.groupby(level=0)
    return g.mean(), g.max() - g.min()


def _assert_within_spread(ours, mean, spread, abs_tol):
    cols = ["removal_effects_conversion", "removal_effects_conversion_value"]
    ours = ours.loc[mean.index, cols]
    tol = np.maximum(3 * spread[cols].to_numpy(), abs_tol)
    diff = np.abs(ours.to_numpy() - mean[cols].to_numpy())
    assert (diff <= tol).all(), pd.DataFrame(diff - tol, index=mean.index, columns=cols)


def _random_paths(rng, n_paths=40, channels="abcd", max_len=5):
    rows = []
    for _ in range(n_paths):
        k = rng.integers(1, max_len + 1)
        path = " > ".join(rng.choice(list(channels), size=k))
        conv = int(rng.integers(0, 4))
        rows.append((path, conv, float(conv * rng.uniform(1, 10)), int(rng.integers(0, 4)) + (conv == 0)))
    return _paths(rows).groupby("path", as_index=False).sum()


@pytest.mark.parametrize("order", [1, 2, 3])
def test_matches_channelattribution_small(order):
    # CA cuts simulated walks at max_step; with a generous cap it converges to the exact limit
    df = _random_paths(np.random.default_rng(order))
    mean, spread = _ca_removal(df, order, nsim=1e6, max_step=100)
    _assert_within_spread(_re(df, order), mean, spread, abs_tol=0.005)


@pytest.mark.parametrize("order", [1, 2])
def test_truncated_walks_match_channelattribution_cap(order):
    df = _random_paths(np.random.default_rng(10 + order))
    mean, spread = _ca_removal(df, order, nsim=1e6, max_step=4)
    ours = _re(df, order, max_step=4)
    _assert_within_spread(ours, mean, spread, abs_tol=0.005)
    # and the cap matters on loopy chains: the truncated quantity is not the exact limit
    assert not np.allclose(ours.to_numpy(), _re(df, order).to_numpy(), atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("order", [1, 2, 3])
def test_matches_channelattribution_mta_sample(order):
    df = pd.read_csv(MTA)
    mean, spread = _ca_removal(df, order)
    _assert_within_spread(_re(df, order), mean, spread, abs_tol=0.01)
    # same attribution rule: removal-effect shares of the totals
    ours = markov_model(df, order=order)["result"]
    assert ours["total_conversions"].sum() == pytest.approx(df["total_conversions"].sum())
    assert ours["total_conversion_value"].sum() == pytest.approx(df["total_conversion_value"].sum())


# ------------------------------------------------------------------ invariants

def _path_rows(channels: str, longest: int, conversions: int, nulls: int, rows: int):
    """Rows (path, conversions, value, nulls) with at least one conversion among them."""
    return st.lists(
        st.tuples(
            st.lists(st.sampled_from(list(channels)), min_size=1, max_size=longest).map(" > ".join),
            st.integers(0, conversions),
            st.floats(0, 100),
            st.integers(0, nulls),
        ),
        min_size=1,
        max_size=rows,
    ).filter(lambda rows: sum(r[1] for r in rows) > 0)


path_rows = _path_rows("abcd", longest=6, conversions=5, nulls=5, rows=25)


@settings(max_examples=40, deadline=None)
@given(rows=path_rows, seed=st.integers(0, 2**31 - 1), order=st.integers(1, 3))
def test_shuffle_and_scale_invariance(rows, seed, order):
    df = _paths(rows)
    base = _re(df, order)
    shuffled = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    pd.testing.assert_frame_equal(base, _re(shuffled, order), check_exact=False, rtol=1e-9, atol=1e-12)
    # fractional weights: scaling every count leaves the chain (and removal effects) unchanged
    scaled = df.assign(total_conversions=df.total_conversions * 0.37, total_null=df.total_null * 0.37)
    pd.testing.assert_frame_equal(base, _re(scaled, order), check_exact=False, rtol=1e-8, atol=1e-10)
    assert ((base >= 0) & (base <= 1 + 1e-12)).all().all()
    res = markov_model(df, order=order)["result"]
    assert res["total_conversions"].sum() == pytest.approx(df["total_conversions"].sum())


def test_tiny_values_do_not_underflow():
    """Found by the property above: a conversion value of 5e-324 underflowed to 0 in the value
    chain, so removing the only channel removed 'no value' unless the counts were scaled."""
    df = _paths([("a", 1, 5e-324, 1)])
    for scale in (1.0, 0.37):
        re = _re(df.assign(total_conversions=df.total_conversions * scale, total_null=df.total_null * scale), 1)
        assert re["removal_effects_conversion_value"].tolist() == [1.0]


def test_order_four_and_bad_inputs():
    df = _paths([("a > b > c > d > a", 1, 1.0, 0), ("b > c", 0, 0.0, 1)])
    assert len(_re(df, order=4)) == 4
    with pytest.raises(ValueError, match="order"):
        markov_model(df, order=5)
    bad = df.assign(total_conversions=[1, -1])
    with pytest.raises(PathsError, match=r"row 2, field 'total_conversions'"):
        markov_model(bad)
    with pytest.raises(PathsError, match=r"row 1, field 'path'"):
        markov_model(_paths([("a >  > b", 1, 1.0, 0)]))


def test_direct_and_series_solvers_agree():
    df = pd.read_csv(MTA)
    for order in (1, 3):
        direct = _re(df, order, solver="direct")
        series = _re(df, order, solver="series")
        pd.testing.assert_frame_equal(direct, series, check_exact=False, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="solver"):
        markov_model(df, solver="bogus")


# ------------------------------------------------------------------ one row per journey (grouping)

def _journeys(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each path row split into one row per journey (conversions first), rows shuffled; the value
    of a path goes to its converting journeys in equal shares."""
    rows = []
    for path, conv, value, null in df.itertuples(index=False):
        rows += [(path, 1.0, value / max(conv, 1), 0.0)] * int(conv) + [(path, 0.0, 0.0, 1.0)] * int(null)
    return _paths(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_one_row_per_journey_is_parsed_once_per_distinct_path():
    from revline.attribution.paths import encode_paths

    rng = np.random.default_rng(5)
    grouped = _paths(
        [(" > ".join(rng.choice(list("abcde"), size=int(rng.integers(1, 5)))), int(rng.integers(1, 4)), 0.0,
          int(rng.integers(0, 6))) for _ in range(60)]
    ).groupby("path", as_index=False).sum()
    grouped["total_conversion_value"] = grouped["total_conversions"] * 100.0
    rows = _journeys(grouped, seed=1)
    enc = encode_paths(rows, group_duplicates=True)
    assert enc.n_paths == grouped["path"].nunique() < len(rows)
    assert enc.conversions.sum() == rows["total_conversions"].sum()
    assert enc.nulls.sum() == rows["total_null"].sum()
    assert encode_paths(rows).n_paths == len(rows)  # the default keeps row i = path i
    for order in (1, 2, 3):
        ours, theirs = markov_model(rows, order=order), markov_model(grouped, order=order)
        for key in ("removal_effects", "result"):
            pd.testing.assert_frame_equal(ours[key], theirs[key], check_exact=False, rtol=1e-12, atol=1e-12)
        pd.testing.assert_frame_equal(
            ours["transition_matrix"], theirs["transition_matrix"], check_exact=False, rtol=1e-12, atol=1e-12
        )


def test_grouped_errors_name_the_original_row():
    rows = _paths([("a > b", 1, 1.0, 0)] * 5 + [("b >  > a", 0, 0.0, 1)] + [("a > b", 0, 0.0, 1)] * 5)
    with pytest.raises(PathsError, match=r"row 6, field 'path': empty channel name in 'b >  > a'"):
        markov_model(rows)
    bad = rows.assign(total_null=[0] * 10 + [-1])
    with pytest.raises(PathsError, match=r"row 11, field 'total_null'"):
        markov_model(bad)


@settings(max_examples=20, deadline=None)
@given(rows=path_rows, seed=st.integers(0, 2**31 - 1), order=st.integers(1, 3))
def test_journey_rows_equal_path_rows(rows, seed, order):
    df = _paths(rows).groupby("path", as_index=False).sum()
    df["total_conversion_value"] = df["total_conversions"] * 3.0
    paths, journeys = _re(df, order), _re(_journeys(df, seed), order)
    # a path with no conversion and no null has no journey row, so a channel seen only on such
    # paths is missing from the journey table; on the path table it is listed with effect 0
    missing = paths.index.difference(journeys.index)
    assert (paths.loc[missing] == 0.0).all().all()
    pd.testing.assert_frame_equal(paths.drop(missing), journeys, check_exact=False, rtol=1e-9, atol=1e-12)


def test_block_series_equals_one_solve_per_channel():
    """removal_effects sums the series for all channels at once; each column must equal the
    one-channel-at-a-time series (`_visits`), uncapped and at a walk cap."""
    from revline.attribution.markov import _system, _visits, _visits_series_block, fit_chain
    from revline.attribution.paths import encode_paths

    chain = fit_chain(encode_paths(pd.read_csv(MTA)), 3)
    sys_ = _system(chain)
    keeps = np.concatenate([np.ones((chain.n_states, 1), dtype=bool), ~chain.state_channels()], axis=1)
    for max_step in (None, 7):
        block = _visits_series_block(sys_, keeps, max_step)
        for j in range(keeps.shape[1]):
            one = _visits(sys_, keeps[:, j], max_step, "series")
            np.testing.assert_allclose(block[:, j], one, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ the fast paths (issue 18) equal the general ones

def test_dense_solves_equal_sparse_lu_and_series():
    """Chains of up to DIRECT_MAX_STATES states are solved by dense numpy LU; each column must equal
    scipy's sparse LU and the certified series."""
    from revline.attribution.markov import DIRECT_MAX_STATES, _system, _visits, _visits_dense, fit_chain
    from revline.attribution.paths import encode_paths

    enc = encode_paths(pd.read_csv(MTA), group_duplicates=True)
    for order in (1, 2):
        chain = fit_chain(enc, order)
        sys_ = _system(chain)
        keeps = np.concatenate([np.ones((chain.n_states, 1), dtype=bool), ~chain.state_channels()], axis=1)
        dense = _visits_dense(sys_, keeps)
        for j in range(keeps.shape[1]):
            np.testing.assert_allclose(dense[:, j], _visits(sys_, keeps[:, j], None, "direct"), rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(dense[:, j], _visits(sys_, keeps[:, j], None, "series"), rtol=1e-10, atol=1e-14)
    assert fit_chain(enc, 1).n_states <= DIRECT_MAX_STATES < fit_chain(enc, 2).n_states


def test_block_kernel_equals_scipy_product(monkeypatch):
    import scipy.sparse as sp

    from revline.attribution import markov

    rng = np.random.default_rng(3)
    A = sp.random(300, 300, density=0.02, random_state=4, format="csr")
    Y = rng.random((300, 7))
    np.testing.assert_allclose(markov._spmm(A, Y), A @ Y, rtol=1e-14, atol=0)
    np.testing.assert_allclose(markov._spmm(A, Y[:, ::2]), A @ Y[:, ::2], rtol=1e-14, atol=0)  # a strided block
    out = np.full_like(Y, 7.0)  # _spmm_into overwrites what the buffer held
    markov._spmm_into(A, Y, out)
    np.testing.assert_allclose(out, A @ Y, rtol=1e-14, atol=0)
    monkeypatch.setattr(markov, "_csr_matvecs", None)
    np.testing.assert_allclose(markov._spmm(A, Y), A @ Y, rtol=1e-14, atol=0)
    out = np.full_like(Y, 7.0)
    markov._spmm_into(A, Y, out)
    np.testing.assert_allclose(out, A @ Y, rtol=1e-14, atol=0)


def test_order_one_states_equal_the_general_k_tuple_route():
    """Order 1 uses the channel ids as state ids; the general route (codes, compaction) gives the
    same chain, with and without collapsing repeats."""
    from revline.attribution.markov import _compact, _state_sequences, fit_chain
    from revline.attribution.paths import encode_paths

    df = _paths([("b > b > a > c", 2, 5.0, 1), ("c", 0, 0.0, 3), ("a > a", 1, 1.0, 0), ("c > b > b", 0, 0.0, 0)])
    enc = encode_paths(df)
    for collapse in (True, False):
        chain = fit_chain(enc, 1, collapse_repeats=collapse)
        codes, offsets = _state_sequences(enc, 1, collapse)
        uniq, sid = _compact(codes, 1, len(enc.channels))
        assert chain.state_codes.tolist() == uniq.tolist() == [1, 2, 3]
        w = np.repeat(enc.conversions + enc.nulls, np.diff(offsets))
        expect = np.zeros((3, 3))
        for p in range(enc.n_paths):
            for i in range(offsets[p], offsets[p + 1] - 1):
                expect[sid[i], sid[i + 1]] += w[i]
        np.testing.assert_array_equal(chain.counts.toarray(), expect)
    assert fit_chain(enc, 1).counts.diagonal().sum() == 0  # collapsed: no self-loops
    assert fit_chain(enc, 1, collapse_repeats=False).counts[1, 1] == 3.0  # b > b (weight 3)


def test_tokenizer_edge_rows_take_the_general_route():
    """Paths that are empty or end in the separator cannot use the one-mask boundaries; they are
    still reported as an empty channel name with the original row. Names found in any order come
    out sorted with matching codes."""
    from revline.attribution.paths import encode_paths

    with pytest.raises(PathsError, match=r"row 2, field 'path': empty channel name"):
        encode_paths(_paths([("a > b", 1, 1.0, 0), ("b > a >", 1, 1.0, 0)]))
    with pytest.raises(PathsError, match=r"row 2, field 'path': empty channel name"):
        encode_paths(_paths([("a > b", 1, 1.0, 0), ("", 1, 1.0, 0), ("b", 1, 1.0, 0)]))
    enc = encode_paths(_paths([("z > m", 1, 1.0, 0), ("a", 1, 1.0, 0), ("m > a > z", 1, 1.0, 0)]))
    assert enc.channels == ("a", "m", "z")
    assert enc.codes.tolist() == [2, 1, 0, 1, 0, 2]


# ------------------------------------------------------------------ the series with its certified tail (issue 18)

def _lu_absorption(sys_, keeps):
    """(b'x, bv'x) per column of `keeps` by dense LU: the straightforward solve of (I - Q_KK)' x = pi0_K."""
    from revline.attribution.markov import _visits_dense

    X = _visits_dense(sys_, keeps)
    return X.T @ sys_.b, X.T @ sys_.bv


def _chain_and_keeps(df, order):
    from revline.attribution.markov import _system, fit_chain
    from revline.attribution.paths import encode_paths

    chain = fit_chain(encode_paths(df, group_duplicates=True), order)
    keeps = np.concatenate([np.ones((chain.n_states, 1), dtype=bool), ~chain.state_channels()], axis=1)
    return _system(chain), keeps


long_path_rows = _path_rows("abcde", longest=14, conversions=2, nulls=30, rows=30)


@settings(max_examples=60, deadline=None)
@given(rows=long_path_rows, order=st.integers(1, 3))
def test_series_with_tail_equals_lu_and_the_plain_series(rows, order):
    """The accelerated series (plain terms + a geometric tail accepted on its residual) gives the
    same P(conversion) and value expectation per removal column as dense LU and as the plain series."""
    from revline.attribution.markov import _absorption_series_block, _visits_series_block

    sys_, keeps = _chain_and_keeps(_paths(rows), order)
    P, V = _absorption_series_block(sys_, keeps)
    P_lu, V_lu = _lu_absorption(sys_, keeps)
    X = _visits_series_block(sys_, keeps, None)
    for ours, ref in ((P, P_lu), (V, V_lu), (P, X.T @ sys_.b), (V, X.T @ sys_.bv)):
        np.testing.assert_allclose(ours, ref, rtol=1e-11, atol=1e-13)


def test_series_tail_is_taken_on_long_walks(monkeypatch):
    """On a chain whose walks are long (loops, ~2 % exit a step) the tail is what ends the sum:
    far fewer products than the plain series, and the same result as LU."""
    from revline.attribution import markov

    rng = np.random.default_rng(11)
    rows = []
    for _ in range(300):
        n = int(rng.integers(20, 60))
        rows.append((" > ".join(rng.choice(list("abcdefg"), size=n)), int(rng.random() < 0.3), float(rng.uniform(1, 9)), 1))
    sys_, keeps = _chain_and_keeps(_paths(rows), 2)
    products = []
    real = markov._spmm_into

    def counting(A, Y, out):
        products.append(Y.shape[1])
        real(A, Y, out)

    monkeypatch.setattr(markov, "_spmm_into", counting)
    P, V = markov._absorption_series_block(sys_, keeps)
    X = markov._visits_series_block(sys_, keeps, None)  # the plain series (its own kernel call)
    P_lu, V_lu = _lu_absorption(sys_, keeps)
    np.testing.assert_allclose(P, P_lu, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(V, V_lu, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(P, X.T @ sys_.b, rtol=1e-12, atol=1e-14)
    # the plain series needs the mass below 1e-15: count its steps on the full chain
    y, plain_steps = sys_.pi0.copy(), 0
    while y.sum() >= markov.SERIES_TOL:
        y, plain_steps = sys_.QT @ y, plain_steps + 1
    assert len(products) < plain_steps / 2


@settings(max_examples=60, deadline=None)
@given(rows=long_path_rows, chunk=st.sampled_from([1, 2, 3, 7, 1 << 20]), collapse=st.booleans())
def test_chunked_order_one_counts_equal_the_one_pass_count(rows, chunk, collapse):
    """Order 1 counts transitions in chunks of whole paths from the uncollapsed codes (self-pairs
    dropped at the end); the one-pass count over the collapsed sequence (`_collapse`, `_pair_counts`)
    gives the same chain, for any chunk size (1 touch: every path its own chunk)."""
    from revline.attribution import markov
    from revline.attribution.paths import encode_paths

    enc = encode_paths(_paths(rows))
    old = markov._CHUNK_TOUCHES
    markov._CHUNK_TOUCHES = chunk
    try:
        chain = markov.fit_chain(enc, 1, collapse_repeats=collapse)
    finally:
        markov._CHUNK_TOUCHES = old
    n = len(enc.channels)
    sid, offsets = markov._collapse(enc.codes, enc.offsets) if collapse else (enc.codes, enc.offsets)
    expect = markov._pair_counts(sid, offsets, enc.conversions + enc.nulls, n).toarray()
    np.testing.assert_allclose(chain.counts.toarray(), expect, rtol=1e-13, atol=0)
    assert (chain.counts.toarray() != 0).sum() == (expect != 0).sum()  # no spurious or lost transitions


@settings(max_examples=80, deadline=None)
@given(
    rows=long_path_rows, order=st.integers(2, 4), chunk=st.sampled_from([1, 3, 8, 1 << 20]),
    collapse=st.booleans(), collapse_channels=st.booleans(),
)
def test_chunked_code_keyed_fit_equals_the_general_route(rows, order, chunk, collapse, collapse_channels):
    """Orders >= 2 over few channels count transitions by (origin state code, appended channel)
    over chunks of paths; the general route (every touch's state compacted, (from, to) pairs
    summed) gives the same chain: states, counts, start, conversion, null and value weights."""
    from revline.attribution import markov
    from revline.attribution.paths import encode_paths

    enc = encode_paths(_paths(rows))
    kw = {"collapse_repeats": collapse, "collapse_channels": collapse_channels}
    old_chunk, old_max = markov._CHUNK_TOUCHES, markov._CODE_KEYS_MAX
    try:
        markov._CHUNK_TOUCHES = chunk
        fast = markov.fit_chain(enc, order, **kw)
        markov._CODE_KEYS_MAX = 0  # the general route
        general = markov.fit_chain(enc, order, **kw)
    finally:
        markov._CHUNK_TOUCHES, markov._CODE_KEYS_MAX = old_chunk, old_max
    assert fast.state_codes.tolist() == general.state_codes.tolist()
    np.testing.assert_allclose(fast.counts.toarray(), general.counts.toarray(), rtol=1e-13, atol=0)
    assert fast.counts.nnz == general.counts.nnz
    for attr in ("start", "to_conv", "to_null", "conv_value"):
        np.testing.assert_allclose(getattr(fast, attr), getattr(general, attr), rtol=1e-13, atol=0)
