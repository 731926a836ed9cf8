"""Tables of a fitted mix model: contributions, ROI, marginal ROI, response and decay curves.

Why draws all the way: every figure is computed per posterior draw and summarised last
(mean and 94% HDI), so intervals on ROI or on a response curve are honest, not the interval
of a parameter pushed through a formula at its mean.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
import pandas as pd

from revline.models.mmm.model import adstock_weights, control_coefficients
from revline.models.mmm.posterior import channel_draws, component_draws, hdi

HDI_PROB = 0.94
_MROI_STEP = 0.01


def _x_scaled(fit, spend: np.ndarray | None = None) -> np.ndarray:
    return (fit.spend if spend is None else spend) / fit.scales.channel


def contribution_draws(fit, max_draws: int | None = None) -> np.ndarray:
    """(draws, T, C) channel contributions in outcome units over the fitted weeks."""
    return channel_draws(fit.spec, fit.params(max_draws), _x_scaled(fit)) * fit.scales.target


def contributions(fit, hdi_prob: float = HDI_PROB, max_draws: int | None = None) -> pd.DataFrame:
    """Per channel: spend, total contribution, share of the fitted outcome, ROI and marginal ROI,
    each with its HDI. The share is computed per draw against that draw's fitted total (baseline
    + channels), so the shares add up to at most 100 %. Marginal ROI = extra outcome per extra unit of spend if every week's spend of
    the channel rose by 1 %: what the next dollar buys, which is what a budget shift needs."""
    params = fit.params(max_draws)
    x = _x_scaled(fit)
    base = channel_draws(fit.spec, params, x).sum(axis=1) * fit.scales.target          # (n, C)
    spend_tot = fit.spend.sum(axis=0)
    mroi = np.zeros_like(base)
    for j in range(len(fit.channels)):
        bumped = x.copy()
        bumped[:, j] *= 1.0 + _MROI_STEP
        up = channel_draws(fit.spec, params, bumped)[:, :, j].sum(axis=1) * fit.scales.target
        mroi[:, j] = (up - base[:, j]) / max(spend_tot[j] * _MROI_STEP, 1e-12)
    roi = base / np.where(spend_tot > 0, spend_tot, np.nan)
    # share of the fitted outcome, per draw: baseline >= 0, so the channels' shares add to <= 100 %
    fitted = component_draws(fit.spec, params, fit.design())["mu"].sum(axis=1) * fit.scales.target  # (n,)
    share = base / np.where(fitted > 0, fitted, np.nan)[:, None]
    rows = []
    for j, ch in enumerate(fit.channels):
        c_lo, c_hi = hdi(base[:, j], hdi_prob)
        r_lo, r_hi = hdi(roi[:, j], hdi_prob)
        m_lo, m_hi = hdi(mroi[:, j], hdi_prob)
        rows.append({
            "channel": ch, "spend": spend_tot[j],
            "contribution": base[:, j].mean(), "contribution_low": c_lo, "contribution_high": c_hi,
            "share": float(np.nanmean(share[:, j])),
            "roi": roi[:, j].mean(), "roi_low": r_lo, "roi_high": r_hi,
            "mroi": mroi[:, j].mean(), "mroi_low": m_lo, "mroi_high": m_hi,
        })
    return pd.DataFrame(rows)


def roi(fit, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
    """ROI and marginal ROI per channel (a narrower view of `contributions`)."""
    return contributions(fit, hdi_prob)[["channel", "spend", "roi", "roi_low", "roi_high", "mroi", "mroi_low", "mroi_high"]]


def decomposition(fit, max_draws: int | None = 500) -> pd.DataFrame:
    """Posterior-mean weekly decomposition in outcome units, beside the observed outcome and the
    fitted mean: `baseline` plus one column per channel add up to `fitted` in every week (for
    stacked-area charts). With the additive baseline its parts follow as `baseline:intercept`,
    `baseline:trend`, `baseline:seasonality`, `baseline:control:<name>` and `baseline:floor` (what
    the floor at zero added back; ~0 unless the parts sum below zero), which add up to `baseline`."""
    comp = component_draws(fit.spec, fit.params(max_draws), fit.design())
    s = fit.scales.target
    out = pd.DataFrame({"week": fit.dates, "observed": fit.y, "fitted": comp["mu"].mean(0) * s})
    lo, hi = hdi(comp["mu"] * s)
    out["fitted_low"], out["fitted_high"] = lo, hi
    out["baseline"] = comp["baseline"].mean(0) * s
    for j, ch in enumerate(fit.channels):
        out[ch] = comp["channels"][:, :, j].mean(0) * s
    if fit.spec.baseline == "additive":
        linear = comp["intercept"].copy()
        out["baseline:intercept"] = comp["intercept"].mean(0) * s
        for part in ("trend", "seasonality"):
            if part in comp:
                out[f"baseline:{part}"] = comp[part].mean(0) * s
                linear = linear + comp[part]
        if "controls" in comp:
            for k, name in enumerate(fit.controls):
                out[f"baseline:control:{name}"] = comp["controls"][:, :, k].mean(0) * s
            linear = linear + comp["controls"].sum(axis=2)
        out["baseline:floor"] = (comp["baseline"] - linear).mean(0) * s
    return out


def baseline_columns(dec: pd.DataFrame) -> list[str]:
    """The columns of `decomposition` that split the baseline (not to be stacked with it)."""
    return [c for c in dec.columns if c.startswith("baseline:")]


def fit_metrics(fit) -> dict:
    """In-sample R^2 and MAPE of the posterior-mean fit."""
    dec = decomposition(fit)
    y, yhat = dec["observed"].to_numpy(), dec["fitted"].to_numpy()
    ss_res = float(((y - yhat) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    nz = y != 0
    return {"r2": 1 - ss_res / ss_tot if ss_tot else np.nan,
            "mape": float(np.mean(np.abs((y[nz] - yhat[nz]) / y[nz]))) if nz.any() else np.nan}


def response_curves(fit, multipliers: Sequence[float] | None = None, hdi_prob: float = HDI_PROB,
                    max_draws: int | None = 1000) -> pd.DataFrame:
    """Contribution vs spend per channel: the historical weekly pattern of the channel scaled by
    each multiplier (0 = channel off, 1 = as spent), others unchanged. Long format."""
    mult = np.asarray(multipliers if multipliers is not None else np.linspace(0, 2.0, 21), dtype=float)
    params = fit.params(max_draws)
    x = _x_scaled(fit)
    spend_tot = fit.spend.sum(axis=0)
    rows = []
    for j, ch in enumerate(fit.channels):
        for m in mult:
            xm = x.copy()
            xm[:, j] *= m
            c = channel_draws(fit.spec, params, xm)[:, :, j].sum(axis=1) * fit.scales.target
            lo, hi = hdi(c, hdi_prob)
            rows.append({"channel": ch, "multiplier": m, "spend": m * spend_tot[j], "contribution": c.mean(),
                         "contribution_low": lo, "contribution_high": hi})
    return pd.DataFrame(rows)


def adstock_curves(fit, hdi_prob: float = HDI_PROB, max_draws: int | None = 1000) -> pd.DataFrame:
    """Share of a week's spend effect landing `lag` weeks later, per channel (kernel weights)."""
    params = {k: v for k, v in fit.params(max_draws).items() if k.startswith("adstock_")}
    w = np.asarray(jax.vmap(lambda p: adstock_weights(p, fit.spec))(params))  # (n, L, C)
    rows = []
    for j, ch in enumerate(fit.channels):
        lo, hi = hdi(w[:, :, j], hdi_prob)
        for lag in range(w.shape[1]):
            rows.append({"channel": ch, "lag_weeks": lag, "weight": w[:, lag, j].mean(),
                         "weight_low": lo[lag], "weight_high": hi[lag]})
    return pd.DataFrame(rows)


