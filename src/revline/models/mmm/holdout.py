"""Out-of-sample check: fit on all but the last N weeks, forecast those weeks, compare with naive baselines.

Why: in-sample fit (R^2, the posterior predictive check) cannot tell a model that learned the
business from one that memorised its noise. The held-out weeks are forecast from the fitted
posterior with the *actual* spend and controls of those weeks (carry-over from the training weeks
included, the trend's time axis kept from the fit), with observation noise, so the 94 % predictive
interval is the one a planner would get. Scored against two naive forecasts a model must beat to be
worth its complexity: the mean of the last N training weeks, and seasonal naive (the same weeks one
year earlier) when the training history holds a year before them.

MAPE is over held-out weeks with a non-zero outcome; WAPE (sum |error| / sum |actual|) is given too,
since weekly B2B pipeline has zero weeks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from revline.models.mmm.data import MMMDataError, attach_roles, roles_of
from revline.models.mmm.model import make_design
from revline.models.mmm.posterior import component_draws, hdi, predictive_outcomes

SEASON_WEEKS = 52
MIN_TRAIN_WEEKS = 26


def split(frame: pd.DataFrame, weeks: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training frame, held-out frame): the last `weeks` rows held out, column roles kept on both."""
    roles = roles_of(frame)
    if weeks < 1:
        raise MMMDataError(f"--holdout-weeks must be at least 1, got {weeks}")
    if len(frame) - weeks < MIN_TRAIN_WEEKS:
        raise MMMDataError(f"--holdout-weeks {weeks} leaves {len(frame) - weeks} weeks to fit on; "
                           f"keep at least {MIN_TRAIN_WEEKS} (the data have {len(frame)} weeks)")
    train = frame.iloc[:-weeks].reset_index(drop=True)
    test = frame.iloc[-weeks:].reset_index(drop=True)
    if roles is not None:
        train, test = attach_roles(train, roles), attach_roles(test, roles)
    return train, test


def forecast_draws(fit: Any, full: pd.DataFrame, max_draws: int | None = 1000, seed: int = 0) -> np.ndarray:
    """(draws, weeks) predictive outcome of the weeks of `full` after the fitted ones (outcome units):
    the model's mean on the full spend history plus observation noise."""
    n_hist = len(fit.frame)
    controls = full[fit.controls].to_numpy(dtype=float) if fit.controls else np.zeros((len(full), 0))
    design = make_design(full[fit.roles.date_col], full[fit.channels].to_numpy(dtype=float), controls,
                         fit.spec, fit.scales, n_hist=n_hist)
    params = fit.params(max_draws)
    mu = component_draws(fit.spec, params, design)["mu"][:, n_hist:]
    return predictive_outcomes(fit.spec, params, mu, fit.scales.target, np.random.default_rng(seed))


def _errors(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    err = np.abs(actual - predicted)
    nz = actual != 0
    return {"mape": float((err[nz] / np.abs(actual[nz])).mean()) if nz.any() else float("nan"),
            "wape": float(err.sum() / np.abs(actual).sum()) if np.abs(actual).sum() > 0 else float("nan"),
            "mae": float(err.mean())}


def score(fit: Any, full: pd.DataFrame, hdi_prob: float = 0.94, max_draws: int | None = 1000) -> dict[str, Any]:
    """The held-out weeks of `full` (those after the fit's) scored: the model's forecast (posterior
    predictive mean) and its interval coverage against the naive baselines."""
    n_hist = len(fit.frame)
    actual = full[fit.roles.outcome_col].to_numpy(dtype=float)[n_hist:]
    weeks = len(actual)
    if weeks == 0:
        raise MMMDataError("no held-out weeks to score")
    draws = forecast_draws(fit, full, max_draws)
    lo, hi = hdi(draws, hdi_prob)
    model = _errors(actual, draws.mean(axis=0))
    history = fit.y
    out: dict[str, Any] = {
        "weeks": weeks, "first_week": str(pd.Timestamp(full[fit.roles.date_col].iloc[n_hist]).date()),
        "model": model, "coverage": float(((lo <= actual) & (actual <= hi)).mean()), "hdi_prob": hdi_prob,
        "baselines": {"last_weeks_mean": _errors(actual, np.full(weeks, history[-weeks:].mean()))},
    }
    if n_hist >= SEASON_WEEKS:
        idx = np.arange(n_hist, n_hist + weeks) - SEASON_WEEKS
        season = np.where(idx < n_hist, np.concatenate([history, actual])[idx], np.nan)
        if np.isfinite(season).all():
            out["baselines"]["seasonal_naive"] = _errors(actual, season)
    best = min(out["baselines"].items(), key=lambda kv: kv[1]["wape"])
    out["best_baseline"] = best[0]
    out["beats_baseline"] = bool(model["wape"] < best[1]["wape"])
    out["forecast"] = pd.DataFrame({"week": pd.to_datetime(full[fit.roles.date_col].iloc[n_hist:]).to_numpy(),
                                    "actual": actual, "forecast": draws.mean(axis=0), "low": lo, "high": hi})
    return out


def sentences(result: dict[str, Any]) -> list[str]:
    """The check in plain sentences (CLI, fit report), with what to do when the model loses."""
    m, b = result["model"], result["baselines"]
    names = {"last_weeks_mean": f"the mean of the last {result['weeks']} fitted weeks",
             "seasonal_naive": "the same weeks a year earlier"}
    lines = [f"held-out check: fitted on all but the last {result['weeks']} weeks (from {result['first_week']}); "
             f"forecast MAPE {m['mape']:.1%}, WAPE {m['wape']:.1%}; {result['coverage']:.0%} of the held-out weeks inside "
             f"the {result['hdi_prob']:.0%} predictive interval"]
    for key, e in b.items():
        lines.append(f"naive baseline, {names.get(key, key)}: MAPE {e['mape']:.1%}, WAPE {e['wape']:.1%}")
    if not result["beats_baseline"]:
        lines.append(f"warning: the model forecasts the held-out weeks no better than {names[result['best_baseline']]}: "
                     "its channel effects are not yet evidence; add controls for what moved the outcome, fewer "
                     "channels, or a lift test")
    if result["coverage"] < result["hdi_prob"] - 0.25:
        lines.append(f"warning: only {result['coverage']:.0%} of held-out weeks fall inside the predictive interval: "
                     "the intervals are too narrow out of sample (a level shift or trend change in the held-out weeks)")
    return lines
