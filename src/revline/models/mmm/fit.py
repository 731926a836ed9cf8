"""Fitting the mix model (NUTS, or SVI/MAP for quick looks), its result object and storage.

Why NumPyro: JAX jit-compiles the whole log density and its gradient, so NUTS on a 2-core CPU
runs an order of magnitude faster than an interpreted graph (see docs/mmm.md for figures).
Reproducible: the same seed gives the same draws (JAX PRNG keys, no global state).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np
import numpyro
import pandas as pd

from revline.models.mmm.calibration import lift_arrays, make_calibration, roi_arrays
from revline.models.mmm.data import MMMDataError, Roles, linear_time_controls, roles_of, validate_frame
from revline.models.mmm.model import Design, Scales, build_model, compute_scales, make_design
from revline.models.mmm.spec import ModelSpec, SamplerConfig

FORMAT_VERSION = 1


@dataclass
class MMMFit:
    """A fitted mix model: spec, the data it saw and posterior draws (chain, draw, ...)."""

    spec: ModelSpec
    roles: Roles
    frame: pd.DataFrame
    scales: Scales
    samples: dict[str, np.ndarray]
    method: str
    run_info: dict = field(default_factory=dict)
    diagnostics: pd.DataFrame | None = None
    lift_tests: pd.DataFrame | None = None
    roi_prior: pd.DataFrame | None = None

    @property
    def channels(self) -> list[str]:
        return list(self.roles.channel_cols)

    @property
    def controls(self) -> list[str]:
        return list(self.roles.control_cols)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.frame[self.roles.date_col])

    @property
    def spend(self) -> np.ndarray:
        return self.frame[self.channels].to_numpy(dtype=float)

    @property
    def control_values(self) -> np.ndarray:
        return self.frame[self.controls].to_numpy(dtype=float) if self.controls else np.zeros((len(self.frame), 0))

    @property
    def y(self) -> np.ndarray:
        return self.frame[self.roles.outcome_col].to_numpy(dtype=float)

    @property
    def n_draws(self) -> int:
        first = next(iter(self.samples.values()))
        return first.shape[0] * first.shape[1]

    def design(self) -> Design:
        return make_design(self.dates, self.spend, self.control_values, self.spec, self.scales)

    def params(self, max_draws: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
        """Draws flattened over chains, optionally thinned (evenly) to `max_draws`."""
        flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in self.samples.items()}
        n = self.n_draws
        if max_draws and n > max_draws:
            idx = np.linspace(0, n - 1, max_draws).round().astype(int)
            flat = {k: v[idx] for k, v in flat.items()}
        return flat

    def save(self, out_dir: str | Path) -> Path:
        """posterior.npz (draws), spec.json (spec, roles, scales, run), data.csv, diagnostics.csv."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / "posterior.npz", **self.samples)  # type: ignore[arg-type]  # numpy's stub: a key could be allow_pickle
        meta = {
            "format_version": FORMAT_VERSION, "spec": self.spec.to_dict(), "roles": self.roles.to_dict(),
            "scales": self.scales.to_dict(), "method": self.method, "run_info": self.run_info,
        }
        (out / "spec.json").write_text(json.dumps(meta, indent=2, default=str))
        self.frame.to_csv(out / "data.csv", index=False)
        if self.diagnostics is not None:
            self.diagnostics.to_csv(out / "diagnostics.csv", index=False)
        for name, df in (("lift_tests.csv", self.lift_tests), ("roi_prior.csv", self.roi_prior)):
            if df is not None:
                df.to_csv(out / name, index=False)
        return out

    @classmethod
    def load(cls, path: str | Path) -> "MMMFit":
        path = Path(path)
        if not (path / "spec.json").exists():
            raise FileNotFoundError(f"{path}: no saved mix model (spec.json missing); run `revline mmm fit` first")
        meta = json.loads((path / "spec.json").read_text())
        roles = Roles.from_dict(meta["roles"])
        frame = pd.read_csv(path / "data.csv", parse_dates=[roles.date_col])
        with np.load(path / "posterior.npz") as npz:
            samples = {k: npz[k] for k in npz.files}
        opt = {name: pd.read_csv(path / f"{name}.csv") if (path / f"{name}.csv").exists() else None
               for name in ("diagnostics", "lift_tests", "roi_prior")}
        return cls(ModelSpec.from_dict(meta["spec"]), roles, frame, Scales.from_dict(meta["scales"]), samples,
                   meta["method"], meta.get("run_info", {}), opt["diagnostics"], opt["lift_tests"], opt["roi_prior"])


