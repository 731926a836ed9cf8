"""The mix model: specification, design arrays and the NumPyro generative model.

Why one `components` function: the likelihood, every reported contribution, the response
curves, the optimiser and the scenarios all evaluate the same pure function of (parameters,
design), so what is reported is exactly what was fitted.

Scaled space (as PyMC-Marketing): y / max|y|, each channel / its max|spend|. Controls are
also divided by their max|value|, with their prior stretched by the same factor, so the
posterior is exactly PyMC-Marketing's (which leaves controls raw) but a raw time index `t`
(0..T) no longer forces NUTS to its maximum tree depth: this one reparameterisation cut the
leapfrog steps per draw from ~500 to ~60 on its quick-start data. `gamma_control` draws are
therefore per max-abs unit; `control_coefficients` converts them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from revline.models.mmm import transforms as tf
from revline.models.mmm.priors import build_distribution, resolve_priors
from revline.models.mmm.spec import ModelSpec


class Design(NamedTuple):
    """Model inputs as arrays (all in scaled space except controls)."""

    x: Any          # (T, C) spend / channel_scale
    controls: Any   # (T, K)
    fourier: Any    # (T, F)
    t_norm: Any     # (T,) 0..1 over the fitted history; extrapolates beyond 1 in the future


@dataclass
class Scales:
    """Divisors that bring spend, outcome and controls to about [0, 1] for the sampler, kept with
    the fit to turn scaled draws back into money."""

    channel: np.ndarray  # (C,)
    target: float
    control: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (K,)

    def to_dict(self) -> dict:
        return {"channel": self.channel.tolist(), "target": float(self.target), "control": self.control.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Scales":
        return cls(np.asarray(d["channel"], dtype=float), float(d["target"]),
                   np.asarray(d.get("control", []), dtype=float))


def _max_abs(a: np.ndarray) -> np.ndarray:
    s = np.abs(np.asarray(a, dtype=float)).max(axis=0) if len(a) else np.ones(a.shape[1:])
    s = np.atleast_1d(s).astype(float)
    s[s == 0] = 1.0
    return s


def compute_scales(spend: np.ndarray, y: np.ndarray, controls: np.ndarray | None = None) -> Scales:
    """Each channel and control scaled by its largest absolute value, the outcome by its own (1 where 0)."""
    tgt = float(np.abs(y).max()) or 1.0
    ctrl = np.zeros(0) if controls is None or np.asarray(controls).size == 0 else _max_abs(np.asarray(controls))
    return Scales(_max_abs(spend), tgt, ctrl)


def control_coefficients(gamma_scaled, scales: Scales):
    """Gamma per original unit of each control (PyMC-Marketing's `gamma_control`)."""
    return np.asarray(gamma_scaled) / scales.control


def make_design(
    dates: pd.Series | pd.DatetimeIndex,
    spend: np.ndarray,
    controls: np.ndarray,
    spec: ModelSpec,
    scales: Scales,
    n_hist: int | None = None,
) -> Design:
    """Arrays for `components`. `n_hist` is the length of the fitted history so a future
    extension keeps the trend's time axis of the fit."""
    dates = pd.DatetimeIndex(pd.to_datetime(dates))
    t = len(dates)
    n_hist = n_hist or t
    doy = dates.dayofyear.to_numpy()
    fourier = (np.asarray(tf.fourier_features(doy, spec.yearly_seasonality)) if spec.yearly_seasonality
               else np.zeros((t, 0)))
    t_norm = np.arange(t) / max(n_hist - 1, 1)
    ctrl = np.asarray(controls, dtype=float).reshape(t, -1)
    if ctrl.shape[1]:
        ctrl = ctrl / scales.control
    # cast in NumPy, then one transfer per array: an eager JAX cast would compile a program each
    return Design(*(jnp.asarray(np.asarray(a, dtype=np.float32)) for a in
                    (np.asarray(spend, dtype=float) / scales.channel, ctrl, fourier, t_norm)))


def adstock_weights(params: dict, spec: ModelSpec):
    """The (kernel_length, C) carry-over kernel for one parameter draw."""
    if spec.adstock == "geometric":
        return tf.geometric_weights(params["adstock_alpha"], spec.l_max, spec.lag_weeks, spec.normalize)
    return tf.delayed_weights(params["adstock_alpha"], params["adstock_theta"], spec.l_max, spec.lag_weeks,
                              spec.normalize)


def saturate(x, params: dict, spec: ModelSpec):
    """The saturation curve of the spec (logistic or Hill) times each channel's beta."""
    if spec.saturation == "logistic":
        return params["saturation_beta"] * tf.logistic_saturation(x, params["saturation_lam"])
    return params["saturation_beta"] * tf.hill_saturation(x, params["saturation_slope"], params["saturation_kappa"])


def channel_contributions(params: dict, x, spec: ModelSpec):
    """(T, C) scaled contribution of each channel: saturation of adstocked spend."""
    return saturate(tf.convolve(x, adstock_weights(params, spec)), params, spec)


BASELINE_FLOOR = 0.01  # softness of the additive baseline's floor at zero, in max|y| units


def floor_at_zero(v):
    """A smooth max(v, 0): equal to v (to 7e-5 of max|y|) once v > 5 % of max|y|, never below 0."""
    return BASELINE_FLOOR * jax.nn.softplus(v / BASELINE_FLOOR)


def floor_penalty(fill):
    """Log density added for what the floor fills in (`floor_at_zero(v) - v`, >= 0 every week):
    each week's fill is scored as a Normal(0, BASELINE_FLOOR) residual.

    Why: without it the floor is a free parameter. Once the baseline's parts sum below zero the
    floor returns ~0 whatever they are, so intercept, trend and seasonality become unidentified
    there, and that whole flat region of the prior weighs in the posterior. On the recovery suite
    (docs/mmm.md, "Recovery suite") this let an always-spending, steeply saturated channel stand
    in for the intercept while the trend went far negative and the floor filled in (channel
    error up to +1723 %). With the penalty the floor stays a guard against a negative baseline:
    filling 1 % of max|y| in a week costs as much as a 1-sigma residual at that scale, so the
    posterior prefers baselines whose parts are non-negative on their own."""
    return -0.5 * jnp.sum(jnp.square(fill / BASELINE_FLOOR))


def components(params: dict, design: Design, spec: ModelSpec) -> dict:
    """Every part of the mean, in scaled units: mu = baseline + sum of channels, every week.

    The baseline cannot go negative (docs/mmm.md, "Baseline"): the intercept has a positive
    prior, and the sum of the baseline parts is floored at zero (`additive`, PyMC-Marketing's
    shape wherever it is positive) or multiplies the intercept as exp(...) (`multiplicative`).
    Channels are non-negative (beta >= 0, saturation >= 0) and added on top, so the channels'
    share of the fitted outcome is at most 100 %. `controls`, `seasonality` and `trend` are the
    parts of the baseline's linear predictor (additive terms, or log factors); `floor` (additive
    only) is what the floor added to their sum."""
    T = design.x.shape[0]
    channels = channel_contributions(params, design.x, spec)
    out = {"channels": channels, "intercept": jnp.broadcast_to(params["intercept"], (T,))}
    linear = jnp.zeros((T,), dtype=channels.dtype)
    if design.controls.shape[1]:
        out["controls"] = design.controls * params["gamma_control"]
        linear = linear + out["controls"].sum(axis=1)
    if design.fourier.shape[1]:
        out["seasonality"] = design.fourier @ params["gamma_fourier"]
        linear = linear + out["seasonality"]
    if spec.trend:
        out["trend"] = params["trend"] * design.t_norm
        linear = linear + out["trend"]
    if spec.baseline == "multiplicative":
        out["baseline"] = out["intercept"] * jnp.exp(linear)
    else:
        raw = out["intercept"] + linear
        out["baseline"] = floor_at_zero(raw)
        # what the floor fills in, floor_at_zero(raw) - raw, written as softplus(-x) = softplus(x) - x
        # so it is >= 0 in float32 too; penalised in the model (floor_penalty)
        out["floor"] = floor_at_zero(-raw)
    out["mu"] = out["baseline"] + channels.sum(axis=1)
    return out


def unit_saturation_totals(params: dict, x, spec: ModelSpec):
    """(C,) sum over weeks of each channel's saturation curve with beta = 1: what turns a share of
    the outcome into the coefficient beta (beta_c = share_c * sum(y) / total_c)."""
    return channel_contributions({**params, "saturation_beta": 1.0}, x, spec).sum(axis=0)


def beta_from_share(params: dict, x, spec: ModelSpec, y_total):
    """The channel coefficients that give each channel the share `params["channel_share"]` of the
    fitted outcome `y_total` (scaled units) over the weeks of `x`."""
    return params["channel_share"] * y_total / jnp.maximum(unit_saturation_totals(params, x, spec), 1e-9)


class Calibration(NamedTuple):
    """Extra likelihood terms, already in scaled units (see calibration.py)."""

    lift_channel: Any = None  # (n,) int
    lift_mask: Any = None     # (n, T) 0/1 window
    lift_obs: Any = None      # (n,)
    lift_sd: Any = None       # (n,)
    roi_obs: Any = None       # (C,) nan where no prior
    roi_sd: Any = None        # (C,)
    roi_spend: Any = None     # (C,) spend over the fitted history, in scaled units of target


def param_sites(spec: ModelSpec, n_channels: int, n_controls: int, n_fourier: int) -> dict[str, int | None]:
    """Site name -> batch size (None for scalars)."""
    sites: dict[str, int | None] = {"intercept": None, "adstock_alpha": n_channels}
    if spec.adstock == "delayed":
        sites["adstock_theta"] = n_channels
    if spec.saturation == "logistic":
        sites["saturation_lam"] = n_channels
    else:
        sites["saturation_slope"] = n_channels
        sites["saturation_kappa"] = n_channels
    if spec.media_prior == "share":
        sites["channel_share"] = n_channels
    else:
        sites["saturation_beta"] = n_channels
    if n_controls:
        sites["gamma_control"] = n_controls
    if n_fourier:
        sites["gamma_fourier"] = n_fourier
    if spec.trend:
        sites["trend"] = None
    if spec.likelihood == "negative_binomial":
        sites["concentration"] = None
    else:
        sites["sigma"] = None
    if spec.likelihood == "student_t":
        sites["nu"] = None
    return sites


def build_model(spec: ModelSpec, channels: list[str], controls: list[str], control_scale=None, target_scale=1.0,
                spend_totals=None):
    """Return the NumPyro model function `model(design, y=None, calib=None)`.

    `target_scale` (max|y|) turns the scaled mean back into counts for the negative-binomial
    likelihood (a count outcome such as opportunities created per week).

    `control_scale` (max|control|) stretches the control prior so the draws live on the
    scaled controls of `make_design` while the prior stays the user's, on raw units."""
    priors = resolve_priors(spec.priors, spend_totals)
    fourier_names = [f"sin_{k}" for k in range(1, spec.yearly_seasonality + 1)] + \
                    [f"cos_{k}" for k in range(1, spec.yearly_seasonality + 1)]
    names_for = {"gamma_control": controls, "gamma_fourier": fourier_names}
    sites = param_sites(spec, len(channels), len(controls), len(fourier_names))
    scale = np.asarray(np.ones(len(controls)) if control_scale is None else control_scale, dtype=np.float32)

    def priors_now() -> dict:
        # built while the model is traced, so their parameter arithmetic lands in the compiled
        # program instead of running (and compiling) op by op
        dists = {s: build_distribution(s, priors[s], None if n is None else names_for.get(s, channels))
                 for s, n in sites.items()}
        if controls:
            dists["gamma_control"] = dist.TransformedDistribution(
                dists["gamma_control"], dist.transforms.AffineTransform(0.0, jnp.asarray(scale)))
        return dists

    jax.eval_shape(lambda: (priors_now(), 0)[1])  # a bad prior fails here, at build time, without compiling

    def model(design: Design, y=None, calib: Calibration | None = None):
        params = {s: numpyro.sample(s, d) for s, d in priors_now().items()}
        if spec.media_prior == "share":
            params["saturation_beta"] = beta_from_share(params, design.x, spec, 1.0 if y is None else jnp.sum(y))
        comp = components(params, design, spec)
        if "floor" in comp:
            numpyro.factor("baseline_floor", floor_penalty(comp["floor"]))
        if spec.likelihood == "negative_binomial":
            counts = None if y is None else jnp.round(y * target_scale)
            numpyro.sample("y", dist.NegativeBinomial2(comp["mu"] * target_scale + 1e-6, params["concentration"]),
                           obs=counts)
        elif spec.likelihood == "student_t":
            numpyro.sample("y", dist.StudentT(params["nu"], comp["mu"], params["sigma"]), obs=y)
        else:
            numpyro.sample("y", dist.Normal(comp["mu"], params["sigma"]), obs=y)
        if calib is not None and calib.lift_obs is not None:
            contrib = comp["channels"][:, calib.lift_channel]            # (T, n)
            modeled = jnp.sum(contrib.T * calib.lift_mask, axis=1)        # (n,)
            numpyro.sample("lift_tests", dist.Normal(modeled, calib.lift_sd), obs=calib.lift_obs)
        if calib is not None and calib.roi_obs is not None:
            have = ~jnp.isnan(calib.roi_obs)
            roi = comp["channels"].sum(axis=0) / calib.roi_spend
            obs = jnp.where(have, calib.roi_obs, 0.0)
            sd = jnp.where(have, calib.roi_sd, 1.0)
            with numpyro.handlers.mask(mask=have):
                numpyro.sample("roi_prior", dist.Normal(roi, sd), obs=obs)

    return model
