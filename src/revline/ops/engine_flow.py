"""The batch flow on an engine other than the store's own DuckDB (store.engine): today Spark over a
folder `revline export` wrote. The CLI's `revline --engine spark ...` calls these.

What runs there, with the same code as on DuckDB: identity stitching (`stitch`, when the folder's
inputs changed since its last stitch: `identity.stitch.stitch_on`, the stitch's own SQL steps
transpiled for Spark, connected components by label propagation where the edges are), journeys and
milestones (`journeys.build.build_on`), every rule model's credit ledger (`attribute`:
`attribution.on_engine`; Markov and Shapley fit on the driver over the distinct paths the engine
computes, `attribution.paths.paths_expr`, their per-touch split back on the engine), the ROI sums
by channel or month and the account funnel's stages. A folder with collected events not yet
derived into touchpoints is refused in one line (EngineError): deriving them is ingest code that
runs on DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revline.attribution.on_engine import DATA_DRIVEN, Run, run_models_on
from revline.identity.stitch import StitchReport, stitch_on
from revline.journeys.build import build_on
from revline.ops.registry import Progress, no_progress
from revline.vocabulary import ALL_SEGMENTS, DEFAULT_REVENUE_TYPE, FUNNEL_REVENUE_TYPE
from revline.store.engine import EngineError
from revline.reports.segments import normal_segment
from revline.store.state import WATCHED_TABLES, Staleness, stale_reasons, stitch_record


def folder_staleness(engine: Any) -> Staleness:
    """`store.state.staleness` for an export folder: the same rule (`stale_reasons`) over its
    manifest's row counts and the counters its store recorded (the `store_state` table it exported)."""
    tables = engine.manifest["tables"]
    return stale_reasons(_watched_counts(engine), int(tables.get("people", {}).get("rows") or 0),
                         _folder_state(engine), _owed_events(engine))


def _watched_counts(engine: Any) -> dict[str, int]:
    """The watched tables' row counts, as the folder's manifest holds them."""
    tables = engine.manifest["tables"]
    return {t: int(tables[t]["rows"]) for t in WATCHED_TABLES if t in tables}


def _folder_state(engine: Any) -> dict[str, int]:
    """The folder's store_state counters (empty when it has none)."""
    tables = engine.manifest["tables"]
    if "store_state" not in tables or not tables["store_state"]["rows"]:
        return {}
    st = engine.read("store_state").select("key", "value").execute()
    return {str(k): int(v) for k, v in st.itertuples(index=False, name=None)}


def _require_stitched(engine: Any) -> None:
    state = folder_staleness(engine)
    if state.stale:
        raise EngineError(f"{engine.folder} changed since its last stitch ({state}); "
                          f"run `revline --engine {engine.name} stitch --db {engine.folder}` first")


def _owed_events(engine: Any) -> int:
    return int(engine.manifest["tables"].get("events_to_derive", {}).get("rows", 0))


def record_stitch(engine: Any) -> None:
    """`store.state.record_stitch` for a folder: its store_state says the stitch saw the current
    data version and the watched tables' row counts (as the manifest now has them), so
    `folder_staleness` reports it current, here and in a store it is imported into."""
    import ibis
    import pandas as pd

    if "store_state" not in engine.manifest["tables"]:
        raise EngineError(f"{engine.folder}: no store_state table to record the stitch in; export it again with this revline")
    state = _folder_state(engine)
    state.update(stitch_record(_watched_counts(engine), state))
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("us")
    frame = pd.DataFrame({"key": list(state), "value": pd.array(list(state.values()), dtype="int64"),
                          "updated_at": [now] * len(state)})
    engine.write("store_state", ibis.memtable(frame))


@dataclass(frozen=True)
class EngineStitchResult:
    """What `stitch` did on the engine: the identity report (None when the folder was current and
    its identities were kept as exported) and the milestone rows rebuilt."""

    milestones: list[tuple[str, str, int]] = field(default_factory=list)
    report: StitchReport | None = None
    reasons: tuple[str, ...] = ()  # why the folder was stitched


def stitch(engine: Any, *, free_mail: list[str] | None = None, progress: Progress = no_progress) -> EngineStitchResult:
    """Stitch identities when the folder's inputs changed since its last stitch (or `free_mail`
    asks for other rules), then rebuild journeys and milestones and record the stitch, as
    `revline stitch` does on DuckDB. The record comes last: a crash before it leaves the folder
    stale, stitched again next time (each table write is itself staged and swapped in)."""
    state = folder_staleness(engine)
    owed = _owed_events(engine)
    if owed:
        raise EngineError(f"{engine.folder}: {owed:,} collected event(s) not yet derived into touchpoints; "
                          "`revline import` it into a store and `revline stitch` there (deriving runs on DuckDB)")
    report = None
    if state.stale or free_mail:
        progress(None, None, f"Stitching identities on {engine.name}")
        report = stitch_on(engine, free_mail=free_mail or ())
    progress(None, None, f"Building journeys and milestones on {engine.name}")
    counts = build_on(engine)
    if report is not None:
        record_stitch(engine)
    return EngineStitchResult([(o, m, n) for (o, m), n in counts.items()], report, state.reasons)


