"""The portable transforms give the same rows on every backend, and read exactly what they declare.

`portable_backend` (tests/conftest.py) is parametrised by backend, as Ibis's own suite is: DuckDB,
and local PySpark under the `spark` marker. Every backend holds the same canonical rows in its
own shuffled order, and each transform's result must equal a DuckDB reference loaded in a third
order: every rule model's credits (all models in one `credited_touches`, as the runner uses it),
the unattributed rows, one full `attribute` ledger, the journeys' milestones, the channel
paths Markov and Shapley are fitted on, the ROI's sums over a ledger and spend, and the account
funnel's stage dates, counts and median days.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import pytest

from conftest import PORTABLE_TABLES, duckdb_portable_store, portable_ledger
from revline.attribution import attribute
from revline.attribution.config import BUILTIN_MODELS
from revline.attribution.eligibility import (
    SCOPES,
    Target,
    conversions,
    eligible_touches,
    lead_conversions,
    milestone_events,
    opportunity_conversions,
    scoped_touches,
)
from revline.attribution.paths import paths_expr, paths_frame
from revline.attribution.positions import with_positions
from revline.attribution.rules import credited_touches, unattributed_rows
from revline.journeys.funnel import funnel_expr, funnel_rows, lost_expr, stage_dates_expr
from revline.journeys.milestones import MILESTONE_COLUMNS, TABLES_READ, milestones_expr
from revline.reports.roi import roi_from_sums, roi_sums_expr
from revline.store import ibis_backend
from revline.store.portable import PORTABLE, tables_read

CASES = [("won", "account", None), ("opportunity", "contact_roles", 30.0), ("lead", "account", None),
         ("mql", "person", None)]


@pytest.fixture(scope="module")
def reference():
    con = duckdb_portable_store(0)
    portable_ledger(con)
    yield ibis_backend(con)
    con.close()


def _frame(expr: Any, sort: list[str]) -> pd.DataFrame:
    """An expression's rows (or a frame) sorted, timestamps at one resolution."""
    df = expr.copy() if isinstance(expr, pd.DataFrame) else expr.to_pandas()
    for c in df.columns:
        if str(df[c].dtype).startswith("datetime"):
            df[c] = df[c].astype("datetime64[us]")
    return df.sort_values(sort, na_position="first").reset_index(drop=True)


