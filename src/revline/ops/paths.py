"""Operations `paths_export` (the store's journeys as a ChannelAttribution paths table) and
`paths_model` (a data-driven model fitted on those paths)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from revline.attribution.diagnose import nothing_to_attribute
from revline.attribution.heuristics import heuristic_models
from revline.attribution.markov import markov_model
from revline.attribution.paths import export_paths
from revline.attribution.shapley import shapley_model
from revline.ops.fresh import stitch_if_stale
from revline.ops.registry import Progress, no_progress


@dataclass(frozen=True)
class PathsExport:
    """The journeys as ChannelAttribution-style paths, or why there are none."""

    paths: pd.DataFrame  # path, total_conversions, total_conversion_value, total_null
    problem: str | None = None  # why there is nothing to export
    stitched: str | None = None  # why the store was stitched first (None: it was fresh)


@dataclass(frozen=True)
class PathsModelResult:
    """One data-driven model (Markov or Shapley) fitted on a paths table: its per-channel result."""

    model: str
    table: pd.DataFrame  # one row per channel
    paths: int


def export(
    con: duckdb.DuckDBPyConnection,
    *,
    milestone: str = "won",
    revenue_type: str = "new_business",
    scope: str = "account",
    lookback_days: float | None = None,
    no_stitch: bool = False,
    db: str | None = None,
    progress: Progress = no_progress,
) -> PathsExport:
    """The store's journeys at `milestone` as paths (stitching a changed store first, unless
    `no_stitch`); `problem` says why when no journey converts."""
    stitched = stitch_if_stale(con, no_stitch=no_stitch, db=db)
    progress(None, None, "exporting paths")
    df = export_paths(con, milestone, revenue_type, scope, lookback_days=lookback_days)
    why = None
    if df.empty or df["total_conversions"].sum() == 0:
        why = nothing_to_attribute(con, [(milestone, revenue_type)], scope) or (
            f"no converting journey at milestone '{milestone}' ({revenue_type}): no touch precedes a conversion"
            + (" within the lookback" if lookback_days else "") + "; check `revline journey <account>`")
    return PathsExport(df, why, stitched)


def model(
    con: duckdb.DuckDBPyConnection,
    *,
    model: str = "markov",
    milestone: str = "won",
    revenue_type: str = "new_business",
    scope: str = "account",
    lookback_days: float | None = None,
    order: int = 1,
    progress: Progress = no_progress,
) -> PathsModelResult:
    """Markov (exact removal effects), Shapley or the heuristic models on the store's paths."""
    if model not in ("markov", "shapley", "heuristic"):
        raise ValueError(f"unknown paths model {model!r}; markov, shapley or heuristic")
    exported = export(con, milestone=milestone, revenue_type=revenue_type, scope=scope, lookback_days=lookback_days,
                      progress=progress)
    if exported.problem:
        raise ValueError(f"nothing to model: {exported.problem}")
    df = exported.paths
    progress(None, None, f"fitting {model} on {len(df):,} paths")
    if model == "markov":
        res = markov_model(df, order=order)
        table = res["result"].merge(res["removal_effects"], on="channel_name")
    elif model == "shapley":
        table = shapley_model(df)["result"]
    else:
        table = heuristic_models(df)
    return PathsModelResult(model, table.reset_index(drop=True), len(df))
