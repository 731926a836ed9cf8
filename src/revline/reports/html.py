"""The self-contained HTML report: what a CMO and CRO read after `revline demo`.

Why one file with plotly.js inlined: it must open offline, be mailed around and archived
next to the data it describes. Every number comes from the report functions
(`reports.tables`, `reports.roi`, `reports.truth`, `journeys.funnel`), which read the
ledger; nothing here computes a model.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from revline.journeys.funnel import funnel
from revline.models.forecast.report import html_section as forecast_section
from revline.models.funnel.report import html_section as funnel_section
from revline.models.retention.report import html_section as retention_section
from revline.models.scoring.report import html_section as scoring_section
from revline.reports.definitions import definition, influence_definition, revenue_type_words
from revline.reports.influence import sourced_vs_influenced
from revline.reports.revenue import actuals, revenue_vs_target
from revline.reports.roi import roi_table, spend_by
from revline.reports.unified import display_table, unified_roi
from revline.reports.tables import ReportError, attribution_by
from revline.reports.truth import truth_summary, truth_table
from revline.vocabulary import ALL_REVENUE, DEFAULT_CAMPAIGN_LEVEL, DEFAULT_REVENUE_TYPE
from revline.vocabulary import ATTRIBUTED_REVENUE_TYPES as REVENUE_TYPES

RULE_ORDER = ["first_touch", "lead_creation", "last_touch", "linear", "time_decay",
              "u_shaped", "w_shaped", "full_path", "markov", "shapley"]
DEFAULT_ROI_MODEL = "w_shaped"

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#14213d;color:#fff;padding:20px 32px}header h1{margin:0;font-size:24px}
header p{margin:4px 0 0;color:#c9d1e4}main{padding:16px 32px;max-width:1280px;margin:auto}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 2px #0001}
h2{font-size:18px;margin:0 0 8px}p.note{color:#5b6474;font-size:13px;margin:4px 0 10px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.kpi{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0001}
.kpi b{display:block;font-size:22px}.kpi span{color:#5b6474;font-size:12px;text-transform:uppercase}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #e6e8ec;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f0f2f5}
"""


def _money(x: float | None) -> str:
    if x is None or pd.isna(x):
        return "–"
    ax = abs(x)
    if ax >= 1e6:
        return f"${x / 1e6:,.2f}M"
    if ax >= 1e3:
        return f"${x / 1e3:,.0f}k"
    return f"${x:,.0f}"


def _table(df: pd.DataFrame, money: tuple[str, ...] = (), ratio: tuple[str, ...] = (), pct: tuple[str, ...] = (),
           digits: int = 1) -> str:
    if df is None or df.empty:
        return "<p class='note'>No rows.</p>"
    fmt: dict[str, Any] = {}
    for c in df.columns:
        if c in money:
            fmt[c] = _money
        elif c in ratio:
            fmt[c] = lambda v: "–" if pd.isna(v) else f"{v:,.2f}"
        elif c in pct:
            fmt[c] = lambda v: "–" if pd.isna(v) else f"{100 * v:,.1f}%"
        elif pd.api.types.is_float_dtype(df[c]):
            fmt[c] = lambda v, d=digits: "–" if pd.isna(v) else f"{v:,.{d}f}"
    return df.to_html(index=False, border=0, formatters=fmt, escape=True, na_rep="–")


def _fig(fig: go.Figure, height: int = 420) -> str:
    fig.update_layout(height=height, margin=dict(l=40, r=20, t=40, b=40), template="plotly_white",
                      legend=dict(orientation="h", y=-0.2))
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _models_present(con) -> list[str]:
    names = [r[0] for r in con.execute("SELECT DISTINCT model FROM attribution_runs").fetchall()]
    return [m for m in RULE_ORDER if m in names] + sorted(m for m in names if m not in RULE_ORDER)


def _grouped_bars(wide: pd.DataFrame, dim: str, models: list[str], title: str, yaxis: str) -> go.Figure:
    fig = go.Figure()
    for m in models:
        if m in wide.columns:
            fig.add_bar(name=m, x=wide[dim], y=wide[m])
    fig.update_layout(barmode="group", title=title, yaxis_title=yaxis)
    return fig


def _defined(**kw: Any) -> str:
    """' Definition: ...' — the figure's definition as every screen states it (reports.definitions)."""
    return f" Definition: {definition(**kw)['text']}."


