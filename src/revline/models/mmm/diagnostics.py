"""Convergence diagnostics: rank-normalised split R-hat and bulk ESS (Vehtari et al. 2021).

Why not ArviZ: importing it pulls in matplotlib and costs ~2 s, more than a whole warm NUTS fit
of a mix model. These are ports of ArviZ 0.23's `rhat(method="rank")` and `ess(method="bulk")`
(tests/test_mmm.py checks them against ArviZ to float precision).

Also what a fit's reader must be told (issue #19): which channels the data cannot pin down
(`identification`, with the experiment that would), convergence warnings with advice, and the
prior and posterior predictive checks. Priors are drawn in NumPy, not NumPyro (see
`priors.sample_prior`): these run after every CLI fit and must cost well under a second.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.fft import next_fast_len
from scipy.special import ndtri
from scipy.stats import rankdata

from revline.models.mmm.model import param_sites
from revline.models.mmm.posterior import channel_draws, component_draws, hdi, predictive_outcomes, with_beta
from revline.models.mmm.priors import resolve_priors, sample_prior
from revline.models.mmm.report import contribution_draws


def _valid(x: np.ndarray, min_chains: int) -> bool:
    return x.ndim == 2 and x.shape[0] >= min_chains and x.shape[1] >= 4 and bool(np.all(np.isfinite(x)))


def _split_chains(x: np.ndarray) -> np.ndarray:
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, -half:]], axis=0)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks (Blom's offset 3/8)."""
    rank = rankdata(x, method="average", axis=None).reshape(x.shape)
    return ndtri((rank - 0.375) / (x.size + 0.25))


def _rhat(x: np.ndarray) -> float:
    n = x.shape[1]
    between = n * np.var(x.mean(axis=1), ddof=1)
    within = np.mean(np.var(x, axis=1, ddof=1))
    return float(np.sqrt((between / within + n - 1) / n))


def _autocov(x: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    m = next_fast_len(2 * n)
    f = np.fft.rfft(x - x.mean(axis=1, keepdims=True), n=m, axis=1)
    return np.fft.irfft(f * np.conjugate(f), n=m, axis=1)[:, :n] / n


def _ess(x: np.ndarray) -> float:
    """Geyer's initial monotone sequence estimator over chains (Stan's, as in ArviZ)."""
    if np.max(x) - np.min(x) < np.finfo(float).resolution:
        return float(x.size)
    n_chain, n_draw = x.shape
    acov = _autocov(x)
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(x.mean(axis=1), ddof=1)
    rho = np.zeros(n_draw)
    rho_even, rho_odd = 1.0, 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[0], rho[1] = rho_even, rho_odd
    t = 1
    while t < n_draw - 3 and rho_even + rho_odd > 0.0:  # initial positive sequence
        rho_even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        rho_odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1], rho[t + 2] = rho_even, rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    t = 1
    while t <= max_t - 2:  # initial monotone sequence
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    total = n_chain * n_draw
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1: max_t + 2])
    tau = max(tau, 1 / np.log10(total))
    return float(np.nan if np.isnan(rho).any() else total / tau)


def rhat(x) -> float:
    """Rank-normalised split R-hat of draws shaped (chain, draw): max of bulk and folded tail."""
    x = np.asarray(x, dtype=float)
    if not _valid(x, min_chains=2):
        return float("nan")
    split = _split_chains(x)
    return max(_rhat(_z_scale(split)), _rhat(_z_scale(np.abs(split - np.median(split)))))


def ess_bulk(x) -> float:
    """Bulk effective sample size of draws shaped (chain, draw)."""
    x = np.asarray(x, dtype=float)
    if not _valid(x, min_chains=1):
        return float("nan")
    return _ess(_z_scale(_split_chains(x)))


# ---------------------------------------------------------------- can the data tell?
# A channel is "identified" when its contribution's 94 % interval both contracted from the prior
# and is narrow enough to act on. Thresholds (docs/mmm.md, "When the data cannot tell"):
CONTRACTION_MAX = 0.5      # posterior interval width / prior interval width above this: the data
                           # barely narrowed what the priors alone allowed
