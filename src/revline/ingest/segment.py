"""Segment Spec events (JSON lines, gzip or not): load `events`, then derive touches and links.

Why two steps: the raw event is the record of truth (deduplicated on messageId, so retries and
re-ingests are no-ops), while touchpoints and identity_links are views of it that the live
collector also needs; `derive_from_events` is the one place that turns events into both.
"""

from __future__ import annotations


import duckdb

from revline.ingest.channels import channel_inputs, channel_sql, load_rules
from revline.ingest.context import Ctx
from revline.ingest.readers import Staged, _new_name
from revline.ingest.report import IngestReport
from revline.ingest.sqlfrag import ident, lit, snake
from revline.ingest.upsert import upsert
from revline.ingest.validate import Check, Field, typed_rows
from revline.ingest.writers import write_identity_links, write_touchpoints

EVENT_TYPES = ("track", "page", "identify", "group", "alias", "screen")

# field -> JSON path(s) in a Segment message (first non-null wins)
PATHS: dict[str, list[str]] = {
    "message_id": ["$.messageId"],
    "type": ["$.type"],
    "event": ["$.event"],
    "anonymous_id": ["$.anonymousId"],
    "user_id": ["$.userId"],
    "group_id": ["$.groupId"],
    "previous_id": ["$.previousId"],
    "occurred_at": ["$.timestamp", "$.originalTimestamp", "$.sentAt", "$.receivedAt"],
    "received_at": ["$.receivedAt"],
    "properties": ["$.properties"],
    "traits": ["$.traits", "$.context.traits"],
    "context": ["$.context"],
}
SPEC = {
    "message_id": Field(required=True), "type": Field(required=True), "event": Field(),
    "anonymous_id": Field(), "user_id": Field(), "group_id": Field(), "previous_id": Field(),
    "occurred_at": Field("timestamp", True), "received_at": Field("timestamp"),
    "properties": Field(), "traits": Field(), "context": Field(),
}
HEADER = {  # the name a user sees in quarantine
    "message_id": "messageId", "type": "type", "anonymous_id": "anonymousId", "user_id": "userId",
    "occurred_at": "timestamp", "received_at": "receivedAt",
}


def _extract(staged: Staged) -> str:
    """One JSON parse per line: every path at once."""
    paths = [p for ps in PATHS.values() for p in ps]
    return f"json_extract_string(line, [{', '.join(lit(p) for p in paths)}])"


def load_events(ctx: Ctx, staged: Staged) -> None:
    con = ctx.con
    i, cols = 1, []
    for name, ps in PATHS.items():
        refs = [f"v[{i + k}]" for k in range(len(ps))]
        i += len(ps)
        expr = refs[0] if len(refs) == 1 else f"coalesce({', '.join(refs)})"
        cols.append(f"{expr} AS {ident(HEADER.get(name, name))}")
    flat = _new_name("segflat")
    con.execute(
        f"CREATE TEMP TABLE {flat} AS SELECT _row, {', '.join(cols)} FROM "
        f"(SELECT _row, line, {_extract(staged)} AS v FROM {staged.table})"
    )
    fstaged = Staged(staged.path, flat, [HEADER.get(n, n) for n in PATHS], staged.rows_read, is_lines=True,
                     raw_table=staged.table)
    aliases = {n: [HEADER.get(n, n)] for n in PATHS}
    checks = [
        Check("type", f"type NOT IN ({', '.join(lit(t) for t in EVENT_TYPES)})", "'unknown event type: ' || type"),
        Check("anonymous_id", "anonymous_id IS NULL AND user_id IS NULL", "'missing anonymousId and userId'"),
        Check("previous_id", "type = 'alias' AND previous_id IS NULL", "'alias without previousId'"),
    ]
    t = typed_rows(con, fstaged, SPEC, aliases, table_name="events", checks=checks)
    con.execute(f"DROP TABLE {flat}")
    con.execute(f"DROP TABLE {staged.table}")  # raw lines were only needed for quarantine: free them now
    ctx.record("events", read=staged.rows_read, quarantined=t.quarantined_rows)
    sql = (
        f"SELECT message_id, type, event, anonymous_id, user_id, group_id, previous_id, occurred_at, received_at, "
        f"CAST(properties AS JSON) AS properties, CAST(traits AS JSON) AS traits, CAST(context AS JSON) AS context, "
        f"{lit(staged.path.name)} AS source, _row AS _ord FROM {t.table}"
    )
    ids = _new_name("segids")
    con.execute(f"CREATE TEMP TABLE {ids} AS SELECT DISTINCT message_id FROM {t.table}")
    ctx.record("events", loaded_updated=upsert(con, "events", sql, ["message_id"], update=False))
    con.execute(f"DROP TABLE {t.table}")
    derive(ctx, ids)
    con.execute(f"DROP TABLE {ids}")


