"""The credit ledger on any engine (store.engine): DuckDB, or Spark over an export folder.

Why beside `runner.run_models`: that one is the embedded store's fast path (compiled SQL cached
per milestone, runs inserted one by one in DuckDB transactions). This one runs the very same
portable transforms (`conversions`, `eligible_touches`, `with_positions`, `credited_touches`,
`model_rows`, `unattributed_rows`) as engine-side tables: per milestone the conversions and the
positioned, credited journeys are computed once with every model's credit as a column, every
(revenue type, model) run comes out of one pass over them, and all runs are written back in one
rewrite of `credit_ledger` and `attribution_runs`. Markov and Shapley fetch the distinct paths
from the engine once per target (`paths_expr`), are fitted on the driver over them, and their
channel weights (a small table) go back to the engine, where every run's per-touch split is
computed with the DuckDB runner's own expression (`distribute.data_driven_rows`). Credit and run
rows are those `run_models` writes (checked equal on the demo company: tests/test_engine.py);
only the run ids differ.

The ledger's invariant is checked before anything is written, as `check_run` does: for the rule
models its totals form (per run, the credits add up to its number of conversions and the revenue
credits to their amounts), for the data-driven ones per conversion (credits sum to 1), each as
one aggregate on the engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import ibis
import ibis.selectors as sel

from revline.attribution.config import BUILTIN_MODELS
from revline.attribution.distribute import data_driven_rows, fitted_weights, markov_weights, shapley_weights, weights_table
from revline.attribution.eligibility import Scope, Target, conversions, eligible_touches
from revline.attribution.ledger import conform, new_run_id
from revline.attribution.positions import with_positions
from revline.attribution.rules import credited_touches, model_rows, spec_for, unattributed_rows
from revline.attribution.runner import _resolve_config, checked_plan
from revline.vocabulary import ALL_REVENUE, LEAD_MILESTONES, USD_RATES

TOL = 1e-6


@dataclass(frozen=True)
class Run:
    """One run written: its id, what it attributed, and its conversions (of which unattributed)."""

    run_id: str
    model: str
    milestone: str
    revenue_type: str | None
    conversions: int
    unattributed: int


def unpriced(be: Any) -> tuple[int, list[tuple[str, str | None]]]:
    """Opportunities whose currency has no USD rate (neither a default nor a dated one), or none:
    (how many, up to 5 examples). The models cannot price them."""
    o, fx = be.table("opportunities"), be.table("fx_rates")
    code = o.currency.upper()
    known = code.isin(list(USD_RATES)) | code.isin(fx.select(c=fx.currency.upper()).c)
    bad = o.filter(o.currency.isnull() | ~known)
    n = int(bad.count().execute())
    rows = bad.select("opportunity_id", "currency").order_by("opportunity_id").limit(5).execute() if n else None
    return n, [] if rows is None else [(str(a), None if c is None else str(c)) for a, c in rows.itertuples(index=False, name=None)]


def _check_inputs(be: Any, milestones: Iterable[str]) -> None:
    if not set(milestones) & {"opportunity", "won"}:
        return
    n, examples = unpriced(be)
    if n:
        shown = ", ".join(f"{oid} (currency={cur!r})" for oid, cur in examples)
        raise ValueError(f"opportunities: {n} rows have no currency or one without a USD rate "
                         f"(`revline fx load rates.csv` on the store, then export again), field currency, e.g. {shown}")


WHOLE = ("model", "milestone", "run_id")
"""What `conform` keeps beside a model's columns for whole ledger rows (the table's columns)."""


def run_models_on(
    engine: Any,
    models: Iterable[str] | None = None,
    milestones: Iterable[str] | None = None,
    revenue_types: Iterable[str] | None = None,
    scope: Scope = "account",
    lookback_days: float | None = None,
    weighted: bool = False,
    half_life_days: float = 7.0,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    rules_only: bool = False,
) -> list[Run]:
    """Run models (None: every built-in rule model plus the custom ones of `config`, then the
    data-driven ones unless `rules_only`, as `revline attribute` does) at every milestone and
    revenue type of `run_models`' plan, replace the engine's earlier runs of the same (model,
    milestone, revenue type) in one rewrite of the ledger, and return the runs written."""
    custom = _resolve_config(config)
    if models is not None:
        model_list = list(models)
    else:
        model_list = list(BUILTIN_MODELS) + [m for m in custom if m not in BUILTIN_MODELS]
        model_list += [] if rules_only else list(DATA_DRIVEN)
    ms, rts = checked_plan(model_list, set(BUILTIN_MODELS) | set(custom) | set(DATA_DRIVEN), milestones, revenue_types)
    base = Target("won", None, scope, lookback_days, weighted)
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days}")
    _check_inputs(engine.backend, ms)
    rule_models = [m for m in model_list if m not in DATA_DRIVEN]
    planned: dict[str, tuple[str, str, str | None, dict]] = {}
    new: list[Any] = []
    runs: list[Run] = []
    if rule_models:
        expr, done = _rule_runs(engine, rule_models, custom, ms, rts, base, half_life_days, planned)
        new.append(expr)
        runs += done
    data_models = [m for m in model_list if m in DATA_DRIVEN]
    if data_models:
        dd_planned: dict[str, tuple[str, str, str | None, dict]] = {}  # checked apart from the rule runs
        expr, done = _data_driven_runs(engine, data_models, ms, rts, base, dd_planned)
        planned.update(dd_planned)
        new.append(expr)
        runs += done
    if runs:
        _commit(engine, new, runs, planned)
    return runs


def _rule_runs(engine: Any, model_list: list[str], custom: dict, ms: list[str], rts: list[str], base: Target,
               half_life_days: float, planned: dict[str, tuple[str, str, str | None, dict]]) -> tuple[Any, list[Run]]:
    """Every rule model's runs, computed and checked on the engine: (their rows, kept there; the runs)."""
    be = engine.backend
    specs = {m: spec_for(m, custom) for m in model_list}
    keyed = {f"m{i}": specs[m] for i, m in enumerate(model_list)}
    pieces: list[Any] = []
    expected: dict[str, tuple[int, float, float]] = {}  # run_id: (conversions, amount, sum of |amount|)
    for milestone in ms:
        target = replace(base, milestone=milestone)
        conv_all, keys = conversions(be, target)
        conv = engine.materialize(conv_all)
        credited = engine.materialize(
            credited_touches(with_positions(eligible_touches(be, conv, keys)), keyed, half_life_days=half_life_days))
        lost = engine.materialize(unattributed_rows(conv, credited))
        totals = _amounts(conv)
        plan: dict[str, list[Any]] = {"_m": [], "_rt": [], "_label": [], "model": [], "run_id": []}
        for rt in [None] if milestone in LEAD_MILESTONES else rts:
            for i, model in enumerate(model_list):
                run_id = new_run_id(model)
                spec = specs[model]
                planned[run_id] = (model, milestone, rt, {
                    **base.params(), "half_life_days": half_life_days if spec.kind == "time_decay" else None,
                    "weights": spec.to_params(), "currency": "USD", "engine": engine.name,
                })
                every = rt in (None, ALL_REVENUE)
                expected[run_id] = tuple(sum(v[k] for t, v in totals.items() if every or t == rt) for k in range(3))  # type: ignore[assignment]
                for key, value in (("_m", f"credit__m{i}"), ("_rt", None if every else rt), ("_label", rt),
                                   ("model", model), ("run_id", run_id)):
                    plan[key].append(value)
        runs_t = ibis.memtable(plan, schema={"_m": "string", "_rt": "string", "_label": "string", "model": "string",
                                                 "run_id": "string"})
        # every run of the milestone in one pass: one row per (touch, model) joined to that model's runs
        # whose revenue type the touch's conversion has (every run for 'all' and the lead milestones)
        long = credited.pivot_longer(sel.startswith("credit__"), names_to="_m", values_to="credit__run")
        hit = long.join(runs_t, [long._m == runs_t._m, runs_t._rt.isnull() | (runs_t._rt == long.revenue_type)])
        gone = lost.join(runs_t, runs_t._rt.isnull() | (runs_t._rt == lost.revenue_type))
        for rows in (model_rows(hit, "run", keep=("model", "run_id", "_label")),
                     conform(gone, keep=("model", "run_id", "_label"))):
            pieces.append(conform(rows.mutate(  # as `write_ledger` stores them
                milestone=ibis.literal(milestone), conversion_type=rows.conversion_type.fill_null("opportunity"),
                revenue_type=rows.revenue_type.fill_null(rows._label)), WHOLE))
    new = engine.materialize(ibis.union(*pieces, distinct=False))
    return new, _checked_runs(new, expected, planned)


