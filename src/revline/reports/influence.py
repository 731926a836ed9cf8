"""Sourced vs influenced pipeline: which channel (or campaign) started an opportunity, and which
touched it in the run-up to its creation.

Why a window: counting any earlier touch as influence makes the always-on channels influence
nearly everything (email "influenced" 443 of 454 demo opportunities: every account gets a
newsletter at some point). Influence is therefore counted per opportunity, not per touch, and
only for touches in the `window_days` (default vocabulary.DEFAULT_INFLUENCE_WINDOW_DAYS) before
the opportunity was created:

* influenced: the opportunity's account (the touch's account, else its person's account) had at
  least one touch of the channel dated in [created_at - window_days, created_at]; each
  opportunity counts once per channel, with its whole amount (USD);
* sourced: the first-touch model's credit at opportunity creation (`sourced_by='first_touch'`,
  the attribution run's own lookback), or the opportunity's primary campaign as the CRM records
  it (`'campaign'`).

Dates filter on opportunity creation; `revenue_type` and `segment` (region) as in every report.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from revline.reports.campaigns import PROGRAMS_SQL, check_level, with_names
from revline.reports.errors import ReportError, as_date
from revline.reports.segments import segment_accounts_sql
from revline.reports.tables import ledger_sums, require_run
from revline.store.fx import opportunities_usd_sql
from revline.vocabulary import DEFAULT_INFLUENCE_WINDOW_DAYS, DEFAULT_REVENUE_TYPE

NONE_KEY = "(none)"
COLUMNS: tuple[str, ...] = (
    "sourced_opportunities", "sourced_pipeline", "influenced_opportunities", "influenced_pipeline",
    "influenced_share", "influence_ratio",
)


def _opportunity_filter(revenue_type: str | None, segment: str | None, start: Any, end: Any) -> tuple[str, list[Any]]:
    where: list[str] = ["o.created_at IS NOT NULL"]
    params: list[Any] = []
    if revenue_type not in (None, "all"):
        where.append("o.revenue_type = ?")
        params.append(revenue_type)
    seg = segment_accounts_sql(segment)
    if seg is not None:
        where.append(f"o.account_id IN ({seg[0]})")
        params.extend(seg[1])
    s, e = as_date(start, "start"), as_date(end, "end")
    if s is not None:
        where.append("o.created_at >= ?")
        params.append(s)
    if e is not None and e < date.max:  # the last day pandas/Python can name has no day after it
        where.append("o.created_at < ?")
        params.append(e + timedelta(days=1))
    return " AND ".join(where), params


def influenced(
    con: Any,
    by: Literal["channel", "campaign"] = "channel",
    revenue_type: str | None = DEFAULT_REVENUE_TYPE,
    start: Any = None,
    end: Any = None,
    *,
    window_days: int = DEFAULT_INFLUENCE_WINDOW_DAYS,
    segment: str | None = None,
    campaign_level: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Influenced opportunities and pipeline per channel or campaign (see the module doc), and
    the number of opportunities in scope (the denominator of `influenced_share`)."""
    if by not in ("channel", "campaign"):
        raise ReportError(f"by must be channel or campaign, got {by!r}")
    if window_days < 0:
        raise ReportError(f"the influence window must be 0 days or more, got {window_days}")
    where, params = _opportunity_filter(revenue_type, segment, start, end)
    if by == "channel":
        key, join = f"coalesce(nullif(t.channel, ''), '{NONE_KEY}')", ""
    elif check_level(campaign_level) == "program":
        key = f"coalesce(pg.program_id, nullif(t.campaign_id, ''), '{NONE_KEY}')"
        join = f"LEFT JOIN ({PROGRAMS_SQL}) pg ON pg.campaign_id = t.campaign_id"
    else:
        key, join = f"coalesce(nullif(t.campaign_id, ''), '{NONE_KEY}')", ""
    sql = f"""
        WITH opp AS (
            SELECT o.opportunity_id, o.account_id, o.created_at, o.pipeline_usd::DOUBLE AS amount
            FROM {opportunities_usd_sql(con)} o WHERE {where}
        ), touch AS (
            SELECT coalesce(t.account_id, p.account_id) AS account_id, t.occurred_at, {key} AS k
            FROM touchpoints t LEFT JOIN people p ON p.person_id = t.person_id {join}
            WHERE t.occurred_at IS NOT NULL
        ), hit AS (
            SELECT DISTINCT opp.opportunity_id, touch.k
            FROM opp JOIN touch ON touch.account_id = opp.account_id
            WHERE touch.occurred_at <= opp.created_at AND touch.occurred_at >= opp.created_at - to_days(?)
        )
        SELECT hit.k AS {by}, count(*) AS influenced_opportunities, sum(opp.amount) AS influenced_pipeline
        FROM hit JOIN opp USING (opportunity_id) GROUP BY hit.k
    """  # noqa: S608 - by/level checked above, the key and joins are fixed SQL; values bound
    df = con.execute(sql, [*params, int(window_days)]).df()
    total = con.execute(f"SELECT count(*) FROM opportunities o WHERE {where}", params).fetchone()[0]  # noqa: S608 - fixed SQL; values bound
    return df, int(total)


