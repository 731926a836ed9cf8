"""Future spend plans: which weeks, the baseline plan, and the controls in those weeks.

Why shared: the optimiser and the scenarios must agree on what "next quarter" and "the
current plan" mean, otherwise an optimised allocation and a scenario run on it disagree.
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import pandas as pd

from revline.models.mmm.data import MMMDataError

QUARTER_WEEKS = 13


def future_weeks(fit, quarter: str = "next", weeks: int | None = None) -> pd.DatetimeIndex:
    """Mondays of the planning window. 'next' = the 13 weeks after the fitted history;
    'YYYYQn' = the Mondays of that calendar quarter (must lie after the history)."""
    last = fit.dates[-1]
    if quarter == "next":
        n = weeks or QUARTER_WEEKS
        return pd.date_range(last + pd.Timedelta(weeks=1), periods=n, freq=pd.DateOffset(weeks=1))
    m = re.fullmatch(r"(\d{4})-?Q([1-4])", quarter.strip().upper())
    if not m:
        raise MMMDataError(f"quarter must be 'next' or like '2025Q3', got {quarter!r}")
    start = pd.Timestamp(year=int(m.group(1)), month=3 * (int(m.group(2)) - 1) + 1, day=1)
    end = start + pd.offsets.QuarterEnd(0)
    step = pd.Timedelta(weeks=1)
    first = last + step * int(np.ceil(max((start - last).days, 0) / 7))
    if first <= last:
        raise MMMDataError(f"quarter {quarter} starts before the end of the fitted history ({last.date()})")
    out = pd.date_range(first, end, freq=pd.DateOffset(weeks=1))
    return out[:weeks] if weeks else out


def baseline_weekly(fit, recent_weeks: int = QUARTER_WEEKS) -> np.ndarray:
    """Current plan per channel: the average weekly spend of the last `recent_weeks`."""
    return fit.spend[-recent_weeks:].mean(axis=0)


def future_controls(fit, n_weeks: int, controls: Mapping[str, float] | pd.DataFrame | None = None) -> np.ndarray:
    """Controls over the gap + window. A control that is a linear time index (like `t`) is
    extended; others are held at their recent average unless given (a dict of constants or a
    frame with one row per future week)."""
    k = len(fit.controls)
    out = np.zeros((n_weeks, k))
    hist = fit.control_values
    for j, name in enumerate(fit.controls):
        col = hist[:, j]
        if isinstance(controls, pd.DataFrame) and name in controls.columns:
            vals = controls[name].to_numpy(dtype=float)
            if len(vals) < n_weeks:
                raise MMMDataError(f"future controls: column {name!r} has {len(vals)} rows, {n_weeks} weeks needed")
            out[:, j] = vals[:n_weeks]
        elif isinstance(controls, Mapping) and name in controls:
            out[:, j] = float(controls[name])
        else:
            steps = np.diff(col)
            if len(steps) and np.allclose(steps, steps[0]) and steps[0] != 0:
                out[:, j] = col[-1] + steps[0] * np.arange(1, n_weeks + 1)
            else:
                out[:, j] = col[-QUARTER_WEEKS:].mean()
    if controls is not None:
        known = set(fit.controls)
        names = controls.columns if isinstance(controls, pd.DataFrame) else controls.keys()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise MMMDataError(f"future controls: unknown control(s) {unknown}; the model has {fit.controls}")
    return out


def check_channels(fit, names, what: str) -> None:
    """MMMDataError for any name in `names` that is not a channel of the fit."""
    unknown = [c for c in names if c not in fit.channels]
    if unknown:
        raise MMMDataError(f"{what}: unknown channel(s) {unknown}; the model has {fit.channels}")
