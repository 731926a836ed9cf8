"""Weekly mix-model data sets with known truth, for parameter-recovery checks.

Why a generator of our own: a mix model can only be judged where the truth is known. Every set
here is drawn from the same structure the model fits (geometric carry-over with `l_max` weeks,
normalised kernel, on spend scaled by its channel maximum; logistic saturation; additive
baseline of intercept, linear trend, yearly cycle and controls; Gaussian noise), so each
channel's true weekly contribution is exact and the suite measures the estimator, not a
mismatch of model families. The scenarios vary what makes recovery hard in practice (in the
spirit of the public mmm-param-recovery project): history length, channel count, spend
patterns (always-on, flighted, pulsed, trending, collinear pairs), carry-over, saturation,
noise, trend, seasonality and controls.

Pure numpy and pandas: importing this module does not load JAX, so tests and benchmarks can
generate data cheaply and fit it in another process.

Conventions (shared with revline's `ModelSpec` defaults and PyMC-Marketing's
GeometricAdstock(l_max=8, normalize=True) + LogisticSaturation):

    x_c        = spend_c / max(spend_c)
    ad_c[t]    = sum_{l<l_max} alpha_c^l x_c[t-l] / sum_{l<l_max} alpha_c^l      (zero before week 0)
    contrib_c  = beta_c * tanh(lam_c * ad_c / 2)           # = beta (1 - e^{-lam x}) / (1 + e^{-lam x})
    y          = baseline + sum_c contrib_c + Normal(0, noise_sd)

`Scenario.beta` and `noise_sd` are fractions of the weekly intercept, so scenarios read as
"this channel can add at most 20 % to a normal week".
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from revline.models.mmm.data import Roles, validate_frame, weeks_in_window

PATTERNS = ("always_on", "varied", "flighted", "pulsed", "trending", "collinear")
"""Spend patterns. always_on: flat spend with 5 % week-to-week wobble (barely varies: the hard case);
varied: spend that moves every week (gamma noise, the easy case); flighted: on/off blocks of weeks;
pulsed: 1-2 week bursts every 6-12 weeks, nothing between; trending: spend that grows from 30 % to
170 % of its level over the history (moves with the baseline trend); collinear: the previous
channel's spend times a wobble of 10 %, so the two channels form a collinear pair."""

START = pd.Timestamp("2021-01-04")  # a Monday: weekly dates are ISO weeks, as data.py expects
DATE_COL, OUTCOME_COL = "date", "y"
CONTROL_NAMES = ("event", "price")
HDI_COVER = 0.94


