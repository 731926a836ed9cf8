"""DataFrame reports over the credit ledger: what the CLI prints, the HTML report charts and
the REST API serves.

Why one module of plain functions: every interface shows the same numbers, so they all call
these and none recomputes a model inline. Each report reads the latest run of each
(model, milestone, revenue_type) through `attribution_runs`, so a run for revenue type 'all'
is never double counted with the per-type runs.

Conventions:
* Values: at `opportunity` the money is pipeline, at `won` revenue (USD by revline.store.fx:
  the rate of the creation or close date); at lead/mql/sql there is no money and `value='auto'`
  reports conversions (sum of credits).
* `start`/`end` (inclusive dates) filter on the conversion date for opportunity conversions
  (created_at for `opportunity`, closed_at for `won`) and on the touch date for lead/mql/sql
  conversions (their unattributed rows, having no date, are kept only without a date filter).
* dimension `month` is the month of the touch (of the conversion for unattributed rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from revline.attribution import ledger
from revline.attribution.ledger import ALL_TYPES, RunSelection
from revline.reports.errors import NotFound, ReportError, as_date
from revline.reports.campaigns import PROGRAMS_SQL, check_level, with_names
from revline.reports.segments import segment_accounts_sql
from revline.vocabulary import LEAD_MILESTONES, MILESTONES

Dimension = Literal["channel", "campaign", "touch_type", "month", "touch_position"]
DIMENSIONS: tuple[str, ...] = ("channel", "campaign", "touch_type", "month", "touch_position")


def _check_milestone(milestone: str) -> None:
    if milestone not in MILESTONES:
        raise ReportError(f"unknown milestone {milestone!r}; expected one of {', '.join(MILESTONES)}")


def select_runs(con: Any, milestone: str, revenue_type: str | None, models: Sequence[str] | None = None) -> RunSelection:
    """`revline.attribution.ledger.select_runs` (the one rule of run selection), with the
    milestone checked as the reports check it."""
    _check_milestone(milestone)
    return ledger.select_runs(con, milestone, revenue_type, models)


def model_names(con: Any, milestone: str) -> list[str]:
    """Models with a run at `milestone`, sorted."""
    rows = con.execute("SELECT DISTINCT model FROM attribution_runs WHERE milestone = ? ORDER BY 1", [milestone])
    return [m for (m,) in rows.fetchall()]


def resolve_model(con: Any, model: str | None, milestone: str) -> str:
    """`model`, checked to have a run at `milestone`; None picks the default (linear, else the
    first by name). Raises NotFound naming the models that do have runs."""
    _check_milestone(milestone)
    available = model_names(con, milestone)
    if model is None:
        if not available:
            raise NotFound(f"no attribution run for milestone '{milestone}'; run `revline attribute` first")
        return "linear" if "linear" in available else available[0]
    if model not in available:
        raise NotFound(f"no '{model}' run for milestone '{milestone}'; available: {', '.join(available) or 'none'}")
    return model


def require_run(con: Any, model: str, milestone: str, revenue_type: str | None) -> RunSelection:
    """`select_runs` for one model, raising NotFound (with the command to run) when it has none."""
    sel = select_runs(con, milestone, revenue_type, [model])
    if not sel.run_ids:
        raise missing_run(model, milestone, revenue_type)
    return sel


def missing_run(model: str, milestone: str, revenue_type: str | None, *, engine: str | None = None,
                where: str = "") -> NotFound:
    """The NotFound for a model without a run answering (milestone, revenue type), naming the
    command that writes one (`engine`: on that engine, e.g. spark; `where`: the store or folder)."""
    rt = revenue_type if revenue_type not in ALL_TYPES and milestone not in LEAD_MILESTONES else None
    flag = f" --revenue-type {rt}" if rt else ""
    on = f"--engine {engine} " if engine else ""
    return NotFound(
        f"no {model} run at milestone {milestone}{' / ' + rt if rt else ''}{' in ' + where if where else ''}; "
        f"run `revline {on}attribute --model {model} --milestone {milestone}{flag}` first"
    )


_CONV_DATE = {
    "won": "CASE WHEN l.conversion_type = 'opportunity' THEN o.closed_at END",
    "opportunity": "CASE WHEN l.conversion_type = 'opportunity' THEN o.created_at END",
}
LEDGER_ROW_COLUMNS: tuple[str, ...] = (
    "model", "conversion_id", "conversion_type", "touchpoint_id", "milestone", "credit", "revenue_credit",
    "revenue_type", "channel", "campaign_id", "campaign_name", "touch_type", "touch_position", "occurred_at",
    "converted_at", "month", "run_id", "program_id",
)


def ledger_sql(
    con: Any,
    models: Sequence[str] | None = None,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    start: Any = None,
    end: Any = None,
    *,
    columns: Sequence[str] = LEDGER_ROW_COLUMNS,
    touch_start: Any = None,
    touch_end: Any = None,
    segment: str | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT (and its parameters) behind every report: the ledger rows of the runs
    `select_runs` picks, with the requested `columns` of LEDGER_ROW_COLUMNS.

    Why SQL text and not a DataFrame: reports aggregate these rows inside DuckDB (a report
    needs a few hundred sums, not millions of rows in pandas), and only the joins the asked-for
    columns need are made (touchpoints for touch_type, campaigns for campaign_name,
    opportunities for converted_at/month and the conversion-date filter). `start`/`end` filter
    on the conversion date (see the module doc), `touch_start`/`touch_end` on the touch date
    (rows without a touch date drop out, as in ROI). `segment` keeps the conversions of the
    accounts in that region (`reports.segments`; None or 'all': every account). `program_id` is
    the campaign's top parent (`reports.campaigns`).
    """
    runs_cond, run_params = select_runs(con, milestone, revenue_type, models).sql()
    conv_date = _CONV_DATE.get(milestone, "l.occurred_at")
    s, e = as_date(start, "start"), as_date(end, "end")
    cols = set(columns)
    unknown = cols - set(LEDGER_ROW_COLUMNS)
    if unknown:
        raise ReportError(f"unknown ledger columns {sorted(unknown)}; expected some of {list(LEDGER_ROW_COLUMNS)}")
    needs_opp = bool(cols & {"converted_at", "month"}) or (
        milestone in _CONV_DATE and (s is not None or e is not None)
    )
    exprs = {
        "campaign_name": "coalesce(c.name, l.campaign_id)",
        "touch_type": "t.touch_type",
        "converted_at": conv_date,
        "program_id": "coalesce(pg.program_id, l.campaign_id)",
        "month": f"date_trunc('month', coalesce(l.occurred_at, {conv_date}))::DATE",
    }
    select = ", ".join(f"{exprs[c]} AS {c}" if c in exprs else f"l.{c}" for c in LEDGER_ROW_COLUMNS if c in cols)
    # Joins on equality alone (a conjunct on the left table makes DuckDB plan a nested loop); the
    # conversion-type guard lives in the CASE instead. The ledger's own milestone column (always
    # the run's milestone) lets the scan skip row groups of other milestones by their zone maps.
    sql = f"""
        SELECT {select}
        FROM credit_ledger l
        {"LEFT JOIN touchpoints t ON t.touchpoint_id = l.touchpoint_id" if "touch_type" in cols else ""}
        {"LEFT JOIN campaigns c ON c.campaign_id = l.campaign_id" if "campaign_name" in cols else ""}
        {f"LEFT JOIN ({PROGRAMS_SQL}) pg ON pg.campaign_id = l.campaign_id" if "program_id" in cols else ""}
        {"LEFT JOIN opportunities o ON o.opportunity_id = l.conversion_id" if needs_opp else ""}
        WHERE l.milestone = ? AND {runs_cond}
    """  # noqa: S608 - columns checked against the ledger's; run selection and dates bound
    params = [milestone, *run_params]
    if s is not None:
        sql += f" AND CAST({conv_date} AS DATE) >= ?"
        params.append(s)
    if e is not None:
        sql += f" AND CAST({conv_date} AS DATE) <= ?"
        params.append(e)
    seg = segment_accounts_sql(segment)
    if seg is not None:
        accounts, seg_params = seg
        # the conversion's account: an opportunity's, a person's, or the account converting itself
        kind = "coalesce(l.conversion_type, 'opportunity')"
        sql += (f" AND CASE {kind} WHEN 'opportunity' THEN l.conversion_id IN "  # noqa: S608 - fixed SQL; segment bound
                f"(SELECT opportunity_id FROM opportunities WHERE account_id IN ({accounts}))"
                f" WHEN 'person' THEN l.conversion_id IN (SELECT person_id FROM people WHERE account_id IN ({accounts}))"
                f" ELSE l.conversion_id IN ({accounts}) END")
        params.extend(seg_params * 3)
    ts, te = as_date(touch_start, "start"), as_date(touch_end, "end")
    if ts is not None:
        sql += " AND CAST(l.occurred_at AS DATE) >= ?"
        params.append(ts)
    if te is not None:
        sql += " AND CAST(l.occurred_at AS DATE) <= ?"
        params.append(te)
    return sql, params