def _kpis(con) -> list[tuple[str, str]]:
    """The headline tiles, from the same report functions (USD) as every other screen."""
    won = {rt: actuals(con, revenue_type=rt) for rt in REVENUE_TYPES}
    spend = float(spend_by(con, "channel")["spend"].sum())
    touches = con.execute("SELECT count(*) FROM touchpoints").fetchone()[0]
    quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    nb = won["new_business"]
    return [
        ("New-business revenue won", _money(nb["won_revenue"])),
        ("Renewals won", _money(won["renewal"]["won_revenue"])),
        ("Expansion won", _money(won["expansion"]["won_revenue"])),
        ("New-business pipeline created", _money(nb["pipeline_created"])),
        ("New customers", f"{nb['won_deals']:,}"),
        ("Marketing spend", _money(spend)),
        ("New-business ROAS (all spend)", f"{nb['won_revenue'] / spend:.2f}x" if spend else "–"),
        ("Touchpoints under one roof", f"{int(touches):,}"),
        ("Source rows quarantined", f"{int(quarantined):,}"),
    ]


def _removal_effects(con) -> pd.DataFrame:
    rows = con.execute(
        """
        SELECT model, params FROM attribution_runs
        WHERE model LIKE 'markov%' AND milestone = 'won' AND revenue_type = 'new_business'
        """
    ).fetchall()
    frames = []
    for model, params in rows:
        p = json.loads(params) if isinstance(params, str) else (params or {})
        re = p.get("removal_effects") or {}
        if isinstance(re, dict) and re:
            frames.append(pd.DataFrame({"model": model, "channel": list(re), "removal_effect": list(re.values())}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "channel", "removal_effect"])


_TARGET_MONEY = ("revenue_target", "won_revenue", "pipeline_target", "pipeline_created")


def _target_figure(rvt: pd.DataFrame) -> go.Figure:
    """Money lines on the USD axis, attainment on a percent axis of its own (deal counts stay in
    the table: on either axis they would be flat lines)."""
    x = rvt["period"].astype(str)
    fig = go.Figure()
    for col in _TARGET_MONEY:
        fig.add_scatter(name=col, x=x, y=rvt[col], mode="lines+markers")
    for col in ("revenue_attainment", "pipeline_attainment"):
        fig.add_scatter(name=col, x=x, y=rvt[col], mode="lines+markers", yaxis="y2", line=dict(dash="dot"))
    fig.update_layout(title="Revenue and pipeline vs the company target, by quarter", yaxis_title="USD",
                      yaxis2=dict(title="attainment", overlaying="y", side="right", tickformat=".0%"))
    return fig


