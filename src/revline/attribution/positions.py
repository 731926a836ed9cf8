"""Touch positions FT, LC, OC, CW and LAST of each conversion's eligible touches.

Why window functions only: an ordered `collect` of each journey does not run on Spark and
materialises lists; row numbers and partition maxima compute the same positions as plain
columns on any Ibis backend. Ties in time are broken by touchpoint_id so the result does not
depend on input row order.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def _last_at_or_before(rn: ir.Value, occurred_at: ir.Value, anchor: ir.Value, wg) -> ir.Value:
    """Row number of the last touch at/before `anchor` (NULL when none or anchor missing)."""
    return ibis.cases((occurred_at <= anchor, rn), else_=None).max().over(wg)


def with_positions(e: ir.Table) -> ir.Table:
    """Add rn (0-based), n_touches, is_FT/is_LC/is_OC/is_CW/is_LAST and has_LC/has_OC/has_CW."""
    order = ibis.window(group_by="conversion_id", order_by=[e.occurred_at, e.touchpoint_id])
    e = e.mutate(rn=ibis.row_number().over(order))
    wg = ibis.window(group_by="conversion_id")
    e = e.mutate(
        n_touches=e.touchpoint_id.count().over(wg),
        lc_rn=_last_at_or_before(e.rn, e.occurred_at, e.lc_at, wg),
        oc_rn=_last_at_or_before(e.rn, e.occurred_at, e.oc_at, wg),
        cw_rn=_last_at_or_before(e.rn, e.occurred_at, e.cw_at, wg),
    )
    e = e.mutate(
        is_FT=e.rn == 0,
        is_LC=(e.rn == e.lc_rn).fill_null(False),
        is_OC=(e.rn == e.oc_rn).fill_null(False),
        is_CW=(e.rn == e.cw_rn).fill_null(False),
        is_LAST=e.rn == e.n_touches - 1,
        has_FT=ibis.literal(True),
        has_LC=e.lc_rn.notnull(),
        has_OC=e.oc_rn.notnull(),
        has_CW=e.cw_rn.notnull(),
        has_LAST=ibis.literal(True),
    )
    return e.drop("lc_rn", "oc_rn", "cw_rn")


def position_label(e: ir.Table) -> ir.Value:
    """'FT', 'FT+LC', ... or NULL for a touch in between, as the ledger's touch_position."""
    parts = [ibis.cases((e[f"is_{p}"], f"{p}+"), else_="") for p in ("FT", "LC", "OC", "CW")]
    s = parts[0]
    for p in parts[1:]:
        s = s.concat(p)
    return ibis.cases((s.length() > 0, s.substr(0, s.length() - 1)), else_=None)
