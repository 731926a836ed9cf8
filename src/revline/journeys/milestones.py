"""Milestones of persons, accounts and opportunities as one portable Ibis expression.

Why Ibis and window functions: the same transform must run on the embedded DuckDB store and on
a Spark cluster holding a customer's warehouse copy. "Earliest row per group" is written as
`row_number()` over a window (with a total tie-break order, so both engines pick the same row),
never as an ordered collect, which Spark cannot run.

Rules (see docs/architecture.md for stage names):
- person: first_touch (earliest touch), lead / mql / sql (earliest person stage event).
- opportunity: opportunity (created), won / lost (closed), plus the same stages if the CRM's
  stage history has them earlier.
- account: first_touch (earliest touch of the account), lead / mql / sql (earliest among its
  people or an account stage event), opportunity / won / lost of new-business opportunities
  (the first one), renewal / expansion for every won renewal / expansion opportunity, churn for
  every lost renewal.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from revline.store.portable import reads

MILESTONE_COLUMNS: tuple[str, ...] = (
    "object_type", "object_id", "account_id", "person_id", "opportunity_id", "milestone",
    "occurred_at", "touchpoint_id",
)
PERSON_STAGES: tuple[str, ...] = ("lead", "mql", "sql")
OPPORTUNITY_STAGES: tuple[str, ...] = ("opportunity", "won", "lost")
NEW_BUSINESS = "new_business"
TABLES_READ: tuple[str, ...] = ("touchpoints", "people", "stage_events", "opportunities")

_NULL_STR = ibis.literal(None, type="string")


def _rows(
    t: ir.Table, *, object_type: str, object_id, account_id=None, person_id=None, opportunity_id=None,
    milestone, occurred_at, touchpoint_id=None,
) -> ir.Table:
    """Project any table onto the milestones schema (typed, so unions agree on every engine)."""

    def s(v):
        if v is None:
            return _NULL_STR
        if isinstance(v, str):
            return ibis.literal(v, type="string")
        return v.cast("string")

    return t.select(
        object_type=ibis.literal(object_type, type="string"),
        object_id=s(object_id),
        account_id=s(account_id),
        person_id=s(person_id),
        opportunity_id=s(opportunity_id),
        milestone=s(milestone),
        occurred_at=occurred_at.cast("timestamp"),
        touchpoint_id=s(touchpoint_id),
    )


def _earliest(t: ir.Table, keys: list[str], tiebreak: list[str]) -> ir.Table:
    """The earliest row of each group, ties broken by `tiebreak` so every engine agrees."""
    # Tie-break keys are coalesced: DuckDB sorts NULLs last, Spark first.
    order = [t.occurred_at, *[t[c].fill_null("") for c in tiebreak]]
    rn = ibis.row_number().over(group_by=[t[k] for k in keys], order_by=order)
    return t.mutate(_rn=rn).filter(lambda x: x._rn == 0).drop("_rn")


def person_milestones(tables: Mapping[str, ir.Table]) -> ir.Table:
    """Each person's first touch and the first time they entered each lifecycle stage."""
    tp, people, se = tables["touchpoints"], tables["people"], tables["stage_events"]
    acct = people.select(p_person_id=people.person_id, p_account_id=people.account_id)
    touches = tp.filter(tp.person_id.notnull())
    touches = touches.left_join(acct, touches.person_id == acct.p_person_id)
    first = _rows(
        touches, object_type="person", object_id=touches.person_id,
        account_id=touches.p_account_id.coalesce(touches.account_id), person_id=touches.person_id,
        milestone="first_touch", occurred_at=touches.occurred_at, touchpoint_id=touches.touchpoint_id,
    )
    first = _earliest(first, ["object_id"], ["touchpoint_id"])
    ev = se.filter((se.object_type == "person") & se.stage.isin(PERSON_STAGES))
    ev = ev.left_join(acct, ev.object_id == acct.p_person_id)
    stages = _rows(
        ev, object_type="person", object_id=ev.object_id, account_id=ev.p_account_id, person_id=ev.object_id,
        milestone=ev.stage, occurred_at=ev.entered_at,
    )
    stages = _earliest(stages, ["object_id", "milestone"], [])
    return first.union(stages)


