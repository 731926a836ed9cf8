"""Segment Spec events (JSON lines, gzip or not): load `events`, then derive touches and links.

Why two steps: the raw event is the record of truth (deduplicated on messageId, so retries and
re-ingests are no-ops), while touchpoints and identity_links are views of it that the live
collector also needs; `derive_from_events` is the one place that turns events into both.

Why a fast path and a slow path: a file of a million events must load at DuckDB speed, so the
lines arrive as Arrow chunks (`lines.py`: gzip decoded on a side thread, lines numbered by the
reader) and one statement per chunk parses each line once with `json_transform` (C++) into the
Spec fields, types and validates them and works out the touch columns, on every core. Only the
few lines that fail anything there (broken JSON, a blank line, a bad timestamp, a missing id)
are re-read by the generic validator, which names the file, line and field of every problem in
quarantine.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import duckdb

from revline.ingest.channels import channel_inputs, channel_sql, load_rules
from revline.ingest.context import Ctx
from revline.ingest.lines import batches, line_chunks
from revline.ingest.readers import Broken, Staged, _new_name, split_broken
from revline.ingest.report import IngestReport
from revline.ingest.sqlfrag import clean, ident, lit, parse_clean_timestamp, snake
from revline.ingest.timewindow import TimeWindow, lower_z_as_utc
from revline.ingest.upsert import Written, is_empty, upsert
from revline.ingest.validate import Check, Field, quarantine_broken, typed_rows
from revline.store.rows import scalar
from revline.store.settings import setting
from revline.store.transaction import transaction as _transaction

EVENT_TYPES = ("track", "page", "identify", "group", "alias", "screen")

# The top-level Spec keys read from every line, and the JSON type each is parsed into.
_SCHEMA = {
    "messageId": "VARCHAR", "type": "VARCHAR", "event": "VARCHAR", "anonymousId": "VARCHAR",
    "userId": "VARCHAR", "groupId": "VARCHAR", "previousId": "VARCHAR", "timestamp": "VARCHAR",
    "originalTimestamp": "VARCHAR", "sentAt": "VARCHAR", "receivedAt": "VARCHAR",
    "properties": "JSON", "traits": "JSON", "context": "JSON",
}
# field -> raw value over the parsed struct `j` (the first non-null of several Spec keys wins)
RAW: dict[str, str] = {
    "message_id": "j.messageId",
    "type": "j.type",
    "event": "j.event",
    "anonymous_id": "j.anonymousId",
    "user_id": "j.userId",
    "group_id": "j.groupId",
    "previous_id": "j.previousId",
    "occurred_at": lower_z_as_utc("coalesce(j.timestamp, j.originalTimestamp, j.sentAt, j.receivedAt)"),
    "received_at": lower_z_as_utc("j.receivedAt"),
    "properties": "j.properties",
    # traits live at the top level (identify) or under context.traits (track/page); the
    # `contains` guard keeps the second JSON parse off the rows that cannot have them
    "traits": "coalesce(j.traits, CASE WHEN contains(j.context, '\"traits\"') THEN j.context -> '$.traits' END)",
    "context": "j.context",
}
SPEC = {
    "message_id": Field(required=True), "type": Field(required=True), "event": Field(),
    "anonymous_id": Field(), "user_id": Field(), "group_id": Field(), "previous_id": Field(),
    "occurred_at": Field("timestamp", True), "received_at": Field("timestamp"),
    "properties": Field(), "traits": Field(), "context": Field(),
}
JSON_FIELDS = ("properties", "traits", "context")
HEADER = {  # the name a user sees in quarantine
    "message_id": "messageId", "type": "type", "anonymous_id": "anonymousId", "user_id": "userId",
    "occurred_at": "timestamp", "received_at": "receivedAt",
}
CHECKS = [
    Check("type", f"type NOT IN ({', '.join(lit(t) for t in EVENT_TYPES)})", "'unknown event type: ' || type"),
    Check("anonymous_id", "anonymous_id IS NULL AND user_id IS NULL", "'missing anonymousId and userId'"),
    Check("previous_id", "type = 'alias' AND previous_id IS NULL", "'alias without previousId'"),
]
EVENT_COLUMNS = ("message_id", "type", "event", "anonymous_id", "user_id", "group_id", "previous_id",
                 "occurred_at", "received_at", "properties", "traits", "context")


def _parsed(line: str = "line") -> str:
    """The line parsed once into the Spec struct; NULL for text that is not JSON at all.
    (`try` rather than a json_valid guard: the guard parsed every good line twice.)"""
    return f"try(json_transform({line}, {lit(json.dumps(_SCHEMA))}))"


def _typed(source: str) -> str:
    """Rows of `source` (with the parsed struct `j`) plus the typed Spec fields and `_ok`,
    exactly as the validator would type them (see `SPEC`). Built in layers (raw field, cleaned
    text, typed value) so each is computed once: written as one expression the cleaned
    timestamp was evaluated a dozen times per row."""
    text = [n for n in SPEC if n not in JSON_FIELDS]
    raw = ", ".join(f"{RAW[n]} AS _r_{n}" for n in text)
    cleaned = ", ".join(f"{clean(f'_r_{n}')} AS _c_{n}" for n in text)
    typed = ", ".join(
        f"{parse_clean_timestamp(f'_c_{n}')} AS {n}" if SPEC[n].kind == "timestamp" else f"_c_{n} AS {n}"
        for n in text
    )
    json_cols = ", ".join(f"{RAW[n]} AS {n}" for n in JSON_FIELDS)
    conds = [f"{n} IS NOT NULL" for n, f in SPEC.items() if f.required]
    # a value that is there but does not parse goes the slow way (stricter, never looser)
    conds += [f"(_c_{n} IS NULL OR {n} IS NOT NULL)" for n, f in SPEC.items() if f.kind != "text" and not f.required]
    conds += [f"NOT coalesce({c.bad_when}, false)" for c in CHECKS]
    ok = "coalesce(" + " AND ".join(conds) + ", false)"
    drop = ", ".join([*(f"_r_{n}" for n in text), *(f"_c_{n}" for n in text)])
    return (
        f"SELECT * EXCLUDE ({drop}), {ok} AS _ok FROM ("
        f" SELECT *, {typed} FROM ("
        f"  SELECT *, {cleaned} FROM ("
        f"   SELECT *, {raw}, {json_cols} FROM ({source}))))"
    )


_CTX_SCHEMA = json.dumps({"campaign": {"source": "VARCHAR", "medium": "VARCHAR", "name": "VARCHAR"},
                          "page": {"referrer": "VARCHAR", "url": "VARCHAR"}})
TOUCH_TYPES = ("page", "screen", "track")
# what a touch needs from an event, computed from its `context` (parsed into `c`), `properties`,
# `type` and `event`: the same expressions for a file's lines and for events already stored
# (the `contains` guard keeps the regex off the URLs without that parameter: most of them)
_UTM = ("CASE WHEN contains(c.page.url, 'utm_{k}=') THEN "
        "nullif(url_decode(regexp_extract(c.page.url, '[?&]utm_{k}=([^&#]*)', 1)), '') END")
TOUCH_COLUMNS = {
    "t_source": f"coalesce(c.campaign.source, {_UTM.format(k='source')})",
    "t_medium": f"coalesce(c.campaign.medium, {_UTM.format(k='medium')})",
    "t_campaign": f"coalesce(c.campaign.name, {_UTM.format(k='campaign')})",
    "t_referrer": "coalesce(c.page.referrer, json_extract_string(properties, '$.referrer'))",
    "t_touch_type": f"CASE WHEN type IN ('page', 'screen') THEN 'page_view' ELSE coalesce(nullif({snake('event')}, ''), 'track') END",
}


def _with_touch(relation: str, is_touch: str) -> str:
    """`relation` plus the touch columns, NULL on rows that are not touches (`is_touch` false).
    The context is parsed only on touch rows: identify calls carry big trait objects."""
    cols = ", ".join(f"CASE WHEN _touch THEN {e} END AS {n}" for n, e in TOUCH_COLUMNS.items())
    return (
        f"SELECT * EXCLUDE (c, _touch), {cols} FROM (SELECT *, CASE WHEN _touch THEN "
        f"json_transform(context, {lit(_CTX_SCHEMA)}) END AS c FROM (SELECT *, coalesce({is_touch}, false) AS _touch "
        f"FROM ({relation})))"
    )


def _staging_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    types = {n: "JSON" if n in JSON_FIELDS else "TIMESTAMP" if SPEC[n].kind == "timestamp" else "VARCHAR"
             for n in EVENT_COLUMNS}
    con.execute(
        f"CREATE TEMP TABLE {table} (_g BIGINT, _f INTEGER, "
        + ", ".join(f"{n} {t}" for n, t in types.items())
        + ", _ok BOOLEAN, _line VARCHAR, _bad_utf8 BOOLEAN, "
        + ", ".join(f"{n} VARCHAR" for n in TOUCH_COLUMNS) + ")"
    )


_STAGED = ["_g", "_f", *EVENT_COLUMNS, "_ok", "_line", "_bad_utf8", *TOUCH_COLUMNS]


def _chunk_sql(offset: int, f: int) -> str:
    """The staged rows of the Arrow chunk `_rl_chunk`, lines numbered from `offset` + 1, file `f`.
    Both numbers go in as literals: as prepared-statement parameters they cost a third more."""
    lines = f"SELECT _row + {int(offset)} AS _g, {int(f)}::INTEGER AS _f, line, _bad_utf8, {_parsed()} AS j FROM _rl_chunk"
    parse = f"SELECT * EXCLUDE (_ok), _ok AND NOT _bad_utf8 AS _ok FROM ({_typed(lines)})"
    raw = f"SELECT * EXCLUDE (line, j), CASE WHEN NOT _ok THEN rtrim(line, chr(13) || chr(10)) END AS _line FROM ({parse})"
    return f"SELECT {', '.join(_STAGED)} FROM ({_with_touch(raw, f'_ok AND type IN {TOUCH_TYPES}')})"


def _read_batch(con: duckdb.DuckDBPyConnection, paths: list[Path], table: str) -> dict[int, tuple[int, int]]:
    """Every line of every file into `table`: `_g` numbers lines across the files in order, `_f`
    is the file's 1-based position in `paths`, then the typed Spec fields, `_ok`, the raw line of
    rejected rows and the touch columns of good touch rows. Returns file -> (first `_g`, lines).
    The lines arrive as Arrow chunks (see `lines.py`) that DuckDB parses on all cores."""
    _staging_table(con, table)
    offsets: dict[int, tuple[int, int]] = {}
    g = 0
    for f, path in enumerate(paths, 1):
        first = g
        for chunk in line_chunks(path):
            con.register("_rl_chunk", batches(chunk))
            try:
                con.execute(f"INSERT INTO {table} ({', '.join(_STAGED)}) {_chunk_sql(g, f)}")
            finally:
                con.unregister("_rl_chunk")
            g += chunk.num_rows
        offsets[f] = (first + 1, g - first)
    return offsets


def stage_batch(con: duckdb.DuckDBPyConnection, files: list[tuple[Path, Ctx]]) -> str:
    """Read, type and validate Segment files (see `_read_batch`); returns the temp table of good
    rows and records lines read and quarantined per file. Rejected lines are numbered per file
    and re-checked by the generic validator, which quarantines each problem with file, line,
    field and reason."""
    table, bad = _new_name("segtyped"), _new_name("segbad")
    offsets = _read_batch(con, [p for p, _ in files], table)
    for f, (_, n) in offsets.items():
        files[f - 1][1].record("events", read=n)
    con.execute(f"CREATE TEMP TABLE {bad} AS SELECT _f, _g, _line AS line, _bad_utf8 FROM {table} WHERE NOT _ok")
    if is_empty(con, bad):
        con.execute(f"DROP TABLE {bad}")
        return table
    con.execute(f"DELETE FROM {table} WHERE NOT _ok")
    for (f,) in con.execute(f"SELECT DISTINCT _f FROM {bad} ORDER BY _f").fetchall():
        path, ctx = files[f - 1]
        lo = offsets[f][0]
        one = _new_name("segbad")
        con.execute(f"CREATE TEMP TABLE {one} AS SELECT _g - {lo} + 1 AS _row, line, _bad_utf8 FROM {bad} WHERE _f = {f}")
        blank = scalar(con, f"SELECT count(*) FROM {one} WHERE line IS NULL OR trim(line) = ''")
        ctx.record("events", read=-blank)  # blank lines are not rows
        encoding = [Broken(int(r), "broken line: not valid UTF-8", text) for r, text in
                    con.execute(f"SELECT _row, line FROM {one} WHERE _bad_utf8 ORDER BY _row").fetchall()]
        con.execute(f"DELETE FROM {one} WHERE _bad_utf8")
        broken = encoding + split_broken(con, one)
        ctx.record("events", quarantined=quarantine_broken(con, str(path), "events", broken))
        _validate_slow(ctx, Staged(path, one, ["line"], 0, is_lines=True), table, f"{lo} - 1 + _row", str(f))
        con.execute(f"DROP TABLE {one}")
    con.execute(f"DROP TABLE {bad}")
    return table


def _validate_slow(ctx: Ctx, staged: Staged, good_table: str, g_expr: str = "_row", f_expr: str = "1") -> None:
    """The rows the fast pass rejected: the generic validator quarantines each problem (file,
    line, field, reason, raw line); rows it accepts after all join the good rows."""
    con = ctx.con
    flat = _new_name("segflat")
    cols = ", ".join(
        f"{RAW[n]}::VARCHAR AS {ident(HEADER.get(n, n))}" if n in JSON_FIELDS else f"{RAW[n]} AS {ident(HEADER.get(n, n))}"
        for n in SPEC
    )
    con.execute(f"CREATE TEMP TABLE {flat} AS SELECT _row, {cols} FROM (SELECT _row, {_parsed()} AS j FROM {staged.table})")
    fstaged = Staged(staged.path, flat, [HEADER.get(n, n) for n in SPEC], 0, is_lines=True, raw_table=staged.table)
    t = typed_rows(con, fstaged, SPEC, {n: [HEADER.get(n, n)] for n in SPEC}, table_name="events", checks=CHECKS)
    ctx.record("events", quarantined=t.quarantined_rows)
    typed = ", ".join(f"CAST({n} AS JSON) AS {n}" if n in JSON_FIELDS else n for n in EVENT_COLUMNS)
    rows = f"SELECT {g_expr} AS _g, {f_expr} AS _f, {typed}, true AS _ok FROM {t.table}"
    good_cols = ", ".join(["_g", "_f", *EVENT_COLUMNS, "_ok", *TOUCH_COLUMNS])
    con.execute(
        f"INSERT INTO {good_table} ({good_cols}) SELECT {good_cols} FROM "
        f"({_with_touch(rows, f'type IN {TOUCH_TYPES}')})"
    )
    con.execute(f"DROP TABLE {flat}; DROP TABLE {t.table}")


def _dedupe_batch(con: duckdb.DuckDBPyConnection, table: str) -> dict[int, int]:
    """Each messageId once within the staged batch: its first line (the earlier file) wins.
    Returns file -> lines dropped (a repeated event is merged into its first line: Segment
    retries deliver an event more than once)."""
    dups = _new_name("segdup")
    con.execute(
        f"CREATE TEMP TABLE {dups} AS SELECT message_id, min(_g) AS first FROM {table} "
        f"GROUP BY message_id HAVING count(*) > 1"
    )
    dropped: dict[int, int] = {}
    if not is_empty(con, dups):
        before = _per_file(con, table)
        con.execute(
            f"DELETE FROM {table} WHERE _g IN (SELECT s._g FROM {table} s JOIN {dups} d "
            f"ON d.message_id = s.message_id AND s._g <> d.first)"
        )
        dropped = _fewer(before, _per_file(con, table))
    con.execute(f"DROP TABLE {dups}")
    return dropped


def _fewer(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    """File -> rows a delete removed, from the per-file counts before and after it (two scans of
    the batch: cheaper than joining it to the store twice)."""
    return {f: n - after.get(f, 0) for f, n in before.items() if n - after.get(f, 0)}


def _drop_stored(con: duckdb.DuckDBPyConnection, table: str) -> dict[int, int]:
    """Drop from the staged batch the events already in the store; returns file -> how many
    (merged: the stored event is the same event, a re-read file or an overlapping export)."""
    if is_empty(con, "events"):
        return {}
    before = _per_file(con, table)
    # join (not IN over events): the hash table is built on the smaller side, the batch
    con.execute(
        f"DELETE FROM {table} WHERE _g IN (SELECT s._g FROM {table} s JOIN events e ON e.message_id = s.message_id)"
    )
    return _fewer(before, _per_file(con, table))


def _keep_new(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Leave in `table` only events not stored yet, each messageId once (its first line);
    returns how many lines that dropped (merged)."""
    return sum(_dedupe_batch(con, table).values()) + sum(_drop_stored(con, table).values())