def ledger_rows(
    con: Any,
    models: Sequence[str] | None = None,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    start: Any = None,
    end: Any = None,
    segment: str | None = None,
) -> pd.DataFrame:
    """The ledger rows behind every report, with touch_type, campaign name, month and
    conversion date attached (every row: for exports and drill-downs; reports aggregate in
    SQL through `ledger_sql` instead)."""
    sql, params = ledger_sql(con, models, milestone, revenue_type, start, end, segment=segment)
    return con.execute(sql, params).df()


def ledger_sums(
    con: Any,
    keys: Sequence[str],
    models: Sequence[str] | None = None,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    start: Any = None,
    end: Any = None,
    *,
    touch_start: Any = None,
    touch_end: Any = None,
    segment: str | None = None,
) -> pd.DataFrame:
    """Credit and revenue_credit summed per distinct value of `keys` (ledger columns), in DuckDB.

    The result has the columns of `ledger_rows` named in `keys` plus credit and revenue_credit,
    so pandas code written for the rows runs unchanged on these (far fewer) partial sums.
    """
    inner, params = ledger_sql(
        con, models, milestone, revenue_type, start, end,
        columns=[*keys, "credit", "revenue_credit"], touch_start=touch_start, touch_end=touch_end, segment=segment,
    )
    key_list = ", ".join(keys)
    sql = (
        f"SELECT {key_list}, sum(credit) AS credit, sum(revenue_credit) AS revenue_credit "  # noqa: S608 - keys checked by ledger_sql; values bound
        f"FROM ({inner}) GROUP BY {key_list}"
    )
    return con.execute(sql, params).df()


