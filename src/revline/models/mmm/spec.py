"""What a mix-model fit is asked for: the model (`ModelSpec`) and the sampler (`SamplerConfig`).

Why a module of plain dataclasses: `revline mmm fit` reads its defaults from these two at start-up,
so the CLI and the library cannot disagree, and reading them must not import JAX (about a second
on every `revline` command). The priors check of ModelSpec is the only part needing JAX; it is
imported when a spec is built, not when this module is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class ModelSpec:
    """What the model contains.

    The defaults are what `revline mmm fit` fits on a store: a linear trend and a yearly cycle of
    Fourier order 2. Why both on: a company's weekly pipeline grows and has seasons, and a model
    without them credits the growth to whichever channel's spend grew alongside it (the shape of
    PyMC-Marketing's quick start is the same: yearly_seasonality=2 and a linear `t` control).
    `fit` drops the trend term when a control already is a linear time index (the two would be one
    regressor twice).

    `media_prior`: "coefficient" (default) samples each channel's coefficient, `saturation_beta ~
    HalfNormal(2)` (PyMC-Marketing's model); "share" samples each channel's share of the outcome
    over the fitted weeks, `channel_share ~ HalfNormal(0.5 / channels)`, derives the coefficient
    from it and starts the chains at the data's level. Why share is not the default yet: on the
    recovery suite it cut the median contribution error from 33 % to 19 % and lifted the 94 %
    coverage from 82 % to 92 %, but on the demo company it missed 3 of 10 channels that the
    coefficient model covers (docs/mmm.md, "What changed and why").
    """

    adstock: Literal["geometric", "delayed"] = "geometric"
    l_max: int = 8
    normalize: bool = True
    lag_weeks: int = 0
    saturation: Literal["logistic", "hill"] = "logistic"
    yearly_seasonality: int = 2
    trend: bool = True
    priors: dict[str, Any] = field(default_factory=dict)
    baseline: Literal["additive", "multiplicative"] = "additive"
    likelihood: Literal["normal", "student_t", "negative_binomial"] = "normal"
    media_prior: Literal["coefficient", "share"] = "coefficient"

    def __post_init__(self) -> None:
        if self.adstock not in ("geometric", "delayed"):
            raise ValueError(f"adstock must be 'geometric' or 'delayed', got {self.adstock!r}")
        if self.saturation not in ("logistic", "hill"):
            raise ValueError(f"saturation must be 'logistic' or 'hill', got {self.saturation!r}")
        if self.baseline not in ("additive", "multiplicative"):
            raise ValueError(f"baseline must be 'additive' or 'multiplicative', got {self.baseline!r}")
        if self.likelihood not in ("normal", "student_t", "negative_binomial"):
            raise ValueError(f"likelihood must be 'normal', 'student_t' or 'negative_binomial', got {self.likelihood!r}")
        if self.media_prior not in ("coefficient", "share"):
            raise ValueError(f"media_prior must be 'coefficient' or 'share', got {self.media_prior!r}")
        if self.l_max < 1 or self.lag_weeks < 0 or self.yearly_seasonality < 0:
            raise ValueError("l_max must be >= 1, lag_weeks and yearly_seasonality >= 0")
        wrong = {"share": "saturation_beta", "coefficient": "channel_share"}[self.media_prior]
        if wrong in self.priors:
            other = "coefficient" if self.media_prior == "share" else "share"
            raise ValueError(f"a prior on {wrong!r} needs media_prior={other!r} (the model samples "
                             f"{'channel_share' if self.media_prior == 'share' else 'saturation_beta'} now)")
        if self.priors:
            from revline.models.mmm.priors import merge_priors  # JAX: only when there is something to check

            merge_priors(self.priors)  # fail early on a bad override

    def to_dict(self) -> dict:
        """The spec as saved next to a fit (spec.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        """A spec saved by `to_dict` (one saved before `media_prior` existed sampled the coefficient)."""
        return cls(**{"media_prior": "coefficient", **d})

    @property
    def kernel_length(self) -> int:
        """Weeks of the adstock kernel, its lag included."""
        return self.l_max + self.lag_weeks


@dataclass(frozen=True)
class SamplerConfig:
    """How the posterior is computed.

    `method`: "nuts" the full posterior with convergence diagnostics, "svi" a multivariate-normal
    approximation in seconds (quick looks), "map" a point estimate. NUTS runs `chains` chains of
    `tune` + `draws` iterations, in parallel (one per core) unless `chain_method` says otherwise.
    `dense_mass=True` cuts the leapfrog steps per draw from ~60 to ~15 on PyMC-Marketing's quick
    start, but the bulk ESS of the weakest channel's saturation rate fell from ~785 to ~300, so
    the diagonal metric is the default (docs/mmm.md). `svi_steps`: optimisation steps per SVI stage.
    """

    method: Literal["nuts", "svi", "map"] = "nuts"
    chains: int = 2
    draws: int = 1000
    tune: int = 1000
    seed: int = 0
    chain_method: Literal["sequential", "vectorized", "parallel"] = "parallel"
    target_accept: float = 0.8
    dense_mass: bool = False
    max_tree_depth: int = 10
    svi_steps: int = 5000
    progress: bool = False

    def __post_init__(self) -> None:
        if self.method not in ("nuts", "svi", "map"):
            raise ValueError(f"method must be 'nuts', 'svi' or 'map', got {self.method!r}")
        if min(self.chains, self.draws, self.svi_steps) < 1 or self.tune < 0:
            raise ValueError("chains, draws and svi_steps must be >= 1, tune >= 0")


__all__ = ["ModelSpec", "SamplerConfig"]
