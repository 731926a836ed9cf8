"""Replay history: forecast each past quarter from its first day (only what was known then) and
compare with what was booked. revline and both baselines are scored alike: MAPE of the mean and
coverage of the 80 % interval (p10..p90), per revenue type and total, for the quarter starting at
`as_of` (horizon 0) and the one after it (horizon 1).

Why the replay cuts the store rather than using a saved forecast: the store has no saved
forecasts, and data.load's cut is what makes "only what was known then" checkable (a test adds a
deal after the cut and sees nothing change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from revline.models.forecast import baselines
from revline.models.forecast.data import FORECAST_TYPES, last_data_day, load, won_between
from revline.models.forecast.model import TOTAL, ForecastConfig
from revline.models.forecast.quarters import Quarter, quarter_of
from revline.models.forecast.run import forecast_store

METHODS = ("revline", "stage_weighted", "run_rate")


@dataclass
class Backtest:
    """`detail`: one row per (as_of, quarter, revenue_type, method) with forecast, p10, p90, actual,
    ape and covered. `summary`: MAPE and coverage per (method, horizon, revenue_type)."""

    detail: pd.DataFrame
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def backtest_quarters(con: Any, min_history_days: int = 180) -> list[Quarter]:
    """Quarter starts with at least `min_history_days` of history before them and complete actuals."""
    first = con.execute("SELECT min(created_at) FROM opportunities").fetchone()[0]
    last = last_data_day(con)
    if first is None or last is None:
        return []
    q = quarter_of(pd.Timestamp(first).date() + timedelta(days=min_history_days))
    if q.start < pd.Timestamp(first).date() + timedelta(days=min_history_days):
        q = q.next()
    out = []
    while q.end <= last:
        out.append(q)
        q = q.next()
    return out


def run_backtest(con: Any, config: ForecastConfig = ForecastConfig(), horizons: int = 2,
                 min_history_days: int = 180) -> Backtest:
    """Forecast each backtest quarter (and the next ones up to `horizons`) as of its start."""
    starts = backtest_quarters(con, min_history_days)
    last = last_data_day(con)
    notes: list[str] = []
    if not starts or last is None:
        return Backtest(pd.DataFrame(), pd.DataFrame(), ["too little history for a backtest"])
    truth = load(con, last + timedelta(days=1))
    probs = baselines.stage_probabilities(con)
    rows = []
    for q0 in starts:
        qs = [q0]
        while len(qs) < horizons and qs[-1].next().end <= last:
            qs.append(qs[-1].next())
        fc = forecast_store(con, q0.start, qs, config)
        snap = load(con, q0.start)
        sw = baselines.stage_weighted(snap, qs, probs, seed=config.seed)
        rr = baselines.run_rate(snap, qs)
        for h, q in enumerate(qs):
            actual = won_between(truth, q.start, q.end)
            act = {**actual.to_dict(), TOTAL: float(actual.sum())}
            for method, table in (("revline", fc.table), ("stage_weighted", sw), ("run_rate", rr)):
                for r in table[table["quarter"] == str(q)].itertuples():
                    a = act[r.revenue_type]
                    rows.append({"as_of": q0.start, "quarter": str(q), "horizon": h, "revenue_type": r.revenue_type,
                                 "method": method, "forecast": r.mean, "p10": r.p10, "p90": r.p90, "actual": a,
                                 "ape": abs(r.mean - a) / a if a > 0 else np.nan,
                                 "covered": bool(r.p10 <= a <= r.p90)})
    detail = pd.DataFrame(rows)
    summary = summarise(detail)
    notes.append(f"{len(starts)} quarter starts replayed ({starts[0]}..{starts[-1]}); a short history, so "
                 "each figure rests on a handful of quarters: read the per-quarter errors too")
    notes.extend(fc.notes)
    return Backtest(detail, summary, notes)


def summarise(detail: pd.DataFrame) -> pd.DataFrame:
    """MAPE (mean absolute percentage error of the mean forecast) and 80 % interval coverage."""
    g = detail.groupby(["horizon", "revenue_type", "method"], sort=False)
    out = g.agg(quarters=("quarter", "count"), mape=("ape", "mean"), coverage=("covered", "mean")).reset_index()
    order = {t: i for i, t in enumerate((TOTAL, *FORECAST_TYPES))}
    out["_o"] = out["revenue_type"].map(order)
    out["_m"] = out["method"].map({m: i for i, m in enumerate(METHODS)})
    return out.sort_values(["horizon", "_o", "_m"]).drop(columns=["_o", "_m"]).reset_index(drop=True)


__all__ = ["Backtest", "METHODS", "backtest_quarters", "run_backtest", "summarise"]