def _per_file(con: duckdb.DuckDBPyConnection, table: str) -> dict[int, int]:
    return {int(f): int(n) for f, n in con.execute(f"SELECT _f, count(*) FROM {table} GROUP BY _f").fetchall()}


def _unordered(con: duckdb.DuckDBPyConnection):
    """Inserts free to write rows in any order. Every Segment row carries its own order (`_g`),
    while an order-preserving insert from the many small row groups of the staging table
    re-merged them on one thread: the events insert took twice as long. (CSV staging numbers
    rows by insertion order, so this stays scoped to the Segment path.)"""
    return setting(con, "preserve_insertion_order", False)


def stage(files: list[tuple[Path, Ctx]]) -> str:
    """Read, validate and dedupe Segment files into a staging temp table (returned); nothing of
    the store is written. Call it BEFORE the ingest transaction opens: DuckDB scans a temp table
    filled inside an open transaction on one thread (it lives in the transaction's local
    storage), which made the writes that follow cost twice as much and the commit half a second."""
    con = files[0][1].con
    for _, c in files:  # report lines grouped by file
        for t in ("events", "touchpoints", "identity_links"):
            c.entry(t)
    with _unordered(con):
        table = stage_batch(con, files)
        for f, n in _dedupe_batch(con, table).items():
            files[f - 1][1].record("events", written=Written(merged=n))
    return table


