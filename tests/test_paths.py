"""Paths: parsing, reading, export from the store, and credit distribution to the ledger."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from revline.attribution.distribute import data_driven_rows, run_markov, run_shapley, weights_table
from revline.attribution.eligibility import Target, conversions, eligible_touches
from revline.attribution.paths import (
    PathsError,
    conversion_touches,
    decode_paths,
    encode_paths,
    export_paths,
    paths_expr,
    paths_frame,
    paths_from_touches,
    read_paths,
)
from revline.store import connect, ibis_backend

MTA = "/work/shared/data/mta_paths/paths.csv.gz"


# ------------------------------------------------------------------ parsing and reading

@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["email", "paid_search", "a b", "x"]), min_size=1, max_size=7), min_size=1, max_size=20))
def test_encode_decode_round_trip(paths):
    df = pd.DataFrame({"path": [" > ".join(p) for p in paths], "total_conversions": 1.0})
    enc = encode_paths(df)
    assert decode_paths(enc) == df["path"].tolist()
    assert list(enc.channels) == sorted(enc.channels)
    assert (enc.lengths == [len(p) for p in paths]).all()
    collapsed = decode_paths(enc.collapse_repeats())
    expected = [" > ".join(c for i, c in enumerate(p) if i == 0 or p[i - 1] != c) for p in paths]
    assert collapsed == expected


def test_separator_whitespace_is_trimmed():
    a = encode_paths(pd.DataFrame({"path": ["a>b", "a >b", " a > b "], "total_conversions": 1}), sep=">")
    assert a.channels == ("a", "b")
    assert a.codes.tolist() == [0, 1] * 3


def test_read_paths_gz_and_errors(tmp_path):
    df = read_paths(MTA)
    assert list(df.columns) == ["path", "total_conversions", "total_conversion_value", "total_null"]
    assert len(df) == 10_000
    f = tmp_path / "p.csv.gz"
    with gzip.open(f, "wt") as fh:
        fh.write("path,total_conversions,total_null\na > b,1,2\nb,2,-1\n")
    with pytest.raises(PathsError, match=r"p\.csv\.gz: row 2, field 'total_null'"):
        read_paths(f)
    g = tmp_path / "q.csv"
    g.write_text("channels,total_conversions\na,1\n")
    with pytest.raises(PathsError, match="missing column 'path'"):
        read_paths(g)
    h = tmp_path / "r.csv"
    h.write_text("path,total_conversions\na,1\n,2\n")
    with pytest.raises(PathsError, match=r"row 2, field 'path'"):
        read_paths(h)


# ------------------------------------------------------------------ a tiny store

@pytest.fixture
def store():
    con = connect(":memory:")
    con.execute("INSERT INTO accounts (account_id, name) VALUES ('A1','a1'),('A2','a2'),('A3','a3'),('A4','a4'),('A5','a5')")
    con.execute("INSERT INTO people (person_id, account_id) VALUES ('P1','A1'),('P2','A2'),('P3','A3'),('P5','A5')")
    con.execute(
        """INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel, campaign_id) VALUES
        ('t1','2024-01-01','P1',NULL,'email','c1'),      -- account through the person
        ('t2','2024-01-02','P1','A1','paid_search','c2'),
        ('t3','2024-01-03',NULL,'A1','email','c1'),
        ('t4','2024-03-01',NULL,'A1','events',NULL),     -- after A1's win: not eligible
        ('t5','2024-01-05','P2','A2','display',NULL),
        ('t6','2024-01-06','P3','A3','email',NULL),      -- A3 only has a renewal: non-converting
        ('t7','2024-01-07','P5','A5','webinar',NULL),
        ('t8','2024-01-08','P5','A5','email',NULL)"""
    )
    con.execute(
        """INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, created_at, closed_at, is_closed, is_won) VALUES
        ('O1','A1','new_business',1000,'2024-01-10','2024-02-01',true,true),
        ('O2','A2','new_business',500,'2024-01-10','2024-02-01',true,true),
        ('O3','A4','new_business',700,'2024-01-10','2024-02-01',true,true),   -- no touches: unattributed
        ('O4','A3','renewal',700,'2024-01-10','2024-02-01',true,true),
        ('O5','A5','new_business',300,'2024-01-09','2024-02-01',true,false)"""
    )
    yield con
    con.close()


def test_export_paths_from_store(store):
    df = export_paths(store, "won", "new_business")
    got = {r.path: (r.total_conversions, r.total_conversion_value, r.total_null) for r in df.itertuples()}
    assert got == {
        "email > paid_search > email": (1.0, 1000.0, 0.0),
        "display": (1.0, 500.0, 0.0),
        "email": (0.0, 0.0, 1.0),  # A3 never won new business
        "webinar > email": (0.0, 0.0, 1.0),  # A5 lost
    }
    opp = export_paths(store, "opportunity", "new_business")
    assert opp["total_conversions"].sum() == 3  # O1, O2, O5 have touches before creation
    with pytest.raises(ValueError, match="milestone"):
        export_paths(store, "bogus")


@pytest.mark.parametrize("rows_seed", [11, 12, 13])
@pytest.mark.parametrize("milestone,scope,lookback,weighted", [
    ("won", "account", None, False), ("won", "contact_roles", 20.0, False), ("opportunity", "account", None, True),
    ("opportunity", "person", 45.0, False), ("lead", "account", None, False), ("mql", "person", None, False),
    ("sql", "contact_roles", None, False)])
def test_paths_expr_equals_the_pandas_journeys(rows_seed, milestone, scope, lookback, weighted):
    """The portable paths expression gives exactly the paths of the journeys `conversion_touches`
    returns (grouped and joined in pandas, as the data-driven models were before)."""
    from conftest import duckdb_portable_store
    from revline.attribution.eligibility import Target

    con = duckdb_portable_store(0, rows_seed)
    target = Target(milestone, None, scope, lookback, weighted)  # type: ignore[arg-type]
    conv, touches = conversion_touches(con, target)
    ref = paths_from_touches(conv, touches)
    got = paths_frame(paths_expr(ibis_backend(con), target))
    con.close()
    assert len(ref) > 3 and (milestone == "sql" or ref["total_conversions"].sum() > 0)
    pd.testing.assert_frame_equal(got, ref.reset_index(drop=True), check_dtype=False, rtol=1e-12)


def test_ledger_touches_without_the_non_converting(store):
    conv, everything = conversion_touches(store, "won", "new_business")
    _, converting = conversion_touches(store, "won", "new_business", non_converting=False)
    pd.testing.assert_frame_equal(converting, everything[everything["conversion_id"].notna()].reset_index(drop=True))


def test_distribute_invariants(store):
    """The split `run_markov`/`run_shapley` write (distribute.data_driven_rows) on the hand store;
    its properties on random cases are tests/test_attribution_split.py's."""
    be = ibis_backend(store)
    conv, keys = conversions(be, Target("won", "new_business", "account", None, False))
    weights = weights_table({"email": 3.0, "paid_search": 1.0, "display": 0.0})
    rows = be.to_pandas(data_driven_rows(conv, eligible_touches(be, conv, keys), weights))
    sums = rows.groupby("conversion_id")[["credit", "revenue_credit"]].sum()
    assert np.allclose(sums["credit"], 1.0)
    amounts = be.to_pandas(conv).set_index("conversion_id")["amount_usd"]
    assert np.allclose(sums["revenue_credit"], amounts.reindex(sums.index))
    o1 = rows[rows.conversion_id == "O1"].set_index("touchpoint_id")["credit"]
    # email weighs 3 of 4 and has two touches in O1; paid_search 1 of 4
    assert o1.to_dict() == pytest.approx({"t1": 0.375, "t3": 0.375, "t2": 0.25})
    # display weighs 0 but is O2's only channel: it still gets the whole conversion
    assert rows.loc[rows.conversion_id == "O2", "credit"].tolist() == [1.0]
    un = rows[rows.conversion_id == "O3"]
    assert un["channel"].tolist() == ["(unattributed)"] and un["touchpoint_id"].isna().all()
    assert un["revenue_credit"].tolist() == [700.0]


