"""Operations `forecast` and `forecast_backtest`: the bookings forecast against the target with
marketing's share, and the replay of past quarters. The CLI, the REST API, the dashboard panel
and the HTML report all call these (revline.models.forecast does the modelling)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from revline.models.forecast import ForecastConfig, forecast_store, parse_quarter, quarter_of
from revline.models.forecast.backtest import Backtest, run_backtest
from revline.models.forecast.data import default_as_of
from revline.ops.registry import Progress, no_progress
from revline.reports.forecast import MarketingShare, marketing_share, versus_target
from revline.store.rows import scalar


class ForecastError(ValueError):
    """A request the forecast cannot answer (one line, naming what to change)."""


@dataclass
class ForecastView:
    """What every interface shows: the forecast per quarter and revenue type (`table`), the totals
    against the target (`vs_target`), marketing's share of the first quarter's gap, and notes."""

    as_of: date
    quarters: list[str]
    table: pd.DataFrame
    vs_target: pd.DataFrame
    marketing: MarketingShare | None
    notes: list[str] = field(default_factory=list)


def resolve(con: duckdb.DuckDBPyConnection, quarter: str | None, as_of: date | str | None) -> tuple[date, list, list[str]]:
    """The as-of date and the quarters to forecast for the user's options (see forecast())."""
    notes: list[str] = []
    try:
        q = parse_quarter(quarter) if quarter else None
        a = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    except ValueError as exc:
        raise ForecastError(f"{exc} (--quarter like 2026-Q3, --as-of like 2026-07-01)") from None
    if a is not None and not date(1900, 1, 1) <= a <= date(9000, 12, 31):
        raise ForecastError(f"as-of {a} is out of range (1900..9000)")
    if q is not None and not 1900 <= q.year <= 9000:
        raise ForecastError(f"quarter {q} is out of range (1900..9000)")
    if a is None:
        a = default_as_of(con)
        if q is not None and q.end < a:
            notes.append(f"{q} is over in the store: replayed as of its first day, {q.start}")
            a = q.start
    if q is None:
        q = quarter_of(a)
    elif q.end < a:
        raise ForecastError(f"as-of {a} is after {q} ends: its bookings are known (see `revline report`); "
                            f"use an --as-of on or before {q.end}")
    return a, [q, q.next()], notes


def forecast(con: duckdb.DuckDBPyConnection, *, quarter: str | None = None, as_of: str | date | None = None,
             model: str = "linear", n_sims: int = 4000, progress: Progress = no_progress) -> ForecastView:
    """The forecast of `quarter` (default: the quarter of as-of) and the next one, as of `as_of`
    (default: today, or the day after the store's last deal event), with the target and marketing's share."""
    if scalar(con, "SELECT count(*) FROM opportunities") == 0:
        raise ForecastError("the store has no opportunities: ingest a CRM export first (revline ingest FILES)")
    a, quarters, notes = resolve(con, quarter, as_of)
    progress(None, None, "forecast")
    fc = forecast_store(con, a, quarters, ForecastConfig(n_sims=n_sims))
    share = marketing_share(con, fc, model=model)
    return ForecastView(as_of=a, quarters=[str(q) for q in quarters], table=fc.table, vs_target=versus_target(con, fc),
                        marketing=share, notes=notes + fc.notes)


def backtest(con: duckdb.DuckDBPyConnection, *, progress: Progress = no_progress) -> Backtest:
    """Replay every past quarter with enough history: revline and both baselines, MAPE and coverage."""
    if scalar(con, "SELECT count(*) FROM opportunities") == 0:
        raise ForecastError("the store has no opportunities: ingest a CRM export first (revline ingest FILES)")
    progress(None, None, "backtest")
    return run_backtest(con)


def as_json(view: ForecastView) -> dict[str, Any]:
    """The view as plain JSON (the REST API's body and the dashboard's data)."""
    def rows(df: pd.DataFrame) -> list[dict[str, Any]]:
        out = df.astype(object).where(df.notna(), None).to_dict("records")
        return [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()} for r in out]

    m = view.marketing
    return {
        "as_of": view.as_of.isoformat(), "quarters": view.quarters, "currency": "USD",
        "forecast": rows(view.table), "vs_target": rows(view.vs_target),
        "marketing": None if m is None else {
            "quarter": m.quarter, "target": m.target, "forecast_p50": m.forecast_p50, "gap": m.gap,
            "pipeline_yield": m.pipeline_yield, "pipeline_needed": m.pipeline_needed, "model": m.model,
            "channels": rows(m.channels), "notes": m.notes},
        "notes": view.notes,
    }


__all__ = ["ForecastError", "ForecastView", "as_json", "backtest", "default_as_of", "forecast", "resolve"]