RELATIVE_WIDTH_MAX = 1.0   # posterior interval width / posterior mean above this: the interval is
                           # wider than the estimate itself (e.g. [0.1x, 2x] the mean)
FLIGHTED_SHARE = 0.5       # a channel dark in at least this share of weeks runs in flights
PRIOR_DRAWS = 1000


def prior_draws(fit, n: int = PRIOR_DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Draws from the priors alone (NumPy, `priors.sample_prior`): {site: (n, ...)}, on the model's
    scaled units (control coefficients per max-abs unit, as the sampler sees them)."""
    priors = resolve_priors(fit.spec.priors, fit.spend.sum(axis=0))
    rng = np.random.default_rng(seed)
    n_fourier = 2 * fit.spec.yearly_seasonality
    names = {"gamma_control": fit.controls,
             "gamma_fourier": [f"f{k}" for k in range(n_fourier)]}
    out = {}
    for site, size in param_sites(fit.spec, len(fit.channels), len(fit.controls), n_fourier).items():
        out[site] = sample_prior(site, priors[site], None if size is None else names.get(site, fit.channels), n, rng)
    if "gamma_control" in out:
        out["gamma_control"] = out["gamma_control"] * fit.scales.control
    if "channel_share" in out:
        out = with_beta(fit.spec, {k: v.astype(np.float32) for k, v in out.items()}, fit.design().x,
                        float(fit.y.sum() / fit.scales.target))
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def prior_contribution_draws(fit, n: int = PRIOR_DRAWS, seed: int = 0) -> np.ndarray:
    """(n, C) channel totals over the fitted weeks, in outcome units, under the priors alone."""
    x = fit.spend / fit.scales.channel
    return channel_draws(fit.spec, prior_draws(fit, n, seed), x).sum(axis=1) * fit.scales.target


def _advice(spend: np.ndarray, channel: str) -> str:
    """The experiment that would settle a channel's effect, from how it is bought."""
    if (spend <= 0).mean() >= FLIGHTED_SHARE:
        return (f"run a geo holdout: during the next {channel} flight keep matched regions dark and compare "
                "their outcome with the regions that saw it; or load an earlier one (revline ingest FILE) and refit")
    return (f"run a lift test: pause or double {channel} in randomly chosen regions or audiences for 4-6 weeks, "
            "then load its result (revline ingest FILE) and refit")


def identification(fit, hdi_prob: float = 0.94, n_prior: int = PRIOR_DRAWS, seed: int = 0) -> pd.DataFrame:
    """Per channel: the contribution's posterior and prior intervals, how much the data narrowed
    it (`contraction`), how wide it is against its mean (`relative_width`), whether the channel is
    `identified`, and what would settle it. A confident-looking mean of an unidentified channel is
    a draw from the priors' assumptions, not a measurement."""
    post = contribution_draws(fit).sum(axis=1)                       # (draws, C)
    prior = prior_contribution_draws(fit, n_prior, seed)              # (n, C)
    p_lo, p_hi = hdi(post, hdi_prob)
    q_lo, q_hi = hdi(prior, hdi_prob)
    rows = []
    for j, ch in enumerate(fit.channels):
        mean = float(post[:, j].mean())
        width = float(p_hi[j] - p_lo[j])
        contraction = width / float(q_hi[j] - q_lo[j]) if q_hi[j] > q_lo[j] else np.nan
        relative = width / mean if mean > 0 else np.inf
        identified = bool(contraction <= CONTRACTION_MAX and relative <= RELATIVE_WIDTH_MAX)
        reason = "" if identified else (
            "the posterior interval is still {:.0%} of the prior's".format(contraction)
            if contraction > CONTRACTION_MAX else "the interval is {:.1f}x as wide as the estimate".format(relative))
        rows.append({"channel": ch, "contribution": mean, "low": float(p_lo[j]), "high": float(p_hi[j]),
                     "prior_low": float(q_lo[j]), "prior_high": float(q_hi[j]), "contraction": contraction,
                     "relative_width": relative, "identified": identified, "reason": reason,
                     "advice": "" if identified else _advice(fit.spend[:, j], ch)})
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


def identification_messages(table: pd.DataFrame) -> list[str]:
    """One plain sentence per channel the data cannot pin down, with the plausible range and the
    experiment that would settle it."""
    return [f"the data cannot pin {r.channel} down: plausible range {_fmt(r.low)}–{_fmt(r.high)} "
            f"({r.reason}); {r.advice}" for r in table.itertuples(index=False) if not r.identified]


# ---------------------------------------------------------------- can the spend data separate the channels?
CV_MIN = 0.2     # weekly spend's coefficient of variation below this: too steady to tell from the baseline
CORR_MAX = 0.8   # |correlation| of weekly spend with another channel or with time above this: confounded


def data_warnings(spend: np.ndarray, channels: Sequence[str], *, cv_min: float = CV_MIN,
                  corr_max: float = CORR_MAX) -> list[str]:
    """Before any sampling, what the spend itself makes unidentifiable, each with what to do: a
    channel whose weekly spend barely varies (coefficient of variation < `cv_min`), two channels
    whose spend moves together (|corr| > `corr_max`), a channel whose spend moves with time
    (|corr| with the week index > `corr_max`: its effect and the trend or growth are one regressor).
    Pure: (weeks, channels) spend in, sentences out."""
    x = np.asarray(spend, dtype=float)
    out: list[str] = []
    mean, sd = x.mean(axis=0), x.std(axis=0)
    cv = np.where(mean > 0, sd / np.where(mean > 0, mean, 1.0), np.nan)
    steady = [j for j, v in enumerate(cv) if np.isfinite(v) and v < cv_min]
    for j in steady:
        out.append(f"{channels[j]}'s weekly spend barely varies (coefficient of variation {cv[j]:.2f} < {cv_min}): "
                   f"the data cannot tell its effect from the baseline. Run a lift test (pause or double {channels[j]} "
                   "in random regions for 4-6 weeks, then revline ingest its result and refit), or give it a stronger prior from what "
                   "you know of its return (--priors FILE)")
    varies = [j for j in range(x.shape[1]) if sd[j] > 0]
    if len(varies) > 1:
        corr = np.corrcoef(x[:, varies], rowvar=False)
        for a in range(len(varies)):
            for b in range(a + 1, len(varies)):
                if abs(corr[a, b]) > corr_max:
                    i, k = varies[a], varies[b]
                    out.append(f"{channels[i]} and {channels[k]} move together (correlation {corr[a, b]:.2f}): the "
                               "model cannot split the outcome between them. Run a geo or time holdout that changes "
                               f"one without the other, or a lift test of one of them (revline ingest its result, then refit)")
    t = np.arange(len(x), dtype=float)
    for j in varies:
        if len(x) > 2 and abs(r := float(np.corrcoef(x[:, j], t)[0, 1])) > corr_max:
            out.append(f"{channels[j]}'s spend moves with time (correlation {r:.2f} with the week): its effect and "
                       "the business's growth are one signal to the model. Run a time or geo holdout (hold it flat or "
                       "dark in some regions for a few weeks) or a lift test; a stronger prior on it helps meanwhile")
    return out


def fit_data_warnings(fit) -> list[str]:
    """`data_warnings` of the spend a fit saw."""
    return data_warnings(fit.spend, fit.channels)


# ---------------------------------------------------------------- did the sampler converge?
RHAT_MAX = 1.01
ESS_MIN = 400


def convergence_warnings(run_info: dict, table: pd.DataFrame | None) -> list[str]:
    """Warnings with what to do, for divergences, R-hat above 1.01 and bulk ESS below 400; each
    names the parameters (with their channel) that tripped it."""
    out: list[str] = []
    div = int(run_info.get("divergences") or 0)
    if div:
        n = int(run_info.get("chains", 1)) * int(run_info.get("draws", 0))
        out.append(f"{div} divergent transitions ({div / max(n, 1):.1%} of draws): the sampler could not explore part "
                   "of the posterior, so intervals may be too narrow or shifted. Rerun with a higher target "
                   "acceptance (fit(..., target_accept=0.95)) and more tuning (--tune 2000); if they persist, the "
                   "model is too flexible for the data: tighter priors for the unidentified channels, or fewer channels")
    if table is None or table.empty:
        return out
    bad_r = table.loc[table["r_hat"] > RHAT_MAX, "parameter"].tolist()
    if bad_r:
        out.append(f"R-hat above {RHAT_MAX} for {', '.join(bad_r[:6])}{' ...' if len(bad_r) > 6 else ''}: the chains "
                   "disagree. Rerun with more draws and tuning (--draws 2000 --tune 2000) before reading these figures")
    bad_e = table.loc[table["ess_bulk"] < ESS_MIN, "parameter"].tolist()
    if bad_e:
        out.append(f"bulk ESS below {ESS_MIN} for {', '.join(bad_e[:6])}{' ...' if len(bad_e) > 6 else ''}: too few "
                   "independent draws for stable intervals. Rerun with more draws (--draws 2000)")
    return out


# ---------------------------------------------------------------- predictive checks
PPC_COVERAGE_MIN = 0.8  # share of weeks inside their posterior predictive 94 % interval, below: misfit


def predictive_checks(fit, hdi_prob: float = 0.94, n: int = PRIOR_DRAWS, seed: int = 0) -> dict:
    """Prior and posterior predictive checks of the weekly outcome (outcome units).

    Prior: outcomes drawn from the priors alone (parameters, then Normal noise), before looking at
    the data; they should cover the observed range without being absurdly wider. Posterior: outcomes
    drawn from the fitted model; about `hdi_prob` of the observed weeks should fall inside their
    week's interval. Returns the figures and a list of `warnings` (plain sentences with advice)."""
    rng = np.random.default_rng(seed)
    y = fit.y
    s = fit.scales.target
    design = fit.design()

    def simulate(params: dict) -> np.ndarray:
        return predictive_outcomes(fit.spec, params, component_draws(fit.spec, params, design)["mu"], s, rng)

    prior_y = simulate(prior_draws(fit, n, seed))
    post_y = simulate(fit.params(n))
    q = (1 - hdi_prob) / 2
    prior_lo, prior_hi = np.quantile(prior_y, [q, 1 - q])
    lo, hi = hdi(post_y, hdi_prob)
    inside = (lo <= y) & (y <= hi)
    out: dict[str, Any] = {
        "observed_min": float(y.min()), "observed_max": float(y.max()),
        "prior_low": float(prior_lo), "prior_high": float(prior_hi),
        "prior_covers_observed": bool(prior_lo <= y.min() and y.max() <= prior_hi),
        "prior_width_over_observed": float((prior_hi - prior_lo) / max(np.ptp(y), 1e-12)),
        "posterior_coverage": float(inside.mean()),
        "posterior_total_low": float(np.quantile(post_y.sum(axis=1), q)),
        "posterior_total_high": float(np.quantile(post_y.sum(axis=1), 1 - q)),
        "observed_total": float(y.sum()),
    }
    warnings: list[str] = []
    if not out["prior_covers_observed"]:
        warnings.append(f"the priors cannot produce the observed outcome (observed {y.min():,.0f} to {y.max():,.0f}, "
                        f"prior predictive {prior_lo:,.0f} to {prior_hi:,.0f}): widen the priors (--priors FILE)")
    if out["posterior_coverage"] < PPC_COVERAGE_MIN:
        warnings.append(f"only {out['posterior_coverage']:.0%} of the weeks fall inside the fitted model's "
                        f"{hdi_prob:.0%} predictive interval: the model misses part of the data (a missing control, "
                        "an event, a level shift); look at the weeks outside in the fit figure")
    out["warnings"] = warnings
    return out


def predictive_sentences(checks: dict) -> list[str]:
    """The checks in two plain sentences, for the CLI and the fit report."""
    c = checks
    return [
        f"prior predictive check: before seeing the data, the model allows weekly outcomes of {c['prior_low']:,.0f} to "
        f"{c['prior_high']:,.0f} (94 %); observed {c['observed_min']:,.0f} to {c['observed_max']:,.0f}: "
        + ("covered" if c["prior_covers_observed"] else "NOT covered"),
        f"posterior predictive check: {c['posterior_coverage']:.0%} of the weeks fall inside their 94 % predictive "
        f"interval; the observed total {c['observed_total']:,.0f} against {c['posterior_total_low']:,.0f} to "
        f"{c['posterior_total_high']:,.0f} predicted",
    ]
