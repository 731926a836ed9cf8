"""CRM source touches that an observed touch already explains: one touch per source event.

A Lead's LeadSource (or HubSpot's Original Source) usually names the session that created the
record, and when that session was tracked (a Segment form fill with its utm tags, a campaign
response) the store holds it twice: once observed, once as the CRM's summary. Only a stitch knows
that both belong to one person, so it is the stitch that drops the summary: a CRM source touch
(touch types below) goes when the same person (for an opportunity's account-level touch: the same
account) has an observed touch of the same channel no later than one day after it. The CRM touch
stays wherever nothing observed explains it, which is the whole journey of a CRM-only company.
"""

from __future__ import annotations

import duckdb

from revline.store.rows import scalar

SOURCE_TOUCH_TYPES = ("crm_lead_source", "hubspot_original_source", "hubspot_latest_source")
TOLERANCE = "INTERVAL 1 DAY"  # a record is created at or just after the session it summarises


def superseded_sql(touches: str = "touchpoints") -> str:
    """`SELECT touchpoint_id` of the CRM source touches in `touches` (a table of touchpoints' shape,
    already stitched) that an observed touch of the same person/account and channel explains. One
    text for both engines (DuckDB deletes them in place, Spark writes the touches without them).
    The two scopes are independent: a source touch is never the observed touch of another."""
    types = ", ".join(f"'{t}'" for t in SOURCE_TOUCH_TYPES)
    observed = f"(o.touch_type IS NULL OR o.touch_type NOT IN ({types}))"
    parts = []
    for who in ("person_id", "account_id"):
        scope = "t.person_id IS NOT NULL" if who == "person_id" else "t.person_id IS NULL AND t.account_id IS NOT NULL"
        parts.append(
            f"SELECT t.touchpoint_id FROM {touches} t WHERE t.touch_type IN ({types}) AND {scope} AND EXISTS ("  # noqa: S608 - a caller's table name, fixed fragments
            f"SELECT 1 FROM {touches} o WHERE o.{who} = t.{who} AND o.channel = t.channel AND {observed} "
            f"AND o.occurred_at <= t.occurred_at + {TOLERANCE})"
        )
    return " UNION ALL ".join(parts)


def supersede_source_touches(con: duckdb.DuckDBPyConnection) -> int:
    """Delete CRM source touches an observed touch of the same person/account and channel explains;
    returns how many (the stitch reports the number)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _superseded AS {superseded_sql()}")
    try:
        n = int(scalar(con, "SELECT count(*) FROM _superseded"))
        if n:
            con.execute("DELETE FROM touchpoints WHERE touchpoint_id IN (SELECT touchpoint_id FROM _superseded)")
        return n
    finally:
        con.execute("DROP TABLE IF EXISTS _superseded")
