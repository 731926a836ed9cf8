"""Bookings forecast per quarter and revenue type, as a distribution, against two CRO baselines.

model.py simulates open deals (landmark survival by stage and age, survival.py), deals not created
yet (creation rate x velocity) and renewals due (revline.models.retention); baselines.py holds the
stage-weighted and run-rate forecasts; backtest.py replays past quarters; data.py cuts the store at
`as_of`. `forecast_store(con, as_of)` is the entry point; see docs/forecast.md.
"""

from __future__ import annotations

from revline.models.forecast.model import Forecast, ForecastConfig, forecast_snapshot
from revline.models.forecast.quarters import Quarter, parse_quarter, quarter_of
from revline.models.forecast.run import forecast_store

__all__ = ["Forecast", "ForecastConfig", "Quarter", "forecast_snapshot", "forecast_store", "parse_quarter",
           "quarter_of"]