DATA_DRIVEN: dict[str, tuple[Any, dict[str, Any], str]] = {
    "markov": (markov_weights(1, "conversions"), {"order": 1}, "removal_effects"),
    "shapley": (shapley_weights("conversions", "conversions"), {"worth": "conversions"}, "shapley"),
}
"""The data-driven models `revline attribute` runs by default, with its defaults (distribute.registry):
(channel weights of a paths table, the run's parameters, the key its channel weights are recorded under)."""


def _data_driven_runs(engine: Any, models: list[str], ms: list[str], rts: list[str], base: Target,
                      planned: dict[str, tuple[str, str, str | None, dict]]) -> tuple[Any, list[Run]]:
    """Every data-driven run: per target (milestone, revenue type) the distinct paths come from the
    engine once and every model is fitted on them on the driver (`distribute.fitted_weights`);
    their channel weights go back as one small table, and per milestone every run's ledger rows
    are split on the engine in one pass (`distribute.data_driven_rows`, the DuckDB runner's own
    expression) over the conversions and touches joined to the runs whose revenue type they
    have. Checked there as `check_run` does (per conversion, credits sum to 1). (Their rows,
    kept on the engine; the runs.)"""
    be = engine.backend
    pieces: list[Any] = []
    for milestone in ms:
        target = replace(base, milestone=milestone)
        plan: dict[str, list[Any]] = {"run_id": [], "_rt": [], "_label": [], "model": []}
        weights: list[Any] = []
        for rt in [None] if milestone in LEAD_MILESTONES else rts:
            fitted = fitted_weights(be, replace(target, revenue_type=rt), {m: DATA_DRIVEN[m][0] for m in models})
            for model in models:
                _, params, key = DATA_DRIVEN[model]
                run_id = new_run_id(model)
                planned[run_id] = (model, milestone, rt, {**params, **target.params(), "weight": "conversions",
                                                          key: fitted[model], "engine": engine.name})
                for k, v in (("run_id", run_id), ("_rt", None if rt in (None, ALL_REVENUE) else rt), ("_label", rt),
                             ("model", model)):
                    plan[k].append(v)
                weights.append(weights_table(fitted[model], run_id=run_id))
        runs_t = ibis.memtable(plan, schema={k: "string" for k in plan})
        conv, keys = conversions(be, target)
        touches = eligible_touches(be, conv, keys)

        def per_run(t: Any) -> Any:  # each row once per run of its revenue type (every run for 'all')
            return t.join(runs_t.select("run_id", "_rt"), runs_t._rt.isnull() | (runs_t._rt == t.revenue_type))

        rows = data_driven_rows(per_run(conv), per_run(touches), ibis.union(*weights, distinct=False), ("run_id",))
        rows = rows.join(runs_t.select("run_id", "_label", "model"), "run_id")
        pieces.append(conform(rows.mutate(  # as `write_ledger` stores them
            milestone=ibis.literal(milestone), conversion_type=rows.conversion_type.fill_null("opportunity"),
            revenue_type=rows.revenue_type.fill_null(rows._label)), WHOLE))
    new = engine.materialize(ibis.union(*pieces, distinct=False))
    return new, _checked_split(new, planned)


