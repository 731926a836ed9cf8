"""Evaluating the fitted model over posterior draws, for any spend plan.

Why a module of its own: the report, the optimiser and the scenarios all need "outcome of
this spend plan, per draw"; they call these vectorised (vmap + jit) functions instead of
re-implementing the model.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from revline.models.mmm.model import Design, ModelSpec, channel_contributions, components


def hdi(draws: np.ndarray, prob: float = 0.94, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval along `axis`: the narrowest window holding `prob` of draws."""
    x = np.sort(np.moveaxis(np.asarray(draws, dtype=float), axis, 0), axis=0)
    n = x.shape[0]
    k = max(int(np.floor(prob * n)), 1)
    if k >= n:
        return x[0], x[-1]
    widths = x[k:] - x[: n - k]
    i = np.argmin(widths, axis=0)
    low = np.take_along_axis(x, i[None, ...], axis=0)[0]
    high = np.take_along_axis(x, (i + k)[None, ...], axis=0)[0]
    return low, high


# the fields of a ModelSpec the compiled functions depend on (a hashable cache key; priors are not)
_KEY_FIELDS = ("adstock", "l_max", "normalize", "lag_weeks", "saturation", "yearly_seasonality", "trend", "baseline")


def _spec_key(spec: ModelSpec) -> tuple:
    return tuple(getattr(spec, f) for f in _KEY_FIELDS)


def _spec_of(key: tuple) -> ModelSpec:
    return ModelSpec(**dict(zip(_KEY_FIELDS, key)))


@lru_cache(maxsize=32)
def _channel_fn(key: tuple):
    spec = _spec_of(key)
    return jax.jit(jax.vmap(lambda p, x: channel_contributions(p, x, spec), in_axes=(0, None)))


@lru_cache(maxsize=32)
def _components_fn(key: tuple):
    spec = _spec_of(key)
    return jax.jit(jax.vmap(lambda p, d: components(p, d, spec), in_axes=(0, None)))


def media_params(params: dict) -> dict:
    """The adstock and saturation draws only: what a channel contribution needs."""
    return {k: jnp.asarray(v) for k, v in params.items() if k.startswith(("adstock_", "saturation_"))}


def channel_draws(spec: ModelSpec, params: dict, x_scaled) -> np.ndarray:
    """(draws, T, C) scaled channel contributions for spend `x_scaled` (T, C)."""
    return np.asarray(_channel_fn(_spec_key(spec))(media_params(params), jnp.asarray(x_scaled, dtype=jnp.float32)))


def with_beta(spec: ModelSpec, params: dict, x_scaled, y_total: float) -> dict:
    """`params` (leading draw axis) with `saturation_beta` derived from the `channel_share` draws
    (media_prior="share"): beta_c = share_c * y_total / sum over weeks of the channel's curve at
    beta = 1, on the fitted spend `x_scaled` and the fitted outcome's total `y_total` (scaled).
    Everything downstream (contributions, curves, the optimiser) reads that one coefficient."""
    if "channel_share" not in params:
        return params
    n_channels = np.shape(params["channel_share"])[-1]
    unit = {**media_params(params), "saturation_beta": jnp.ones((len(params["channel_share"]), n_channels))}
    totals = channel_draws(spec, unit, x_scaled).sum(axis=1)                       # (draws, C)
    beta = np.asarray(params["channel_share"], dtype=float) * y_total / np.maximum(totals, 1e-9)
    return {**params, "saturation_beta": beta.astype(np.float32)}


def component_draws(spec: ModelSpec, params: dict, design: Design) -> dict[str, np.ndarray]:
    """Every additive part of the mean per draw, scaled units."""
    p = {k: jnp.asarray(v) for k, v in params.items()}
    out = _components_fn(_spec_key(spec))(p, design)
    return {k: np.asarray(v) for k, v in out.items()}


def predictive_outcomes(spec: ModelSpec, params: dict, mu: np.ndarray, scale: float,
                        rng: np.random.Generator) -> np.ndarray:
    """(draws, weeks) outcomes in outcome units: the scaled mean `mu` per draw plus the
    likelihood's observation noise (Gamma-Poisson in counts, Student-t or Normal). One place, so
    the predictive checks and the held-out forecast draw from the same likelihood."""
    if spec.likelihood == "negative_binomial":
        c = np.asarray(params["concentration"], dtype=float).reshape(-1, 1)
        return rng.poisson(rng.gamma(c, np.maximum(mu, 1e-12) * scale / c)).astype(float)
    sigma = np.asarray(params["sigma"], dtype=float).reshape(-1, 1)
    if spec.likelihood == "student_t":
        noise = rng.standard_t(np.asarray(params["nu"], dtype=float).reshape(-1, 1), mu.shape)
    else:
        noise = rng.standard_normal(mu.shape)
    return np.asarray((mu + sigma * noise) * scale)