def _value_column(milestone: str, value: str) -> str:
    if value == "auto":
        return "conversions" if milestone in LEAD_MILESTONES else "revenue"
    if value not in ("revenue", "conversions"):
        raise ReportError(f"value must be 'auto', 'revenue' or 'conversions', got {value!r}")
    return value


def attribution_by(
    con: Any,
    dimension: Dimension = "channel",
    models: Sequence[str] | None = None,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    start: Any = None,
    end: Any = None,
    *,
    long: bool = False,
    value: Literal["auto", "revenue", "conversions"] = "auto",
    segment: str | None = None,
    campaign_level: str | None = None,
) -> pd.DataFrame:
    """Attributed conversions and money per dimension value, models side by side.

    Wide (default): one row per dimension value, one column per model holding `value`
    (revenue/pipeline, or conversions at lead milestones), sorted by the first model.
    Long (`long=True`): columns [dimension, model, conversions, revenue, share], share being the
    model's fraction of its total conversions. Unattributed conversions appear as the
    '(unattributed)' channel. By campaign, `campaign_level` 'program' (the default) sums each
    campaign into its top parent, 'campaign' keeps each; the id column is `campaign` and the
    name `campaign_name`. `segment` keeps the conversions of one region's accounts.
    """
    if dimension not in DIMENSIONS:
        raise ReportError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")
    col = _value_column(milestone, value)
    key = _dimension_key(dimension, campaign_level)
    # partial sums per (key, model) from DuckDB; the pandas below regroups them exactly as it
    # would the rows (NULL keys become '(none)')
    keys = [key, "model"]
    rows = ledger_sums(con, keys, models, milestone, revenue_type, start, end, segment=segment)
    if rows.empty:
        if long:
            return pd.DataFrame(columns=[dimension, "model", "conversions", "revenue", "share"])
        return pd.DataFrame(columns=[dimension, *(models or [])])
    rows[key] = rows[key].astype(object).where(rows[key].notna(), "(none)")
    g = rows.groupby([key, "model"], dropna=False).agg(conversions=("credit", "sum"), revenue=("revenue_credit", "sum"))
    g = g.reset_index()
    totals = g.groupby("model")["conversions"].transform("sum")
    g["share"] = g["conversions"] / totals.where(totals != 0)
    if dimension == "campaign":
        g = with_names(g, key, con)
    g = g.rename(columns={key: dimension})
    order = list(models) if models else sorted(g["model"].unique())
    if long:
        g["model"] = pd.Categorical(g["model"], [m for m in order if m in set(g["model"])])
        if dimension == "month":
            g = by_month(g.sort_values("model", kind="stable"), keep=["model"])
        else:
            g = g.sort_values(["model", col], ascending=[True, False]).reset_index(drop=True)
        g["model"] = g["model"].astype(str)
        return g
    index = [dimension, "campaign_name"] if dimension == "campaign" else [dimension]
    wide = g.pivot_table(index=index, columns="model", values=col, aggfunc="sum", fill_value=0.0)
    wide = wide[[m for m in order if m in wide.columns]]
    wide.columns.name = None
    if dimension == "month":
        return by_month(wide.reset_index())
    if len(wide.columns):
        wide = wide.sort_values(wide.columns[0], ascending=False)
    return wide.reset_index()