def write_staged(files: list[tuple[Path, Ctx]], table: str) -> None:
    """The staged batch (see `stage`) into `events`, then its new events into touchpoints and
    identity links; drops the staging table. Runs inside the ingest transaction."""
    con = files[0][1].con
    with _unordered(con):
        stored = _drop_stored(con, table)
        counts = _per_file(con, table)
        for f, (_, c) in enumerate(files, 1):
            c.record("events", written=Written(loaded=counts.get(f, 0), merged=stored.get(f, 0)))
        names = "[" + ", ".join(lit(p.name) for p, _ in files) + "]"
        sql = f"SELECT {', '.join(EVENT_COLUMNS)}, {names}[_f] AS source, _g AS _ord FROM {table}"
        upsert(con, "events", sql, ["message_id"], update=False, batch_unique=True, check_existing=False)
        derive(files[0][1], source=table, ctxs={f: c for f, (_, c) in enumerate(files, 1)})
    con.execute(f"DROP TABLE {table}")


def load_events(ctx: Ctx, staged: Staged) -> None:
    """Segment lines already staged by `readers.stage_lines` (kept for callers holding a Staged)."""
    con = ctx.con
    good = _new_name("segtyped")
    _staging_table(con, good)
    ctx.record("events", read=staged.rows_read)
    _validate_slow(ctx, staged, good)
    ctx.record("events", written=Written(merged=_keep_new(con, good)))
    sql = f"SELECT {', '.join(EVENT_COLUMNS)}, {lit(staged.path.name)} AS source, _g AS _ord FROM {good}"
    ctx.record("events", written=upsert(con, "events", sql, ["message_id"], update=False,
                                               batch_unique=True, check_existing=False))
    derive(ctx, source=good)
    con.execute(f"DROP TABLE {good}")