def build_sections(con, truth_path: Path | None = None) -> list[tuple[str, str, str]]:
    """(title, note, html body) per section, in reading order."""
    models = _models_present(con)
    sections: list[tuple[str, str, str]] = []

    kpis = "".join(f"<div class='kpi'><span>{html.escape(k)}</span><b>{html.escape(v)}</b></div>" for k, v in _kpis(con))
    sections.append(("Headline", "Won revenue by type, pipeline, spend and data quality of the loaded store."
                     + _defined(milestone="won", revenue_type=ALL_REVENUE, what="revenue won by close date, each tile "
                                "one revenue type as named, spend by spend date"),
                     f"<div class='kpis'>{kpis}</div>"))

    basis = DEFAULT_REVENUE_TYPE  # the one default every screen reads (not `rt`: a loop below reuses it)
    rev = attribution_by(con, "channel", models, milestone="won", revenue_type=basis)
    sections.append((
        "Revenue by channel, every model side by side",
        "Closed-won revenue credited to each channel. Rule models encode an opinion about which touch matters; "
        "Markov and Shapley let the data decide. '(unattributed)' is revenue with no eligible touch — shown, never dropped."
        + _defined(milestone="won", revenue_type=basis),
        _fig(_grouped_bars(rev, "channel", models, f"Attributed revenue (won, {revenue_type_words(basis)})", "USD"), 480)
        + _table(rev, money=tuple(models)),
    ))

    pipe = attribution_by(con, "channel", models, milestone="opportunity", revenue_type=basis)
    sections.append((
        "Pipeline by channel",
        "Opportunity amounts credited at opportunity creation." + _defined(milestone="opportunity", revenue_type=basis),
        _fig(_grouped_bars(pipe, "channel", models, f"Attributed pipeline (opportunity created, {revenue_type_words(basis)})",
                           "USD")),
    ))

    mix = []
    for rt in REVENUE_TYPES:
        w = attribution_by(con, "channel", [DEFAULT_ROI_MODEL], milestone="won", revenue_type=rt)
        if not w.empty and DEFAULT_ROI_MODEL in w.columns:
            mix.append(w.assign(revenue_type=rt).rename(columns={DEFAULT_ROI_MODEL: "revenue"}))
    if mix:
        m = pd.concat(mix)
        fig = go.Figure()
        for rt in REVENUE_TYPES:
            part = m[m["revenue_type"] == rt]
            fig.add_bar(name=rt, x=part["channel"], y=part["revenue"])
        fig.update_layout(barmode="stack", title=f"Won revenue by channel and revenue type ({DEFAULT_ROI_MODEL})")
        sections.append(("New business, renewals and expansion",
                         "Marketing is judged on the whole revenue number, not only new logos."
                         + _defined(model=DEFAULT_ROI_MODEL, milestone="won", revenue_type=ALL_REVENUE), _fig(fig)))

    roi_model = DEFAULT_ROI_MODEL if DEFAULT_ROI_MODEL in models else (models[0] if models else None)
    if roi_model:
        roi = roi_table(con, roi_model, milestone="won", revenue_type=basis, by="channel")
        roas = []
        for m in models:
            try:
                r = roi_table(con, m, milestone="won", revenue_type=basis, by="channel")
            except ReportError:  # a model without a won run has no ROI; the table says so by absence
                continue
            roas.append(r.assign(model=m)[["channel", "model", "roas"]])
        body = _table(roi, money=("spend", "pipeline", "revenue", "cac", "cost_per_opportunity"),
                      ratio=("roas", "roi", "pipeline_per_dollar", "payback_months", "opportunities", "customers"))
        if roas:
            rr = pd.concat(roas)
            rr = rr[rr["roas"].notna()]
            fig = go.Figure()
            for m in models:
                part = rr[rr["model"] == m]
                fig.add_bar(name=m, x=part["channel"], y=part["roas"])
            fig.update_layout(barmode="group", title="ROAS by paid channel, per model", yaxis_title="revenue / spend")
            body = _fig(fig) + body
        try:
            unified: pd.DataFrame | None = unified_roi(con, roi_model, revenue_type=basis)
        except ReportError:  # a fit on a basis the ledger has no run for: the per-model tables below still stand
            unified = None
        if unified is not None:
            sections.append(("One ROI per channel (mix model + attribution)",
                             "Each channel's return from the source that can see it: " + unified.attrs["method"]
                             + f" ({unified.attrs['outcome']}, {unified.attrs['revenue_type']}; "
                             "mean [94% interval]). The per-model tables below are attribution alone.",
                             _table(display_table(unified), money=("spend", "attributed"))))
        sections.append((f"ROI, CAC and payback by channel ({roi_model})",
                         "Spend joined by channel; CAC = spend per attributed new customer; payback in months at 80% gross margin."
                         + _defined(model=roi_model, milestone="won", revenue_type=basis, clock="touch date; spend by spend date"),
                         body))
        camp = roi_table(con, roi_model, milestone="won", revenue_type=basis, by="campaign",
                         campaign_level=DEFAULT_CAMPAIGN_LEVEL)
        if not camp.empty:
            sections.append((f"ROI by campaign program ({roi_model})",
                             "Campaigns by name; each child campaign's spend and credit summed into its top parent "
                             "(Campaign.ParentId), where spend is often booked while touches carry the child's id."
                             + _defined(model=roi_model, milestone="won", revenue_type=basis,
                                        clock="touch date; spend by spend date",
                                        notes=(f"campaigns at {DEFAULT_CAMPAIGN_LEVEL} level",)),
                             _table(camp[["campaign_name", "campaign", "spend", "pipeline", "revenue", "roas", "roi"]],
                                    money=("spend", "pipeline", "revenue"), ratio=("roas", "roi"))))
    try:
        infl = sourced_vs_influenced(con, "channel", basis)
    except ReportError:  # no first-touch run at opportunity creation: no sourced figures to show
        infl = None
    if infl is not None and not infl.empty:
        d = influence_definition(revenue_type=basis)
        sections.append(("Sourced vs influenced pipeline",
                         "Opportunities, not touches: each counts once per channel that touched its account in the "
                         f"window. Definition: {d['text']}.",
                         _table(infl, money=("sourced_pipeline", "influenced_pipeline"),
                                pct=("influenced_share",), ratio=("influence_ratio",))))

    re = _removal_effects(con)
    if not re.empty:
        fig = go.Figure()
        for model, part in re.groupby("model"):
            part = part.sort_values("removal_effect", ascending=False)
            fig.add_bar(name=model, x=part["channel"], y=part["removal_effect"])
        fig.update_layout(barmode="group", title="Markov removal effects (exact, absorbing-chain algebra)",
                          yaxis_title="share of conversions lost when the channel is removed")
        sections.append(("Data-driven: Markov removal effects",
                         "Computed exactly (sparse linear solves), not simulated: the same input gives the same numbers every run."
                         + _defined(model="markov", milestone="won", revenue_type="new_business",
                                    what="share of conversions lost when a channel is removed"),
                         _fig(fig)))

    if truth_path is not None and Path(truth_path).exists():
        tt = truth_table(con, truth_path)
        if not tt.empty:
            summary = truth_summary(tt)
            fig = go.Figure(go.Bar(x=summary["model"], y=summary["total_abs_share_error"]))
            fig.update_layout(title="How wrong is each model? Total absolute share error vs the simulator's counterfactual truth",
                              yaxis_title="sum |model share - true share|")
            ch = tt.pivot_table(index="channel", columns="model", values="model_share").reset_index()
            true = tt.drop_duplicates("channel").set_index("channel")["true_share"]
            fig2 = go.Figure()
            fig2.add_bar(name="TRUTH (counterfactual)", x=ch["channel"], y=ch["channel"].map(true), marker_color="black")
            for m in [m for m in models if m in ch.columns]:
                fig2.add_bar(name=m, x=ch["channel"], y=ch[m])
            fig2.update_layout(barmode="group", title="Share of new-business revenue per channel: models vs truth")
            sections.append((
                "Truth table: every model against the ground truth",
                "The demo simulator re-ran the company with each channel switched off (same random numbers) and recorded "
                "the revenue lost: that is each channel's true incremental revenue. No other attribution tool publishes how wrong its models are."
                + _defined(milestone="won", revenue_type="new_business", what="share of closed-won revenue per channel"),
                _fig(fig, 360) + _fig(fig2) + _table(summary, money=("attributed_revenue",), ratio=("total_abs_share_error", "rank_correlation")),
            ))

    rvt = revenue_vs_target(con, period="quarter")
    if not rvt.empty:
        sections.append(("Revenue and pipeline vs target",
                         "Company targets (the 'all' rows of the targets file; a quarter without one sums its "
                         "segments) against won revenue by close date and pipeline by creation date, in USD."
                         + _defined(revenue_type=ALL_REVENUE, clock="target quarter",
                                    what="won revenue and pipeline against target",
                                    notes=("targets carry no revenue type",)),
                         _fig(_target_figure(rvt)) + _table(rvt, money=_TARGET_MONEY,
                                                            pct=("revenue_attainment", "pipeline_attainment"))))

    fun = funnel(con)
    if not fun.empty:
        fig = go.Figure(go.Funnel(y=fun.iloc[:, 0].astype(str), x=fun.iloc[:, 1]))
        fig.update_layout(title="Account funnel (new business)")
        shown = fun[["stage", "count", "conversion_to_next", "days_median", "out_of_order"]].rename(
            columns={"days_median": "median_days_in_stage"})
        sections.append(("Funnel, conversion and velocity", "Accounts reaching each stage, conversion to the next and"
                         " median days in the stage (to the next recorded stage or the loss; out-of-order records"
                         " left out and counted)."
                         " Definition: accounts · new business · all regions · all dates (by first funnel stage).",
                         _fig(fig, 380) + _table(shown, pct=("conversion_to_next",))))
    sections += [(title, "", body) for _, title, body in filter(None, [funnel_section(con), forecast_section(con), retention_section(con)])]
    sections += [(title, "", body) for _, title, body in filter(None, [scoring_section(con)])]

    q = con.execute(
        "SELECT source, table_name, field, reason, count(*) AS rows FROM quarantine GROUP BY ALL ORDER BY rows DESC LIMIT 30"
    ).df()
    sections.append(("Data quality: quarantined source rows",
                     "Rows that failed validation are kept in the quarantine table with file, row, field and reason (`revline quarantine`).",
                     _table(q)))

    return sections


def write_report(con, path: Path, truth_path: Path | None = None, title: str = "revline revenue report") -> Path:
    """Write the self-contained HTML report (every section, plotly inlined) to `path`; returns it."""
    path = Path(path)
    sections = build_sections(con, truth_path)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "".join(
        f"<section><h2>{html.escape(t)}</h2><p class='note'>{html.escape(n)}</p>{b}</section>" for t, n, b in sections
    )
    doc = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>Generated {stamp} by revline — every touchpoint under one roof, attributed to revenue.</p></header>"
        f"<main>{body}</main></body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path
