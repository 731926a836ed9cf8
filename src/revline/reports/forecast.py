"""The forecast against the target, and marketing's share of closing the gap.

Why here (reports/) and not in models/forecast: the company target is read by the revenue
reports' rule (reports.revenue.target_periods: the 'all' row, else the sum of the segments) and
the cost of pipeline comes from the ROI report, both above the models layer.

Marketing's share, in words: the gap is the quarter's target minus the forecast's median (the
forecast already counts the new-business pipeline that the current creation rate will bring).
New-business pipeline created from `as_of` to the quarter's end wins inside the quarter at the
measured yield: the share of a pipeline dollar won by the quarter's end, averaged over creation
days (the age-0 time-to-win curve, so velocity and conversion together; times the ratio of the
won deals' mean amount to all deals' mean amount). Extra pipeline needed = gap / yield. Per
channel at its current cost per pipeline dollar (spend / pipeline attributed at opportunity
creation by the chosen model, over the last `lookback_days`): the pipeline it would source at
its present share, the spend that takes, and the spend if it sourced the whole gap alone. Average
cost, not marginal: spend on a saturating channel buys less than this (the mix model's response
curves say how much less).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from revline.models.forecast import survival
from revline.models.forecast.data import cutoff, load
from revline.models.forecast.model import TOTAL, Forecast
from revline.reports.revenue import COMPANY, target_periods
from revline.reports.roi import roi_table
from revline.reports.tables import NotFound


def quarter_targets(con: Any, fc: Forecast) -> dict[str, float | None]:
    """The company revenue target of each forecast quarter: the target periods lying inside it,
    summed (monthly or quarterly targets alike); None when no target period falls in it."""
    out: dict[str, float | None] = {}
    for q in fc.quarters:
        t = target_periods(con, COMPANY, q.start, q.end)
        t = t[(pd.to_datetime(t["period_start"]).dt.date >= q.start) & (pd.to_datetime(t["period_end"]).dt.date <= q.end)]
        vals = t["revenue_target"].dropna()
        out[str(q)] = float(vals.sum()) if len(vals) else None
    return out


def versus_target(con: Any, fc: Forecast) -> pd.DataFrame:
    """The forecast's total rows with the target, the gap to it (target - median) and the
    probability of reaching it (share of simulations at or above it)."""
    targets = quarter_targets(con, fc)
    rows = []
    for r in fc.table[fc.table["revenue_type"] == TOTAL].itertuples():
        target = targets.get(r.quarter)
        sims = fc.samples.get((r.quarter, TOTAL))
        rows.append({"quarter": r.quarter, "quarter_start": r.quarter_start, "quarter_end": r.quarter_end,
                     "won_to_date": r.won_to_date, "mean": r.mean, "p10": r.p10, "p50": r.p50, "p90": r.p90,
                     "target": target, "gap": None if target is None else target - r.p50,
                     "p_reach_target": None if target is None or sims is None else float(np.mean(sims >= target))})
    return pd.DataFrame(rows)


@dataclass
class MarketingShare:
    """The extra new-business pipeline the quarter needs and what it costs per channel."""

    quarter: str
    target: float | None
    forecast_p50: float
    gap: float | None
    pipeline_yield: float  # won USD by the quarter's end per pipeline USD created from as_of on
    pipeline_needed: float | None  # extra pipeline (USD) to create this quarter; None: no target
    channels: pd.DataFrame  # channel, spend, pipeline, cost_per_pipeline, share, pipeline_needed, spend_needed, spend_if_alone
    model: str | None
    notes: list[str] = field(default_factory=list)


def pipeline_yield(con: Any, fc: Forecast, revenue_type: str = "new_business") -> float:
    """Won USD inside the first forecast quarter per USD of `revenue_type` pipeline created on a
    day between as_of and the quarter's end (uniformly): conversion and velocity from history."""
    q = fc.quarters[0]
    snap = load(con, fc.as_of)
    lm = survival.landmarks(snap)
    cut = pd.Timestamp(cutoff(fc.as_of))
    days = float((pd.Timestamp(q.end + timedelta(days=1)) - cut) / pd.Timedelta(days=1))
    if days <= 0:
        return 0.0
    created = np.arange(0.5, days, 1.0)
    p = survival.new_deal_win_within(lm, revenue_type, days - created)
    d = snap.deals[snap.deals["revenue_type"] == revenue_type]
    won = d[d["is_won"]]
    amount_ratio = float(won["amount_usd"].mean() / d["amount_usd"].mean()) if len(won) and d["amount_usd"].mean() > 0 else 1.0
    return float(np.mean(p)) * amount_ratio


def marketing_share(con: Any, fc: Forecast, model: str = "linear", lookback_days: int = 180) -> MarketingShare:
    """Marketing's share of closing the first forecast quarter's gap (see the module doc)."""
    vt = versus_target(con, fc).iloc[0]
    notes: list[str] = []
    target, gap = vt["target"], vt["gap"]
    if target is None or pd.isna(target):
        notes.append(f"no revenue target for {vt['quarter']}: load a targets file to see the gap")
        target = gap = None
    y = pipeline_yield(con, fc)
    needed = None
    if gap is not None:
        if gap <= 0:
            needed = 0.0
            notes.append("the forecast's median reaches the target: no extra pipeline needed")
        elif y > 0:
            needed = gap / y
        else:
            notes.append("pipeline created from now on cannot close this quarter (the sales cycle is longer than "
                         "the days left): the gap must come from open deals")
    start = fc.as_of - timedelta(days=lookback_days)
    end = fc.as_of - timedelta(days=1)
    try:
        roi = roi_table(con, model=model, milestone="opportunity", revenue_type="new_business", by="channel",
                        start=start, end=end)
        used: str | None = model
    except NotFound as exc:
        notes.append(f"no cost per pipeline by channel: {exc}")
        roi, used = pd.DataFrame(columns=["channel", "spend", "pipeline"]), None
    ch = roi[(roi["spend"] > 0) & (roi["pipeline"] > 0)][["channel", "spend", "pipeline"]].copy()
    ch["cost_per_pipeline"] = ch["spend"] / ch["pipeline"]
    ch["share"] = ch["pipeline"] / ch["pipeline"].sum() if len(ch) else []
    ch["pipeline_needed"] = ch["share"] * (needed or 0.0)
    ch["spend_needed"] = ch["pipeline_needed"] * ch["cost_per_pipeline"]
    ch["spend_if_alone"] = (needed or 0.0) * ch["cost_per_pipeline"]
    ch = ch.sort_values("pipeline", ascending=False).reset_index(drop=True)
    if used:
        notes.append(f"cost per pipeline: spend {start}..{end} / new-business pipeline attributed by {model}; an "
                     "average cost (a saturating channel's next dollar buys less)")
    return MarketingShare(quarter=vt["quarter"], target=target, forecast_p50=float(vt["p50"]), gap=gap,
                          pipeline_yield=y, pipeline_needed=needed, channels=ch, model=used, notes=notes)


__all__ = ["MarketingShare", "marketing_share", "pipeline_yield", "quarter_targets", "versus_target"]
