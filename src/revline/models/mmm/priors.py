"""Weakly informative priors, overridable from a dict or a TOML file.

Why these defaults: they are PyMC-Marketing's (on max-abs scaled data), so its quick-start
model is reproduced as-is, and on scaled data "weakly informative" means the same thing for a
startup and an enterprise. A user overrides any site with a mapping such as
`{"saturation_beta": {"dist": "HalfNormal", "sigma": {"tv": 0.5, "*": 2.0}}}`: a parameter
may be a number, a list (one per channel/control) or a per-name mapping with "*" as fallback.
"""

from __future__ import annotations

import tomllib
from copy import deepcopy
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

PER_CHANNEL = "per_channel"  # a prior parameter resolved per fit from the number of channels
SHARE_PRIOR_SCALE = 0.5      # channel_share ~ HalfNormal(0.5 / channels): shares add to 0.4 a priori
BETA_PRIOR_SIGMA = 2.0       # saturation_beta ~ HalfNormal(min(2, 4 / channels)): PyMC-Marketing's HalfNormal(2)
BETA_PRIOR_TOTAL = 4.0       # up to two channels, then the channels' prior total stays what two channels get

DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    "intercept": {"dist": "HalfNormal", "sigma": 2.0},
    "trend": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "adstock_alpha": {"dist": "Beta", "alpha": 1.0, "beta": 3.0},
    "adstock_theta": {"dist": "HalfNormal", "sigma": 1.0},
    "saturation_lam": {"dist": "Gamma", "alpha": 3.0, "beta": 1.0},
    # per channel min(BETA_PRIOR_SIGMA, BETA_PRIOR_TOTAL / channels): see resolve_priors
    "saturation_beta": {"dist": "HalfNormal", "sigma": PER_CHANNEL},
    # media_prior="share": each channel's share of the outcome over the fitted weeks
    "channel_share": {"dist": "HalfNormal", "sigma": PER_CHANNEL},
    "saturation_slope": {"dist": "HalfNormal", "sigma": 1.5},
    "saturation_kappa": {"dist": "HalfNormal", "sigma": 1.5},
    "gamma_control": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
    "gamma_fourier": {"dist": "Laplace", "mu": 0.0, "b": 1.0},
    "sigma": {"dist": "HalfNormal", "sigma": 2.0},
    # Student-t degrees of freedom (likelihood="student_t"): Gamma(2, 0.1), Juarez & Steel's prior
    # (mean 20, mode 10, room for heavy tails near 2-5 when a few big deals make a week)
    "nu": {"dist": "Gamma", "alpha": 2.0, "beta": 0.1},
    # negative-binomial concentration (likelihood="negative_binomial"): variance = mean + mean^2 / c;
    # Gamma(2, 0.1) leaves room from strongly over-dispersed (c ~ 1) to nearly Poisson (c ~ 50)
    "concentration": {"dist": "Gamma", "alpha": 2.0, "beta": 0.1},
}

# distribution name -> (numpyro class, ordered parameter names as the user writes them)
_DISTS = {
    "Normal": (dist.Normal, ("mu", "sigma")),
    "HalfNormal": (dist.HalfNormal, ("sigma",)),
    "LogNormal": (dist.LogNormal, ("mu", "sigma")),
    "Gamma": (dist.Gamma, ("alpha", "beta")),
    "Beta": (dist.Beta, ("alpha", "beta")),
    "Laplace": (dist.Laplace, ("mu", "b")),
    "Exponential": (dist.Exponential, ("lam",)),
    "HalfCauchy": (dist.HalfCauchy, ("beta",)),
    "TruncatedNormal": (None, ("mu", "sigma", "lower")),
}


# Sites whose value must stay non-negative whatever the user overrides: the baseline level (a
# negative one means "without marketing, negative pipeline" and lets channel shares exceed 100 %)
# and the channel coefficients (a channel that destroys pipeline is not what the model is for).
_POSITIVE_FAMILIES = {"HalfNormal", "LogNormal", "Gamma", "Exponential", "HalfCauchy"}
NON_NEGATIVE_SITES = ("intercept", "saturation_beta", "channel_share")


