"""Property tests of `distribute.data_driven_rows`, the one Ibis expression that turns Markov's and
Shapley's channel weights into ledger rows (on DuckDB here; on Spark in tests/test_engine.py).

Invariants: every conversion is in the rows (attributed or one '(unattributed)' row), its credits
sum to 1 and its revenue credit to its amount (0 when missing); credit never negative; within a
conversion each channel's share follows its weight (negative or missing weights count as 0, all
zero: an even split over the channels), spread evenly over the channel's touches; and splitting
many runs at once (`by=("run_id",)`, as attribution.on_engine does) gives each run the rows it
gets alone (as the DuckDB runner computes it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.attribution.distribute import data_driven_rows, weights_table
from revline.vocabulary import UNATTRIBUTED

CHANNELS = ["paid_search", "email", "webinar", "events"]
T0 = datetime(2024, 1, 1)
CONV = {"conversion_id": "string", "conversion_type": "string", "amount_usd": "float64", "revenue_type": "string"}
TOUCH = {**CONV, "touchpoint_id": "string", "channel": "string", "campaign_id": "string", "occurred_at": "timestamp"}


@st.composite
def cases(draw) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, float]]]:
    """Conversions (some without touches, some without an amount), their touches, and the channel
    weights of a few runs (some channels missing, some negative, sometimes all zero)."""
    convs, touches = [], []
    for c in range(draw(st.integers(1, 5))):
        amount = draw(st.one_of(st.none(), st.floats(0, 1e6)))
        convs.append({"conversion_id": f"C{c}", "conversion_type": "opportunity", "amount_usd": amount,
                      "revenue_type": "new_business"})
        for i in range(draw(st.integers(0, 6))):
            touches.append({**convs[-1], "touchpoint_id": f"C{c}T{i}", "channel": draw(st.sampled_from(CHANNELS)),
                            "campaign_id": None, "occurred_at": T0 + timedelta(days=i)})
    weight = st.one_of(st.floats(-1, 1), st.just(0.0))
    runs = draw(st.lists(st.dictionaries(st.sampled_from(CHANNELS), weight), min_size=1, max_size=3))
    return (pd.DataFrame(convs, columns=list(CONV)).astype({"amount_usd": "float64"}),
            pd.DataFrame(touches, columns=list(TOUCH)), runs)


def _split(con, conv: pd.DataFrame, touches: pd.DataFrame, weights, by=()) -> pd.DataFrame:
    conv_t, touch_t = ibis.memtable(conv, schema=CONV), ibis.memtable(touches, schema=TOUCH)
    return con.to_pandas(data_driven_rows(conv_t, touch_t, weights, by))


def _expected(conv: pd.DataFrame, touches: pd.DataFrame, weights: dict[str, float]) -> dict[tuple[str, str], float]:
    """Each (conversion, touch)'s credit by the rule in distribute's docstring, written plainly."""
    out = {}
    for cid, mine in touches.groupby("conversion_id"):
        per = mine.groupby("channel").size()
        w = {ch: max(weights.get(ch, 0.0), 0.0) for ch in per.index}
        total = sum(w.values())
        for tid, ch in mine[["touchpoint_id", "channel"]].itertuples(index=False, name=None):
            share = w[ch] / total if total > 0 else 1.0 / len(per)
            out[(cid, tid)] = share / per[ch]
    return out


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
def test_the_split_sums_to_one_follows_the_weights_and_runs_split_alike_together(con, case):
    conv, touches, runs = case
    together = []
    for i, weights in enumerate(runs):
        rows = _split(con, conv, touches, weights_table(weights))
        # every conversion is there; credits sum to 1, revenue credits to the amount (0 when missing)
        sums = rows.groupby("conversion_id").agg(c=("credit", "sum"), rc=("revenue_credit", "sum"))
        assert set(sums.index) == set(conv["conversion_id"])
        assert (sums["c"] - 1).abs().max() < 1e-9 and rows["credit"].min() >= 0
        amount = conv.set_index("conversion_id")["amount_usd"].fillna(0.0).reindex(sums.index)
        assert ((sums["rc"] - amount).abs() <= 1e-9 * (1 + amount.abs())).all()
        lost = rows[rows["touchpoint_id"].isna()]
        assert set(lost["conversion_id"]) == set(conv["conversion_id"]) - set(touches["conversion_id"])
        assert (lost["channel"] == UNATTRIBUTED).all() and (lost["credit"] == 1.0).all()
        got = {(c, t): v for c, t, v in rows.dropna(subset=["touchpoint_id"])[
            ["conversion_id", "touchpoint_id", "credit"]].itertuples(index=False, name=None)}
        want = _expected(conv, touches, weights)
        assert got.keys() == want.keys() and all(abs(got[k] - want[k]) < 1e-9 for k in want)
        together.append(rows.assign(run_id=f"r{i}"))

    # every run at once, each conversion and touch once per run: the same rows per run
    def per_run(df: pd.DataFrame) -> pd.DataFrame:
        return df.merge(pd.DataFrame({"run_id": [f"r{i}" for i in range(len(runs))]}), how="cross")

    weights = ibis.union(*[weights_table(w, run_id=f"r{i}") for i, w in enumerate(runs)], distinct=False)
    conv_t = ibis.memtable(per_run(conv), schema={**CONV, "run_id": "string"})
    touch_t = ibis.memtable(per_run(touches), schema={**TOUCH, "run_id": "string"})
    at_once = con.to_pandas(data_driven_rows(conv_t, touch_t, weights, ("run_id",)))
    key = ["run_id", "conversion_id", "touchpoint_id"]
    expected = pd.concat(together, ignore_index=True).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(at_once[expected.columns].sort_values(key).reset_index(drop=True), expected,
                                  check_exact=False, rtol=1e-12)
