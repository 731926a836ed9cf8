"""Deals by a promoted dimension (owner, product, region...): won revenue, pipeline, win rate.

Why a report of its own: "revenue and win rate by rep, by product" is about deals, not about
touches, so it reads opportunities (not the credit ledger) and needs no attribution run. Money is
in USD by the one rule of revline.store.fx (won revenue at its close date's rate, pipeline at its
creation date's). Conventions:
* win rate = won / closed (won + lost) among the deals closed in the window; open deals do not
  count against it;
* `start`/`end` (inclusive dates) select won revenue and closed deals by close date, pipeline and
  opportunities created by creation date; open pipeline is what is open now, whatever the window;
* rows without a value for the dimension are one group, '(none)': shown, never dropped.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from revline.reports.tables import NotFound, ReportError, as_date
from revline.store.dimensions import DEFAULT_DIMENSIONS, available_dimensions, check_name, dimension_sql
from revline.store.fx import opportunities_usd_sql

DEAL_COLUMNS: tuple[str, ...] = (
    "opportunities_created", "pipeline_created", "open_pipeline", "closed_deals", "won_deals", "win_rate",
    "won_revenue", "defaulted_type_deals",
)


def deals_by(con: Any, dimension: str, revenue_type: str | None = None, start: Any = None, end: Any = None) -> pd.DataFrame:
    """One row per value of `dimension` (a promoted dimension of opportunities) with DEAL_COLUMNS,
    sorted by won revenue; NotFound when no opportunity holds the dimension (the message says how
    to promote a column)."""
    try:
        check_name(dimension)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    held = available_dimensions(con, "opportunity")
    if dimension not in held:
        hint = (f"no opportunity has a {dimension!r} column in its export" if dimension in DEFAULT_DIMENSIONS
                else f"{dimension!r} is not a promoted dimension")
        raise NotFound(f"{hint}; promote a source column with `revline ingest FILES --dimension {dimension}=Header` "
                       f"(dimensions held: {', '.join(held) or 'none'})")
    s, e = as_date(start, "start"), as_date(end, "end")
    lo = s or date(1, 1, 1)
    hi = e + timedelta(days=1) if e is not None and e < date(9999, 12, 31) else date(9999, 12, 31)
    where, params = "TRUE", []
    if revenue_type not in (None, "all"):
        where, params = "revenue_type = ?", [revenue_type]
    key = dimension_sql(dimension, "o", label_missing=True)
    df = con.execute(
        f"""
        SELECT {key} AS {dimension},
               count(*) FILTER (WHERE created) AS opportunities_created,
               coalesce(sum(pipeline_usd) FILTER (WHERE created), 0)::DOUBLE AS pipeline_created,
               coalesce(sum(pipeline_usd) FILTER (WHERE NOT coalesce(is_closed, FALSE)), 0)::DOUBLE AS open_pipeline,
               count(*) FILTER (WHERE closed) AS closed_deals,
               count(*) FILTER (WHERE closed AND coalesce(is_won, FALSE)) AS won_deals,
               count(*) FILTER (WHERE closed AND coalesce(is_won, FALSE)) / nullif(count(*) FILTER (WHERE closed), 0)
                   AS win_rate,
               coalesce(sum(revenue_usd) FILTER (WHERE closed AND coalesce(is_won, FALSE)), 0)::DOUBLE AS won_revenue,
               count(*) FILTER (WHERE coalesce(type_defaulted, FALSE) AND (created OR closed)) AS defaulted_type_deals
        FROM (SELECT *, created_at >= ? AND created_at < ? AS created,
                        coalesce(is_closed, FALSE) AND closed_at >= ? AND closed_at < ? AS closed
              FROM {opportunities_usd_sql(con)} o WHERE {where}) o
        GROUP BY 1 ORDER BY won_revenue DESC, 1""",  # noqa: S608 - dimension checked by check_name; store.fx SQL; values bound
        [lo, hi, lo, hi, *params],
    ).df()
    return df[[dimension, *DEAL_COLUMNS]]


def defaulted_types_note(con, milestone: str, revenue_type: str | None) -> str | None:
    """How many of the deals a report at (milestone, revenue type) includes had no or an unknown
    deal type and count as new_business (issue #23.1: stated in every report including them)."""
    if milestone not in ("opportunity", "won") or revenue_type not in (None, "all", "new_business"):
        return None
    won = " AND is_won" if milestone == "won" else ""
    n = con.execute(f"SELECT count(*) FROM opportunities WHERE type_defaulted{won}").fetchone()[0]  # noqa: S608 - fixed text
    if not n:
        return None
    what = "won deal" if milestone == "won" else "deal"
    return (f"includes {n:,} {what}{'s' if n != 1 else ''} without a known deal type, counted as new_business "
            f"(map types with `revline ingest --type-map`)")


def deals_total(df: pd.DataFrame) -> dict[str, float]:
    """The company-wide row of a `deals_by` table (win rate recomputed from the counts)."""
    tot = {c: float(df[c].sum()) for c in DEAL_COLUMNS if c != "win_rate"}
    tot["win_rate"] = tot["won_deals"] / tot["closed_deals"] if tot["closed_deals"] else float("nan")
    return tot
