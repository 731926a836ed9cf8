"""The batch flow on an engine other than the store's own DuckDB (store.engine): today Spark over a
folder `revline export` wrote. The CLI's `revline --engine spark ...` calls these.

What runs there, with the same Ibis transforms as on DuckDB: journeys and milestones (`stitch`:
`journeys.build.build_on`) and every rule model's credit ledger (`attribute`:
`attribution.on_engine`). What does not yet, and says so in one line (EngineError): identity
stitching itself (its graph and merge are DuckDB SQL; only the connected components are
portable, `identity.components`), so a folder whose inputs changed since its last stitch is
refused; and the data-driven models (Markov, Shapley), whose path extraction is DuckDB SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revline.attribution.on_engine import Run, run_rule_models_on
from revline.journeys.build import build_on
from revline.ops.registry import Progress, no_progress
from revline.store.engine import EngineError
from revline.store.state import DATA_VERSION, STITCHED_VERSION, WATCHED_TABLES, Staleness

DATA_DRIVEN = ("markov", "shapley")


def folder_staleness(engine: Any) -> Staleness:
    """`store.state.staleness` for an export folder: its manifest's row counts against the
    counters its store recorded at the last stitch (the `store_state` table it exported)."""
    tables = engine.manifest["tables"]
    counts = {t: int(tables[t]["rows"]) for t in WATCHED_TABLES if t in tables}
    if not any(counts.values()) and not tables.get("people", {}).get("rows"):
        return Staleness(())
    state = {}
    if "store_state" in tables and tables["store_state"]["rows"]:
        st = engine.read("store_state").select("key", "value").execute()
        state = {str(k): int(v) for k, v in st.itertuples(index=False, name=None)}
    if STITCHED_VERSION not in state:
        return Staleness(("the store was never stitched",))
    reasons = []
    owed = int(tables.get("events_to_derive", {}).get("rows", 0))
    if owed:
        reasons.append(f"{owed:,} collected event(s) not yet derived into touchpoints")
    data, stitched = state.get(DATA_VERSION, 0), state[STITCHED_VERSION]
    if data != stitched:
        reasons.append(f"{data - stitched} ingest(s) since the last stitch")
    for table, n in counts.items():
        before = state.get(f"stitched:{table}")
        if before is not None and before != n:
            reasons.append(f"{table}: {n - before:+,} rows since the last stitch")
    return Staleness(tuple(reasons))


def _require_stitched(engine: Any) -> None:
    state = folder_staleness(engine)
    if state.stale:
        raise EngineError(
            f"{engine.folder} changed since its last stitch ({state}), and identity stitching runs on DuckDB "
            "only so far: `revline import` it into a store, `revline stitch` there, then `revline export` again")


@dataclass(frozen=True)
class EngineStitchResult:
    """What `stitch` did on the engine: the milestone rows rebuilt (identities kept as exported)."""

    milestones: list[tuple[str, str, int]] = field(default_factory=list)


def stitch(engine: Any, *, progress: Progress = no_progress) -> EngineStitchResult:
    """Rebuild journeys and milestones on the engine. The identity map is the one the folder was
    exported with, which must be current (identity stitching itself is DuckDB-only so far)."""
    _require_stitched(engine)
    progress(None, None, f"Building journeys and milestones on {engine.name}")
    counts = build_on(engine)
    return EngineStitchResult([(o, m, n) for (o, m), n in counts.items()])


@dataclass(frozen=True)
class EngineAttributeResult:
    """The runs written on the engine, and the models left out (data-driven ones) with why."""

    runs: list[Run]
    skipped: list[str] = field(default_factory=list)


def attribute(engine: Any, *, models: list[str] | None = None, milestones: list[str] | None = None,
              revenue_types: list[str] | None = None, scope: str = "account", lookback_days: float | None = None,
              weighted: bool = False, half_life_days: float = 7.0, weights: str | None = None,
              rules_only: bool = False, progress: Progress = no_progress) -> EngineAttributeResult:
    """The rule models into the folder's credit ledger (every one without `models`); the
    data-driven models are refused when named, and left out (listed in `skipped`) by default."""
    asked = [m for m in (models or []) if m in DATA_DRIVEN]
    if asked:
        raise EngineError(f"{', '.join(asked)} run on DuckDB only so far (path extraction is DuckDB SQL): "
                          f"`revline import {engine.folder}` into a store and run them there")
    _require_stitched(engine)
    progress(None, None, f"Attributing on {engine.name}")
    runs = run_rule_models_on(engine, models=models or None, milestones=milestones, revenue_types=revenue_types,
                              scope=scope, lookback_days=lookback_days, weighted=weighted,  # type: ignore[arg-type]
                              half_life_days=half_life_days, config=weights)
    skipped = [] if models or rules_only else list(DATA_DRIVEN)
    return EngineAttributeResult(runs, skipped)


__all__ = ["DATA_DRIVEN", "EngineAttributeResult", "EngineStitchResult", "attribute", "folder_staleness", "stitch"]