@dataclass(frozen=True)
class Scenario:
    """One data-generating process. Per-channel tuples all have one entry per channel.

    `spend`: mean weekly spend of each channel while it is on; `beta`: the channel's largest
    possible weekly effect as a fraction of `intercept`; `lam`: logistic saturation rate on
    spend scaled by its maximum (higher saturates sooner; ~1 nearly linear, ~5 deeply
    saturated); `alpha`: geometric carry-over per week (0 none, 0.8 long). `noise_sd` is a
    fraction of `intercept`; `trend` the baseline's growth over the whole history (0.3 = it
    ends 30 % above where it started); `seasonality` the amplitude of the yearly cycle as a
    fraction of `intercept`; `controls` 0, 1 (an event indicator) or 2 (event and a price
    index, mean-centred random walk).
    """

    name: str
    weeks: int
    patterns: tuple[str, ...]
    alpha: tuple[float, ...]
    lam: tuple[float, ...]
    beta: tuple[float, ...]
    spend: tuple[float, ...] = ()
    noise_sd: float = 0.05
    trend: float = 0.0
    seasonality: float = 0.0
    controls: int = 0
    intercept: float = 50_000.0
    l_max: int = 8
    description: str = ""

    def __post_init__(self) -> None:
        n = len(self.patterns)
        if not 52 <= self.weeks <= 208:
            raise ValueError(f"scenario {self.name!r}: weeks must be in 52..208, got {self.weeks}")
        if not 2 <= n <= 10:
            raise ValueError(f"scenario {self.name!r}: 2..10 channels, got {n}")
        spend = self.spend or tuple(1_000.0 * (1 + j) for j in range(n))
        object.__setattr__(self, "spend", tuple(float(s) for s in spend))
        for fname in ("alpha", "lam", "beta", "spend"):
            if len(getattr(self, fname)) != n:
                raise ValueError(f"scenario {self.name!r}: {fname} needs {n} values (one per channel)")
        bad = [p for p in self.patterns if p not in PATTERNS]
        if bad:
            raise ValueError(f"scenario {self.name!r}: unknown spend pattern(s) {bad}; known {list(PATTERNS)}")
        if self.patterns[0] == "collinear":
            raise ValueError(f"scenario {self.name!r}: a collinear channel copies the one before it; not first")
        if not all(0.0 <= a < 1.0 for a in self.alpha) or not all(v > 0 for v in (*self.lam, *self.spend)):
            raise ValueError(f"scenario {self.name!r}: alpha in [0, 1), lam and spend > 0")
        if not all(b >= 0 for b in self.beta) or self.noise_sd < 0 or self.seasonality < 0:
            raise ValueError(f"scenario {self.name!r}: beta, noise_sd and seasonality must be >= 0")
        if self.controls not in (0, 1, 2) or self.l_max < 1 or self.intercept <= 0:
            raise ValueError(f"scenario {self.name!r}: controls in 0..2, l_max >= 1, intercept > 0")

    @property
    def n_channels(self) -> int:
        return len(self.patterns)

    @property
    def channels(self) -> tuple[str, ...]:
        """Column names: the pattern with the channel's index, e.g. `c1_always_on`."""
        return tuple(f"c{j + 1}_{p}" for j, p in enumerate(self.patterns))

    @property
    def control_cols(self) -> tuple[str, ...]:
        return CONTROL_NAMES[: self.controls]


@dataclass
class RecoverySet:
    """One generated data set and its truth.

    `frame`: the weekly frame `fit()` takes (roles attached, validated, like `from_csv`'s);
    `truth`: one row per channel (spend, contribution, roi, alpha, lam, beta in outcome units,
    beta_scaled on the model's outcome scale y / max|y|, pattern); `contributions`: true weekly
    contribution per channel; `baseline`: true weekly baseline (intercept, trend, seasonality,
    controls); `mean` = baseline + contributions summed, the outcome before noise."""

    scenario: Scenario
    seed: int
    frame: pd.DataFrame
    truth: pd.DataFrame
    contributions: pd.DataFrame
    baseline: pd.Series
    mean: pd.Series
    control_effects: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def channels(self) -> list[str]:
        return list(self.scenario.channels)

    def lift_test(self, channel: str, start, end, sd_frac: float = 0.1, seed: int = 0) -> pd.DataFrame:
        """One lift-test row (channel, start, end, lift, sd), as `calibration.validate_lift_tests`
        accepts: the channel's true contribution summed over the weeks `data.weeks_in_window`
        puts in [start, end] (the weeks `calibration.lift_arrays` masks), plus
        Normal noise with standard error `sd = sd_frac * |true lift|`. Realistic in the sense
        that a geo or holdout test measures that sum with an error, not exactly."""
        if channel not in self.channels:
            raise ValueError(f"lift test: {channel!r} is not a channel of {self.scenario.name!r} ({self.channels})")
        if sd_frac <= 0:
            raise ValueError(f"lift test: sd_frac must be > 0, got {sd_frac}")
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        inside = weeks_in_window(self.frame[DATE_COL], start, end)
        if not inside.any():
            raise ValueError(f"lift test: window {start.date()}..{end.date()} holds no week of the data")
        true = float(self.contributions[channel].to_numpy()[inside].sum())
        sd = max(sd_frac * abs(true), 1e-6 * self.scenario.intercept)
        rng = np.random.default_rng([seed, _stable(self.scenario.name), self.seed, self.channels.index(channel)])
        return pd.DataFrame({"channel": [channel], "start": [start], "end": [end],
                             "lift": [true + rng.normal(0.0, sd)], "sd": [sd], "true_lift": [true]})

    def lift_tests(self, sd_frac: float = 0.1, weeks: int = 8, seed: int = 0,
                   channels: Sequence[str] | None = None) -> pd.DataFrame:
        """One lift test per channel over the `weeks`-week window in which the channel's true
        contribution is largest (a test is run while the channel is on air)."""
        rows = []
        dates = pd.DatetimeIndex(self.frame[DATE_COL])
        w = min(weeks, len(dates))
        for ch in channels or self.channels:
            c = self.contributions[ch].to_numpy()
            sums = np.convolve(c, np.ones(w), mode="valid")
            i = int(np.argmax(sums))
            rows.append(self.lift_test(ch, dates[i], dates[i + w - 1], sd_frac, seed))
        return pd.concat(rows, ignore_index=True)


