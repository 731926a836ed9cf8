"""The counterfactual ground truth: what each channel really caused, by switching it off.

Why re-simulation rather than any formula: the funnel is non-linear (hazards, saturation,
thresholds, renewals that depend on expansions), so no closed form gives a channel's share.
Re-running the pure core with the channel's touches removed (for tv: its lift) and the same
dice is the definition of incrementality, and it is exactly what no other tool can publish.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

import numpy as np

from revline.demo.marketing import date_of
from revline.demo.params import CHANNELS, Params
from revline.demo.simulation import NB, REVENUE_TYPES, Draws, SimResult, simulate


def summarize(r: SimResult, n_days: int) -> dict:
    """Window totals of one run (USD): pipeline = created in window, revenue = won and closed in it."""
    in_window = r.o_created <= n_days - 1
    won = r.o_won & r.o_closed & (r.o_close <= n_days - 1)
    out: dict[str, dict] = {"pipeline": {}, "revenue": {}, "opportunities": {}, "won": {}}
    for t, name in enumerate(REVENUE_TYPES):
        m = r.o_type == t
        out["pipeline"][name] = float(r.o_amount_usd[m & in_window].sum())
        out["revenue"][name] = float(r.o_amount_usd[m & won].sum())
        out["opportunities"][name] = int((m & in_window).sum())
        out["won"][name] = int((m & won).sum())
    week = (np.arange(n_days) + date_of(0).weekday()) // 7  # week index, weeks start Monday
    n_weeks = int(week[-1]) + 1
    for key, day, mask in (("weekly_pipeline", r.o_created, in_window), ("weekly_revenue", r.o_close, won)):
        for t, name in enumerate(REVENUE_TYPES):
            m = mask & (r.o_type == t)
            out.setdefault(key, {})[name] = np.bincount(week[day[m]], weights=r.o_amount_usd[m], minlength=n_weeks)
    out["touches_by_channel"] = r.touches_by_channel()
    return out


def week_starts(n_days: int) -> list[str]:
    """ISO dates of the Mondays that start the weeks of the window (the weekly truth's index)."""
    first_monday = date_of(0) - timedelta(days=date_of(0).weekday())
    n_weeks = (n_days - 1 + date_of(0).weekday()) // 7 + 1
    return [(first_monday + timedelta(days=7 * w)).isoformat() for w in range(n_weeks)]


def counterfactual_truth(params: Params, draws: Draws, baseline: SimResult,
                         progress: Callable[[str, int, int], None] | None = None) -> tuple[dict, dict]:
    """Run the company once per channel switched off; return (channels truth, weekly truth)."""
    D = params.n_days
    base = summarize(baseline, D)
    spend = draws.plan.channel_spend()
    week = (np.arange(D) + date_of(0).weekday()) // 7
    n_weeks = int(week[-1]) + 1
    channels: dict[str, dict] = {}
    weekly_incr: dict[str, list[float]] = {}
    cf_touches: dict[str, dict[str, int]] = {}
    for i, ch in enumerate(CHANNELS):
        if progress:
            progress(f"counterfactual: {ch} off", i, len(CHANNELS))
        cf = summarize(simulate(params, draws, frozenset({ch}), keep_touches=False), D)
        cf_touches[ch] = cf["touches_by_channel"]
        inc_p = {t: base["pipeline"][t] - cf["pipeline"][t] for t in REVENUE_TYPES}
        inc_r = {t: base["revenue"][t] - cf["revenue"][t] for t in REVENUE_TYPES}
        channels[ch] = {
            "spend": round(float(spend[ch].sum()), 2),
            "tracked": ch != "tv",
            "effect_size": params.effect[ch],
            "incremental_pipeline": round(sum(inc_p.values()), 2),
            "incremental_revenue": round(sum(inc_r.values()), 2),
            "incremental_opportunities": sum(base["opportunities"][t] - cf["opportunities"][t] for t in REVENUE_TYPES),
            "incremental_won": sum(base["won"][t] - cf["won"][t] for t in REVENUE_TYPES),
            "incremental_pipeline_by_type": {t: round(v, 2) for t, v in inc_p.items()},
            "incremental_revenue_by_type": {t: round(v, 2) for t, v in inc_r.items()},
            "incremental_opportunities_by_type": {t: base["opportunities"][t] - cf["opportunities"][t] for t in REVENUE_TYPES},
            "touches": base["touches_by_channel"][ch],
            "touches_when_off": cf["touches_by_channel"][ch],
        }
        wk = sum(base["weekly_pipeline"][t] - cf["weekly_pipeline"][t] for t in REVENUE_TYPES)
        weekly_incr[ch] = [round(float(v), 2) for v in wk]
    pos = sum(max(c["incremental_revenue"], 0.0) for c in channels.values())
    for c in channels.values():
        c["share_of_incremental_revenue"] = round(max(c["incremental_revenue"], 0.0) / pos, 6) if pos > 0 else 0.0
        c["roi"] = round(c["incremental_revenue"] / c["spend"], 4) if c["spend"] > 0 else None
    if progress:
        progress("counterfactuals done", len(CHANNELS), len(CHANNELS))
    weekly = {
        "week_start": week_starts(D),
        "pipeline_new_business": [round(float(v), 2) for v in base["weekly_pipeline"]["new_business"]],
        "revenue_new_business": [round(float(v), 2) for v in base["weekly_revenue"]["new_business"]],
        "pipeline": {t: [round(float(v), 2) for v in base["weekly_pipeline"][t]] for t in REVENUE_TYPES},
        "revenue": {t: [round(float(v), 2) for v in base["weekly_revenue"][t]] for t in REVENUE_TYPES},
        "spend": {ch: [round(float(v), 2) for v in np.bincount(week, weights=spend[ch], minlength=n_weeks)]
                  for ch in CHANNELS if spend[ch].sum() > 0},
        "incremental_pipeline": weekly_incr,
    }
    return channels, weekly


__all__ = ["counterfactual_truth", "summarize", "week_starts", "NB"]