class PriorError(ValueError):
    """A prior override that cannot be used; the message names the site and parameter."""


def load_priors(path: str | Path) -> dict[str, dict[str, Any]]:
    r"""Read overrides from TOML: one table per site, e.g. `[saturation_beta]\ndist = "HalfNormal"`."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _non_negative(spec: Mapping[str, Any]) -> bool:
    """Whether a prior family (with its parameters) puts no mass below zero."""
    if spec["dist"] in _POSITIVE_FAMILIES:
        return True
    if spec["dist"] != "TruncatedNormal":
        return False
    lower = spec.get("lower", -1.0)
    values = lower.values() if isinstance(lower, Mapping) else lower if isinstance(lower, (list, tuple)) else [lower]
    try:
        return all(float(v) >= 0 for v in values)
    except (TypeError, ValueError):
        return False


def merge_priors(overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The default priors with `overrides` applied per site; an unknown site or distribution, or a
    prior allowing negative values where the model needs a non-negative one, is a PriorError."""
    out = deepcopy(DEFAULT_PRIORS)
    for site, spec in (overrides or {}).items():
        if site not in DEFAULT_PRIORS:
            raise PriorError(f"prior override {site!r}: unknown site; known sites are {sorted(DEFAULT_PRIORS)}")
        spec = dict(spec)
        if "dist" in spec and spec["dist"] not in _DISTS:
            raise PriorError(f"prior override {site!r}: unknown dist {spec['dist']!r}; use one of {sorted(_DISTS)}")
        if site in NON_NEGATIVE_SITES and "dist" in spec and not _non_negative(spec):
            raise PriorError(f"prior override {site!r}: {spec['dist']} allows negative values; the model needs "
                             f"a non-negative prior here (one of {sorted(_POSITIVE_FAMILIES)}, or TruncatedNormal "
                             "with lower >= 0)")
        if "dist" in spec and spec["dist"] != out[site]["dist"]:
            out[site] = spec  # a new family replaces every parameter
        else:
            out[site].update(spec)
    return out


def resolve_priors(overrides: Mapping[str, Mapping[str, Any]] | None, spend_totals=None) -> dict[str, dict[str, Any]]:
    """`merge_priors`, then the data-dependent defaults made concrete ("per_channel" parameters,
    which depend on the number of channels C, read from `spend_totals`):

    * `saturation_beta` sigma: min(2, 4 / C). PyMC-Marketing's HalfNormal(2) up to two channels
      (its quick start is reproduced as-is), then shrinking so the channels' prior total stays
      what two channels get. Why: each coefficient is the channel's contribution at saturation in
      max|y| units, so C independent HalfNormal(2) put the channels' sum a priori at ~0.8 C x the
      largest observed week: with the demo company's 10 channels the prior predictive outcome
      started at 2.5x the largest week, and its check failed on every demo fit (docs/mmm.md,
      "Predictive checks").
    * `channel_share` sigma: SHARE_PRIOR_SCALE / C, for every channel.

    Why the share prior is equal per channel, so the channels' shares of the outcome add up to 0.4
    a priori (HalfNormal mean 0.8 sigma; Meridian's default for paid media) whatever their count: a
    sigma proportional to each channel's share of spend (the same prior ROI for every channel)
    was a little worse on the recovery suite (median error 18.8 % against 15.9 %) and far worse
    on the demo company, whose TV takes a large share of the spend for a small return: TV came
    out at 9x its true contribution (docs/mmm.md, "What changed and why")."""
    out = merge_priors(overrides)
    n = 1 if spend_totals is None else max(len(np.atleast_1d(spend_totals)), 1)
    beta = out.get("saturation_beta", {})
    if beta.get("sigma") == PER_CHANNEL:
        beta["sigma"] = min(BETA_PRIOR_SIGMA, BETA_PRIOR_TOTAL / n)
    share = out.get("channel_share", {})
    if share.get("sigma") == PER_CHANNEL:
        share["sigma"] = SHARE_PRIOR_SCALE / n
    return out


