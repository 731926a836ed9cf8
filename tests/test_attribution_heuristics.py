"""Path-level first/last/linear (`revline.attribution.heuristics`) against the real
ChannelAttribution `heuristic_models`, on the shared mta_paths sample and on random paths."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from revline.attribution.heuristics import heuristic_models
from revline.attribution.paths import PathsError, read_paths

with contextlib.redirect_stdout(io.StringIO()):
    ChannelAttribution = pytest.importorskip("ChannelAttribution")

MTA = "/work/shared/data/mta_paths/paths.csv.gz"
VALUE_COLUMNS = [
    "first_touch_conversions", "first_touch_value", "last_touch_conversions", "last_touch_value",
    "linear_touch_conversions", "linear_touch_value",
]


def _peer(df: pd.DataFrame, var_value: str | None = "total_conversion_value") -> pd.DataFrame:
    with contextlib.redirect_stdout(io.StringIO()):
        return ChannelAttribution.heuristic_models(
            df, "path", "total_conversions", var_value=var_value, sep=">", flg_pro=False
        )


def _assert_same(ours: pd.DataFrame, peer: pd.DataFrame) -> None:
    assert list(ours.columns) == list(peer.columns)
    assert ours["channel_name"].tolist() == peer["channel_name"].tolist()
    for c in ours.columns[1:]:
        np.testing.assert_allclose(ours[c].to_numpy(), peer[c].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=c)


def test_mta_sample_matches_channelattribution():
    df = read_paths(MTA)
    _assert_same(heuristic_models(df), _peer(df))
    _assert_same(heuristic_models(df, var_value=None), _peer(df, None))


channel = st.sampled_from(["email", "paid_search", "display", "a b", "x", "events"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(channel, min_size=1, max_size=9),
            st.integers(0, 5),
            st.floats(0, 1e4, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([">", " > ", " >"]),
)
def test_random_paths_match_channelattribution(rows, joiner):
    df = pd.DataFrame(
        {
            "path": [joiner.join(p) for p, _, _ in rows],
            "total_conversions": [c for _, c, _ in rows],
            "total_conversion_value": [v for _, _, v in rows],
        }
    )
    _assert_same(heuristic_models(df, sep=">"), _peer(df))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(channel, min_size=1, max_size=6), st.floats(0, 10, allow_nan=False)),
        min_size=1,
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_totals_kept_and_row_order_free(rows, rnd):
    """Fractional conversions stay fractional (ChannelAttribution truncates them): every
    heuristic hands out exactly the table's conversions, whatever the row order."""
    df = pd.DataFrame({"path": [" > ".join(p) for p, _ in rows], "total_conversions": [c for _, c in rows]})
    df["total_conversion_value"] = df["total_conversions"] * 3.0
    res = heuristic_models(df).set_index("channel_name").sort_index()
    for c in VALUE_COLUMNS:
        total = df["total_conversions"].sum() * (3.0 if c.endswith("value") else 1.0)
        assert res[c].sum() == pytest.approx(total, rel=1e-9, abs=1e-9)
    perm = list(range(len(df)))
    rnd.shuffle(perm)
    shuffled = heuristic_models(df.iloc[perm].reset_index(drop=True)).set_index("channel_name").sort_index()
    pd.testing.assert_frame_equal(res, shuffled, check_exact=False, rtol=1e-12, atol=1e-12)


def test_worked_example_by_hand():
    df = pd.DataFrame(
        {"path": ["a > b > a", "c", "b > c"], "total_conversions": [3, 1, 0], "total_conversion_value": [30.0, 5.0, 8.0]}
    )
    res = heuristic_models(df).set_index("channel_name")
    assert res.index.tolist() == ["a", "b", "c"]
    assert res.loc["a", "first_touch_conversions"] == 3 and res.loc["a", "last_touch_conversions"] == 3
    assert res.loc["a", "linear_touch_conversions"] == pytest.approx(2.0)
    assert res.loc["b", "linear_touch_conversions"] == pytest.approx(1.0)
    # value is credited even where conversions are 0, as ChannelAttribution does
    assert res.loc["b", "first_touch_value"] == 8.0 and res.loc["c", "last_touch_value"] == 13.0
    assert res.loc["c", "linear_touch_value"] == pytest.approx(5.0 + 4.0)


@pytest.mark.parametrize(
    "df, message",
    [
        (pd.DataFrame({"path": ["a > b", "a >  > b"], "total_conversions": [1, 1]}), "row 2, field 'path'"),
        (pd.DataFrame({"path": ["a", "b"], "total_conversions": [1, -1]}), "row 2, field 'total_conversions'"),
        (pd.DataFrame({"path": ["a", "b"], "conv": [1, 1]}), "missing column 'total_conversions'"),
        (pd.DataFrame({"path": ["a", None], "total_conversions": [1, 1]}), "row 2, field 'path'"),
    ],
)
def test_bad_input_names_row_and_field(df, message):
    with pytest.raises(PathsError, match=message):
        heuristic_models(df, var_value=None, source="paths.csv")


def test_missing_value_column_is_an_error():
    with pytest.raises(PathsError, match="missing column 'total_conversion_value'"):
        heuristic_models(pd.DataFrame({"path": ["a"], "total_conversions": [1]}))


def test_cli_paths_heuristic(tmp_path):
    from revline.cli import app

    out = tmp_path / "h.csv"
    r = CliRunner().invoke(app, ["paths", "heuristic", MTA, "--out", str(out)])
    assert r.exit_code == 0, r.output
    _assert_same(pd.read_csv(out), _peer(read_paths(MTA)))
    bad = tmp_path / "bad.csv"
    bad.write_text("path,total_conversions\na > b,1\nc,x\n")
    r = CliRunner().invoke(app, ["paths", "heuristic", str(bad), "--out", str(out)])
    # Rich wraps long error lines at the terminal width, so compare with whitespace collapsed
    assert r.exit_code == 1 and "row 2" in " ".join(r.output.split())
