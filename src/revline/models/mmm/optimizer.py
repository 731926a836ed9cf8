"""Budget allocation: split a total budget over channels to maximise expected outcome.

Why on posterior draws with exact gradients: the objective is the posterior mean of the
channels' contribution over the planning window plus their carry-over tail (spend late in the
quarter still works afterwards), averaged over draws, not a curve at the parameters' means —
the mean of a saturating curve is not the curve of the means. JAX differentiates that average,
and SLSQP handles the budget equality and per-channel bounds.

Why the reported outcomes come from the scenario's function, not from the objective: a CRO reads
"the current plan gives X, the optimal one Y" beside `revline mmm scenario`'s baseline and last
quarter's actuals. Every plan is therefore reported as the scenario reports it — the whole
outcome (baseline + media) over the window's weeks, on the same draws and noise — so the current
plan's figure *is* the scenario baseline, and the gain is a per-draw difference with an interval.
The carry-over the objective values is reported beside it, never mixed in.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.optimize import minimize

from revline.models.mmm.data import MMMDataError
from revline.models.mmm.model import channel_contributions
from revline.models.mmm.plan import baseline_weekly, check_channels, future_weeks
from revline.models.mmm.posterior import component_draws, hdi, media_params
from revline.models.mmm.scenario import plan_outcome_draws

REPORT_DRAWS = 2000  # the scenario's default: the current plan's outcome equals its baseline exactly


def parse_bounds(text: str | None) -> dict[str, tuple[float, float]]:
    """'tv=0:300000,paid_search=10000:' -> {'tv': (0, 300000), 'paid_search': (10000, inf)}."""
    out: dict[str, tuple[float, float]] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        try:
            name, rng = part.split("=", 1)
            lo, hi = rng.split(":", 1)
            out[name.strip()] = (float(lo) if lo.strip() else 0.0, float(hi) if hi.strip() else np.inf)
        except ValueError:
            raise MMMDataError(f"--bounds: cannot read {part!r}; expected channel=low:high") from None
    return out


def _objective(fit, n_window: int, max_draws: int | None):
    """f(budgets per channel) -> (mean over draws of the window+tail contribution, its gradient)."""
    spec = fit.spec
    params = media_params(fit.params(max_draws))
    hist = jnp.asarray(fit.spend / fit.scales.channel, dtype=jnp.float32)
    T = hist.shape[0]
    tail = spec.kernel_length
    scale = jnp.asarray(fit.scales.channel, dtype=jnp.float32)
    in_window = jnp.concatenate([jnp.ones(n_window), jnp.zeros(tail)])[:, None]

    def total(budget):
        weekly = budget / n_window / scale
        x = jnp.concatenate([hist, in_window * weekly[None, :]], axis=0)
        per_draw = jax.vmap(lambda p: channel_contributions(p, x, spec)[T:].sum())(params)
        return per_draw.mean() * fit.scales.target

    return jax.jit(jax.value_and_grad(total))


def _after_window(fit, spend: np.ndarray, kw: dict) -> np.ndarray:
    """Per draw, the media outcome in the weeks after the window (the baseline plan resumes)."""
    inside = plan_outcome_draws(fit, spend, **kw)["media"].sum(axis=1)
    return plan_outcome_draws(fit, spend, **kw, include_carryover=True)["media"].sum(axis=1) - inside


def fitted_recent(fit, weeks: int = 13) -> dict[str, float]:
    """The fitted (posterior-mean) and the observed outcome over the last `weeks` of history: the
    yardstick a plan's predicted quarter is read against."""
    comp = component_draws(fit.spec, fit.params(REPORT_DRAWS), fit.design())
    mu = comp["mu"][:, -weeks:] * fit.scales.target
    return {"weeks": float(weeks), "fitted": float(mu.sum(axis=1).mean()), "actual": float(fit.y[-weeks:].sum())}


