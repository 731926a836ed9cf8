"""Running attribution models over the store and writing the credit ledger.

Why a runner apart from the rules: the rules are pure Ibis transforms (portable, testable on
Spark); this module is the DuckDB edge that validates inputs, caches the positioned journeys
once per milestone (all models and revenue types reuse them) and writes each run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir

from revline.attribution.config import BUILTIN_MODELS, PositionWeights, load_weights_file, parse_weights
from revline.attribution.eligibility import Scope, Target, conversions, eligible_touches
from revline.attribution.ledger import ROW_COLUMNS, new_run_id, rewrite_conversions, write_ledger
from revline.attribution.positions import with_positions
from revline.attribution.rules import credited_touches, ledger_rows, spec_for, unattributed_rows
from revline.store import SCHEMA_VERSION, ibis_backend
from revline.store.portable import reads
from revline.store.sql import lit
from revline.store.transaction import atomic
from revline.vocabulary import ALL_REVENUE, LEAD_MILESTONES, MILESTONES, REVENUE_TYPES, USD_RATES
from revline.vocabulary import ATTRIBUTED_REVENUE_TYPES as DEFAULT_REVENUE_TYPES

Progress = Callable[[int, int, str], None]
"""progress(done, total, label): called after each run is written."""



@reads("opportunities", "opportunity_contacts", "people", "milestones", "stage_events", "touchpoints", "fx_rates")
def attribute(
    be: Any,
    model: str | PositionWeights,
    milestone: str = "won",
    *,
    revenue_type: str | None = None,
    scope: Scope = "account",
    lookback_days: float | None = None,
    weighted: bool = False,
    half_life_days: float = 7.0,
    config: Mapping[str, PositionWeights] | None = None,
) -> ir.Table:
    """Ledger rows of one rule model as an Ibis expression on any backend (DuckDB, PySpark).

    Nothing is executed: call `.to_pandas()` or compile it. This is the portable core that
    `run_models` uses and the Spark portability test runs.
    """
    spec = model if isinstance(model, PositionWeights) else spec_for(model, dict(config or {}))
    conv, keys = conversions(be, Target(milestone, revenue_type, scope, lookback_days, weighted))
    p = with_positions(eligible_touches(be, conv, keys))
    return ledger_rows(conv, p, spec, half_life_days=half_life_days)


def _resolve_config(config: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, PositionWeights]:
    if config is None:
        return {}
    if isinstance(config, (str, os.PathLike)):
        return load_weights_file(config)
    out: dict[str, PositionWeights] = {}
    for name, w in config.items():
        out[str(name)] = w if isinstance(w, PositionWeights) else parse_weights(w, f"config [{name}]")
    return out


def _check_inputs(con: Any, milestones: Iterable[str]) -> None:
    """Fail early, naming the rows, on inputs the models cannot price."""
    if not set(milestones) & {"opportunity", "won"}:
        return
    codes = ", ".join(lit(c) for c in USD_RATES)
    bad = con.execute(
        f"SELECT opportunity_id, currency FROM opportunities WHERE upper(coalesce(currency, 'USD')) NOT IN ({codes}) AND upper(currency) NOT IN (SELECT currency FROM fx_rates) "  # noqa: S608 - currency codes from USD_RATES, quoted by lit
        "ORDER BY opportunity_id LIMIT 5"
    ).fetchall()
    if bad:
        n = con.execute(
            f"SELECT count(*) FROM opportunities WHERE upper(coalesce(currency, 'USD')) NOT IN ({codes}) AND upper(currency) NOT IN (SELECT currency FROM fx_rates)"  # noqa: S608 - currency codes from USD_RATES, quoted by lit
        ).fetchone()[0]
        examples = ", ".join(f"{oid} (currency={cur!r})" for oid, cur in bad)
        raise ValueError(
            f"opportunities: {n} rows have a currency without a USD rate (neither a default in "
            f"revline.vocabulary.USD_RATES nor a dated one: `revline fx load rates.csv`), field currency, e.g. {examples}"
        )
    null_cur = con.execute("SELECT opportunity_id FROM opportunities WHERE currency IS NULL LIMIT 1").fetchall()
    if null_cur:
        raise ValueError(f"opportunities: opportunity {null_cur[0][0]} has no currency (field currency)")


def _check_weighted(con: Any) -> None:
    bad = con.execute(
        "SELECT opportunity_id FROM opportunities WHERE probability IS NULL AND NOT coalesce(is_closed, FALSE) "
        "AND NOT coalesce(is_won, FALSE) ORDER BY 1 LIMIT 5"
    ).fetchall()
    if bad:
        raise ValueError(
            "opportunities: weighted pipeline needs field probability for open opportunities; missing for "
            + ", ".join(r[0] for r in bad)
        )
    out_of_range = con.execute(
        "SELECT opportunity_id, probability FROM opportunities WHERE probability < 0 OR probability > 1 LIMIT 1"
    ).fetchall()
    if out_of_range:
        oid, p = out_of_range[0]
        raise ValueError(f"opportunities: opportunity {oid} field probability={p} is outside 0..1")


_SQL_CACHE: dict[tuple, list[tuple[str, str]]] = {}
SEEN = "_rl_seen"
"""Inline mode: the conversions the run being written already credited (a view on the ledger)."""


def _materialize_journeys(
    con: Any, be: Any, target: Target,
    keyed: tuple[tuple[str, PositionWeights], ...], half_life_days: float, names: dict[str, str],
    *, inline: bool = False, keep: str | None = None,
) -> dict[str, str]:
    """Create the temp tables conv, credited (every model's credit per touch) and lost
    (conversions without an eligible touch) from the portable transforms.

    Why the compiled SQL is memoised: compiling the Ibis expressions costs ~0.5 s of Python,
    more than running them on a small store, and the SQL depends only on the parameters and
    the schema version, not on the data. Each table is created before the expression reading
    it is built (Ibis needs its schema); `lost` reads the materialised credited table, so the
    journeys are positioned once.

    `inline=True` (a milestone written by a single run) materialises conv only and returns the
    SQL of credited and lost instead: the run inserts credited straight from its query (a temp
    table of millions of rows costs about as much as computing them, and one run reads them
    once), then lost, compiled against the view SEEN of the conversions that run just credited.

    `keep` (a statement, e.g. a DELETE from the conv table) runs right after conv is materialised,
    before the journeys are positioned: the incremental refresh keeps only the affected
    conversions there, so only their touches are read.
    """
    key = (SCHEMA_VERSION, target, keyed, half_life_days, tuple(names.items()), inline)
    cached = _SQL_CACHE.get(key)
    if cached is None:
        cached = []

        def run(name: str, expr: ir.Table, materialize: bool = True) -> ir.Table:
            sql = str(ibis.to_sql(expr, dialect="duckdb"))
            # Ibis needs the schema of a table to build the next expression; the rows only when kept
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM ({sql}){'' if materialize else ' LIMIT 0'}")  # noqa: S608 - temp-table name from this module, body compiled by Ibis
            cached.append((name, sql))
            return be.table(name)

        conv_all, keys = conversions(be, target)
        conv_t = run(names["conv"], conv_all)
        if keep:
            con.execute(keep)
        positioned = with_positions(eligible_touches(be, conv_t, keys))
        credited = run(names["credited"], credited_touches(positioned, dict(keyed), half_life_days=half_life_days), not inline)
        if inline:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {SEEN} (conversion_id VARCHAR)")
            credited = be.table(SEEN)
        run(names["lost"], unattributed_rows(conv_t, credited), not inline)
        _SQL_CACHE[key] = cached
        if inline:
            for name in (names["credited"], names["lost"], SEEN):
                con.execute(f"DROP TABLE IF EXISTS {name}")
    else:
        for i, (name, sql) in enumerate(cached if not inline else cached[:1]):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
            if i == 0 and keep:
                con.execute(keep)
    return {name: sql for name, sql in cached[1:]} if inline else {}


def _credited_rows(con: Any, credited_src: str, c: str, rt_sql: str) -> Any:
    """One model's (column `c` of the credited table) ledger rows for one revenue-type filter."""
    return con.sql(
        f"SELECT conversion_id, conversion_type, touchpoint_id, {c} AS credit, "  # noqa: S608 - temp names and generated column names; revenue type quoted by lit
        f"{c} * amount_usd AS revenue_credit, revenue_type, channel, campaign_id, touch_position, "
        f"CAST(occurred_at AS TIMESTAMP) AS occurred_at FROM {credited_src} WHERE {c} > 0{rt_sql}"
    )


def _lost_rows(con: Any, lost_src: str, rt_sql: str) -> Any:
    """The unattributed rows (conversions without an eligible touch) for one revenue-type filter."""
    return con.sql(f"SELECT {', '.join(ROW_COLUMNS)} FROM {lost_src} WHERE TRUE{rt_sql}")  # noqa: S608 - ledger columns from ROW_COLUMNS; temp names; revenue type quoted by lit


def _rt_filter(rt: str | None) -> str:
    return "" if rt in (None, ALL_REVENUE) else f" AND revenue_type = {lit(rt)}"


def checked_plan(
    models: Iterable[str], known: set[str], milestones: Iterable[str] | None, revenue_types: Iterable[str] | None
) -> tuple[list[str], list[str]]:
    """The milestones and revenue types of a run plan (None: all), after refusing an unknown model,
    milestone or revenue type with the names that exist: one check for every engine's runner."""
    for m in models:
        if m not in known:
            raise ValueError(f"unknown model {m!r}; known: {', '.join(sorted(known))}")
    ms = list(milestones) if milestones is not None else list(MILESTONES)
    for m in ms:
        if m not in MILESTONES:
            raise ValueError(f"unknown milestone {m!r}; expected one of {', '.join(MILESTONES)}")
    rts = list(revenue_types) if revenue_types is not None else [*DEFAULT_REVENUE_TYPES, ALL_REVENUE]
    for r in rts:
        if r not in (*REVENUE_TYPES, ALL_REVENUE):
            raise ValueError(f"unknown revenue type {r!r}; expected one of {', '.join(REVENUE_TYPES)}, {ALL_REVENUE}")
    return ms, rts


def run_models(
    con: Any,
    models: Iterable[str] | None = None,
    milestones: Iterable[str] | None = None,
    revenue_types: Iterable[str] | None = None,
    scope: Scope = "account",
    lookback_days: float | None = None,
    weighted: bool = False,
    half_life_days: float = 7.0,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Run rule models (and any registered in `revline.attribution.MODELS`) into the ledger.

    None means all: every rule model (plus the custom ones of `config`), every milestone,
    and for opportunity milestones each revenue type separately plus 'all'. Lead milestones
    (lead, mql, sql) have no revenue type. Returns the run ids written.
    """
    from revline.attribution import MODELS  # import cycle: the package's __init__ imports this module

    custom = _resolve_config(config)
    model_list = list(models) if models is not None else list(BUILTIN_MODELS) + [m for m in custom if m not in BUILTIN_MODELS]
    ms, rts = checked_plan(model_list, set(BUILTIN_MODELS) | set(custom) | set(MODELS), milestones, revenue_types)
    base = Target("won", None, scope, lookback_days, weighted)  # checks scope and lookback once
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days}")
    _check_inputs(con, ms)
    if weighted and "opportunity" in ms:
        _check_weighted(con)

    rule_models = [m for m in model_list if m in BUILTIN_MODELS or m in custom]
    other_models = [m for m in model_list if m not in rule_models]
    plan = [(m, r) for m in ms for r in ([None] if m in LEAD_MILESTONES else rts)]
    total = len(plan) * len(rule_models) + len(other_models)
    done = 0
    run_ids: list[str] = []
    be = ibis_backend(con)
    specs = {m: spec_for(m, custom) for m in rule_models}
    keyed = {f"m{i}": specs[m] for i, m in enumerate(rule_models)}
    for milestone in ms if rule_models else []:
        # The portable Ibis transforms are compiled once per milestone and materialised; credit
        # does not depend on the revenue-type filter, so each (revenue type, model) run is then a
        # plain projection of these tables.
        names = {k: f"_rl_{k}" for k in ("conv", "credited", "lost")}
        milestone_rts = [r for (m, r) in plan if m == milestone]
        try:
            target = replace(base, milestone=milestone)  # credit does not depend on the revenue type
            inline = _materialize_journeys(
                con, be, target, tuple(keyed.items()), half_life_days, names,
                inline=len(milestone_rts) * len(rule_models) == 1,
            )
            credited_src = f"({inline[names['credited']]})" if inline else names["credited"]
            lost_src = f"({inline[names['lost']]})" if inline else names["lost"]
            for rt in milestone_rts:
                rt_sql = _rt_filter(rt)
                amounts = con.sql(f"SELECT conversion_id, amount_usd AS amount FROM {names['conv']} WHERE TRUE{rt_sql}")  # noqa: S608 - temp-table name; revenue type quoted by lit
                for i, model in enumerate(rule_models):
                    spec = specs[model]
                    c = f"credit__m{i}"
                    run_id = new_run_id(model)
                    credited = _credited_rows(con, credited_src, c, rt_sql)
                    if inline:
                        # lost = conversions this run did not credit, read back inside the writing transaction
                        con.execute(
                            f"CREATE OR REPLACE TEMP VIEW {SEEN} AS SELECT conversion_id "  # noqa: S608 - SEEN is a constant; the run id is quoted by lit
                            f"FROM credit_ledger WHERE run_id = {lit(run_id)}"
                        )
                    lost = _lost_rows(con, lost_src, rt_sql)
                    params = {
                        **target.params(),
                        "half_life_days": half_life_days if spec.kind == "time_decay" else None,
                        "weights": spec.to_params(), "currency": "USD",
                    }
                    run_ids.append(
                        write_ledger(
                            con, [credited, lost], model=model, milestone=milestone, revenue_type=rt,
                            params=params, amounts=amounts, check="totals", run_id=run_id,
                        )
                    )
                    done += 1
                    if progress:
                        progress(done, total, f"{model} @ {milestone}" + (f" / {rt}" if rt else ""))
        finally:
            for name in names.values():
                con.execute(f"DROP TABLE IF EXISTS {name}")
            con.execute(f"DROP VIEW IF EXISTS {SEEN}")
    for model in other_models:
        run_ids.extend(
            MODELS[model](
                con, milestones=ms, revenue_types=rts, scope=scope, lookback_days=lookback_days, weighted=weighted
            )
        )
        done += 1
        if progress:
            progress(done, total, model)
    return run_ids


# ------------------------------------------------------------------ incremental refresh
_KEYS_SQL: dict[tuple, str] = {}
AFFECTED = "_rl_affected"
"""The conversions an incremental refresh rewrites (conversion_id), a temp table."""


@dataclass(frozen=True)
class Refresh:
    """What `refresh_accounts` did: runs touched, conversions rewritten (summed over runs), and the
    runs it cannot bring up to date (custom weights, data-driven models): those need a full run."""

    runs: int
    conversions: int
    skipped: tuple[str, ...]


def _default_rule_run(model: str, params: dict[str, Any]) -> bool:
    """A run of a built-in rule model with its built-in weights (what `revline attribute` writes)."""
    spec = BUILTIN_MODELS.get(model)
    return spec is not None and params.get("weights") == json.loads(json.dumps(spec.to_params()))


def refresh_accounts(con: Any, account_ids: Iterable[str]) -> Refresh:
    """Bring the existing rule-model runs up to date for the conversions of `account_ids` only
    (one transaction): after touches of these accounts were added or re-assigned, only their
    conversions' credit can change, and the rule models credit each conversion on its own.

    Per run, the affected conversions (those whose scope keys are one of the accounts or one of
    their people) have their ledger rows deleted and rewritten from the same compiled transforms
    and projection `run_models` uses, computed for those conversions only, with the same
    parameters the run recorded; the ledger check runs on them. Runs of other models are left and
    listed in `skipped`. Equal to a full re-run when the conversions themselves did not change.
    """
    ids = sorted({str(a) for a in account_ids if a is not None})
    if not ids:
        return Refresh(0, 0, ())
    runs = con.execute(
        "SELECT run_id, model, milestone, revenue_type, params FROM attribution_runs ORDER BY created_at, run_id"
    ).fetchall()
    groups: dict[tuple[Target, float], list[tuple[str, str, str | None]]] = {}
    skipped: list[str] = []
    for run_id, model, milestone, rt, raw in runs:
        params = json.loads(raw) if raw else {}
        if not _default_rule_run(model, params):
            skipped.append(run_id)
            continue
        target = Target(milestone, None, params.get("scope", "account"), params.get("lookback_days"),
                        bool(params.get("weighted", False)))
        half_life = float(params.get("half_life_days") or 7.0)  # only time decay reads it
        groups.setdefault((target, half_life), []).append((run_id, model, rt))
    if not groups:
        return Refresh(0, 0, tuple(skipped))
    be = ibis_backend(con)
    names = {k: f"_rl_{k}" for k in ("conv", "credited", "lost")}
    total = 0
    try:
        with atomic(con):
            for (target, half_life), members in groups.items():
                keys_sql = _KEYS_SQL.get((SCHEMA_VERSION, target))
                if keys_sql is None:  # compiled once per target, as the journeys' SQL is
                    keys_sql = _KEYS_SQL[(SCHEMA_VERSION, target)] = str(
                        ibis.to_sql(conversions(be, target)[1], dialect="duckdb"))
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {AFFECTED} AS SELECT DISTINCT k.conversion_id FROM ({keys_sql}) k "  # noqa: S608 - body compiled by Ibis; account ids bound
                    "WHERE (k.key_kind = 'account' AND list_contains(?::VARCHAR[], k.key)) OR (k.key_kind = 'person' "
                    "AND k.key IN (SELECT person_id FROM people WHERE list_contains(?::VARCHAR[], account_id) "
                    "UNION ALL SELECT person_id FROM touchpoints WHERE list_contains(?::VARCHAR[], account_id)))",
                    [ids, ids, ids],
                )
                models = sorted({m for _, m, _ in members})
                keyed = tuple((f"m{i}", BUILTIN_MODELS[m]) for i, m in enumerate(models))
                _materialize_journeys(
                    con, be, target, keyed, half_life, names,
                    keep=f"DELETE FROM {names['conv']} WHERE conversion_id NOT IN (SELECT conversion_id FROM {AFFECTED})",  # noqa: S608 - temp-table names of this module
                )
                for run_id, model, rt in members:
                    rt_sql = _rt_filter(rt)
                    c = f"credit__m{models.index(model)}"
                    amounts = con.sql(f"SELECT conversion_id, amount_usd AS amount FROM {names['conv']} WHERE TRUE{rt_sql}")  # noqa: S608 - temp-table name; revenue type quoted by lit
                    n, _ = rewrite_conversions(
                        con, run_id, [_credited_rows(con, names["credited"], c, rt_sql),
                                      _lost_rows(con, names["lost"], rt_sql)],
                        conversions=AFFECTED, amounts=amounts,
                    )
                    total += n
    finally:  # after the transaction: a rolled-back one has dropped them already
        for name in (*names.values(), AFFECTED):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    return Refresh(sum(len(m) for m in groups.values()), total, tuple(skipped))