def _stable(name: str) -> int:
    return zlib.crc32(name.encode())


def _spend(pattern: str, level: float, weeks: int, rng: np.random.Generator, previous: np.ndarray | None) -> np.ndarray:
    if pattern == "always_on":
        x = level * (1.0 + 0.05 * rng.standard_normal(weeks))
    elif pattern == "varied":
        x = level * rng.gamma(2.0, 0.5, weeks)
    elif pattern == "flighted":
        on = np.zeros(weeks, dtype=bool)
        t = int(rng.integers(0, 6))
        while t < weeks:
            length = int(rng.integers(4, 9))
            on[t: t + length] = True
            t += length + int(rng.integers(4, 11))
        x = np.where(on, 2.0 * level * (1.0 + 0.2 * rng.standard_normal(weeks)), 0.0)
    elif pattern == "pulsed":
        x = np.zeros(weeks)
        t = int(rng.integers(0, 6))
        while t < weeks:
            x[t: t + int(rng.integers(1, 3))] = 6.0 * level * (1.0 + 0.2 * rng.standard_normal())
            t += int(rng.integers(6, 13))
    elif pattern == "trending":
        x = level * np.linspace(0.3, 1.7, weeks) * (1.0 + 0.25 * rng.standard_normal(weeks))
    elif pattern == "collinear":
        if previous is None:
            raise ValueError("a collinear channel needs a channel before it")
        x = previous / max(previous.mean(), 1e-9) * level * (1.0 + 0.1 * rng.standard_normal(weeks))
    else:  # pragma: no cover - Scenario validates patterns
        raise ValueError(pattern)
    x = np.maximum(x, 0.0)
    if not (x > 0).any():  # every channel must have spent something (validate_frame insists)
        x[weeks // 2] = level
    return np.round(x, 2)


def adstock(x: np.ndarray, alpha: float, l_max: int) -> np.ndarray:
    """Normalised geometric carry-over of one series (zero before the first week)."""
    w = alpha ** np.arange(l_max, dtype=float)
    w /= w.sum()
    return np.convolve(x, w)[: len(x)]


def logistic(x: np.ndarray, lam: float) -> np.ndarray:
    """PyMC-Marketing's logistic saturation (1 - e^{-lam x}) / (1 + e^{-lam x})."""
    return np.tanh(lam * x / 2.0)


def generate(scenario: Scenario, seed: int = 0) -> RecoverySet:
    """Draw one data set of `scenario`; the same (scenario, seed) gives the same set."""
    s = scenario
    rng = np.random.default_rng([seed, _stable(s.name)])
    t = s.weeks
    dates = pd.date_range(START, periods=t, freq="W-MON")
    spend = np.zeros((t, s.n_channels))
    for j, (pattern, level) in enumerate(zip(s.patterns, s.spend)):
        spend[:, j] = _spend(pattern, level, t, rng, spend[:, j - 1] if j else None)
    contrib = np.zeros_like(spend)
    for j in range(s.n_channels):
        x = spend[:, j] / spend[:, j].max()
        contrib[:, j] = s.beta[j] * s.intercept * logistic(adstock(x, s.alpha[j], s.l_max), s.lam[j])
    time_frac = np.arange(t) / max(t - 1, 1)
    phase = rng.uniform(0, 2 * np.pi)
    doy = dates.dayofyear.to_numpy()
    base = s.intercept * (1.0 + s.trend * time_frac + s.seasonality * np.sin(2 * np.pi * doy / 365.25 + phase))
    ctrl = np.zeros((t, s.controls))
    effects = np.zeros((t, s.controls))
    if s.controls >= 1:  # a few one-week events (a launch, a conference) that lift the week by 30 %
        ctrl[rng.choice(t, size=max(2, t // 26), replace=False), 0] = 1.0
        effects[:, 0] = 0.3 * s.intercept * ctrl[:, 0]
    if s.controls >= 2:  # a price index (random walk, centred): 1 point up costs 5 % of a week
        walk = np.cumsum(rng.normal(0.0, 0.3, t))
        ctrl[:, 1] = np.round(walk - walk.mean(), 4)
        effects[:, 1] = -0.05 * s.intercept * ctrl[:, 1]
    baseline = base + effects.sum(axis=1)
    mean = baseline + contrib.sum(axis=1)
    y = mean + rng.normal(0.0, s.noise_sd * s.intercept, t)
    frame = pd.DataFrame({DATE_COL: dates, OUTCOME_COL: np.round(y, 2)})
    for j, ch in enumerate(s.channels):
        frame[ch] = spend[:, j]
    for k, name in enumerate(s.control_cols):
        frame[name] = ctrl[:, k]
    roles = Roles(DATE_COL, OUTCOME_COL, s.channels, s.control_cols, 0, f"recovery:{s.name}:seed{seed}")
    frame = validate_frame(frame, roles, source=roles.source)
    y_scale = float(np.abs(frame[OUTCOME_COL]).max()) or 1.0
    totals = contrib.sum(axis=0)
    spend_tot = spend.sum(axis=0)
    truth = pd.DataFrame({
        "channel": list(s.channels), "pattern": list(s.patterns), "spend": spend_tot,
        "contribution": totals, "roi": totals / spend_tot,
        "alpha": list(s.alpha), "lam": list(s.lam), "beta": [b * s.intercept for b in s.beta],
        "beta_scaled": [b * s.intercept / y_scale for b in s.beta],
    })
    return RecoverySet(
        s, seed, frame, truth,
        pd.DataFrame(contrib, columns=list(s.channels), index=dates),
        pd.Series(baseline, index=dates, name="baseline"),
        pd.Series(mean, index=dates, name="mean"),
        pd.DataFrame(effects, columns=list(s.control_cols), index=dates),
    )


def _sc(name: str, weeks: int, patterns: str, alpha, lam, beta, description: str, **kw) -> Scenario:
    return Scenario(name, weeks, tuple(patterns.split()), tuple(alpha), tuple(lam), tuple(beta),
                    description=description, **kw)


def _suite() -> list[Scenario]:
    return [
        _sc("issue_4ch_3y", 156, "varied flighted pulsed varied", (0.3, 0.5, 0.6, 0.2), (2.0, 3.0, 1.5, 4.0),
            (0.20, 0.25, 0.15, 0.10), "issue #16's first unseen set: 4 channels, 3 years, geometric carry-over, "
            "logistic saturation, trend and a yearly cycle", noise_sd=0.05, trend=0.2, seasonality=0.1,
            spend=(3000, 5000, 2000, 1500)),
        _sc("always_on_flat", 156, "always_on varied flighted", (0.4, 0.3, 0.5), (2.0, 3.0, 2.5), (0.25, 0.15, 0.2),
            "issue #16's second shape: one always-on channel whose spend barely varies (5 % wobble)",
            noise_sd=0.05, trend=0.1, seasonality=0.1, spend=(4000, 2000, 3000)),
        _sc("quickstart_like", 104, "varied varied", (0.4, 0.2), (4.0, 3.0), (0.35, 0.15),
            "the shape of PyMC-Marketing's quick start: 2 channels, 2 years, 2 event-style controls",
            noise_sd=0.05, trend=0.2, seasonality=0.15, controls=2, spend=(3000, 2000)),
        _sc("short_1y", 52, "varied flighted", (0.3, 0.5), (2.0, 2.5), (0.25, 0.2),
            "one year only: the yearly cycle is seen once", noise_sd=0.05, trend=0.05, seasonality=0.1,
            spend=(2000, 3000)),
        _sc("long_4y_5ch", 208, "varied flighted pulsed trending varied", (0.2, 0.5, 0.6, 0.3, 0.4),
            (3.0, 2.0, 1.5, 2.5, 3.5), (0.15, 0.2, 0.1, 0.15, 0.1), "four years, five channels of mixed patterns",
            noise_sd=0.06, trend=0.3, seasonality=0.15, controls=1, spend=(2000, 4000, 1500, 2500, 1000)),
        _sc("ten_channels", 156, "varied flighted pulsed varied always_on varied flighted trending varied pulsed",
            (0.3, 0.5, 0.6, 0.2, 0.4, 0.3, 0.5, 0.2, 0.4, 0.6), (2, 3, 1.5, 4, 2, 3, 2.5, 2, 3, 1.5),
            (0.1, 0.12, 0.06, 0.08, 0.1, 0.05, 0.1, 0.08, 0.06, 0.05),
            "ten channels over three years: many small effects", noise_sd=0.05, trend=0.15, seasonality=0.1,
            spend=(2000, 3000, 1000, 1500, 2500, 800, 2000, 1200, 1000, 600)),
        _sc("collinear_pair", 156, "varied collinear flighted", (0.3, 0.4, 0.5), (2.5, 2.0, 3.0), (0.2, 0.15, 0.2),
            "channel 2's spend follows channel 1's (correlation ~0.9): the pair is hard to split",
            noise_sd=0.05, trend=0.1, seasonality=0.1, spend=(3000, 2000, 2500)),
        _sc("trending_with_trend", 156, "trending varied", (0.3, 0.4), (2.0, 3.0), (0.25, 0.2),
            "one channel's spend grows while the baseline grows: spend and trend move together",
            noise_sd=0.05, trend=0.4, seasonality=0.1, spend=(3000, 2000)),
        _sc("high_noise", 156, "varied flighted pulsed", (0.3, 0.5, 0.4), (2.0, 2.5, 1.5), (0.2, 0.2, 0.15),
            "noise sd 15 % of a normal week: effects of the noise's size", noise_sd=0.15, trend=0.1,
            seasonality=0.1, spend=(2500, 3000, 1500)),
        _sc("low_noise", 104, "varied flighted pulsed", (0.3, 0.5, 0.4), (2.0, 2.5, 1.5), (0.2, 0.2, 0.15),
            "noise sd 2 %: the easy case, should be recovered closely", noise_sd=0.02, trend=0.1,
            seasonality=0.1, spend=(2500, 3000, 1500)),
        _sc("strong_seasonality", 156, "varied flighted", (0.3, 0.4), (2.5, 2.0), (0.2, 0.2),
            "a yearly cycle of +-35 % beside two channels", noise_sd=0.05, trend=0.1, seasonality=0.35,
            spend=(2500, 3000)),
        _sc("long_carryover", 156, "flighted pulsed varied", (0.8, 0.75, 0.7), (2.0, 1.5, 3.0), (0.25, 0.15, 0.15),
            "carry-over of 0.7-0.8 per week: most of the effect lands after the spend", noise_sd=0.05,
            trend=0.1, seasonality=0.1, spend=(3000, 1500, 2000)),
        _sc("saturated", 156, "varied flighted always_on", (0.3, 0.4, 0.3), (6.0, 5.0, 4.0), (0.2, 0.25, 0.15),
            "deep saturation (lam 4-6): most spend sits on the flat part of the curve", noise_sd=0.05,
            trend=0.1, seasonality=0.1, spend=(3000, 2500, 2000)),
        _sc("weak_effects", 156, "varied flighted pulsed varied", (0.3, 0.5, 0.6, 0.2), (2.0, 2.5, 1.5, 3.0),
            (0.04, 0.05, 0.03, 0.03), "small effects (3-5 % of a week at most) in ordinary noise",
            noise_sd=0.05, trend=0.1, seasonality=0.1, controls=1, spend=(2000, 2500, 1000, 1500)),
        _sc("controls_price_event", 156, "varied flighted", (0.3, 0.5), (2.5, 2.0), (0.2, 0.2),
            "an event indicator and a price index explain part of the outcome", noise_sd=0.05, trend=0.1,
            seasonality=0.1, controls=2, spend=(2500, 3000)),
    ]


QUICK = ("issue_4ch_3y", "always_on_flat", "quickstart_like", "collinear_pair")


def scenarios(kind: str = "suite") -> list[Scenario]:
    """The fixed scenarios: "suite" (15 sets, documented one by one in `Scenario.description`) or
    "quick" (4 of them for tests and smoke runs: the issue's two failure shapes, the quick-start
    shape and a collinear pair)."""
    every = _suite()
    if kind == "suite":
        return every
    if kind == "quick":
        return [s for s in every if s.name in QUICK]
    by_name = {s.name: s for s in every}
    if kind in by_name:
        return [by_name[kind]]
    raise ValueError(f"scenarios: kind must be 'suite', 'quick' or a scenario name, got {kind!r}")


def score(contributions_df: pd.DataFrame, truth: pd.DataFrame | RecoverySet) -> pd.DataFrame:
    """Per channel, an estimate against the truth.

    `contributions_df` has columns channel, contribution, contribution_low, contribution_high and
    optionally roi, roi_low, roi_high (the shape of `report.contributions`; the bounds of a 94 %
    interval). Returns channel, true and estimated contribution, `contribution_error` (relative,
    signed: +0.3 means 30 % too high), `roi_error` likewise, and `covered` / `roi_covered` (the
    interval contains the truth)."""
    t = truth.truth if isinstance(truth, RecoverySet) else truth
    est = contributions_df.copy()
    est["channel"] = est["channel"].astype(str)
    missing = sorted(set(t["channel"]) - set(est["channel"]))
    if missing:
        raise ValueError(f"score: no estimate for channel(s) {missing}")
    m = t[["channel", "spend", "contribution", "roi"]].rename(
        columns={"contribution": "true_contribution", "roi": "true_roi"}).merge(est, on="channel", how="left",
                                                                               suffixes=("", "_est"))
    spend = m["spend_est"] if "spend_est" in m.columns else m["spend"]
    if "roi" not in m.columns:
        m["roi"] = m["contribution"] / spend
        if {"contribution_low", "contribution_high"} <= set(m.columns):
            m["roi_low"], m["roi_high"] = m["contribution_low"] / spend, m["contribution_high"] / spend
    out = pd.DataFrame({"channel": m["channel"], "true_contribution": m["true_contribution"],
                        "contribution": m["contribution"], "true_roi": m["true_roi"], "roi": m["roi"]})
    out["contribution_error"] = m["contribution"] / m["true_contribution"] - 1.0
    out["roi_error"] = m["roi"] / m["true_roi"] - 1.0
    if {"contribution_low", "contribution_high"} <= set(m.columns):
        out["contribution_low"], out["contribution_high"] = m["contribution_low"], m["contribution_high"]
        out["covered"] = (m["contribution_low"] <= m["true_contribution"]) & (m["true_contribution"] <= m["contribution_high"])
    if {"roi_low", "roi_high"} <= set(m.columns):
        out["roi_covered"] = (m["roi_low"] <= m["true_roi"]) & (m["true_roi"] <= m["roi_high"])
    return out


__all__ = ["PATTERNS", "Scenario", "RecoverySet", "scenarios", "generate", "score", "adstock", "logistic"]
