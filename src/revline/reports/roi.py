"""Return on marketing spend: attributed pipeline and revenue against spend.

Why ledger-based: ROI must use the same credit as the attribution reports, so it joins the
ledger of one model to spend by channel, campaign or month rather than re-deriving credit.

Conventions (all money in USD through revline.store.fx: spend at its day's rate, pipeline at its creation date's):
* Spend is summed over `spend.date` in [start, end]; attributed pipeline/revenue over the
  touch date in [start, end] (a touch is what spend buys, so both sides use the same clock;
  `by='month'` is the touch month against the spend month).
* pipeline = revenue_credit at milestone `opportunity`; revenue = revenue_credit at `milestone`
  (default won); opportunities = credits at `opportunity`; customers = credits at won /
  new_business (new customers), whatever `revenue_type` asks for.
* ROAS = revenue / spend; ROI = (revenue - spend) / spend; CAC = spend / customers;
  payback months = CAC / (ACV per new customer / 12 x gross margin), the amount being ACV.
* Unattributed conversions stay as the '(unattributed)' row (no spend) so totals reconcile.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from revline.reports.influence import sourced_vs_influenced
from revline.reports.campaigns import check_level, hierarchy_sums, to_program, with_names
from revline.reports.segments import normal_segment
from revline.reports.tables import ReportError, by_month, ledger_sums, require_run
from revline.store.fx import spend_usd_sql
from revline.vocabulary import ALL_SEGMENTS, DEFAULT_REVENUE_TYPE

By = Literal["channel", "campaign", "month"]
NONE_KEY = "(none)"


def _key(df: pd.DataFrame, by: str, date_col: str) -> pd.Series:
    if by == "channel":
        k = df["channel"]
    elif by == "campaign":
        k = df["campaign_id"].where(df["campaign_id"].notna() & (df["campaign_id"] != ""), NONE_KEY)
    elif by == "month":
        k = pd.to_datetime(df[date_col]).dt.to_period("M").dt.to_timestamp()
    else:
        raise ReportError(f"by must be channel, campaign or month, got {by!r}")
    return k.astype(object).where(k.notna(), NONE_KEY)


_LEDGER_KEY = {"channel": "channel", "campaign": "campaign_id", "month": "month"}


def _ledger_key(by: str, campaign_level: str | None = "campaign") -> str:
    if by not in _LEDGER_KEY:
        raise ReportError(f"by must be channel, campaign or month, got {by!r}")
    if by == "campaign" and check_level(campaign_level) == "program":
        return "program_id"
    return _LEDGER_KEY[by]


def spend_by(con: Any, by: By = "channel", start: Any = None, end: Any = None) -> pd.DataFrame:
    """Spend (USD), impressions and clicks per channel, campaign or month."""
    where, params = ["1=1"], []
    if start is not None:
        where.append("date >= ?")
        params.append(pd.Timestamp(start).date())
    if end is not None:
        where.append("date <= ?")
        params.append(pd.Timestamp(end).date())
    if by not in ("channel", "campaign", "month"):
        raise ReportError(f"by must be channel, campaign or month, got {by!r}")
    # partial sums per raw key in DuckDB; `_key` then maps them (NULL/'' campaigns to '(none)')
    raw = {"channel": "channel", "campaign": "campaign_id", "month": "date_trunc('month', date)::DATE"}[by]
    col = {"channel": "channel", "campaign": "campaign_id", "month": "date"}[by]
    df = con.execute(
        f"SELECT {raw} AS {col}, sum(spend_usd) AS spend, "  # noqa: S608 - the key is one of three fixed expressions (checked above); filters bound
        f"coalesce(sum(impressions), 0)::BIGINT AS impressions, coalesce(sum(clicks), 0)::BIGINT AS clicks, "
        f"count(*) FILTER (WHERE impressions IS NULL) AS _null_impressions, "
        f"count(*) FILTER (WHERE clicks IS NULL) AS _null_clicks "
        f"FROM {spend_usd_sql(con)} s WHERE {' AND '.join(where)} GROUP BY 1",
        params,
    ).df()
    if df.empty:
        return pd.DataFrame(columns=[by, "spend", "impressions", "clicks"])
    for c in ("impressions", "clicks"):  # counts with gaps stay nullable integers, as the rows were
        if df.pop(f"_null_{c}").any():
            df[c] = df[c].astype("Int64")
    df[by] = _key(df, by, "date")
    return df.groupby(by, dropna=False)[["spend", "impressions", "clicks"]].sum().reset_index()


def _safe_div(a: pd.Series, b: pd.Series) -> pd.Series:
    b = b.astype(float)
    return a.astype(float) / b.where(b != 0, np.nan)


def roi_table(
    con: Any,
    model: str = "linear",
    milestone: str = "won",
    revenue_type: str | None = DEFAULT_REVENUE_TYPE,
    by: By = "channel",
    start: Any = None,
    end: Any = None,
    gross_margin: float = 0.8,
    *,
    segment: str | None = None,
    campaign_level: str | None = None,
) -> pd.DataFrame:
    """Spend, attributed pipeline and revenue and the ratios marketing is judged by.

    Columns: [by, spend, opportunities, pipeline, customers, revenue, roas, roi, cac,
    cost_per_opportunity, pipeline_per_dollar, payback_months], sorted by spend (by month: in calendar order). By campaign a
    `campaign_name` column follows the id; at `campaign_level` 'program' (the default) each
    campaign's spend and credit are summed into its top parent, at 'campaign' each campaign keeps
    its own and gains hierarchy_spend/hierarchy_revenue/hierarchy_pipeline (itself and its
    descendants), on which its ratios are computed (`reports.campaigns`). With a `segment`
    (region) the credit is that region's; spend has no region, so the ratios are left undefined.
    """
    if not 0 < gross_margin <= 1:
        raise ReportError(f"gross_margin must be in (0, 1], got {gross_margin}")
    level = check_level(campaign_level)
    key = _ledger_key(by, level)
    regional = normal_segment(segment) != ALL_SEGMENTS

    def sums(ms: str, rt: str | None) -> pd.DataFrame:
        # credit sums per key inside DuckDB over the touch-date window (not every ledger row)
        rows = ledger_sums(con, [key], [model], ms, rt, touch_start=start, touch_end=end, segment=segment)
        return rows.rename(columns={"program_id": "campaign_id"})

    require_run(con, model, milestone, revenue_type)
    rev_rows = sums(milestone, revenue_type)
    pipe_rows = sums("opportunity", revenue_type)
    cust_rows = sums("won", "new_business")

    def agg(rows: pd.DataFrame, credit_name: str, money_name: str | None) -> pd.DataFrame:
        if rows.empty:
            return pd.DataFrame(columns=[by, credit_name] + ([money_name] if money_name else []))
        rows = rows.assign(**{by: _key(rows, by, "month" if by == "month" else "occurred_at")})
        out = rows.groupby(by, dropna=False).agg(**{credit_name: ("credit", "sum")})
        if money_name:
            out[money_name] = rows.groupby(by, dropna=False)["revenue_credit"].sum()
        return out.reset_index()

    spend = spend_by(con, by, start, end)[[by, "spend"]]
    if by == "campaign" and level == "program":
        spend[by] = to_program(spend[by], con)
        spend = spend.groupby(by, dropna=False)[["spend"]].sum().reset_index()
    parts = [
        spend,
        agg(pipe_rows, "opportunities", "pipeline"),
        agg(cust_rows, "customers", "new_business_revenue"),
        agg(rev_rows, "_conv", "revenue"),
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p, on=by, how="outer")
    cols = ["spend", "opportunities", "pipeline", "customers", "new_business_revenue", "revenue"]
    out[cols] = out[cols].astype(float).fillna(0.0)
    basis = out
    if by == "campaign" and level == "campaign":
        out = hierarchy_sums(out, by, cols, con)
        basis = out[[f"hierarchy_{c}" for c in cols]].rename(columns=lambda c: c[len("hierarchy_"):])
    out["roas"] = _safe_div(basis["revenue"], basis["spend"])
    out["roi"] = _safe_div(basis["revenue"] - basis["spend"], basis["spend"])
    paid = basis["spend"].where(basis["spend"] > 0, np.nan)  # no spend: cost ratios are undefined, not 0
    out["cac"] = _safe_div(paid, basis["customers"])
    out["cost_per_opportunity"] = _safe_div(paid, basis["opportunities"])
    out["pipeline_per_dollar"] = _safe_div(basis["pipeline"], basis["spend"])
    acv = _safe_div(basis["new_business_revenue"], basis["customers"])
    out["payback_months"] = _safe_div(out["cac"], acv / 12.0 * gross_margin)
    if regional:  # spend is the company's: a region's credit against it is no ratio
        out[list(RATIOS)] = np.nan
    drop = ["_conv", "new_business_revenue"] + [c for c in out.columns if c.startswith("hierarchy_")
                                                and c[len("hierarchy_"):] not in ("spend", "revenue", "pipeline")]
    out = out.drop(columns=drop)
    if by == "month":
        return by_month(out)
    out = out.sort_values(["spend", "revenue"], ascending=False).reset_index(drop=True)
    return with_names(out, by, con) if by == "campaign" else out


RATIOS: tuple[str, ...] = ("roas", "roi", "cac", "cost_per_opportunity", "pipeline_per_dollar", "payback_months")


def roi_totals(table: pd.DataFrame) -> dict[str, float | None]:
    """The total row of a `roi_table`: plain sums of spend, pipeline and revenue, and the ratios
    of those sums (CAC and payback are per-channel figures and have no total here)."""
    spend, pipeline, revenue = (float(table[c].sum()) if len(table) else 0.0 for c in ("spend", "pipeline", "revenue"))
    return {
        "spend": spend, "pipeline": pipeline, "revenue": revenue,
        "roas": revenue / spend if spend > 0 else None,
        "roi": (revenue - spend) / spend if spend > 0 else None,
    }


__all__ = ["roi_table", "roi_totals", "sourced_vs_influenced", "spend_by"]
