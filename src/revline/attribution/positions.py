"""Touch positions FT, LC, OC, CW and LAST of each conversion's eligible touches.

Why window functions only: an ordered `collect` of each journey does not run on Spark and
materialises lists; row numbers and partition maxima compute the same positions as plain
columns on any Ibis backend. Ties in time are broken by touchpoint_id so the result does not
depend on input row order.
"""

from __future__ import annotations

from itertools import product

import ibis
import ibis.expr.types as ir


def _count_at_or_before(occurred_at: ir.Value, anchor: ir.Value, w) -> ir.Value:
    """How many of the conversion's touches happened at/before `anchor` (NULL if no anchor)."""
    return (occurred_at <= anchor).cast("int64").sum().over(w)


def _rn_from_count(cnt: ir.Value) -> ir.Value:
    return ibis.cases((cnt > 0, cnt - 1), else_=None)


def with_positions(e: ir.Table) -> ir.Table:
    """Add rn (0-based), n_touches, last_at (time of the journey's last touch), rn_LC/rn_OC/rn_CW,
    is_FT/is_LC/is_OC/is_CW/is_LAST and has_FT/has_LC/has_OC/has_CW/has_LAST.

    Why counts instead of "max rn at/before the anchor": touches are ordered by time, so the
    touches at/before an anchor are a prefix of the order and the last of them has
    rn = count - 1. Every window then shares one partition-and-order spec, which both DuckDB
    and Spark evaluate with a single sort of the journeys.
    """
    keys = dict(group_by="conversion_id", order_by=[e.occurred_at, e.touchpoint_id])
    order = ibis.window(**keys)
    full = ibis.window(**keys, rows=(None, None))
    e = e.mutate(
        rn=ibis.row_number().over(order),
        n_touches=e.touchpoint_id.count().over(full),
        last_at=e.occurred_at.max().over(full),
        _lc_cnt=_count_at_or_before(e.occurred_at, e.lc_at, full),
        _oc_cnt=_count_at_or_before(e.occurred_at, e.oc_at, full),
        _cw_cnt=_count_at_or_before(e.occurred_at, e.cw_at, full),
    )
    e = e.mutate(rn_LC=_rn_from_count(e._lc_cnt), rn_OC=_rn_from_count(e._oc_cnt), rn_CW=_rn_from_count(e._cw_cnt))
    e = e.mutate(
        is_FT=e.rn == 0,
        is_LC=(e.rn == e.rn_LC).fill_null(False),
        is_OC=(e.rn == e.rn_OC).fill_null(False),
        is_CW=(e.rn == e.rn_CW).fill_null(False),
        is_LAST=e.rn == e.n_touches - 1,
        has_FT=ibis.literal(True),
        has_LC=e.rn_LC.notnull(),
        has_OC=e.rn_OC.notnull(),
        has_CW=e.rn_CW.notnull(),
        has_LAST=ibis.literal(True),
    )
    return e.drop("_lc_cnt", "_oc_cnt", "_cw_cnt")


def position_rn(e: ir.Table, pos: str) -> ir.Value:
    """The rn of the touch holding `pos` in this row's conversion (NULL when absent)."""
    if pos == "FT":
        return ibis.literal(0, "int64")
    if pos == "LAST":
        return e.n_touches - 1
    return e[f"rn_{pos}"]


def position_label(e: ir.Table) -> ir.Value:
    """'FT', 'FT+LC', ... or NULL for a touch in between, as the ledger's touch_position.

    One CASE over the 15 combinations yields constant strings: no per-row string building.
    """
    names = ("FT", "LC", "OC", "CW")
    branches = []
    for flags in product((True, False), repeat=4):
        if not any(flags):
            continue
        cond = ibis.literal(True)
        for name, flag in zip(names, flags):
            cond = cond & (e[f"is_{name}"] if flag else ~e[f"is_{name}"])
        branches.append((cond, "+".join(n for n, f in zip(names, flags) if f)))
    return ibis.cases(*branches, else_=ibis.null("string"))
