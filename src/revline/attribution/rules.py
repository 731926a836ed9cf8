"""Rule-based credit: weights per touch position turned into ledger rows.

Why expressions and not pandas: the same function runs on DuckDB and on Spark (Ibis), and on
DuckDB it compiles to one SQL statement that streams 10M touches without Python in the loop.
The weighting rules (coinciding and absent positions) are documented in config.py.
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir

from revline.attribution.config import BUILTIN_MODELS, POSITIONS, PositionWeights
from revline.attribution.ledger import UNATTRIBUTED
from revline.attribution.positions import position_label

LEDGER_OUTPUT = [
    "opportunity_id", "conversion_type", "touchpoint_id", "credit", "revenue_credit",
    "revenue_type", "channel", "campaign_id", "touch_position", "occurred_at",
]


def _held(p: ir.Table, spec: PositionWeights) -> ir.Value:
    held = p.rn < 0  # a False column, so linear (no positions) still yields a column
    for pos, w in spec.weights().items():
        if w > 0:
            held = held | p[f"is_{pos}"]
    return held


def _other_count(p: ir.Table, spec: PositionWeights) -> ir.Value:
    """Number of the conversion's touches holding none of the model's weighted positions."""
    return (~_held(p, spec)).cast("int64").sum().over(ibis.window(group_by="conversion_id"))


def position_credit(p: ir.Table, spec: PositionWeights) -> ir.Value:
    """Credit of each touch under a position model (sums to 1 per conversion).

    Expects `_n_other` (see `_other_count`) already on the table: windows cannot nest.
    """
    used = [pos for pos, w in spec.weights().items() if w > 0]
    pos_w = ibis.literal(0.0)
    held = ibis.literal(False)
    present = ibis.literal(0.0)
    for pos in used:
        w = spec.weights()[pos]
        pos_w = pos_w + ibis.cases((p[f"is_{pos}"], w), else_=0.0)
        held = held | p[f"is_{pos}"]
        present = present + ibis.cases((p[f"has_{pos}"], w), else_=0.0)
    is_other = ~held
    n_other = p._n_other
    other_share = ibis.cases((is_other, spec.other / n_other.cast("float64")), else_=0.0)
    raw = pos_w + (other_share if spec.other > 0 else ibis.literal(0.0))
    total = present + ibis.cases((n_other > 0, spec.other), else_=0.0)
    linear = 1.0 / p.n_touches.cast("float64")
    return ibis.cases((total > 0, raw / total), else_=linear)


def time_decay_credit(p: ir.Table, half_life_days: float) -> ir.Table:
    """Add `credit` = 2^(-age/half-life), normalised per conversion.

    Ages are taken relative to the conversion's latest eligible touch so the largest weight is
    exactly 1 and old journeys never underflow to an all-zero (undefined) split. Two mutate
    steps because window functions cannot nest.
    """
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days}")
    wg = ibis.window(group_by="conversion_id")
    age = (p.converted_at.epoch_seconds() - p.occurred_at.epoch_seconds()).cast("float64") / 86400.0
    p = p.mutate(_age=age)
    p = p.mutate(_age_min=p._age.min().over(wg))
    p = p.mutate(_raw=((p._age - p._age_min) * (-math.log(2.0) / float(half_life_days))).exp())
    p = p.mutate(credit=p._raw / p._raw.sum().over(wg))
    return p.drop("_age", "_age_min", "_raw")


def credit_rows(p: ir.Table, spec: PositionWeights, *, half_life_days: float = 7.0) -> ir.Table:
    """Ledger rows (credit > 0) for the touches of positioned conversions."""
    if spec.kind == "time_decay":
        out = time_decay_credit(p, half_life_days)
    else:
        out = p.mutate(_n_other=_other_count(p, spec))
        out = out.mutate(credit=position_credit(out, spec))
    out = out.mutate(touch_position=position_label(out))
    out = out.filter(out.credit > 0)
    return out.select(
        opportunity_id=out.conversion_id.cast("string"),
        conversion_type=out.conversion_type.cast("string"),
        touchpoint_id=out.touchpoint_id.cast("string"),
        credit=out.credit.cast("float64"),
        revenue_credit=(out.credit * out.amount_usd).cast("float64"),
        revenue_type=out.revenue_type.cast("string"),
        channel=out.channel.cast("string"),
        campaign_id=out.campaign_id.cast("string"),
        touch_position=out.touch_position,
        occurred_at=out.occurred_at.cast("timestamp"),
    )


def unattributed_rows(conv: ir.Table, p: ir.Table) -> ir.Table:
    """One row per conversion with no eligible touch: credit 1 to '(unattributed)'."""
    seen = p.select(seen_id=p.conversion_id).distinct()
    lost = conv.anti_join(seen, conv.conversion_id == seen.seen_id)
    return lost.select(
        opportunity_id=lost.conversion_id.cast("string"),
        conversion_type=lost.conversion_type.cast("string"),
        touchpoint_id=ibis.null("string"),
        credit=ibis.literal(1.0, "float64"),
        revenue_credit=lost.amount_usd.cast("float64"),
        revenue_type=lost.revenue_type.cast("string"),
        channel=ibis.literal(UNATTRIBUTED),
        campaign_id=ibis.null("string"),
        touch_position=ibis.null("string"),
        occurred_at=ibis.null("timestamp"),
    )


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
    "LEDGER_OUTPUT", "POSITIONS", "credit_rows", "ledger_rows", "position_credit", "spec_for",
    "time_decay_credit", "unattributed_rows",
]
