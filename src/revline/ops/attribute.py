"""Operation `attribute`: rule and data-driven models into the credit ledger (stitching a changed store first),
with each run's unattributed share and why the empty runs are empty."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

from revline.attribution import run_models
from revline.attribution.diagnose import conversion_problem, nothing_to_attribute
from revline.attribution.eligibility import Scope
from revline.vocabulary import ALL_REVENUE, ATTRIBUTED_REVENUE_TYPES, LEAD_MILESTONES, MILESTONES
from revline.ops.fresh import stitch_if_stale
from revline.ops.registry import Progress, no_progress
from revline.reports.tables import unattributed


# Run by default after the rule models (`revline attribute` without -m), skipped with --rules-only.
DATA_DRIVEN_MODELS: tuple[str, ...] = ("markov", "shapley")


@dataclass(frozen=True)
class AttributeResult:
    """What an attribute operation wrote: its run ids, the unattributed summary and why runs are empty."""

    run_ids: list[str]
    summary: pd.DataFrame  # revline.reports.tables.unattributed of the runs written, without run_id
    empty_notes: list[str] = field(default_factory=list)  # why runs without conversions have none
    stitched: str | None = None  # why the store was stitched first (None: it was fresh)


def attribute(
    con: duckdb.DuckDBPyConnection,
    *,
    models: list[str] | None = None,
    milestones: list[str] | None = None,
    revenue_types: list[str] | None = None,
    scope: Scope = "account",
    lookback_days: float | None = None,
    weighted: bool = False,
    half_life_days: float = 7.0,
    weights: str | None = None,
    no_stitch: bool = False,
    db: str | None = None,
    rules_only: bool = False,
    progress: Progress = no_progress,
) -> AttributeResult:
    """`db` only names the store in messages (`revline stitch --db ...`). Without `models`, every
    model: the rule models (and the custom ones of `weights`), then the data-driven ones
    (DATA_DRIVEN_MODELS) unless `rules_only`, so every model a report or the dashboard can show
    has runs; on the small demo the data-driven ones take about twice the rule models' time."""
    stitched = stitch_if_stale(con, no_stitch=no_stitch, db=db)
    ms = milestones or list(MILESTONES)
    rts = revenue_types or [*ATTRIBUTED_REVENUE_TYPES, ALL_REVENUE]
    pairs = [(m, None) if m in LEAD_MILESTONES else (m, r) for m in ms for r in ([None] if m in LEAD_MILESTONES else rts)]
    if set(ms) <= set(MILESTONES):
        reason = nothing_to_attribute(con, pairs, scope)
        if reason:
            raise ValueError(f"nothing to attribute, no runs written: {reason}")
    run_ids = run_models(con, models=models or None, milestones=milestones or None,
                         revenue_types=revenue_types or None, scope=scope, lookback_days=lookback_days,
                         weighted=weighted, half_life_days=half_life_days, config=weights, progress=progress)
    if not models and not rules_only:
        run_ids += run_models(con, models=list(DATA_DRIVEN_MODELS), milestones=milestones or None,
                              revenue_types=revenue_types or None, scope=scope, lookback_days=lookback_days,
                              weighted=weighted, progress=progress)
    summary = unattributed(con)
    summary = summary[summary["run_id"].isin(run_ids)].drop(columns=["run_id"]).reset_index(drop=True)
    empty = summary[summary["conversions"] == 0]
    notes = [conversion_problem(con, m, None if r is None or r != r else r)
             for m, r in empty[["milestone", "revenue_type"]].drop_duplicates().itertuples(index=False)]
    return AttributeResult(run_ids, summary, list(dict.fromkeys(n for n in notes if n)), stitched)