@dataclass(frozen=True)
class EngineAttributeResult:
    """The runs written on the engine."""

    runs: list[Run]


def attribute(engine: Any, *, models: list[str] | None = None, milestones: list[str] | None = None,
              revenue_types: list[str] | None = None, scope: str = "account", lookback_days: float | None = None,
              weighted: bool = False, half_life_days: float = 7.0, weights: str | None = None,
              rules_only: bool = False, progress: Progress = no_progress) -> EngineAttributeResult:
    """Every model (or `models`) into the folder's credit ledger, as `revline attribute` does on
    DuckDB: the rule models on the engine, Markov and Shapley fitted on the driver over the
    engine's distinct paths, their credit split on the engine (`rules_only`: the rule models alone)."""
    _require_stitched(engine)
    data = [] if rules_only else [m for m in (models or DATA_DRIVEN) if m in DATA_DRIVEN]
    progress(None, None, f"Attributing on {engine.name}" + (f" (then {', '.join(data)} on the driver)" if data else ""))
    runs = run_models_on(engine, models=models or None, milestones=milestones, revenue_types=revenue_types,
                         scope=scope, lookback_days=lookback_days, weighted=weighted,  # type: ignore[arg-type]
                         half_life_days=half_life_days, config=weights, rules_only=rules_only)
    return EngineAttributeResult(runs)


@dataclass(frozen=True)
class EngineReportResult:
    """An ROI table computed on the engine, its title and what a reader should know."""

    frame: Any  # pandas.DataFrame
    title: str
    notes: tuple[str, ...] = ()


def roi(engine: Any, *, by: str = "channel", models: list[str] | None = None, milestone: str = "won",
        revenue_type: str = DEFAULT_REVENUE_TYPE, raw: bool = False, start: str | None = None,
        end: str | None = None, segment: str | None = None) -> EngineReportResult:
    """`revline report --roi` on the engine: the ledger and spend sums run there
    (`reports.roi.roi_sums_expr`), the table is made from them on the driver (`roi_from_sums`).
    By channel or month; by campaign reads the store's campaign hierarchy, DuckDB only so far. The
    unified ROI (mix model + attribution) needs a fitted mix model, so this is attribution alone."""
    from revline.reports.definitions import definition
    from revline.attribution.ledger import select_runs_ibis
    from revline.reports.roi import roi_from_sums, roi_sums_expr
    from revline.reports.tables import missing_run

    if by not in ("channel", "month"):
        raise EngineError(f"report --roi --by {by} runs on DuckDB only so far (on Spark: --by channel or month)")
    model = (models or ["linear"])[0]
    if not select_runs_ibis(engine.backend, [(milestone, revenue_type)], [model])[0].run_ids:
        raise missing_run(model, milestone, revenue_type, engine=engine.name, where=str(engine.folder))
    sums = roi_sums_expr(engine.backend, model, milestone, revenue_type, by, start, end, segment=segment)  # type: ignore[arg-type]
    df = roi_from_sums(sums.to_pandas(), by, segment=segment)  # type: ignore[arg-type]
    notes: tuple[str, ...] = ()
    if by == "channel" and not raw:
        notes += ("the unified ROI (mix model + attribution) runs on DuckDB only: showing attribution alone",)
    if normal_segment(segment) != ALL_SEGMENTS:
        notes += ("spend has no region: ratios only for all regions",)
    d = definition(model=model, milestone=milestone, revenue_type=revenue_type, segment=segment, start=start,
                   end=end, clock="touch date; spend by spend date", notes=notes)
    return EngineReportResult(df, f"ROI by {by} ({engine.name})\n{d['text']}", notes)


def account_funnel(engine: Any, *, start: str | None = None, end: str | None = None,
                   revenue_type: str = FUNNEL_REVENUE_TYPE) -> Any:
    """The account funnel's stages as `revline funnel --level account --section stages` shows them
    on a store (a models.funnel FunnelReport, its stage table stamped with the definition): counts,
    recorded stages, days in stage and out-of-order records computed on the engine (`funnel_expr`,
    one row), conversion and its interval on the driver (`funnel_rows`). Win rate, leakage and
    coverage stay empty: they run on DuckDB."""
    import pandas as pd

    from revline.journeys.funnel import funnel_expr, funnel_rows
    from revline.models.funnel.model import Definition, FunnelReport, parse_day

    d = Definition("account", revenue_type, parse_day(start, "start"), parse_day(end, "end"), None)
    sums = funnel_expr(engine.backend, start, end, revenue_type).to_pandas()
    stages = funnel_rows(sums.iloc[0].to_dict(), revenue_type)
    stages.insert(0, "key", "all")
    return FunnelReport(d, d.stamp(stages), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())


__all__ = ["account_funnel", "EngineAttributeResult", "EngineReportResult", "roi", "EngineStitchResult", "attribute",
           "folder_staleness", "record_stitch", "stitch"]