def test_run_markov_and_shapley_write_ledger(store):
    from revline.attribution import MODELS, run_models

    rid = run_markov(store, "won", "new_business", order=2)
    led = store.execute("SELECT * FROM credit_ledger WHERE run_id = ?", [rid]).df()
    assert set(led["model"]) == {"markov_o2"}
    assert led.groupby("conversion_id")["credit"].sum().round(9).eq(1.0).all()
    assert led["revenue_credit"].sum() == pytest.approx(2200.0)
    run = store.execute("SELECT unattributed, opportunities FROM attribution_runs WHERE run_id = ?", [rid]).fetchone()
    assert run == (1, 3)
    assert {"markov", "shapley"} <= set(MODELS)
    ids = run_models(store, models=["markov", "shapley"], milestones=["won", "mql"], revenue_types=["new_business"])
    assert len(ids) == 4
    rs = run_shapley(store, "won", "new_business")
    assert store.execute("SELECT count(DISTINCT conversion_id) FROM credit_ledger WHERE run_id = ?", [rs]).fetchone()[0] == 3


def test_cli_export_markov_shapley(store, tmp_path):
    from revline.cli import app

    db = tmp_path / "s.duckdb"
    store.execute(f"ATTACH '{db}' AS f")
    store.execute("COPY FROM DATABASE memory TO f")
    store.execute("DETACH f")
    runner = CliRunner()
    out = tmp_path / "paths.csv"
    r = runner.invoke(app, ["paths", "export", str(out), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert len(read_paths(out)) == 4
    m = tmp_path / "m.csv"
    tm = tmp_path / "tm.csv"
    r = runner.invoke(app, ["paths", "markov", MTA, "--order", "2", "--out", str(m), "--transition-matrix", str(tm)])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(m)
    assert {"channel_name", "total_conversions", "total_conversion_value", "removal_effect"} <= set(res.columns)
    assert res["total_conversions"].sum() == pytest.approx(read_paths(MTA)["total_conversions"].sum())
    assert pd.read_csv(tm).groupby("channel_from")["transition_probability"].sum().round(9).eq(1).all()
    s = tmp_path / "s.csv"
    r = runner.invoke(app, ["paths", "shapley", MTA, "--out", str(s), "--ordered"])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(s)) == 12 and (tmp_path / "s_by_position.csv").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("path,total_conversions\na,1\nb,-2\n")
    r = runner.invoke(app, ["paths", "markov", str(bad), "--out", str(m)])
    assert r.exit_code == 1 and "row 2" in r.output


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "email", " paid search ", "x" * 24, "ünïcode", "organic_social", "b\t"]), min_size=1, max_size=6),
        min_size=1, max_size=15,
    )
)
def test_byte_tokenizer_matches_arrow_split(paths):
    """The fast byte-level tokenizer and pyarrow's split (forced by a 2-byte separator) agree."""
    one = pd.DataFrame({"path": [">".join(p) for p in paths], "total_conversions": 1})
    two = pd.DataFrame({"path": ["->".join(p) for p in paths], "total_conversions": 1})
    a, b = encode_paths(one, sep=">"), encode_paths(two, sep="->")
    assert a.channels == b.channels
    assert a.codes.tolist() == b.codes.tolist() and a.offsets.tolist() == b.offsets.tolist()
    assert decode_paths(a) == [" > ".join(t.strip() for t in p) for p in paths]


def test_long_channel_names_fall_back():
    df = pd.DataFrame({"path": ["a_very_long_channel_name_over_24_bytes > b", "b"], "total_conversions": 1})
    enc = encode_paths(df)
    assert enc.channels == ("a_very_long_channel_name_over_24_bytes", "b")