def by_month(df: pd.DataFrame, keep: Sequence[str] = ()) -> pd.DataFrame:
    """Rows in calendar order of their `month` (after the `keep` columns' order), months that are
    not dates ('(none)') last. Why: a table by month is read as a time series, not a ranking."""
    when = pd.to_datetime(df["month"].where(df["month"].astype(str) != "(none)"), errors="coerce")
    order = df.assign(_month=when).sort_values([*keep, "_month"], na_position="last", kind="stable")
    return order.drop(columns="_month").reset_index(drop=True)


def attribution_summary(
    con: Any,
    dimension: Dimension,
    model: str,
    milestone: str = "won",
    revenue_type: str | None = None,
    start: Any = None,
    end: Any = None,
    *,
    segment: str | None = None,
    campaign_level: str | None = None,
) -> pd.DataFrame:
    """One model's credit, revenue credit and distinct conversions per dimension value, with
    each value's share of the credit: `attribution_by` for one model, plus the conversion count
    (what the API and the dashboard show) and, by campaign, the campaign's `name`. Keys as in
    `attribution_by`; sorted by revenue credit, then credit, then key."""
    if dimension not in DIMENSIONS:
        raise ReportError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")
    require_run(con, model, milestone, revenue_type)
    key = _dimension_key(dimension, campaign_level)
    inner, params = ledger_sql(con, [model], milestone, revenue_type, start, end,
                               columns=[key, "conversion_id", "credit", "revenue_credit"], segment=segment)
    df = con.execute(
        f"SELECT {key} AS key, sum(credit)::DOUBLE AS credit, sum(revenue_credit)::DOUBLE AS revenue_credit, "  # noqa: S608 - the dimension is checked against DIMENSIONS; values bound
        f"count(DISTINCT conversion_id) AS conversions FROM ({inner}) GROUP BY 1",
        params,
    ).df()
    df["key"] = df["key"].astype(object).where(df["key"].notna(), "(none)")
    total = df["credit"].sum()
    df["share"] = df["credit"] / total if total else 0.0
    df["_k"] = df["key"].astype(str)
    df = df.sort_values(["revenue_credit", "credit", "_k"], ascending=[False, False, True]) \
        .drop(columns="_k").reset_index(drop=True)
    if dimension == "campaign":
        df = with_names(df, "key", con, column="name")
    return df


