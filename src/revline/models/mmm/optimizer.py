"""Budget allocation: split a total budget over channels to maximise expected outcome.

Why on posterior draws with exact gradients: the objective is the posterior mean of the
channels' contribution over the planning window plus their carry-over tail (spend late in the
quarter still works afterwards), averaged over draws, not a curve at the parameters' means —
the mean of a saturating curve is not the curve of the means. JAX differentiates that average,
and SLSQP handles the budget equality and per-channel bounds.
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
from revline.models.mmm.posterior import hdi, media_params


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
    """f(budgets per channel) -> mean over draws of window+tail contribution, and its gradient."""
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

    def per_channel(budget):
        weekly = budget / n_window / scale
        x = jnp.concatenate([hist, in_window * weekly[None, :]], axis=0)
        return jax.vmap(lambda p: channel_contributions(p, x, spec)[T:].sum(axis=0))(params) * fit.scales.target

    return jax.jit(jax.value_and_grad(total)), jax.jit(per_channel)


def optimize_budget(fit, budget: float, bounds: Mapping[str, tuple[float, float]] | None = None,
                    quarter: str = "next", weeks: int | None = None, max_draws: int | None = 500) -> pd.DataFrame:
    """Optimal total spend per channel over the window (spread evenly by week) for `budget`,
    with optional (low, high) bounds per channel (default 0..budget). Returns per channel the
    current plan (recent weekly average x weeks), the optimal plan and each plan's expected
    contribution (window + carry-over tail) with its 94% HDI; totals in `.attrs`."""
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
    value_grad, per_channel = _objective(fit, n_window, max_draws)
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
    cur_draws = np.asarray(per_channel(np.asarray(current, dtype=np.float32)))
    opt_draws = np.asarray(per_channel(np.asarray(optimal, dtype=np.float32)))
    rows = []
    for j, c in enumerate(fit.channels):
        cl, ch = hdi(cur_draws[:, j])
        ol, oh = hdi(opt_draws[:, j])
        rows.append({"channel": c, "current_spend": current[j], "optimal_spend": optimal[j],
                     "change": optimal[j] - current[j], "current_contribution": cur_draws[:, j].mean(),
                     "current_low": cl, "current_high": ch, "optimal_contribution": opt_draws[:, j].mean(),
                     "optimal_low": ol, "optimal_high": oh})
    out = pd.DataFrame(rows)
    # the fair comparison: today's channel mix at the same budget, per draw
    mix = current / current.sum() * budget if current.sum() > 0 else np.full(C, budget / C)
    mix_draws = np.asarray(per_channel(np.asarray(mix, dtype=np.float32)))
    gain = opt_draws.sum(axis=1) - mix_draws.sum(axis=1)
    out.attrs.update(success=bool(res.success), message=str(res.message), budget=float(budget), weeks=n_window,
                     current_total_spend=float(current.sum()), current_outcome=float(cur_draws.sum(axis=1).mean()),
                     optimal_outcome=float(opt_draws.sum(axis=1).mean()),
                     current_mix_at_budget_outcome=float(mix_draws.sum(axis=1).mean()),
                     prob_better_than_current_mix=float((gain > 0).mean()))
    return out
