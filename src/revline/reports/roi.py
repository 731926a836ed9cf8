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

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from revline.attribution.ledger import select_runs_ibis
from revline.reports.campaigns import check_level, hierarchy_sums, to_program, with_names
from revline.reports.errors import as_date
from revline.reports.influence import sourced_vs_influenced
from revline.reports.segments import normal_segment, segment_members_expr
from revline.reports.tables import ReportError, by_month, require_run
from revline.store.compiled import run_compiled
from revline.store.fx import spend_usd_sql, usd_ibis
from revline.store.portable import reads
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


def roi_parts(milestone: str, revenue_type: str | None) -> dict[str, tuple[str, str | None]]:
    """The ledger sums of an ROI table, part -> (milestone, revenue type): revenue at the table's
    milestone and type, pipeline at opportunity (same type), customers at won / new_business."""
    return {"revenue": (milestone, revenue_type), "pipeline": ("opportunity", revenue_type),
            "customers": ("won", "new_business")}


_RAW_KEY = {"channel": "channel", "campaign": "campaign_id", "month": "month"}


@reads("credit_ledger", "attribution_runs", "opportunities", "spend", "fx_rates", "accounts", "people")
def roi_sums_expr(
    be: Any,
    model: str = "linear",
    milestone: str = "won",
    revenue_type: str | None = DEFAULT_REVENUE_TYPE,
    by: By = "channel",
    start: Any = None,
    end: Any = None,
    *,
    segment: str | None = None,
) -> ir.Table:
    """The heavy part of `roi_table` as one portable Ibis expression: `be` is DuckDB's
    (`ibis_backend(con)`) or Spark's (`ibis.pyspark.connect(session)`) backend holding the
    canonical tables and the ledger (credit_ledger, attribution_runs).

    Rows: part ('spend', 'revenue', 'pipeline', 'customers'; see ROI_PARTS), the raw key
    (`channel`, `campaign_id` (the touch's own campaign: programs are a small mapping applied
    after) or `month` (a date: the touch month, else the conversion's)), credit, revenue_credit and
    spend (USD at its day's rate), summed per part and key over the ledger rows of `model`'s
    selected runs with a touch date in [start, end] and over the spend days in [start, end].
    `segment` keeps the credit of one region's conversions (spend has no region). Only a few
    hundred sums leave the backend; `roi_from_sums` makes the table from them.
    """
    if by not in _RAW_KEY:
        raise ReportError(f"by must be channel, campaign or month, got {by!r}")
    key = _RAW_KEY[by]
    s, e = as_date(start, "start"), as_date(end, "end")
    members = segment_members_expr(be, segment)
    parts = []
    wanted = roi_parts(milestone, revenue_type)
    selections = select_runs_ibis(be, list(wanted.values()), [model])
    ledger, opportunities = be.table("credit_ledger"), None
    for (part, (ms, rt)), runs in zip(wanted.items(), selections):
        led = ledger.filter(ledger.milestone == ms, runs.ibis_filter(ledger))
        if s is not None:
            led = led.filter(led.occurred_at.cast("date") >= s)
        if e is not None:
            led = led.filter(led.occurred_at.cast("date") <= e)
        if members is not None:
            kind = ibis.cases((led.conversion_type.fill_null("opportunity") == "opportunity", "opportunity"),
                              (led.conversion_type == "person", "person"), else_="account")
            led = led.mutate(_kind=kind)
            led = led.semi_join(members, (led.conversion_id == members.member_id) & (led._kind == members.member_kind))
        if by == "month":
            at = led.occurred_at
            if ms in ("won", "opportunity"):
                opportunities = opportunities if opportunities is not None else be.table("opportunities")
                o = opportunities.select(_oid="opportunity_id", _closed="closed_at", _created="created_at")
                led = led.left_join(o, led.conversion_id == o._oid)
                conv_at = ibis.cases((led.conversion_type == "opportunity", led._closed if ms == "won" else led._created),
                                     else_=ibis.null("timestamp"))
                at = led.occurred_at.fill_null(conv_at)
            led = led.mutate(month=at.truncate("M").cast("date"))
        parts.append(led.group_by(key).aggregate(credit=led.credit.sum(), revenue_credit=led.revenue_credit.sum())
                     .mutate(part=ibis.literal(part), spend=ibis.literal(0.0)))
    sp = usd_ibis(be, be.table("spend"), "spend", "currency", "date", "spend_usd")
    if s is not None:
        sp = sp.filter(sp.date >= s)
    if e is not None:
        sp = sp.filter(sp.date <= e)
    if by == "month":
        sp = sp.mutate(month=sp.date.truncate("M").cast("date"))
    parts.append(sp.group_by(key).aggregate(spend=sp.spend_usd.sum())
                 .mutate(part=ibis.literal("spend"), credit=ibis.literal(0.0), revenue_credit=ibis.literal(0.0)))
    types = {"part": "string", key: "date" if by == "month" else "string", "credit": "float64",
             "revenue_credit": "float64", "spend": "float64"}
    shaped = [p.select(**{c: p[c].cast(ty) for c, ty in types.items()}) for p in parts]  # one nullable schema
    out = shaped[0]
    for p in shaped[1:]:
        out = out.union(p, distinct=False)
    return out