def derive(ctx: Ctx, message_ids_table: str | None = None) -> None:
    """Touchpoints (page/track) and identity links (identify/alias) from stored events."""
    con = ctx.con
    where = f"WHERE e.message_id IN (SELECT message_id FROM {message_ids_table})" if message_ids_table else ""
    src = _new_name("segsrc")
    con.execute(
        f"CREATE TEMP TABLE {src} AS SELECT e.message_id, e.type, e.event, e.anonymous_id, e.user_id, e.previous_id, "
        f"e.occurred_at, json_extract_string(e.context, ['$.campaign.source', '$.campaign.medium', '$.campaign.name', "
        f"'$.page.referrer', '$.page.url']) AS c, json_extract_string(e.traits, '$.email') AS email, "
        f"json_extract_string(e.properties, '$.referrer') AS prop_referrer "
        f"FROM events e {where}"
    )
    utm = "nullif(url_decode(regexp_extract(c[5], '[?&]utm_{k}=([^&#]*)', 1)), '')"
    source = f"coalesce(c[1], {utm.format(k='source')})"
    medium = f"coalesce(c[2], {utm.format(k='medium')})"
    campaign = f"coalesce(c[3], {utm.format(k='campaign')})"
    referrer = "coalesce(c[4], prop_referrer)"
    channel = channel_sql(ctx.rules)
    write_touchpoints(
        ctx,
        f"SELECT message_id AS touchpoint_id, occurred_at, NULL::VARCHAR AS person_id, anonymous_id, "
        f"NULL::VARCHAR AS account_id, {channel} AS channel, source, medium, campaign_id, touch_type, "
        f"false AS is_offline, 'segment' AS source_system, message_id AS source_ref, "
        f"CASE WHEN user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END AS identity_type, "
        f"coalesce(user_id, anonymous_id) AS identity_value, 0 AS _ord FROM ("
        f" SELECT *, {channel_inputs('source', 'medium', 'referrer')} FROM ("
        f" SELECT *, {source} AS source, {medium} AS medium, {campaign} AS campaign_id, {referrer} AS referrer, "
        f" CASE WHEN type IN ('page', 'screen') THEN 'page_view' ELSE coalesce(nullif({snake('event')}, ''), 'track') END AS touch_type "
        f" FROM {src} WHERE type IN ('page', 'screen', 'track')))",
        update=False,
    )
    write_identity_links(
        ctx,
        f"SELECT 'anonymous_id' AS left_type, anonymous_id AS left_value, 'user_id' AS right_type, user_id AS right_value, "
        f"'segment:identify' AS source, occurred_at AS observed_at, 0 AS _ord FROM {src} WHERE type = 'identify' "
        f"UNION ALL SELECT 'user_id', user_id, 'email', lower(trim(email)), 'segment:identify', occurred_at, 0 "
        f"FROM {src} WHERE type = 'identify' "
        f"UNION ALL SELECT 'anonymous_id', anonymous_id, 'email', lower(trim(email)), 'segment:identify', occurred_at, 0 "
        f"FROM {src} WHERE type = 'identify' AND user_id IS NULL "
        f"UNION ALL SELECT 'anonymous_id', previous_id, 'user_id', user_id, 'segment:alias', occurred_at, 0 "
        f"FROM {src} WHERE type = 'alias'",
    )
    con.execute(f"DROP TABLE {src}")


def derive_from_events(
    con: duckdb.DuckDBPyConnection,
    message_ids_table: str | None = None,
    *,
    channel_rules=None,
    transaction: bool = True,
) -> IngestReport:
    """Derive touchpoints and identity_links from `events` (all of them, or only the messageIds
    listed in `message_ids_table`, a table with a `message_id` column). Idempotent: running it
    twice on the same events changes nothing. For the live collector: store raw events, then call
    this per batch. `transaction=False` when the caller already holds one."""
    ctx = Ctx(con, IngestReport(), load_rules(channel_rules), {}, obj="events", fmt="segment")
    ctx.path = type(ctx.path)(message_ids_table or "events")
    if transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        con.execute("SET TimeZone = 'UTC'")
        derive(ctx, message_ids_table)
        if transaction:
            con.execute("COMMIT")
    except BaseException:
        if transaction:
            con.execute("ROLLBACK")
        raise
    return ctx.report


__all__ = ["derive_from_events", "load_events", "EVENT_TYPES"]
