"""Plotly figures of a fitted mix model, for the HTML report and the dashboard.

Why functions returning Figures: callers choose where they go (`fig.to_html`, a FastAPI page,
a notebook); nothing here writes files.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from revline.models.mmm import report


def _band(fig: go.Figure, x, low, high, name: str, color: str) -> None:
    fig.add_trace(go.Scatter(x=list(x) + list(x)[::-1], y=list(high) + list(low)[::-1], fill="toself",
                             fillcolor=color, line={"width": 0}, hoverinfo="skip", name=f"{name} 94% HDI",
                             showlegend=False))


_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def contributions_figure(fit, table: pd.DataFrame | None = None) -> go.Figure:
    """Each channel's contribution to the outcome with its 94% HDI (`table`: a computed
    `report.contributions`, to reuse)."""
    t = report.contributions(fit) if table is None else table
    fig = go.Figure(go.Bar(
        x=t["channel"], y=t["contribution"],
        error_y={"type": "data", "symmetric": False, "array": t["contribution_high"] - t["contribution"],
                 "arrayminus": t["contribution"] - t["contribution_low"]}))
    fig.update_layout(title="Channel contribution (mean, 94% HDI)", yaxis_title=fit.roles.outcome_col)
    return fig


def roi_figure(fit, table: pd.DataFrame | None = None) -> go.Figure:
    """ROI and marginal ROI per channel, side by side, with their 94% HDIs."""
    t = report.contributions(fit) if table is None else table
    fig = go.Figure()
    for col, name in (("roi", "ROI"), ("mroi", "marginal ROI")):
        fig.add_trace(go.Bar(x=t["channel"], y=t[col], name=name, error_y={
            "type": "data", "symmetric": False, "array": t[f"{col}_high"] - t[col], "arrayminus": t[col] - t[f"{col}_low"]}))
    fig.update_layout(title="ROI and marginal ROI (mean, 94% HDI)", barmode="group")
    return fig


def response_curves_figure(fit, curves: pd.DataFrame | None = None) -> go.Figure:
    """Contribution against total spend per channel, with a marker at the spend actually made."""
    c = report.response_curves(fit) if curves is None else curves
    fig = go.Figure()
    for i, (ch, g) in enumerate(c.groupby("channel", sort=False)):
        color = _COLORS[i % len(_COLORS)]
        _band(fig, g["spend"], g["contribution_low"], g["contribution_high"], ch, _rgba(color, 0.2))
        fig.add_trace(go.Scatter(x=g["spend"], y=g["contribution"], name=ch, line={"color": color}))
        cur = g.iloc[(g["multiplier"] - 1.0).abs().argmin()]
        fig.add_trace(go.Scatter(x=[cur["spend"]], y=[cur["contribution"]], mode="markers", showlegend=False,
                                 marker={"color": color, "size": 10}, name=f"{ch} actual spend"))
    fig.update_layout(title="Response curves: contribution vs total spend", xaxis_title="spend",
                      yaxis_title=fit.roles.outcome_col)
    return fig


def adstock_figure(fit, curves: pd.DataFrame | None = None) -> go.Figure:
    """How each channel's effect spreads over the weeks after the spend."""
    c = report.adstock_curves(fit) if curves is None else curves
    fig = go.Figure()
    for i, (ch, g) in enumerate(c.groupby("channel", sort=False)):
        color = _COLORS[i % len(_COLORS)]
        _band(fig, g["lag_weeks"], g["weight_low"], g["weight_high"], ch, _rgba(color, 0.2))
        fig.add_trace(go.Scatter(x=g["lag_weeks"], y=g["weight"], name=ch, line={"color": color}))
    fig.update_layout(title="Adstock decay: share of effect by weeks after spend", xaxis_title="weeks after spend",
                      yaxis_title="weight")
    return fig


def fit_figure(fit, dec: pd.DataFrame | None = None) -> go.Figure:
    """Observed outcome against the fitted mean and its 94% HDI, week by week."""
    d = report.decomposition(fit) if dec is None else dec
    fig = go.Figure()
    _band(fig, d["week"], d["fitted_low"], d["fitted_high"], "fitted", "rgba(31,119,180,0.2)")
    fig.add_trace(go.Scatter(x=d["week"], y=d["fitted"], name="fitted mean"))
    fig.add_trace(go.Scatter(x=d["week"], y=d["observed"], name="observed", mode="markers", marker={"size": 4}))
    fig.update_layout(title="Observed vs fitted", yaxis_title=fit.roles.outcome_col)
    return fig


def decomposition_figure(fit, dec: pd.DataFrame | None = None) -> go.Figure:
    """The fitted outcome stacked by component (intercept, trend, seasonality, controls, each channel)."""
    d = report.decomposition(fit) if dec is None else dec
    fig = go.Figure()
    parts = [c for c in d.columns if c not in ("week", "observed", "fitted", "fitted_low", "fitted_high")
             and c not in report.baseline_columns(d)]
    for p in parts:
        fig.add_trace(go.Scatter(x=d["week"], y=d[p], name=p, stackgroup="one"))
    fig.add_trace(go.Scatter(x=d["week"], y=d["observed"], name="observed", mode="markers", marker={"size": 3}))
    fig.update_layout(title="Weekly decomposition (posterior mean)", yaxis_title=fit.roles.outcome_col)
    return fig


def all_figures(fit) -> dict[str, go.Figure]:
    """Every figure of a fit by name, computing the contributions table once."""
    table = report.contributions(fit)
    return {
        "contributions": contributions_figure(fit, table), "roi": roi_figure(fit, table),
        "response_curves": response_curves_figure(fit), "adstock": adstock_figure(fit),
        "fit": fit_figure(fit), "decomposition": decomposition_figure(fit),
    }