def _credits(be: Any, milestone: str, scope: str, lookback: float | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    conv, keys = conversions(be, milestone, scope=scope, lookback_days=lookback)
    p = with_positions(eligible_touches(be, conv, keys))
    credited = credited_touches(p, BUILTIN_MODELS, half_life_days=5.0)
    cols = ["conversion_id", "touchpoint_id", "touch_position", "amount_usd"] + [f"credit__{m}" for m in BUILTIN_MODELS]
    return (_frame(credited.select(*cols), ["conversion_id", "touchpoint_id"]),
            _frame(unattributed_rows(conv, p), ["conversion_id"]))


@pytest.mark.parametrize("milestone,scope,lookback", CASES)
def test_credits_equal_the_reference(portable_backend, reference, milestone, scope, lookback):
    (dc, dl), (bc, bl) = _credits(reference, milestone, scope, lookback), _credits(portable_backend, milestone, scope, lookback)
    assert len(dc) > 5, "the fixture must exercise real journeys"
    pd.testing.assert_frame_equal(bc, dc, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(bl, dl, check_dtype=False, rtol=1e-9)


def test_full_ledger_of_one_model_equal(portable_backend, reference):
    frames = [_frame(attribute(be, "w_shaped", "won", revenue_type="new_business"), ["conversion_id", "touchpoint_id"])
              for be in (reference, portable_backend)]
    assert frames[0]["conversion_id"].nunique() > 3
    pd.testing.assert_frame_equal(frames[1], frames[0], check_dtype=False, rtol=1e-9)


def test_milestones_equal(portable_backend, reference):
    frames = [_frame(milestones_expr({n: be.table(n) for n in TABLES_READ}), list(MILESTONE_COLUMNS))
              for be in (reference, portable_backend)]
    assert set(frames[0]["object_type"]) == {"person", "account", "opportunity"}
    pd.testing.assert_frame_equal(frames[1], frames[0], check_dtype=False)


@pytest.mark.parametrize("milestone,scope,lookback", [*CASES, ("opportunity", "person", None)])
def test_paths_equal_the_reference(portable_backend, reference, milestone, scope, lookback):
    target = Target(milestone, None, scope, lookback)  # type: ignore[arg-type]
    ref, got = (paths_frame(paths_expr(be, target)) for be in (reference, portable_backend))
    assert ref["total_conversions"].sum() > 3 and ref["total_null"].sum() > 0 and (ref["path"].str.count(">") > 1).any()
    pd.testing.assert_frame_equal(got, ref, check_dtype=False, rtol=1e-9)


ROI_CASES = [("linear", "won", "all", "channel", None, None, None), ("w_shaped", "won", "new_business", "campaign", None, None, None),
             ("linear", "opportunity", "renewal", "month", None, "2024-02-01", "2024-03-15"),
             ("w_shaped", "won", "all", "month", "EMEA", None, None), ("linear", "mql", None, "channel", "unknown", None, None),
             ("linear", "won", "new_business", "channel", "other", "2024-01-15", None)]


@pytest.mark.parametrize("model,milestone,revenue_type,by,segment,start,end", ROI_CASES)
def test_roi_sums_equal_the_reference(portable_backend, reference, model, milestone, revenue_type, by, segment, start, end):
    key = {"channel": "channel", "campaign": "campaign_id", "month": "month"}[by]
    sums = [_frame(roi_sums_expr(be, model, milestone, revenue_type, by, start, end, segment=segment), ["part", key])
            for be in (reference, portable_backend)]
    for df in sums:
        if by == "month":
            df["month"] = pd.to_datetime(df["month"]).astype("datetime64[us]")
    assert set(sums[0]["part"]) >= {"spend", "revenue"} and sums[0]["credit"].sum() > 0
    pd.testing.assert_frame_equal(sums[1], sums[0], check_dtype=False, rtol=1e-9)
    if by != "campaign":  # the table itself (campaigns need the hierarchy of a DuckDB store)
        tables = [roi_from_sums(df, by, segment=segment) for df in sums]
        pd.testing.assert_frame_equal(tables[1], tables[0], check_dtype=False, rtol=1e-9)


@pytest.mark.parametrize("model,milestone,revenue_type,by,segment,start,end", ROI_CASES)
def test_roi_sums_equal_the_store_sql(reference, model, milestone, revenue_type, by, segment, start, end):
    """On DuckDB the portable sums equal the reports' SQL (`ledger_sums`, `spend_by`) they replace in ROI."""
    from revline.reports.roi import _RAW_KEY, roi_parts, spend_by
    from revline.reports.tables import ledger_sums

    con, key = reference.con, _RAW_KEY[by]
    got = _frame(roi_sums_expr(reference, model, milestone, revenue_type, by, start, end, segment=segment), ["part", key])
    for part, (ms, rt) in roi_parts(milestone, revenue_type).items():
        want = ledger_sums(con, [key], [model], ms, rt, touch_start=start, touch_end=end, segment=segment)
        mine = got[got["part"] == part]
        assert len(mine) == len(want)
        pd.testing.assert_frame_equal(_frame(mine[[key, "credit", "revenue_credit"]], [key]), _frame(want, [key]),
                                      check_dtype=False, rtol=1e-9)
    spend = spend_by(con, by, start, end)
    assert got["spend"].sum() == pytest.approx(spend["spend"].sum(), rel=1e-12)
    if by == "channel":
        mine = got[got["part"] == "spend"].set_index("channel")["spend"].sort_index()
        pd.testing.assert_series_equal(mine, spend.set_index("channel")["spend"].sort_index(), check_dtype=False,
                                       rtol=1e-12, check_names=False)


FUNNEL_CASES = [("new_business", None, None), ("new_business", "2024-01-05", "2024-01-20"), ("renewal", None, None),
                ("new_business", "2024-01-12", None), ("new_business", "2031-01-01", None)]  # the last: no account


def _funnel(be: Any, revenue_type: str, start: Any, end: Any) -> pd.DataFrame:
    return funnel_rows(funnel_expr(be, start, end, revenue_type).to_pandas().iloc[0].to_dict(), revenue_type)


@pytest.mark.parametrize("revenue_type,start,end", FUNNEL_CASES)
def test_funnel_equal_the_reference(portable_backend, reference, revenue_type, start, end):
    dates = [_frame(stage_dates_expr(be, revenue_type), ["account_id"]) for be in (reference, portable_backend)]
    pd.testing.assert_frame_equal(dates[1], dates[0], check_dtype=False)
    tables = [_funnel(be, revenue_type, start, end) for be in (reference, portable_backend)]
    if start == "2031-01-01":  # an empty cohort: NULL sums (NaN on Spark) are zero counts, not an error
        assert tables[0]["count"].eq(0).all() and tables[0]["days_median"].isna().all()
    else:
        assert tables[0]["count"].iloc[0] > 3 and tables[0]["days_median"].notna().any()
    pd.testing.assert_frame_equal(tables[1], tables[0], check_dtype=False, rtol=1e-9)


@pytest.mark.parametrize("revenue_type,start,end", FUNNEL_CASES)
def test_funnel_expr_equals_the_pandas_funnel(reference, revenue_type, start, end):
    """On DuckDB the portable funnel equals revline.models.funnel's account level, computed in
    pandas over the units (cumulative reach, Wilson intervals, days in stage to the next recorded
    stage or the loss, out-of-order records): the table `revline funnel --level account` prints."""
    from revline.models.funnel import funnel_report

    got = _funnel(reference, revenue_type, start, end)
    want = funnel_report(reference.con, "account", revenue_type=revenue_type, start=start, end=end).stages
    assert start == "2031-01-01" or (want["count"].iloc[0] > 3 and want["days_n"].sum() > 0)
    pd.testing.assert_frame_equal(got, want[list(got.columns)].reset_index(drop=True), check_dtype=False, rtol=1e-12)


# ---------------------------------------------------------------- what each transform reads
class _Recording:
    """A backend that remembers which tables a transform asked it for."""

    def __init__(self, be: Any) -> None:
        self.be, self.names = be, set()

    def table(self, name: str) -> Any:
        self.names.add(name)
        return self.be.table(name)


class _RecordingTables(Mapping[str, Any]):
    """The table mapping `milestones_expr` takes, recording each table it reads."""

    def __init__(self, rec: _Recording) -> None:
        self.rec = rec

    def __getitem__(self, name: str) -> Any:
        return self.rec.table(name)

    def __contains__(self, name: object) -> bool:
        return name in PORTABLE_TABLES

    def __iter__(self) -> Iterator[str]:
        return iter(PORTABLE_TABLES)

    def __len__(self) -> int:
        return len(PORTABLE_TABLES)


def _calls(ref: Any) -> dict[str, list]:
    """Per portable transform, calls that take every branch reading a table."""
    conv, keys = conversions(ref, "won")
    return {
        "revline.attribution.eligibility.milestone_events": [milestone_events],
        "revline.attribution.eligibility.opportunity_conversions":
            [lambda be, s=s: opportunity_conversions(be, Target("won", scope=s)) for s in SCOPES],
        "revline.attribution.eligibility.lead_conversions":
            [lambda be, s=s: lead_conversions(be, Target("mql", scope=s)) for s in SCOPES],
        "revline.attribution.eligibility.scoped_touches": [scoped_touches],
        "revline.attribution.eligibility.conversions":
            [lambda be, m=m, s=s: conversions(be, m, scope=s) for m in ("won", "lead") for s in SCOPES],
        "revline.attribution.eligibility.eligible_touches": [lambda be: eligible_touches(be, conv, keys)],
        "revline.attribution.runner.attribute":
            [lambda be, m=m, s=s: attribute(be, "linear", m, scope=s) for m in ("won", "lead") for s in SCOPES],
        "revline.journeys.milestones.milestones_expr": [lambda be: milestones_expr(_RecordingTables(be))],
        "revline.journeys.funnel.stage_dates_expr": [lambda be: stage_dates_expr(be, "new_business")],
        "revline.journeys.funnel.funnel_expr": [lambda be: funnel_expr(be, "2024-01-01", None, "renewal")],
        "revline.journeys.funnel.lost_expr": [lambda be: lost_expr(be, "new_business")],
        "revline.reports.roi.roi_sums_expr":
            [lambda be: roi_sums_expr(be, "linear", "won", "all", "month", segment="EMEA"),
             lambda be: roi_sums_expr(be, "linear", "mql", None, "channel")],
        "revline.attribution.paths.paths_expr":
            [lambda be, m=m, s=s: paths_expr(be, Target(m, scope=s)) for m in ("won", "lead") for s in SCOPES],  # type: ignore[arg-type]
    }


def test_every_portable_transform_reads_what_it_declares(reference):
    calls = _calls(reference)
    assert set(calls) == set(PORTABLE), "a new portable transform needs its calls here"
    for name, fns in calls.items():
        seen: set[str] = set()
        for fn in fns:
            rec = _Recording(reference)
            fn(rec)
            seen |= rec.names
        assert seen == tables_read(PORTABLE[name]), name
