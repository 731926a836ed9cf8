"""The forecast from a store: cut it at `as_of`, fetch renewals due from the retention model when
it is installed, simulate. The one entry point the ops layer, the backtest and notebooks call."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from revline.models.forecast.data import load
from revline.models.forecast.model import Forecast, ForecastConfig, default_quarters, forecast_snapshot
from revline.models.forecast.quarters import Quarter


def renewals_due(con: Any, as_of: date, start: date, end: date) -> pd.DataFrame | None:
    """Retention's renewals due in [start, end] with no opportunity yet, known at `as_of`; None
    when the retention model is not there (the forecast then says so in its notes)."""
    try:
        from revline.models.retention import renewals_due as due  # noqa: PLC0415 - optional sibling model
    except ImportError:
        return None
    return due(con, as_of=as_of, start=start, end=end)


def forecast_store(con: Any, as_of: date, quarters: list[Quarter] | None = None,
                   config: ForecastConfig = ForecastConfig(), use_retention: bool = True) -> Forecast:
    """Forecast `quarters` (default: the quarter of `as_of` and the next) from the store cut at `as_of`."""
    quarters = quarters or default_quarters(as_of)
    snap = load(con, as_of)
    ren = renewals_due(con, as_of, max(as_of, quarters[0].start), quarters[-1].end) if use_retention else None
    return forecast_snapshot(snap, quarters, ren, config)


__all__ = ["forecast_store", "renewals_due"]