def _safe_div(a: pd.Series, b: pd.Series) -> pd.Series:
    b = b.astype(float)
    return a.astype(float) / b.where(b != 0, np.nan)


# what roi_sums_expr reads while building (select_runs_ibis, usd_ibis): its SQL depends on these rows
_ROI_SHAPE = ("SELECT milestone, model, revenue_type, run_id, created_at FROM attribution_runs ORDER BY ALL",
              "SELECT count(*) > 0 FROM fx_rates")


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
    check_level(campaign_level)
    normal_segment(segment)
    require_run(con, model, milestone, revenue_type)
    s, e = as_date(start, "start"), as_date(end, "end")
    sums = run_compiled(
        con, roi_sums_expr, (model, milestone, revenue_type, by, s, e, normal_segment(segment)),
        lambda be: roi_sums_expr(be, model, milestone, revenue_type, by, s, e, segment=segment),
        shape_sql=_ROI_SHAPE)
    return roi_from_sums(sums, by, gross_margin, segment=segment, campaign_level=campaign_level, con=con)


def roi_from_sums(
    sums: pd.DataFrame,
    by: By = "channel",
    gross_margin: float = 0.8,
    *,
    segment: str | None = None,
    campaign_level: str | None = None,
    con: Any = None,
) -> pd.DataFrame:
    """The ROI table (see `roi_table`) from the rows of a `roi_sums_expr`, on the driver: keys
    named, campaigns rolled up to programs, parts side by side, ratios. `con` (a DuckDB store
    with the campaigns table) is read only by campaign, for the hierarchy and the names."""
    level = check_level(campaign_level)
    regional = normal_segment(segment) != ALL_SEGMENTS
    raw = _RAW_KEY[by]

    def keyed(part: str) -> pd.DataFrame:
        rows = sums[sums["part"] == part]
        keys = rows[raw]
        if by == "campaign" and level == "program":
            keys = to_program(keys, con)
        return rows.assign(**{by: _key(rows.assign(**{raw: keys}), by, raw)})

    def agg(part: str, credit_name: str, money_name: str | None) -> pd.DataFrame:
        rows = keyed(part)
        if rows.empty:
            return pd.DataFrame(columns=[by, credit_name] + ([money_name] if money_name else []))
        out = rows.groupby(by, dropna=False).agg(**{credit_name: ("credit", "sum")})
        if money_name:
            out[money_name] = rows.groupby(by, dropna=False)["revenue_credit"].sum()
        return out.reset_index()

    spend = keyed("spend").groupby(by, dropna=False)[["spend"]].sum().reset_index()
    parts = [
        spend,
        agg("pipeline", "opportunities", "pipeline"),
        agg("customers", "customers", "new_business_revenue"),
        agg("revenue", "_conv", "revenue"),
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


__all__ = ["roi_from_sums", "roi_parts", "roi_sums_expr", "roi_table", "roi_totals", "sourced_vs_influenced", "spend_by"]