def derive(ctx: Ctx, message_ids_table: str | None = None, *, source: str | None = None,
           ctxs: dict[int, Ctx] | None = None) -> None:
    """Touchpoints (page/track) and identity links (identify/alias) from events: those of the
    staging table `source` (see `_staging_table`: the columns of `events`, the touch columns,
    `_g` order and `_f` file index, whose counts go to `ctxs[_f]`), else the stored events listed
    in `message_ids_table`, else all stored events (counts to `ctx`)."""
    cols = "message_id, type, event, anonymous_id, user_id, previous_id, occurred_at, received_at, properties, traits, context"
    if source:
        src = f"SELECT {cols}, {', '.join(TOUCH_COLUMNS)}, _g, _f FROM {source}"
    else:
        where = f"WHERE message_id IN (SELECT message_id FROM {message_ids_table})" if message_ids_table else ""
        src = _with_touch(f"SELECT {cols}, 0 AS _g, 1 AS _f FROM events {where}", f"type IN {TOUCH_TYPES}")
    ctxs = ctxs or {1: ctx}
    _derive_touchpoints(ctx, src, ctxs)
    _derive_links(ctx, src, ctxs)


def _derive_touchpoints(ctx: Ctx, src: str, ctxs: dict[int, Ctx]) -> None:
    """Channel grouping runs once per distinct raw (source, medium, referrer), not once per
    touch: a file of a million page views has a few thousand of those, and the rules' regexes
    are the costly part."""
    con = ctx.con
    touches = f"SELECT * FROM ({src}) WHERE t_touch_type IS NOT NULL"
    seen, combos = _new_name("segseen"), _new_name("segch")
    if not is_empty(con, "touchpoints"):
        # touchpoint_id = messageId: skip touches already stored (a re-derivation, or an id a
        # canonical dump used); an inner join lets DuckDB hash the smaller side
        con.execute(
            f"CREATE TEMP TABLE {seen} AS SELECT DISTINCT b.message_id FROM ({touches}) b "
            f"JOIN touchpoints t ON t.touchpoint_id = b.message_id"
        )
        if not is_empty(con, seen):
            touches += f" AND message_id NOT IN (SELECT message_id FROM {seen})"
    con.execute(
        f"CREATE TEMP TABLE {combos} AS SELECT source, medium, referrer, {channel_sql(ctx.rules)} AS channel, n FROM ("
        f" SELECT *, {channel_inputs('source', 'medium', 'referrer')} FROM ("
        f"  SELECT t_source AS source, t_medium AS medium, t_referrer AS referrer, count(*) AS n FROM ({touches}) GROUP BY ALL))"
    )
    other = scalar(con, f"SELECT coalesce(sum(n), 0) FROM {combos} WHERE channel = 'other'")
    if other:
        ctx.report.other_channel["touchpoints"] += int(other)
    counts = {int(f): int(n) for f, n in con.execute(f"SELECT _f, count(*) FROM ({touches}) GROUP BY _f").fetchall()}
    for f, c in ctxs.items():
        c.record("touchpoints", written=Written(loaded=counts.get(f, 0)))
    # plain equality on a NUL-coalesced key: DuckDB's hash join on IS NOT DISTINCT FROM cost twice as much
    on = " AND ".join(f"coalesce(b.t_{c}, chr(0)) = coalesce(k.{c}, chr(0))" for c in ("source", "medium", "referrer"))
    # a sent time outside the plausibility window dates the touch by the receive time, flagged
    at, flag = TimeWindow.from_env().touch_time_sql("b.occurred_at", "b.received_at")
    sql = (
        f"SELECT b.message_id AS touchpoint_id, {at} AS occurred_at, {flag} AS time_flag, NULL::VARCHAR AS person_id, b.anonymous_id, "
        f"NULL::VARCHAR AS account_id, k.channel, b.t_source AS source, b.t_medium AS medium, b.t_campaign AS campaign_id, "
        f"b.t_touch_type AS touch_type, false AS is_offline, 'segment' AS source_system, b.message_id AS source_ref, "
        f"CASE WHEN b.user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END AS identity_type, "
        f"coalesce(b.user_id, b.anonymous_id) AS identity_value, 0 AS _ord FROM ({touches}) b JOIN {combos} k ON {on}"
    )
    # ids are unique (messageIds of distinct events) and not stored yet: a plain bulk INSERT
    upsert(con, "touchpoints", sql, ["touchpoint_id"], update=False, batch_unique=True, check_existing=False)
    con.execute(f"DROP TABLE IF EXISTS {seen}; DROP TABLE {combos}")