def _checked_split(new: Any, planned: dict[str, tuple[str, str, str | None, dict]]) -> list[Run]:
    """Per run and conversion, the credits sum to 1 (`check_run`'s per-conversion form), as one
    aggregate on the engine: only a row per run comes back. The runs, or ValueError."""
    per = new.group_by("run_id", "conversion_id").aggregate(
        c=new.credit.sum(), un=new.touchpoint_id.isnull().any())
    off = (per.c - 1).abs() > TOL
    stats = per.group_by("run_id").aggregate(
        n=per.count(), unattributed=per.un.cast("int64").sum(), bad=off.cast("int64").sum(),
        example=per.conversion_id.min(where=off))
    got = {r[0]: r[1:] for r in stats.execute().itertuples(index=False, name=None)}
    runs: list[Run] = []
    for run_id, (model, milestone, rt, _) in planned.items():
        n, unattributed, bad, example = got.get(run_id, (0, 0, 0, None))
        if bad:
            raise ValueError(f"credits do not sum to 1 for {int(bad)} conversions of {model} @ {milestone} "
                             f"(run {run_id}), e.g. {example}")
        runs.append(Run(run_id, model, milestone, rt, int(n), int(unattributed)))
    return runs


def _commit(engine: Any, new: list[Any], runs: list[Run], planned: dict[str, tuple[str, str, str | None, dict]]) -> None:
    """Write the new runs' rows and records, dropping earlier runs of the same (model, milestone,
    revenue type) as `write_ledger` does: one rewrite of `credit_ledger`, then of `attribution_runs`."""
    # the earlier runs of the same (model, milestone, revenue type) go, as `write_ledger` drops them
    old_runs = engine.read("attribution_runs")
    known = old_runs.select("run_id", "model", "milestone", "revenue_type").execute()
    replaced_keys = {(r.model, r.milestone, r.revenue_type) for r in runs}
    replaced = [str(rid) for rid, mo, mi, rt in known.itertuples(index=False, name=None)
                if (mo, mi, None if rt is None or rt != rt else rt) in replaced_keys]
    ledger = engine.read("credit_ledger")
    kept = ledger.filter(~ledger.run_id.isin(replaced)) if replaced else ledger
    engine.write("credit_ledger", ibis.union(conform(kept, WHOLE), *[conform(n, WHOLE) for n in new], distinct=False))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    written = ibis.memtable(
        {"run_id": [r.run_id for r in runs], "model": [r.model for r in runs], "milestone": [r.milestone for r in runs],
         "revenue_type": [r.revenue_type for r in runs], "params": [json.dumps(planned[r.run_id][3]) for r in runs],
         "opportunities": [r.conversions for r in runs], "unattributed": [r.unattributed for r in runs],
         "created_at": [now] * len(runs)},
        schema={"run_id": "string", "model": "string", "milestone": "string", "revenue_type": "string",
                "params": "string", "opportunities": "int64", "unattributed": "int64", "created_at": "timestamp"},
    )
    cols = ["run_id", "model", "milestone", "revenue_type", "params", "opportunities", "unattributed", "created_at"]
    old_kept = old_runs.filter(~old_runs.run_id.isin(replaced)) if replaced else old_runs
    old_kept = old_kept.select(**{c: old_kept[c].cast(written.schema()[c]) for c in cols})
    engine.write("attribution_runs", old_kept.union(written, distinct=False))