def parameter_summary(fit, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
    """Mean and HDI of every parameter, controls converted back to raw units, plus R-hat/ESS."""
    rows = []
    for site, arr in fit.params().items():
        if site == "gamma_control":
            arr = control_coefficients(arr, fit.scales)
        flat = arr.reshape(arr.shape[0], -1)
        names = fit.channels if site.startswith(("adstock_", "saturation_")) else (
            fit.controls if site == "gamma_control" else [str(i) for i in range(flat.shape[1])])
        lo, hi = hdi(flat, hdi_prob)
        for k in range(flat.shape[1]):
            label = site if arr.ndim == 1 else f"{site}[{names[k]}]"
            rows.append({"parameter": label, "mean": flat[:, k].mean(), "hdi_low": lo[k], "hdi_high": hi[k]})
    out = pd.DataFrame(rows)
    if fit.diagnostics is not None:
        out = out.merge(fit.diagnostics[["parameter", "r_hat", "ess_bulk"]], on="parameter", how="left")
    return out


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


def fit_report(fit, table: pd.DataFrame | None = None, ident: pd.DataFrame | None = None,
               checks: dict | None = None) -> str:
    """The fit report (Markdown, saved beside the fit as report.md): contributions with each
    channel's identification, the sentences for channels the data cannot pin down, the prior and
    posterior predictive checks, and the sampler's convergence warnings with what to do."""
    from revline.models.mmm.diagnostics import (  # import cycle: diagnostics imports this module
        convergence_warnings, fit_data_warnings, identification, identification_messages, predictive_checks,
        predictive_sentences,
    )

    table = contributions(fit) if table is None else table
    ident = identification(fit) if ident is None else ident
    ok = dict(zip(ident["channel"], ident["identified"]))
    lines = [f"# Mix model fit: {fit.roles.outcome_col}", "",
             f"{len(fit.frame)} weeks, {len(fit.channels)} channels, method {fit.method}, seed {fit.run_info.get('seed')}.",
             "", "| channel | spend | contribution [94% HDI] | share | ROI [94% HDI] | identified |",
             "|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.channel} | {_fmt(r.spend)} | {_fmt(r.contribution)} [{_fmt(r.contribution_low)}, "
                     f"{_fmt(r.contribution_high)}] | {r.share:.1%} | {r.roi:.2f} [{r.roi_low:.2f}, {r.roi_high:.2f}] | "
                     f"{'yes' if ok.get(r.channel) else 'no'} |")
    lines += ["", f"Channels' shares of the fitted outcome add up to {table['share'].sum():.1%}; the rest is the "
              "baseline (never negative)."]
    confounded = fit_data_warnings(fit)
    if confounded:
        lines += ["", "## What the spend cannot separate", ""] + [f"- {m}" for m in confounded]
    messages = identification_messages(ident)
    if messages:
        lines += ["", "## What the data cannot tell", ""] + [f"- {m}" for m in messages]
    checks = predictive_checks(fit) if checks is None else checks
    lines += ["", "## Predictive checks", ""] + [f"- {m}" for m in predictive_sentences(checks)]
    lines += [f"- warning: {w}" for w in checks["warnings"]]
    warnings = convergence_warnings(fit.run_info, fit.diagnostics)
    if warnings:
        lines += ["", "## Convergence warnings", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"