def rederive_channels(ctx: Ctx, sources: list[str]) -> int:
    """The channel of every stored Segment touch whose event came from one of the files named
    `sources` (events.source), grouped anew by `ctx.rules`; returns how many touches changed.
    Why from `events`: a re-read file's events are already stored, so no touch is derived from
    them again, and the referrer the rules read is kept only in the event's context."""
    con = ctx.con
    cols = "message_id, type, event, anonymous_id, user_id, previous_id, occurred_at, received_at, properties, traits, context"
    names = ", ".join(lit(n) for n in sources)
    src = _with_touch(f"SELECT {cols}, 0 AS _g, 1 AS _f FROM events WHERE source IN ({names}) "
                      f"AND message_id IN (SELECT touchpoint_id FROM touchpoints WHERE source_system = 'segment')",
                      f"type IN {TOUCH_TYPES}")
    touches, combos = _new_name("segre"), _new_name("segrech")
    con.execute(f"CREATE TEMP TABLE {touches} AS SELECT message_id, t_source, t_medium, t_referrer FROM ({src}) "
                f"WHERE t_touch_type IS NOT NULL")
    con.execute(
        f"CREATE TEMP TABLE {combos} AS SELECT source, medium, referrer, {channel_sql(ctx.rules)} AS channel FROM ("
        f" SELECT *, {channel_inputs('source', 'medium', 'referrer')} FROM ("
        f"  SELECT DISTINCT t_source AS source, t_medium AS medium, t_referrer AS referrer FROM {touches}))"
    )
    on = " AND ".join(f"coalesce(b.t_{c}, chr(0)) = coalesce(k.{c}, chr(0))" for c in ("source", "medium", "referrer"))
    new = f"SELECT b.message_id, k.channel FROM {touches} b JOIN {combos} k ON {on}"
    changed = int(scalar(con, f"SELECT count(*) FROM touchpoints t JOIN ({new}) n ON n.message_id = t.touchpoint_id "
                              f"WHERE t.channel IS DISTINCT FROM n.channel"))
    if changed:
        con.execute(f"UPDATE touchpoints SET channel = n.channel FROM ({new}) n "
                    f"WHERE n.message_id = touchpoints.touchpoint_id AND touchpoints.channel IS DISTINCT FROM n.channel")
    con.execute(f"DROP TABLE {touches}; DROP TABLE {combos}")
    return changed