def _amounts(conv: Any) -> dict[Any, tuple[int, float, float]]:
    """Per revenue type of a milestone's conversions: (how many, their USD amounts, the amounts'
    absolute values), nulls as 0, in one query."""
    usd = conv.amount_usd.cast("float64").fill_null(0)
    by = conv.group_by("revenue_type").aggregate(n=conv.count(), amount=usd.sum(), abs_amount=usd.abs().sum())
    return {rt: (int(n), float(a or 0), float(b or 0)) for rt, n, a, b in by.execute().itertuples(index=False, name=None)}


def _checked_runs(new: Any, expected: dict[str, tuple[int, float, float]],
                  planned: dict[str, tuple[str, str, str | None, dict]]) -> list[Run]:
    """Per run: the totals check of `ledger.check_run(totals=True)`; the runs, or ValueError."""
    stats = new.group_by("run_id").aggregate(
        c_sum=new.credit.sum(), rc_sum=new.revenue_credit.sum(), c_min=new.credit.min(), c_max=new.credit.max(),
        unattributed=new.touchpoint_id.isnull().sum(),
    )
    got = {r[0]: r[1:] for r in stats.execute().itertuples(index=False, name=None)}
    runs: list[Run] = []
    for run_id, (model, milestone, rt, _) in planned.items():
        n_conv, amount, abs_amount = expected[run_id]
        c_sum, rc_sum, c_min, c_max, n_unattr = got.get(run_id, (0.0, 0.0, 0.0, 0.0, 0))
        if n_conv and (c_min < -TOL or c_max > 1 + TOL):
            raise ValueError(f"credits outside [0, 1] in run {run_id}: min {c_min}, max {c_max}")
        if abs(float(c_sum) - n_conv) > TOL * max(1, n_conv):
            raise ValueError(f"credits of run {run_id} sum to {c_sum}, expected one per conversion ({n_conv})")
        if abs(float(rc_sum) - float(amount)) > TOL * (n_conv + float(abs_amount)):
            raise ValueError(f"revenue credit of run {run_id} sums to {rc_sum}, expected the amounts' {amount}")
        runs.append(Run(run_id, model, milestone, rt, int(n_conv), int(n_unattr)))
    return runs


__all__ = ["DATA_DRIVEN", "Run", "run_models_on", "unpriced"]