def sourced_vs_influenced(
    con: Any,
    by: Literal["channel", "campaign"] = "channel",
    revenue_type: str | None = DEFAULT_REVENUE_TYPE,
    start: Any = None,
    end: Any = None,
    sourced_by: Literal["first_touch", "campaign"] = "first_touch",
    *,
    window_days: int = DEFAULT_INFLUENCE_WINDOW_DAYS,
    segment: str | None = None,
    campaign_level: str | None = None,
) -> pd.DataFrame:
    """Pipeline each channel (or campaign) sourced against pipeline it influenced (module doc).

    Columns: [by, (campaign_name,) sourced_opportunities, sourced_pipeline,
    influenced_opportunities, influenced_pipeline, influenced_share (of the opportunities in
    scope), influence_ratio (influenced / sourced pipeline)], sorted by influenced pipeline.
    """
    infl, total = influenced(con, by, revenue_type, start, end, window_days=window_days, segment=segment,
                             campaign_level=campaign_level)
    infl = infl.set_index(by)
    level = check_level(campaign_level)
    if sourced_by == "first_touch":
        require_run(con, "first_touch", "opportunity", revenue_type)
        key = "channel" if by == "channel" else ("program_id" if level == "program" else "campaign_id")
        ft = ledger_sums(con, [key], ["first_touch"], "opportunity", revenue_type, start, end, segment=segment)
        ft[by] = ft[key].astype(object).where(ft[key].notna() & (ft[key] != ""), NONE_KEY)
        src = ft.groupby(by).agg(sourced_opportunities=("credit", "sum"), sourced_pipeline=("revenue_credit", "sum"))
    elif sourced_by == "campaign":
        where, params = _opportunity_filter(revenue_type, segment, start, end)
        camp = "coalesce(pg.program_id, o.campaign_id)" if level == "program" else "o.campaign_id"
        opp = con.execute(
            f"SELECT o.opportunity_id, {camp} AS campaign_id, coalesce(c.channel, '(no campaign)') AS channel, "  # noqa: S608 - fixed expressions; filters bound
            f"o.pipeline_usd::DOUBLE AS amount "
            f"FROM {opportunities_usd_sql(con)} o LEFT JOIN campaigns c USING (campaign_id) "
            f"LEFT JOIN ({PROGRAMS_SQL}) pg ON pg.campaign_id = o.campaign_id WHERE {where}",
            params,
        ).df()
        if by == "campaign":
            opp[by] = opp["campaign_id"].astype(object).where(opp["campaign_id"].notna() & (opp["campaign_id"] != ""),
                                                              NONE_KEY)
        src = opp.groupby(by).agg(sourced_opportunities=("opportunity_id", "count"), sourced_pipeline=("amount", "sum"))
    else:
        raise ReportError(f"sourced_by must be first_touch or campaign, got {sourced_by!r}")
    out = src.join(infl, how="outer").fillna(0.0).reset_index()
    out["influenced_opportunities"] = out["influenced_opportunities"].astype(int)
    out["influenced_share"] = out["influenced_opportunities"] / total if total else np.nan
    out["influence_ratio"] = out["influenced_pipeline"].astype(float) / out["sourced_pipeline"].where(
        out["sourced_pipeline"] != 0, np.nan)
    out = out.sort_values(["influenced_pipeline", by], ascending=[False, True]).reset_index(drop=True)
    out = out[[by, *COLUMNS]]
    return with_names(out, by, con) if by == "campaign" else out


__all__ = ["COLUMNS", "influenced", "sourced_vs_influenced"]