def optimize_budget(fit, budget: float, bounds: Mapping[str, tuple[float, float]] | None = None,
                    quarter: str = "next", weeks: int | None = None, max_draws: int | None = 500,
                    controls=None) -> pd.DataFrame:
    """Optimal total spend per channel over the window (spread evenly by week) for `budget`,
    with optional (low, high) bounds per channel (default 0..budget).

    Returns per channel the current plan (recent weekly average x weeks), the optimal plan and
    each plan's media contribution inside the window with its 94% HDI. `.attrs` holds the totals
    as `revline mmm scenario` computes them (baseline + media over the window, same draws):
    `current_outcome` (today's plan: equals the scenario baseline), `current_mix_at_budget_outcome`
    (today's channel mix scaled to `budget`), `optimal_outcome`, the gain of the optimal plan over
    today's mix at the same budget with its 94% HDI, the carry-over after the window, and the
    fitted and actual outcome of the last 13 weeks for comparison. `max_draws` bounds the draws
    the optimisation itself uses (speed); the reported figures use the scenario's draws."""
    if not np.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a positive number, got {budget}")
    bounds = dict(bounds or {})
    check_channels(fit, bounds, "optimize_budget bounds")
    n_window = len(future_weeks(fit, quarter, weeks))
    C = len(fit.channels)
    lo = np.array([bounds.get(c, (0.0, budget))[0] for c in fit.channels], dtype=float)
    hi = np.array([min(bounds.get(c, (0.0, budget))[1], budget) for c in fit.channels], dtype=float)
    for j, c in enumerate(fit.channels):
        if lo[j] < 0 or lo[j] > hi[j]:
            raise ValueError(f"optimize_budget: bounds for {c!r} are invalid: {lo[j]}..{hi[j]}")
    if lo.sum() > budget * (1 + 1e-9) or hi.sum() < budget * (1 - 1e-9):
        raise ValueError(f"optimize_budget: budget {budget:,.0f} is outside what the bounds allow "
                         f"({lo.sum():,.0f}..{hi.sum():,.0f})")
    value_grad = _objective(fit, n_window, max_draws)
    current = baseline_weekly(fit) * n_window

    def f(u):
        v, g = value_grad(np.asarray(u * budget, dtype=np.float32))
        return -float(v) / budget, -np.asarray(g, dtype=float)  # outcome per unit budget, well scaled

    start = current / current.sum() if current.sum() > 0 else np.full(C, 1.0 / C)
    start = np.clip(start, lo / budget, hi / budget)
    start = start / start.sum() if start.sum() > 0 else np.full(C, 1.0 / C)
    res = minimize(f, start, jac=True, method="SLSQP", bounds=list(zip(lo / budget, hi / budget)),
                   constraints=[{"type": "eq", "fun": lambda u: u.sum() - 1.0, "jac": lambda u: np.ones_like(u)}],
                   options={"maxiter": 300, "ftol": 1e-10})
    optimal = np.clip(res.x, lo / budget, hi / budget) * budget
    # the fair comparison: today's channel mix at the same budget
    mix = current / current.sum() * budget if current.sum() > 0 else np.full(C, budget / C)
    kw = dict(quarter=quarter, weeks=weeks, controls=controls, max_draws=REPORT_DRAWS, seed=0)
    plans = {name: plan_outcome_draws(fit, spend, **kw) for name, spend in
             (("current", current), ("mix", mix), ("optimal", optimal))}
    rows = []
    for j, c in enumerate(fit.channels):
        cl, ch = hdi(plans["current"]["media"][:, j])
        ol, oh = hdi(plans["optimal"]["media"][:, j])
        rows.append({"channel": c, "current_spend": current[j], "optimal_spend": optimal[j],
                     "change": optimal[j] - current[j],
                     "current_contribution": plans["current"]["media"][:, j].mean(),
                     "current_low": cl, "current_high": ch,
                     "optimal_contribution": plans["optimal"]["media"][:, j].mean(),
                     "optimal_low": ol, "optimal_high": oh})
    out = pd.DataFrame(rows)
    gain = plans["optimal"]["total"] - plans["mix"]["total"]  # same draws and noise: only the plan differs
    gain_low, gain_high = hdi(gain)
    tail_draws = _after_window(fit, optimal, kw) - _after_window(fit, np.zeros(C), kw)
    recent = fitted_recent(fit)
    window = plans["current"]["window"]
    out.attrs.update(success=bool(res.success), message=str(res.message), budget=float(budget), weeks=n_window,
                     window_start=str(window[0].date()), window_end=str(window[-1].date()),
                     current_total_spend=float(current.sum()),
                     current_outcome=float(plans["current"]["total"].mean()),
                     current_mix_at_budget_outcome=float(plans["mix"]["total"].mean()),
                     optimal_outcome=float(plans["optimal"]["total"].mean()),
                     gain=float(gain.mean()), gain_low=float(gain_low), gain_high=float(gain_high),
                     prob_better_than_current_mix=float((gain > 0).mean()),
                     optimal_carryover_after_window=float(max(tail_draws.mean(), 0.0)),
                     fitted_last_weeks=recent["fitted"], actual_last_weeks=recent["actual"])
    return out