_LINK_KEYS = ("left_type", "left_value", "right_type", "right_value")


def _derive_links(ctx: Ctx, src: str, ctxs: dict[int, Ctx]) -> None:
    """identify: anonymous_id<->user_id, user_id<->email (anonymous_id<->email without a userId);
    alias: previousId<->userId. An edge is a fact once observed: the earliest observation in a batch
    is kept, and an edge already stored stays as it is."""
    con = ctx.con
    ev, links = _new_name("segid"), _new_name("seglink")
    observed, _ = TimeWindow.from_env().touch_time_sql("occurred_at", "received_at")  # the touches' rule
    con.execute(
        f"CREATE TEMP TABLE {ev} AS SELECT _g, _f, type, anonymous_id, user_id, previous_id, {observed} AS observed_at, "
        f"lower(trim(json_extract_string(traits, '$.email'))) AS email FROM ({src}) WHERE type IN ('identify', 'alias')"
    )
    edges = [
        ("'anonymous_id'", "anonymous_id", "'user_id'", "user_id", "'segment:identify'", "type = 'identify'"),
        ("'user_id'", "user_id", "'email'", "email", "'segment:identify'", "type = 'identify'"),
        ("'anonymous_id'", "anonymous_id", "'email'", "email", "'segment:identify'", "type = 'identify' AND user_id IS NULL"),
        ("'anonymous_id'", "previous_id", "'user_id'", "user_id", "'segment:alias'", "type = 'alias'"),
    ]
    union = " UNION ALL ".join(
        f"SELECT {lt} AS left_type, {lv} AS left_value, {rt} AS right_type, {rv} AS right_value, {s} AS source, "
        f"observed_at, _g, _f, {i} AS _k FROM {ev} WHERE {w}"
        for i, (lt, lv, rt, rv, s, w) in enumerate(edges)
    )
    keys = ", ".join(_LINK_KEYS)
    con.execute(
        f"CREATE TEMP TABLE {links} AS SELECT * FROM ({union}) WHERE nullif(left_value, '') IS NOT NULL "
        f"AND nullif(right_value, '') IS NOT NULL QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY observed_at, _g, _k) = 1"
    )
    if not is_empty(con, "identity_links"):
        on = " AND ".join(f"t.{k} = n.{k}" for k in _LINK_KEYS)
        con.execute(f"DELETE FROM {links} n WHERE EXISTS (SELECT 1 FROM identity_links t WHERE {on})")
    counts = _per_file(con, links)
    for f, c in ctxs.items():
        c.record("identity_links", written=Written(loaded=counts.get(f, 0)))
    upsert(con, "identity_links", f"SELECT {keys}, source, observed_at, _g AS _ord FROM {links}", list(_LINK_KEYS),
           update=False, batch_unique=True, check_existing=False)
    con.execute(f"DROP TABLE {ev}; DROP TABLE {links}")


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
    with _transaction(con) if transaction else nullcontext():
        con.execute("SET TimeZone = 'UTC'")
        derive(ctx, message_ids_table)
    return ctx.report


__all__ = ["derive_from_events", "load_events", "stage", "write_staged", "EVENT_TYPES"]
