"""What-if scenarios: the outcome distribution of a spend plan for a coming quarter.

Why posterior predictive with common draws: the baseline and the scenario are evaluated on the
same parameter draws and the same noise, so their difference carries only the uncertainty
about the channel's effect, not the week-to-week noise twice.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from revline.models.mmm.model import make_design
from revline.models.mmm.plan import baseline_weekly, check_channels, future_controls, future_weeks
from revline.models.mmm.posterior import component_draws

DEFAULT_QUANTILES = (0.03, 0.1, 0.5, 0.9, 0.97)


def _plan_matrix(fit, n_gap: int, n_window: int, n_tail: int, weekly: np.ndarray, window_weekly: np.ndarray) -> np.ndarray:
    future = np.vstack([np.tile(weekly, (n_gap, 1)), np.tile(window_weekly, (n_window, 1)),
                        np.tile(weekly, (n_tail, 1))])
    return np.vstack([fit.spend, future])


def plan_outcome_draws(fit, window_spend: np.ndarray, quarter: str = "next", weeks: int | None = None,
                       controls=None, max_draws: int | None = 2000, include_carryover: bool = False,
                       noise: bool = True, seed: int = 0) -> dict:
    """Per-draw outcome over the window for a plan spending `window_spend` (total per channel,
    spread evenly over the window's weeks), baseline plan before and after."""
    window = future_weeks(fit, quarter, weeks)
    gap = int((window[0] - fit.dates[-1]).days // 7) - 1
    tail = fit.spec.kernel_length if include_carryover else 0
    n_future = gap + len(window) + tail
    dates = fit.dates.append(pd.date_range(fit.dates[-1] + pd.Timedelta(weeks=1), periods=n_future,
                                           freq=pd.DateOffset(weeks=1)))
    weekly = baseline_weekly(fit)
    spend = _plan_matrix(fit, gap, len(window), tail, weekly, np.asarray(window_spend, dtype=float) / len(window))
    ctrl = np.vstack([fit.control_values, future_controls(fit, n_future, controls)]) if fit.controls else \
        np.zeros((len(dates), 0))
    design = make_design(dates, spend, ctrl, fit.spec, fit.scales, n_hist=len(fit.frame))
    params = fit.params(max_draws)
    comp = component_draws(fit.spec, params, design)
    lo = len(fit.frame) + gap
    sl = slice(lo, lo + len(window) + tail)
    mu = comp["mu"][:, sl] * fit.scales.target
    media = comp["channels"][:, sl, :].sum(axis=1) * fit.scales.target
    total = mu.sum(axis=1)
    if noise:
        rng = np.random.default_rng(seed)
        sd = np.asarray(params["sigma"]) * fit.scales.target * np.sqrt(mu.shape[1])
        total = total + rng.standard_normal(len(total)) * sd
    return {"window": window, "total": total, "media": media, "spend": np.asarray(window_spend, dtype=float)}


def scenario(fit, add: Mapping[str, float] | None = None, set: Mapping[str, float] | None = None,
             quarter: str = "next", weeks: int | None = None, controls=None,
             quantiles: Sequence[float] = DEFAULT_QUANTILES, include_carryover: bool = False,
             max_draws: int | None = 2000, seed: int = 0) -> pd.DataFrame:
    """Predicted outcome over the quarter for the baseline plan (recent average weekly spend)
    and for the plan with `add` (extra total spend per channel over the window) and/or `set`
    (total spend per channel over the window), plus their difference, as quantiles.

    `include_carryover` also counts the weeks after the window in which the window's spend
    still works (the adstock kernel length, lag included) — fairer for lagged B2B channels.
    """
    add = dict(add or {})
    set_ = dict(set or {})
    check_channels(fit, [*add, *set_], "scenario")
    window = future_weeks(fit, quarter, weeks)
    base_spend = baseline_weekly(fit) * len(window)
    new_spend = base_spend.copy()
    for ch, v in set_.items():
        new_spend[fit.channels.index(ch)] = float(v)
    for ch, v in add.items():
        new_spend[fit.channels.index(ch)] += float(v)
    if (new_spend < 0).any():
        bad = [fit.channels[j] for j in np.flatnonzero(new_spend < 0)]
        raise ValueError(f"scenario: spend of {bad} would be negative")
    kw = dict(quarter=quarter, weeks=weeks, controls=controls, max_draws=max_draws,
              include_carryover=include_carryover, seed=seed)
    base = plan_outcome_draws(fit, base_spend, **kw)
    new = plan_outcome_draws(fit, new_spend, **kw)
    rows = []
    for name, draws, spend in (("baseline", base["total"], base_spend.sum()), ("scenario", new["total"], new_spend.sum()),
                               ("difference", new["total"] - base["total"], new_spend.sum() - base_spend.sum())):
        row = {"plan": name, "spend": spend, "mean": float(np.mean(draws))}
        row.update({f"q{q:g}": float(np.quantile(draws, q)) for q in quantiles})
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(window_start=str(window[0].date()), window_end=str(window[-1].date()), weeks=len(window),
                     spend_by_channel={"baseline": dict(zip(fit.channels, base_spend.tolist())),
                                       "scenario": dict(zip(fit.channels, new_spend.tolist()))})
    return out
