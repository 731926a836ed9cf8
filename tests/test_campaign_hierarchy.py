"""Properties of the campaign hierarchy (reports.campaigns) on random forests of Campaign.ParentId:
every campaign's program is a top (no parent in the table, or a parent the table lacks), the
rollup to programs and the 'in hierarchy' sums keep the totals, and a ParentId cycle ends."""

from __future__ import annotations

import duckdb
import pytest
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.reports.campaigns import MAX_DEPTH, ancestors, hierarchy_sums, programs, to_program


def _store(parents: list[int | None], missing: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE campaigns (campaign_id VARCHAR, name VARCHAR, parent_id VARCHAR)")
    rows = [(f"c{i}", f"Campaign {i}", None if p is None else f"c{p}") for i, p in enumerate(parents)]
    if missing and rows:  # a parent the table does not hold (ParentId of a deleted campaign)
        rows[0] = (rows[0][0], rows[0][1], "gone")
    con.executemany("INSERT INTO campaigns VALUES (?, ?, ?)", rows)
    return con


forests = st.integers(1, 12).flatmap(lambda n: st.lists(
    st.one_of(st.none(), st.integers(0, n - 1)), min_size=n, max_size=n))


@settings(max_examples=30, deadline=None)
@given(parents=forests, missing=st.booleans(), values=st.lists(st.floats(0, 1e6), min_size=12, max_size=12))
def test_rollups_keep_totals_and_end_on_cycles(parents, missing, values):
    con = _store(parents, missing)
    table = dict(con.execute("SELECT campaign_id, parent_id FROM campaigns").fetchall())
    top = programs(con)
    assert set(top) == set(table)
    for c, p in top.items():
        # a top has no parent in the table, unless a cycle stopped the walk after MAX_DEPTH steps
        walk, seen = c, set()
        while table.get(walk) and table[walk] != walk and walk not in seen:
            seen.add(walk)
            walk = table[walk]
        cyclic = walk in seen or table.get(walk) == walk
        if not cyclic:
            assert p == walk
    up = ancestors(con)
    assert (up.groupby("campaign_id")["depth"].max() <= MAX_DEPTH).all()
    own = pd.DataFrame({"campaign": list(table), "spend": values[: len(table)]})
    rolled = own.assign(campaign=to_program(own["campaign"], con)).groupby("campaign")["spend"].sum()
    assert rolled.sum() == pytest.approx(own["spend"].sum())
    h = hierarchy_sums(own, "campaign", ["spend"], con).set_index("campaign")
    assert (h["hierarchy_spend"] >= h["spend"] - 1e-6).all()  # a campaign's hierarchy holds at least itself
    acyclic_tops = [c for c in table if top[c] == c and not table.get(c)]
    for t in acyclic_tops:  # a top's hierarchy is its whole tree: the campaigns whose program it is
        tree = [c for c in table if top[c] == t]
        assert h.loc[t, "hierarchy_spend"] == pytest.approx(own.set_index("campaign").loc[tree, "spend"].sum())