def _dimension_key(dimension: str, campaign_level: str | None) -> str:
    """The ledger column a dimension groups on: by campaign, the campaign or its program."""
    if dimension != "campaign":
        return dimension
    return "program_id" if check_level(campaign_level) == "program" else "campaign_id"


def model_comparison(
    con: Any,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    dimension: Dimension = "channel",
    models: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each model's share of credit per dimension value (fractions of 1), side by side, with
    the spread (max - min share) that shows where the models disagree most."""
    long = attribution_by(con, dimension, models, milestone, revenue_type, long=True)
    if long.empty:
        return pd.DataFrame(columns=[dimension, "spread"])
    wide = long.pivot_table(index=dimension, columns="model", values="share", aggfunc="sum", fill_value=0.0)
    wide.columns.name = None
    order = [m for m in (models or sorted(wide.columns)) if m in wide.columns]
    wide = wide[order]
    wide["spread"] = wide.max(axis=1) - wide.min(axis=1)
    return wide.sort_values("spread", ascending=False).reset_index()


def unattributed(
    con: Any,
    milestone: str | None = None,
    revenue_type: str | None = None,
    models: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per latest run: how many conversions (and how much money) no eligible touch explains."""
    where, params = ["1=1"], []
    if milestone is not None:
        where.append("r.milestone = ?")
        params.append(milestone)
    if revenue_type is not None:
        where.append("r.revenue_type = ?")
        params.append(revenue_type)
    if models:
        where.append(f"r.model IN ({', '.join('?' for _ in models)})")
        params.extend(models)
    # per run first (one grouping key), then the few run rows get their labels
    return con.execute(
        f"""
        WITH r AS (SELECT * FROM attribution_runs r WHERE {' AND '.join(where)}),
        l AS (
            SELECT run_id,
                   count(DISTINCT conversion_id) AS conversions,
                   count(DISTINCT conversion_id) FILTER (WHERE touchpoint_id IS NULL) AS unattributed,
                   sum(revenue_credit) AS revenue,
                   sum(revenue_credit) FILTER (WHERE touchpoint_id IS NULL) AS unattributed_revenue
            FROM credit_ledger WHERE run_id IN (SELECT run_id FROM r) GROUP BY run_id
        )
        SELECT r.model, r.milestone, r.revenue_type,
               coalesce(l.conversions, 0) AS conversions,
               coalesce(l.unattributed, 0) AS unattributed,
               coalesce(l.revenue, 0) AS revenue,
               coalesce(l.unattributed_revenue, 0) AS unattributed_revenue,
               r.run_id
        FROM r LEFT JOIN l USING (run_id)
        ORDER BY r.milestone, r.revenue_type NULLS FIRST, r.model
        """,  # noqa: S608 - fixed conditions with ? placeholders; values bound
        params,
    ).df().assign(
        unattributed_share=lambda d: d["unattributed"] / d["conversions"].where(d["conversions"] > 0),
    )


def available_runs(con: Any) -> pd.DataFrame:
    """The latest runs in the store (what the reports can show)."""
    return con.execute(
        "SELECT model, milestone, revenue_type, opportunities, unattributed, created_at, params, run_id "
        "FROM attribution_runs ORDER BY milestone, revenue_type NULLS FIRST, model"
    ).df()


def write_table(df: pd.DataFrame, path: Any) -> None:
    """Save a report as CSV, Parquet or JSON (records), chosen by the file suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        df.to_csv(p, index=False)
    elif suffix == ".parquet":
        df.to_parquet(p, index=False)
    elif suffix == ".json":
        df.to_json(p, orient="records", date_format="iso", indent=1)
    else:
        raise ReportError(f"{p}: output must end in .csv, .parquet or .json")


__all__ = [
    "DIMENSIONS", "LEDGER_ROW_COLUMNS", "ReportError", "as_date", "attribution_by", "attribution_summary", "available_runs", "ledger_rows",
    "ledger_sql", "ledger_sums", "model_comparison", "NotFound", "RunSelection", "resolve_model", "require_run",
    "select_runs", "unattributed", "write_table",
]
