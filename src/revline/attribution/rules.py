"""Rule-based credit: weights per touch position turned into ledger rows.

Why expressions and not pandas: the same function runs on DuckDB and on Spark (Ibis), and on
DuckDB it compiles to one SQL statement that streams 10M touches without Python in the loop.
The weighting rules (coinciding and absent positions) are documented in config.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir

from revline.attribution.config import BUILTIN_MODELS, POSITIONS, PositionWeights
from revline.attribution.ledger import UNATTRIBUTED, conform
from revline.attribution.positions import position_label, position_rn


def _held(p: ir.Table, spec: PositionWeights) -> ir.Value:
    held = p.rn < 0  # a False column, so linear (no positions) still yields a column
    for pos, w in spec.weights().items():
        if w > 0:
            held = held | p[f"is_{pos}"]
    return held


def _other_count(p: ir.Table, spec: PositionWeights) -> ir.Value:
    """Number of the conversion's touches holding none of the model's weighted positions.

    n_touches minus the number of distinct touches holding a present weighted position,
    computed row-wise from the position row numbers (no extra window pass).
    """
    rns = [position_rn(p, pos) for pos, w in spec.weights().items() if w > 0]
    distinct = ibis.literal(0, "int64")
    for i, rn in enumerate(rns):
        new = rn.notnull()
        for prev in rns[:i]:
            new = new & (prev.isnull() | (prev != rn))
        distinct = distinct + ibis.cases((new.fill_null(False), 1), else_=0)
    return p.n_touches - distinct


def position_credit(p: ir.Table, spec: PositionWeights, n_other: ir.Value) -> ir.Value:
    """Credit of each touch under a position model (sums to 1 per conversion).

    `n_other` must be a column computed beforehand (see `_other_count`): windows cannot nest.
    """
    pos_w = ibis.literal(0.0)
    present = ibis.literal(0.0)
    for pos, w in spec.weights().items():
        if w > 0:
            pos_w = pos_w + ibis.cases((p[f"is_{pos}"], w), else_=0.0)
            present = present + ibis.cases((p[f"has_{pos}"], w), else_=0.0)
    is_other = ~_held(p, spec)
    raw = pos_w
    if spec.other > 0:
        raw = raw + ibis.cases((is_other, spec.other / n_other.cast("float64")), else_=0.0)
    total = present + ibis.cases((n_other > 0, spec.other), else_=0.0)
    linear = 1.0 / p.n_touches.cast("float64")
    return ibis.cases((total > 0, raw / total), else_=linear)


def _check_half_life(half_life_days: float) -> None:
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days}")


def credit_columns(
    p: ir.Table, specs: Mapping[str, PositionWeights], *, half_life_days: float = 7.0, prefix: str = "credit__"
) -> ir.Table:
    """Add one credit column per model (`credit__<name>`), each summing to 1 per conversion.

    Why all models in one expression: the positioned journeys are scanned once and the query
    is compiled once, whatever the number of models. Time decay is 2^(-age/half-life) with ages
    taken relative to the conversion's latest eligible touch (`last_at`, from the positions
    pass), so the largest weight is exactly 1 and old journeys never underflow to an all-zero
    (undefined) split; only the sum of the weights needs a window of its own. The steps are
    separate mutates because window functions cannot nest.
    """
    wg = ibis.window(group_by="conversion_id")
    names = list(specs)
    step1: dict[str, ir.Value] = {}
    decay = any(specs[n].kind == "time_decay" for n in names)
    if decay:
        _check_half_life(half_life_days)
        # age relative to the latest touch: (converted - occurred) - (converted - last)
        step1["_age"] = (p.last_at.epoch_seconds() - p.occurred_at.epoch_seconds()).cast("float64") / 86400.0
    for i, n in enumerate(names):
        if specs[n].kind != "time_decay":
            step1[f"_n_other_{i}"] = _other_count(p, specs[n])
    p = p.mutate(**step1) if step1 else p
    if decay:
        p = p.mutate(_raw=(p._age * (-math.log(2.0) / float(half_life_days))).exp())
        p = p.mutate(_raw_sum=p._raw.sum().over(wg))
    cols: dict[str, ir.Value] = {}
    for i, n in enumerate(names):
        if specs[n].kind == "time_decay":
            cols[prefix + n] = (p._raw / p._raw_sum).cast("float64")
        else:
            cols[prefix + n] = position_credit(p, specs[n], p[f"_n_other_{i}"]).cast("float64")
    p = p.mutate(**cols)
    helpers = [c for c in p.columns if c.startswith(("_n_other_", "_age", "_raw"))]
    return p.drop(*helpers) if helpers else p


def credited_touches(p: ir.Table, specs: Mapping[str, PositionWeights], *, half_life_days: float = 7.0) -> ir.Table:
    """Positioned touches with every model's credit column and the ledger's touch_position,
    narrowed to the columns the ledger needs (this table is materialised at full size)."""
    out = credit_columns(p, specs, half_life_days=half_life_days)
    out = out.mutate(touch_position=position_label(out))
    return out.select(
        "conversion_id", "conversion_type", "touchpoint_id", "occurred_at", "channel", "campaign_id",
        "revenue_type", "amount_usd", "touch_position", *[f"credit__{n}" for n in specs],
    )


def _ledger_select(out: ir.Table, credit: ir.Value, keep: Sequence[str] = ()) -> ir.Table:
    return conform(out.mutate(credit=credit, revenue_credit=credit * out.amount_usd), keep)


def model_rows(credited: ir.Table, name: str, keep: Sequence[str] = ()) -> ir.Table:
    """Ledger rows (credit > 0) of one model from `credited_touches` output (plus the columns of
    `keep`: attribution.on_engine computes every run of a milestone in one pass)."""
    kept = credited.filter(credited["credit__" + name] > 0)
    return _ledger_select(kept, kept["credit__" + name], keep)


def credit_rows(p: ir.Table, spec: PositionWeights, *, half_life_days: float = 7.0) -> ir.Table:
    """Ledger rows (credit > 0) of one model for the touches of positioned conversions."""
    return model_rows(credited_touches(p, {"m": spec}, half_life_days=half_life_days), "m")


def unattributed_rows(conv: ir.Table, p: ir.Table, by: Sequence[str] = ()) -> ir.Table:
    """One row per conversion with no eligible touch: credit 1 to '(unattributed)'. `by`: columns
    of both tables naming a run (many runs at once, as `distribute.data_driven_rows` computes
    them), matched beside the conversion and kept."""
    seen = p.select(**{f"_seen_{b}": p[b] for b in by}, seen_id=p.conversion_id).distinct()
    lost = conv.anti_join(seen, [*(conv[b] == seen[f"_seen_{b}"] for b in by), conv.conversion_id == seen.seen_id])
    return conform(lost.mutate(
        touchpoint_id=ibis.null("string"), credit=ibis.literal(1.0), revenue_credit=lost.amount_usd,
        channel=ibis.literal(UNATTRIBUTED), campaign_id=ibis.null("string"), touch_position=ibis.null("string"),
        occurred_at=ibis.null("timestamp"),
    ), by)


def ledger_rows(
    conv: ir.Table, p: ir.Table, spec: PositionWeights, *, half_life_days: float = 7.0
) -> ir.Table:
    """Every conversion's ledger rows: attributed touches plus the unattributed ones."""
    return credit_rows(p, spec, half_life_days=half_life_days).union(unattributed_rows(conv, p), distinct=False)


def spec_for(model: str, custom: dict[str, PositionWeights] | None = None) -> PositionWeights:
    """The weights of a named model: a built-in or one from a weights file."""
    if custom and model in custom:
        return custom[model]
    if model in BUILTIN_MODELS:
        return BUILTIN_MODELS[model]
    known = sorted(set(BUILTIN_MODELS) | set(custom or {}))
    raise ValueError(f"unknown rule model {model!r}; known: {', '.join(known)}")


__all__ = [
    "POSITIONS", "credit_columns", "credit_rows", "credited_touches", "ledger_rows",
    "conform", "model_rows", "position_credit", "spec_for", "unattributed_rows",
]