def _param(value: Any, names: Sequence[str] | None, site: str, pname: str):
    if isinstance(value, Mapping):
        if names is None:
            raise PriorError(f"prior {site!r} parameter {pname!r}: a per-name mapping needs a per-channel site")
        unknown = [k for k in value if k != "*" and k not in names]
        if unknown:
            raise PriorError(f"prior {site!r} parameter {pname!r}: unknown name(s) {unknown}; expected {list(names)}")
        try:
            return jnp.asarray([float(value[n]) if n in value else float(value["*"]) for n in names])
        except KeyError as exc:
            raise PriorError(f"prior {site!r} parameter {pname!r}: no value for {exc.args[0]!r} and no '*' fallback") from None
    if isinstance(value, (list, tuple)):
        if names is None or len(value) != len(names):
            raise PriorError(f"prior {site!r} parameter {pname!r}: list of {len(value)} values, expected {len(names or [])}")
        return jnp.asarray([float(v) for v in value])
    try:
        return jnp.asarray(float(value))
    except (TypeError, ValueError):
        raise PriorError(f"prior {site!r} parameter {pname!r}: not a number: {value!r}") from None


def build_distribution(site: str, spec: Mapping[str, Any], names: Sequence[str] | None = None):
    """A numpyro distribution for `site`, batched to len(names) when names are given."""
    family = spec.get("dist")
    if family not in _DISTS:
        raise PriorError(f"prior {site!r}: unknown dist {family!r}; use one of {sorted(_DISTS)}")
    cls, pnames = _DISTS[family]
    extra = set(spec) - {"dist", *pnames}
    if extra:
        raise PriorError(f"prior {site!r} ({family}): unknown parameter(s) {sorted(extra)}; expected {list(pnames)}")
    missing = [p for p in pnames if p not in spec]
    if missing:
        raise PriorError(f"prior {site!r} ({family}): missing parameter(s) {missing}")
    args = [_param(spec[p], names, site, p) for p in pnames]
    if family == "TruncatedNormal":
        d = dist.TruncatedNormal(args[0], args[1], low=args[2])
    else:
        d = cls(*args)
    if names is not None:
        d = d.expand([len(names)])
    return d


def sample_prior(site: str, spec: Mapping[str, Any], names: Sequence[str] | None, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """`n` draws of one site's prior, shaped (n,) or (n, len(names)), in NumPy.

    Why not NumPyro: drawing from the priors is what the identification check and the prior
    predictive check do after every fit, and NumPyro's Gamma/Beta samplers compile ~10 s of XLA
    program for a few thousand numbers that NumPy draws in microseconds. Same families, same
    parameterisations as `build_distribution` (Gamma and Exponential take rates)."""
    build_distribution(site, spec, names)  # the same validation and messages
    family = spec["dist"]
    _, pnames = _DISTS[family]
    a = [np.asarray(_param(spec[p], names, site, p), dtype=float) for p in pnames]
    size = (n,) if names is None else (n, len(names))
    if family == "Normal":
        return rng.normal(a[0], a[1], size)
    if family == "HalfNormal":
        return np.abs(rng.normal(0.0, a[0], size))
    if family == "LogNormal":
        return rng.lognormal(a[0], a[1], size)
    if family == "Gamma":
        return rng.gamma(a[0], 1.0 / a[1], size)
    if family == "Beta":
        return rng.beta(a[0], a[1], size)
    if family == "Laplace":
        return rng.laplace(a[0], a[1], size)
    if family == "Exponential":
        return rng.exponential(1.0 / a[0], size)
    if family == "HalfCauchy":
        return np.abs(a[0] * rng.standard_cauchy(size))
    from scipy.stats import truncnorm  # here: scipy.stats costs ~1.3 s to import (measured), only TruncatedNormal needs it

    return truncnorm.rvs((a[2] - a[0]) / a[1], np.inf, loc=a[0], scale=a[1], size=size, random_state=rng)
