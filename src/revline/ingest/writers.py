"""Canonical-table writers shared by every source: stage events, identity links, touchpoints.

Why shared: a lead's MQL date from Salesforce and from HubSpot must land the same way, with
the same de-duplication, so each rule lives once.
"""

from __future__ import annotations

from revline.ingest.context import Ctx
from revline.ingest.readers import _new_name
from revline.ingest.sqlfrag import lit
from revline.ingest.upsert import Written, upsert
from revline.store.rows import scalar


def write_stage_events(ctx: Ctx, select_sql: str, source_system: str, *, replace_slots: bool) -> None:
    """`select_sql` yields object_type, object_id, stage, entered_at, _ord.

    With `replace_slots` (stages read from date fields of a record) a newer export moves the
    event: an older event of the same object and slot (won/lost share one) from the same source
    is replaced. History rows (replace_slots=False) only ever add events.
    """
    con = ctx.con
    new = _new_name("se")
    rows = _new_name("se_rows")
    con.execute(
        f"CREATE TEMP TABLE {rows} AS SELECT object_type, object_id, stage, entered_at "  # noqa: S608 - temp-table name from _new_name, select_sql built by the readers
        f"FROM ({select_sql}) WHERE entered_at IS NOT NULL AND object_id IS NOT NULL"
    )
    con.execute(
        f"CREATE TEMP TABLE {new} AS SELECT DISTINCT object_type, object_id, stage, entered_at, "  # noqa: S608 - temp-table name from _new_name, source_system quoted by lit
        f"{lit(source_system)} AS source_system FROM {rows}"
    )
    repeats = scalar(con, f"SELECT count(*) FROM {rows}") - scalar(con, f"SELECT count(*) FROM {new}")  # noqa: S608 - temp-table names from _new_name
    moved = 0
    if replace_slots:
        cond = (
            f"FROM stage_events e WHERE e.source_system = {lit(source_system)} AND EXISTS (SELECT 1 FROM {new} n "  # noqa: S608 - temp-table name from _new_name, source_system quoted by lit, select_sql built by the readers
            f"WHERE n.object_type = e.object_type AND n.object_id = e.object_id "
            f"AND (CASE WHEN n.stage IN ('won', 'lost') THEN 'closed' ELSE n.stage END) = "
            f"(CASE WHEN e.stage IN ('won', 'lost') THEN 'closed' ELSE e.stage END)) "
            f"AND NOT EXISTS (SELECT 1 FROM {new} n WHERE n.object_type = e.object_type AND n.object_id = e.object_id "
            f"AND n.stage = e.stage AND n.entered_at = e.entered_at)"
        )
        moved = scalar(con, f"SELECT count(*) {cond}")
        if moved:
            con.execute(f"DELETE {cond}")
    written = upsert(
        con, "stage_events", f"SELECT *, 0 AS _ord FROM {new}",  # noqa: S608 - temp-table name from _new_name
        ["object_type", "object_id", "stage", "entered_at"], update=False,
    )
    con.execute(f"DROP TABLE {new}; DROP TABLE {rows}")
    # a moved event counts as an update, not as a new row; an event the batch states twice is merged
    ctx.record("stage_events", written=Written(loaded=written.loaded - min(moved, written.loaded),
                                               merged=written.merged + repeats, updated=min(moved, written.loaded)))


def write_identity_links(ctx: Ctx, select_sql: str) -> None:
    """`select_sql` yields left_type, left_value, right_type, right_value, source, observed_at, _ord.
    An edge is a fact once observed: the first observation is kept."""
    sql = (
        f"SELECT * FROM ({select_sql}) WHERE left_value IS NOT NULL AND right_value IS NOT NULL "  # noqa: S608 - select_sql built by the ingest readers (user names quoted there)
        f"AND left_value <> '' AND right_value <> ''"
    )
    ctx.record(
        "identity_links",
        written=upsert(ctx.con, "identity_links", sql,
                              ["left_type", "left_value", "right_type", "right_value"], update=False),
    )


def write_touchpoints(ctx: Ctx, select_sql: str, *, update: bool = True) -> None:
    """`select_sql` yields touchpoint columns and _ord; the newest version of a touch wins
    (`update=False` for touches derived from immutable events: the first one stays)."""
    con = ctx.con
    tmp = _new_name("tp")
    con.execute(f"CREATE TEMP TABLE {tmp} AS {select_sql}")
    other = scalar(con, f"SELECT count(*) FROM {tmp} WHERE channel = 'other'")  # noqa: S608 - temp-table name from _new_name, select_sql built by the readers
    if other:
        ctx.report.other_channel["touchpoints"] += other
    ctx.record("touchpoints", written=upsert(con, "touchpoints", f"SELECT * FROM {tmp}", ["touchpoint_id"], update=update))  # noqa: S608 - temp-table name from _new_name, select_sql built by the readers
    con.execute(f"DROP TABLE {tmp}")
