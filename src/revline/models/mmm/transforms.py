"""Media transforms: carry-over (adstock) and diminishing returns (saturation).

Why in JAX: the same pure functions run inside the NUTS model (traced and differentiated),
in post-processing over thousands of posterior draws (vmapped) and in the budget optimiser
(gradients for SLSQP). They also accept plain numpy arrays.

Conventions follow PyMC-Marketing so its specifications can be reproduced: adstock kernels are
applied on max-abs scaled spend, normalised to sum to one by default, with weight `w[l]` on the
spend of `l` weeks ago; saturation maps adstocked spend to the [0, 1) range before the channel
coefficient `beta` multiplies it.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def geometric_weights(alpha, l_max: int, lag: int = 0, normalize: bool = True):
    """Kernel `alpha**(l - lag)` for l in [lag, lag + l_max); zero before `lag`.

    `lag` is the fixed B2B delay (weeks from spend to the first effect). `alpha` may carry a
    trailing channel axis; the kernel axis is first: shape (lag + l_max, *alpha.shape).
    """
    alpha = jnp.asarray(alpha)
    ell = jnp.arange(l_max, dtype=alpha.dtype).reshape((l_max,) + (1,) * alpha.ndim)
    w = alpha[None, ...] ** ell
    if normalize:
        w = w / jnp.sum(w, axis=0, keepdims=True)
    if lag:
        w = jnp.concatenate([jnp.zeros((lag,) + w.shape[1:], dtype=w.dtype), w], axis=0)
    return w


def delayed_weights(alpha, theta, l_max: int, lag: int = 0, normalize: bool = True):
    """Delayed geometric kernel `alpha**((l - theta)**2)`: the effect peaks `theta` weeks
    after spend, which is how a B2B channel (events, TV) that converts a quarter later looks."""
    alpha = jnp.asarray(alpha)
    theta = jnp.asarray(theta, dtype=alpha.dtype)
    ell = jnp.arange(l_max, dtype=alpha.dtype).reshape((l_max,) + (1,) * alpha.ndim)
    w = alpha[None, ...] ** ((ell - theta[None, ...]) ** 2)
    if normalize:
        w = w / jnp.sum(w, axis=0, keepdims=True)
    if lag:
        w = jnp.concatenate([jnp.zeros((lag,) + w.shape[1:], dtype=w.dtype), w], axis=0)
    return w


def convolve(x, weights):
    """Carry spend forward: out[t, c] = sum_l weights[l, c] * x[t - l, c] (zero before t=0).

    A stack of shifted copies is cheaper than an FFT for kernels of a few dozen weeks and
    differentiates cleanly.
    """
    x = jnp.asarray(x)
    n_lags = weights.shape[0]
    t = x.shape[0]
    padded = jnp.concatenate([jnp.zeros((n_lags - 1,) + x.shape[1:], dtype=x.dtype), x], axis=0)
    # lagged[lag] = x shifted down by lag
    lagged = jnp.stack([padded[n_lags - 1 - lag: n_lags - 1 - lag + t] for lag in range(n_lags)], axis=0)
    return jnp.sum(lagged * weights[:, None, ...], axis=0)


def geometric_adstock(x, alpha, l_max: int, lag: int = 0, normalize: bool = True):
    """Geometric carry-over of spend `x` (time first, channels last)."""
    return convolve(x, geometric_weights(alpha, l_max, lag, normalize))


def delayed_adstock(x, alpha, theta, l_max: int, lag: int = 0, normalize: bool = True):
    """Delayed (peaked) carry-over of spend `x` (time first, channels last)."""
    return convolve(x, delayed_weights(alpha, theta, l_max, lag, normalize))


def logistic_saturation(x, lam):
    """(1 - e^{-lam x}) / (1 + e^{-lam x}); half saturation at x = ln(3)/lam (PyMC-Marketing)."""
    return jnp.tanh(lam * x / 2.0)


def hill_saturation(x, slope, kappa):
    """x^s / (x^s + kappa^s): S-shaped when slope > 1, half saturation at x = kappa."""
    x = jnp.maximum(jnp.asarray(x), 0.0)
    safe = jnp.where(x > 0, x, 1.0)
    ratio = jnp.where(x > 0, jnp.exp(slope * (jnp.log(kappa) - jnp.log(safe))), jnp.inf)
    return 1.0 / (1.0 + ratio)


def fourier_features(day_of_year, n_order: int, period: float = 365.25):
    """sin(2 pi k d / period) for k = 1..n, then the cosines (PyMC-Marketing's mode order).

    NumPy, not JAX: it runs once on data, and each eager JAX op would compile its own program."""
    d = np.asarray(day_of_year, dtype=float)[:, None]
    k = np.arange(1, n_order + 1, dtype=float)[None, :]
    arg = 2.0 * np.pi * d / period * k
    return np.concatenate([np.sin(arg), np.cos(arg)], axis=1).astype(np.float32)
