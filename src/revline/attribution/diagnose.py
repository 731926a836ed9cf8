"""Why there is nothing to attribute: the sentence a command prints instead of a table of zeros.

Checked in the order a user fixes them: touchpoints at all, touchpoints tied to whoever converts
(an account, or a person for person/contact-role scope), conversions at the milestone and revenue
type asked for. Each answer names what to run next.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from revline.vocabulary import LEAD_MILESTONES

INGEST_TOUCHES = (
    "ingest web events (Segment), CampaignMember/Task/Event exports, or CRM records carrying Lead Source / "
    "HubSpot Original Source (`revline ingest ...`), then `revline stitch`"
)


def _one(con: Any, sql: str, params: list | None = None) -> int:
    return int(con.execute(sql, params or []).fetchone()[0] or 0)


def touch_problem(con: Any, scope: str = "account") -> str | None:
    """Why no conversion can be credited to any touch whatever the milestone, or None."""
    n = _one(con, "SELECT count(*) FROM touchpoints")
    if n == 0:
        return f"the store has no touchpoints: {INGEST_TOUCHES}"
    if scope == "account":
        if _one(con, "SELECT count(*) FROM touchpoints WHERE account_id IS NOT NULL") == 0:
            return (f"none of the {n:,} touchpoints is linked to an account: run `revline stitch` (accounts come from "
                    f"Contact.AccountId, Segment group calls or business email domains)")
    elif _one(con, "SELECT count(*) FROM touchpoints WHERE person_id IS NOT NULL") == 0:
        return f"none of the {n:,} touchpoints is linked to a person: run `revline stitch`"
    return None


def conversions(con: Any, milestone: str, revenue_type: str | None = None) -> int:
    """How many conversions the store holds at `milestone` (opportunity milestones: of `revenue_type`)."""
    if milestone in LEAD_MILESTONES:
        return _one(
            con,
            "SELECT count(*) FROM (SELECT object_type, object_id FROM stage_events WHERE stage = ? "
            "UNION SELECT object_type, object_id FROM milestones WHERE milestone = ?)",
            [milestone, milestone],
        )
    where, params = ["is_won"] if milestone == "won" else ["true"], []
    if revenue_type not in (None, "all"):
        where.append("revenue_type = ?")
        params.append(revenue_type)
    return _one(con, f"SELECT count(*) FROM opportunities WHERE {' AND '.join(where)}", params)


def conversion_problem(con: Any, milestone: str, revenue_type: str | None = None) -> str | None:
    """Why there are no conversions at (milestone, revenue type), with what the store does hold; or None."""
    if conversions(con, milestone, revenue_type) > 0:
        return None
    label = f"milestone '{milestone}'" + ("" if milestone in LEAD_MILESTONES or revenue_type in (None, "all")
                                          else f" with revenue type '{revenue_type}'")
    if milestone in LEAD_MILESTONES:
        return (f"no conversions at {label}: no person or account reached that stage (load Lead/Contact exports "
                f"with their dates, then `revline stitch`), or pick another --milestone")
    opps, won = con.execute("SELECT count(*), count(*) FILTER (WHERE is_won) FROM opportunities").fetchone()
    if not opps:
        return f"no conversions at {label}: the store has no opportunities; ingest Opportunity/deal exports"
    types = ", ".join(f"{t or 'unmapped'} {n:,}" for t, n in con.execute(
        f"SELECT revenue_type, count(*) FROM opportunities {'WHERE is_won' if milestone == 'won' else ''} "
        f"GROUP BY 1 ORDER BY 2 DESC").fetchall()) or "none"
    return (f"no conversions at {label}: the store has {opps:,} opportunities, {won:,} won "
            f"(by revenue type at this milestone: {types}); pick another --milestone or --revenue-type")


def nothing_to_attribute(con: Any, pairs: Iterable[tuple[str, str | None]], scope: str = "account") -> str | None:
    """The reason a request over (milestone, revenue type) pairs would credit nothing at all, or None."""
    problem = touch_problem(con, scope)
    if problem:
        return problem
    reasons = [conversion_problem(con, m, r) for m, r in pairs]
    if reasons and all(reasons):
        return reasons[0] if len(set(reasons)) == 1 else "; ".join(dict.fromkeys(r for r in reasons if r))
    return None