def _resolve(df: pd.DataFrame, date_col, outcome_col, channels, controls, lag_weeks) -> tuple[pd.DataFrame, Roles]:
    base = roles_of(df)
    if base is None:
        if date_col is None or outcome_col is None or not channels:
            raise MMMDataError("the frame carries no column roles: pass date_col, outcome_col and channels")
        base = Roles(date_col, outcome_col, tuple(channels), (), 0, "frame", {})
    roles = Roles(
        date_col or base.date_col,
        outcome_col or base.outcome_col,
        tuple(channels) if channels else base.channel_cols,
        tuple(controls) if controls is not None else base.control_cols,
        int(lag_weeks if lag_weeks is not None else base.lag_weeks),
        base.source,
        dict(base.extra),
    )
    return validate_frame(df, roles, source=roles.source), roles


def _enable_compile_cache() -> None:
    """Persist XLA executables across fits and processes: compiling the NUTS program costs several
    seconds of CPU, sampling this small model about as much, so a refit of the same shapes (the CLI
    rerun, a seed check, a calibrated twin) skips it. Off with REVLINE_JAX_CACHE=off; a cache the
    caller configured is left alone."""
    where = os.environ.get("REVLINE_JAX_CACHE", "")
    # read by name: jax's type stubs do not declare its config options as attributes
    if where.lower() == "off" or getattr(jax.config, "jax_compilation_cache_dir"):
        return
    jax.config.update("jax_compilation_cache_dir", where or str(Path.home() / ".cache" / "revline" / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def convergence(samples: dict[str, np.ndarray], names: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """R-hat (rank-normalised, split) and bulk ESS per scalar parameter (ArviZ's definitions)."""
    from revline.models.mmm.diagnostics import ess_bulk, rhat  # scipy.stats: see fit() on why here

    names = names or {}
    rows = []
    for site, arr in samples.items():
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        labels = names.get(site) or [str(i) for i in range(flat.shape[2])]
        for j in range(flat.shape[2]):
            x = flat[:, :, j].astype(float)
            label = site if arr.ndim == 2 else f"{site}[{labels[j] if j < len(labels) else j}]"
            ok = np.all(np.isfinite(x)) and np.ptp(x) > 0
            rows.append({
                "parameter": label, "mean": float(x.mean()), "sd": float(x.std()),
                "r_hat": rhat(x) if ok and x.shape[0] > 1 else np.nan,
                "ess_bulk": ess_bulk(x) if ok else np.nan,
            })
    return pd.DataFrame(rows)


def _starts(y_s, spec: ModelSpec) -> dict[str, float] | None:
    """Where the chains start for the baseline level and the noise with media_prior="share": the
    data's (the outcome's mean less the media's prior 40 %, and its spread), not the priors'.

    Why: the intercept's prior mean, HalfNormal(2)'s 1.6, is 1.6x the largest week on the scaled
    outcome; chains started there spent their warm-up pulling the level down with a steep negative
    trend and one channel saturated into a constant (lam ~16). On the recovery suite one chain of
    issue_4ch_3y (seed 0) stayed in that mode (R-hat 1.8, the channel 8.4x its truth; 0.34 from
    these starts). Measured only with the share prior (with the coefficient prior the same chains
    stayed stuck), so only there."""
    if spec.media_prior != "share":
        return None
    y = np.asarray(y_s, dtype=float)
    return {"intercept": max(0.6 * float(np.mean(y)), 1e-3), "sigma": max(float(np.std(y)), 1e-3)}


def fit(
    df: pd.DataFrame,
    spec: ModelSpec | None = None,
    sampler: SamplerConfig | None = None,
    *,
    date_col: str | None = None,
    outcome_col: str | None = None,
    channels: Sequence[str] | None = None,
    controls: Sequence[str] | None = None,
    lag_weeks: int | None = None,
    lift_tests: pd.DataFrame | None = None,
    roi_prior: pd.DataFrame | dict | None = None,
    **sampler_fields: Any,
) -> MMMFit:
    """Fit the mix model `spec` (default `ModelSpec()`) to a weekly frame (from
    `weekly_from_store` or `from_csv`) with `sampler` (default `SamplerConfig()`).

    `sampler_fields` override single fields of the sampler (`fit(frame, chains=4, seed=1)`); an
    unknown name is a TypeError. `lag_weeks` (default: the frame's) delays every channel's kernel
    by that many weeks. A trend term is left out when a control already is a linear time index
    (`run_info["trend_dropped"]` names it). NUTS (`sampler.run_nuts`): chains run in parallel, one
    per core, over one flat unconstrained vector, from PyMC-style jittered prior-mean starts.
    """
    # The fitting machinery loads here, not with the module: loading a saved fit (`mmm scenario`,
    # `mmm optimize`, the report) needs none of it, and it costs 2.2 s more (measured on top of
    # this module, which already has jax and numpyro's core).
    from numpyro.infer import SVI, Trace_ELBO, init_to_value
    from numpyro.infer.autoguide import AutoDelta, AutoMultivariateNormal

    from revline.models.mmm.posterior import with_beta
    from revline.models.mmm.sampler import run_nuts

    cfg = replace(sampler or SamplerConfig(), **sampler_fields)
    method, chains, draws, tune, seed = cfg.method, cfg.chains, cfg.draws, cfg.tune, cfg.seed
    chain_method, svi_steps, progress = cfg.chain_method, cfg.svi_steps, cfg.progress
    _enable_compile_cache()
    frame, roles = _resolve(df, date_col, outcome_col, channels, controls, lag_weeks)
    spec = spec or ModelSpec()
    linear = linear_time_controls(frame) if spec.trend else []
    if linear:
        spec = replace(spec, trend=False)
    if lag_weeks is not None or roles.lag_weeks:
        spec = replace(spec, lag_weeks=roles.lag_weeks)
    roles = replace(roles, lag_weeks=spec.lag_weeks)
    spend = frame[list(roles.channel_cols)].to_numpy(dtype=float)
    y = frame[roles.outcome_col].to_numpy(dtype=float)
    ctrl = frame[list(roles.control_cols)].to_numpy(dtype=float) if roles.control_cols else np.zeros((len(frame), 0))
    scales = compute_scales(spend, y, ctrl)
    design = make_design(frame[roles.date_col], spend, ctrl, spec, scales)
    lift = lift_arrays(lift_tests, frame[roles.date_col], roles.channel_cols, scales.target) if lift_tests is not None else None
    roi = roi_arrays(roi_prior, roles.channel_cols, spend.sum(axis=0), scales.target) if roi_prior is not None else None
    calib = make_calibration(lift, roi)
    model = build_model(spec, list(roles.channel_cols), list(roles.control_cols), scales.control, scales.target,
                        spend.sum(axis=0))
    y_s = jax.numpy.asarray(y / scales.target, dtype=jax.numpy.float32)
    started = time.perf_counter()
    run_info: dict = {"seed": seed, "method": method}
    raw: dict[str, Any]  # site -> (chain, draw, ...) draws, NumPy or JAX arrays
    if linear:
        run_info["trend_dropped"] = linear
    if method == "nuts":
        if chain_method == "parallel" and jax.local_device_count() < chains:
            chain_method = "sequential"  # JAX was imported before the package could ask for more host devices
        raw, stats = run_nuts(model, (design, y_s, calib), seed=seed, chains=chains, draws=draws, tune=tune,
                              chain_method=chain_method, target_accept=cfg.target_accept, dense_mass=cfg.dense_mass,
                              max_tree_depth=cfg.max_tree_depth, progress=progress, starts=_starts(y_s, spec))
        run_info.update(chains=chains, draws=draws, tune=tune, chain_method=chain_method,
                        target_accept=cfg.target_accept, dense_mass=cfg.dense_mass,
                        max_tree_depth=cfg.max_tree_depth, **stats)
    elif method in ("svi", "map"):
        # Stage 1, MAP by Adam with a decaying step from a data-informed start (intercept at the
        # mean, noise at the sd): from the prior median, plain Adam stalls in the linear regime
        # of the saturation curve (beta up, lam down). Stage 2 (svi): a full-rank Gaussian around
        # the MAP gives quick, approximate intervals.
        from jax.example_libraries.optimizers import exponential_decay  # see the imports above

        key = jax.random.PRNGKey(seed)

        init = init_to_value(values={"intercept": max(float(y_s.mean()), 1e-3), "sigma": float(y_s.std())})
        delta = AutoDelta(model, init_loc_fn=init)
        svi = SVI(model, delta, numpyro.optim.ClippedAdam(step_size=exponential_decay(0.05, svi_steps, 0.01)),
                  Trace_ELBO())
        res = svi.run(key, svi_steps, design, y_s, calib, progress_bar=progress)
        point = delta.median(res.params)
        run_info.update(chains=1, svi_steps=svi_steps, map_loss=float(res.losses[-1]))
        if method == "map":
            raw = {k: jax.numpy.asarray(v)[None, None] for k, v in point.items()}
            run_info["draws"] = 1
        else:
            guide = AutoMultivariateNormal(model, init_loc_fn=init_to_value(values=point), init_scale=0.01)
            svi = SVI(model, guide, numpyro.optim.ClippedAdam(step_size=exponential_decay(0.01, svi_steps, 0.1)),
                      Trace_ELBO())
            res = svi.run(jax.random.fold_in(key, 1), svi_steps, design, y_s, calib, progress_bar=progress)
            post = guide.sample_posterior(jax.random.fold_in(key, 2), res.params, sample_shape=(draws,))
            raw = {k: v[None] for k, v in post.items() if k not in ("y", "lift_tests", "roi_prior")}
            run_info.update(draws=draws, final_loss=float(res.losses[-1]))
    else:
        raise ValueError(f"method must be 'nuts', 'svi' or 'map', got {method!r}")
    samples = {k: np.asarray(v) for k, v in raw.items()}
    if "channel_share" in samples:  # the coefficient every downstream function reads, per draw
        lead = samples["channel_share"].shape[:2]
        flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}
        beta = with_beta(spec, flat, design.x, float(y_s.sum()))["saturation_beta"]
        samples["saturation_beta"] = np.asarray(beta).reshape(lead + beta.shape[1:])
    run_info["seconds"] = round(time.perf_counter() - started, 3)
    names = {s: list(roles.channel_cols) for s in samples if s.startswith(("adstock", "saturation"))}
    names["gamma_control"] = list(roles.control_cols)
    diag = convergence(samples, names) if method == "nuts" else None
    if diag is not None:
        run_info["max_r_hat"] = float(np.nanmax(diag["r_hat"])) if diag["r_hat"].notna().any() else None
        run_info["min_ess_bulk"] = float(np.nanmin(diag["ess_bulk"]))
    lift_df = lift_tests if lift_tests is None else lift_tests.copy()
    roi_df = None if roi_prior is None else (pd.DataFrame({"channel": list(roi_prior), "roi": list(roi_prior.values())})
                                             if isinstance(roi_prior, dict) else roi_prior.copy())
    return MMMFit(spec, roles, frame, scales, samples, method, run_info, diag, lift_df, roi_df)
