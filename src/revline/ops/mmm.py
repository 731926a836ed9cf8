"""Operation `mmm_fit`: fit the marketing-mix model on the store's weekly data (or a CSV), save it,
and return the tables `revline mmm fit` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from revline.models.mmm.spec import ModelSpec, SamplerConfig
from revline.ops.registry import Progress, no_progress

_SPEC, _SAMPLER = ModelSpec(), SamplerConfig()  # the defaults are the library's (as the CLI's)


@dataclass(frozen=True)
class MMMFitResult:
    """A mix-model fit as the CLI and the admin API show it (tables, diagnostics, notes), and where it was saved."""

    label: str
    saved_to: str
    contributions: pd.DataFrame
    diagnostics: pd.DataFrame | None
    run_info: dict[str, Any]
    metrics: dict[str, float]
    notes: list[str] = field(default_factory=list)
    identification: pd.DataFrame | None = None  # revline.models.mmm.diagnostics.identification
    warnings: list[str] = field(default_factory=list)  # predictive and convergence warnings, with what to do
    checks: list[str] = field(default_factory=list)  # the posterior predictive checks in sentences
    holdout: list[str] = field(default_factory=list)  # --holdout-weeks: the out-of-sample check in sentences


def _clean(value: Any) -> Any:
    """NumPy scalars and nested containers as plain Python (the result crosses JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _store_lift_tests(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, outcome: str, ignore: bool,
                      notes: list[str]) -> pd.DataFrame | None:
    """The store's lift tests the fit of `frame` can use (None: none, or `ignore`), with notes
    on how many it uses and on each one it leaves out."""
    from revline.models.mmm.calibration import store_lift_tests, usable_lift_tests
    from revline.models.mmm.data import roles_of

    stored = store_lift_tests(con, outcome)
    if stored.empty:
        return None
    if ignore:
        notes.append(f"ignoring the store's {len(stored)} lift test{'s' if len(stored) != 1 else ''} (--no-lift-tests)")
        return None
    roles = roles_of(frame)
    if roles is None:  # weekly_from_store attaches them: a frame without is no store frame
        return None
    kept, left_out = usable_lift_tests(stored, frame[roles.date_col], roles.channel_cols)
    notes.extend(left_out)
    if kept.empty:
        return None
    channels = ", ".join(dict.fromkeys(kept["channel"]))
    notes.append(f"using {len(kept)} lift test{'s' if len(kept) != 1 else ''} from the store ({channels}); "
                 "--no-lift-tests to fit without them")
    return kept


def fit(
    con: duckdb.DuckDBPyConnection | None,
    *,
    out: str,
    csv: str | None = None,
    date_col: str = "date",
    outcome_col: str = "y",
    channels: list[str] | None = None,
    controls: list[str] | None = None,
    outcome: Literal["pipeline", "revenue"] = "pipeline",
    revenue_type: str = "new_business",
    fast: bool = False,
    svi_steps: int = _SAMPLER.svi_steps,
    chains: int = _SAMPLER.chains,
    draws: int = _SAMPLER.draws,
    tune: int = _SAMPLER.tune,
    seed: int = _SAMPLER.seed,
    lag_weeks: int = _SPEC.lag_weeks,
    adstock: Literal["geometric", "delayed"] = _SPEC.adstock,
    saturation: Literal["logistic", "hill"] = _SPEC.saturation,
    l_max: int = _SPEC.l_max,
    yearly_seasonality: int = _SPEC.yearly_seasonality,
    trend: bool = _SPEC.trend,
    priors: str | None = None,
    lift_tests: str | None = None,
    no_lift_tests: bool = False,
    holdout_weeks: int = 0,
    progress: Progress = no_progress,
) -> MMMFitResult:
    """`out` is where the fit is saved (the CLI picks `<store folder>/mmm/<outcome>` by default).

    Lift tests: `lift_tests` (a CSV) when given; else, on the store, the store's tests of the fitted
    outcome (`revline ingest` loads them) unless `no_lift_tests`; a note says how many were used."""
    # The fitting stack loads here, not with the module: revline.ops.codec imports this module to
    # rebuild an MMMFitResult a server sent, which needs none of it (models.mmm.fit alone: 4.6 s).
    from revline.models.mmm import require_backend

    require_backend()  # JAX/NumPyro are the optional extra revline[mmm]: one line on how to install
    from revline.models.mmm import report
    from revline.models.mmm.data import from_csv, weekly_from_store
    from revline.models.mmm.diagnostics import (
        convergence_warnings, fit_data_warnings, identification, predictive_checks, predictive_sentences,
    )
    from revline.models.mmm.fit import fit as run_fit
    from revline.models.mmm.priors import load_priors

    if csv is not None:
        if not channels:
            raise ValueError("--channels is required with --csv")
        frame = from_csv(Path(csv), date_col, outcome_col, channels, controls or [], lag_weeks)
        label = outcome_col
    else:
        if con is None:
            raise ValueError("mmm fit needs the store or --csv")
        progress(None, None, "reading weekly data from the store")
        frame = weekly_from_store(con, outcome, None if revenue_type == "all" else revenue_type, lag_weeks,
                                  channels or None)
        label = outcome
    overrides = load_priors(Path(priors)) if priors else {}
    # a file that sets a prior on each channel's share asks for the model that samples it (docs/mmm.md)
    spec = ModelSpec(adstock=adstock, l_max=l_max, lag_weeks=lag_weeks, saturation=saturation,
                     yearly_seasonality=yearly_seasonality, trend=trend, priors=overrides,
                     media_prior="share" if "channel_share" in overrides else _SPEC.media_prior)
    lift = None
    notes: list[str] = []
    if lift_tests is not None:
        from revline.models.mmm.calibration import read_lift_tests

        lift = read_lift_tests(Path(lift_tests))
        notes.append(f"using {len(lift)} lift test{'s' if len(lift) != 1 else ''} from {lift_tests}")
    progress(None, None, f"Fitting ({'SVI' if fast else f'NUTS, {chains} chains x {tune}+{draws}'}) ...")
    sampler = SamplerConfig(method="svi" if fast else "nuts", chains=chains, draws=draws, tune=tune, seed=seed,
                            svi_steps=svi_steps)
    full = frame
    if holdout_weeks:
        from revline.models.mmm.holdout import split

        frame, _ = split(full, holdout_weeks)
    if lift is None and csv is None and con is not None:
        lift = _store_lift_tests(con, frame, outcome, no_lift_tests, notes)
    result = run_fit(frame, spec, sampler, lift_tests=lift)
    if lift is not None:
        result.run_info["lift_tests"] = {"count": len(lift), "source": str(lift_tests) if lift_tests else "store"}
    held: list[str] = []
    if holdout_weeks:
        from revline.models.mmm import holdout

        progress(None, None, f"forecasting the {holdout_weeks} held-out weeks")
        scored = holdout.score(result, full)
        held = holdout.sentences(scored)
        result.run_info["holdout"] = {k: v for k, v in scored.items() if k != "forecast"}
        notes.append(f"fitted on all but the last {holdout_weeks} weeks: saved to {out} (not the full fit)")
    if linear := result.run_info.get("trend_dropped"):
        notes.append(f"control {', '.join(linear)} is already a linear time trend; "
                     "fitted without the extra --trend term (the two would be the same regressor)")
    result.save(Path(out))
    table = report.contributions(result)
    ident = identification(result)
    # the per-channel summary the unified ROI table reads without JAX (reports/unified.py)
    table.merge(ident[["channel", "identified"]], on="channel", how="left").to_csv(Path(out) / "contributions.csv", index=False)
    checks = predictive_checks(result)
    text = report.fit_report(result, table, ident, checks)
    if held:
        text += "\n## Out-of-sample check\n\n" + "".join(f"- {line}\n" for line in held)
    (Path(out) / "report.md").write_text(text, encoding="utf-8")
    return MMMFitResult(label, str(out), table.reset_index(drop=True),
                        None if result.diagnostics is None else result.diagnostics.reset_index(drop=True),
                        _clean(dict(result.run_info)), _clean(report.fit_metrics(result)), notes,
                        ident.reset_index(drop=True),
                        fit_data_warnings(result) + list(checks["warnings"])
                        + convergence_warnings(result.run_info, result.diagnostics),
                        list(predictive_sentences(checks)), held)