def opportunity_milestones(tables: Mapping[str, ir.Table]) -> ir.Table:
    """Each opportunity's creation, its close (won or lost) and the stages it passed, first time each."""
    opp, se = tables["opportunities"], tables["stage_events"]
    closed = opp.filter(opp.is_closed.fill_null(False) | opp.is_won.fill_null(False))
    parts = [
        _rows(opp, object_type="opportunity", object_id=opp.opportunity_id, account_id=opp.account_id,
              opportunity_id=opp.opportunity_id, milestone="opportunity", occurred_at=opp.created_at),
        _rows(closed, object_type="opportunity", object_id=closed.opportunity_id, account_id=closed.account_id,
              opportunity_id=closed.opportunity_id,
              milestone=ibis.ifelse(closed.is_won.fill_null(False), "won", "lost"), occurred_at=closed.closed_at),
    ]
    ev = se.filter((se.object_type == "opportunity") & se.stage.isin(OPPORTUNITY_STAGES))
    owners = opp.select(o_id=opp.opportunity_id, o_account=opp.account_id)
    ev = ev.left_join(owners, ev.object_id == owners.o_id)
    parts.append(
        _rows(ev, object_type="opportunity", object_id=ev.object_id, account_id=ev.o_account,
              opportunity_id=ev.object_id, milestone=ev.stage, occurred_at=ev.entered_at)
    )
    rows = parts[0].union(*parts[1:])
    rows = rows.filter(rows.occurred_at.notnull())
    return _earliest(rows, ["object_id", "milestone"], [])


def account_milestones(
    tables: Mapping[str, ir.Table], persons: ir.Table, opportunities: ir.Table
) -> ir.Table:
    """Account milestones: its first touch, the funnel stages its first person (or the account
    record) reached, its new-business opportunity stages, and renewals, expansions and churn."""
    tp, se, opp = tables["touchpoints"], tables["stage_events"], tables["opportunities"]
    touches = tp.filter(tp.account_id.notnull())
    first = _rows(
        touches, object_type="account", object_id=touches.account_id, account_id=touches.account_id,
        person_id=touches.person_id, milestone="first_touch", occurred_at=touches.occurred_at,
        touchpoint_id=touches.touchpoint_id,
    )
    first = _earliest(first, ["object_id"], ["touchpoint_id"])

    pstages = persons.filter(persons.milestone.isin(PERSON_STAGES) & persons.account_id.notnull())
    from_people = _rows(
        pstages, object_type="account", object_id=pstages.account_id, account_id=pstages.account_id,
        person_id=pstages.person_id, milestone=pstages.milestone, occurred_at=pstages.occurred_at,
    )
    aev = se.filter((se.object_type == "account") & se.stage.isin(PERSON_STAGES))
    from_account = _rows(
        aev, object_type="account", object_id=aev.object_id, account_id=aev.object_id,
        milestone=aev.stage, occurred_at=aev.entered_at,
    )
    funnel = _earliest(from_people.union(from_account), ["object_id", "milestone"], ["person_id"])

    kinds = opp.select(k_id=opp.opportunity_id, k_type=opp.revenue_type.fill_null(NEW_BUSINESS))
    om = opportunities.join(kinds, opportunities.opportunity_id == kinds.k_id)
    om = om.filter(om.account_id.notnull())
    nb = om.filter((om.k_type == NEW_BUSINESS) & om.milestone.isin(OPPORTUNITY_STAGES))
    new_business = _earliest(
        _rows(nb, object_type="account", object_id=nb.account_id, account_id=nb.account_id,
              opportunity_id=nb.opportunity_id, milestone=nb.milestone, occurred_at=nb.occurred_at),
        ["object_id", "milestone"], ["opportunity_id"],
    )
    grown = om.filter(om.k_type.isin(("renewal", "expansion")) & (om.milestone == "won"))
    churned = om.filter((om.k_type == "renewal") & (om.milestone == "lost"))
    recurring = _rows(
        grown, object_type="account", object_id=grown.account_id, account_id=grown.account_id,
        opportunity_id=grown.opportunity_id, milestone=grown.k_type, occurred_at=grown.occurred_at,
    ).union(
        _rows(churned, object_type="account", object_id=churned.account_id, account_id=churned.account_id,
              opportunity_id=churned.opportunity_id, milestone="churn", occurred_at=churned.occurred_at)
    )
    return first.union(funnel, new_business, recurring)


@reads(*TABLES_READ)
def milestones_expr(tables: Mapping[str, ir.Table]) -> ir.Table:
    """Every milestone row, from the canonical tables of any Ibis backend."""
    missing = [name for name in TABLES_READ if name not in tables]
    if missing:
        raise KeyError(f"milestones need tables {', '.join(missing)}")
    persons = person_milestones(tables)
    opportunities = opportunity_milestones(tables)
    accounts = account_milestones(tables, persons, opportunities)
    return persons.union(opportunities, accounts).select(*MILESTONE_COLUMNS)
