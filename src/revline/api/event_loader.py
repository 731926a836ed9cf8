"""Moving sealed write-ahead-log segments into the `events` table, then deriving touchpoints.

Why SQL over the raw log: DuckDB parses the JSON lines and unnests batches in C++, so loading
costs the collector's Python thread nothing. Loading is idempotent (INSERT ... ON CONFLICT DO
NOTHING on message_id), which is what makes replay after a crash safe: a segment that was loaded
but not yet deleted when the process died is simply loaded again.

A message without messageId gets `rl-` + md5 of its own JSON text: retries of the same message
dedupe like messages that carry an id, which a random id would not do.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from revline.api.wal import list_segments, truncate_torn_tail

log = logging.getLogger("revline.collector")

_READ = "read_json(?, format='newline_delimited', columns={rid: 'VARCHAR', rt: 'TIMESTAMP', k: 'VARCHAR', b: 'JSON'})"

_EVENT_COLUMNS = (
    "message_id, type, event, anonymous_id, user_id, group_id, previous_id, occurred_at, received_at, "
    "properties, traits, context, source"
)

# One row per message: single-message records as they are, batch records unnested; a batch's
# shared context/integrations are merged under each message's own (the message wins).
_MESSAGES_SQL = """
WITH rec AS (SELECT * FROM {source}),
msgs AS (
    SELECT rid, rt, k AS type, b AS msg, 0 AS ord FROM rec WHERE k <> 'batch'
    UNION ALL
    SELECT rid, rt, u.m->>'type', CASE WHEN (b->'context') IS NULL THEN u.m
           ELSE json_merge_patch(json_object('context', b->'context'), u.m) END, u.ord
    FROM rec, unnest(CAST(b->'batch' AS JSON[])) WITH ORDINALITY AS u(m, ord) WHERE k = 'batch'
)
SELECT
    coalesce(msg->>'messageId', 'rl-' || md5(CAST(msg AS VARCHAR))) AS message_id,
    type,
    CASE WHEN type = 'page' THEN coalesce(msg->>'name', msg->'properties'->>'path') ELSE msg->>'event' END AS event,
    msg->>'anonymousId' AS anonymous_id,
    msg->>'userId' AS user_id,
    msg->>'groupId' AS group_id,
    msg->>'previousId' AS previous_id,
    coalesce(timezone('UTC', TRY_CAST(coalesce(msg->>'timestamp', msg->>'originalTimestamp') AS TIMESTAMPTZ)), rt) AS occurred_at,
    rt AS received_at,
    msg->'properties' AS properties,
    msg->'traits' AS traits,
    msg->'context' AS context,
    'collector' AS source
FROM msgs
QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY rt, rid, ord) = 1
"""


def _insert_sql(source: str) -> str:
    return (
        f"INSERT INTO events ({_EVENT_COLUMNS}) " + _MESSAGES_SQL.format(source=source)
        + " ON CONFLICT DO NOTHING RETURNING message_id"
    )


def _derive_touchpoints(con: duckdb.DuckDBPyConnection, new_ids: list[str]) -> None:
    """Hand the newly inserted messages to ingest's derivation (when that module exists)."""
    if not new_ids:
        return
    try:
        from revline.ingest.segment import derive_from_events
    except ImportError:
        return
    import pandas as pd

    con.register("_collector_ids_df", pd.DataFrame({"message_id": new_ids}))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _collector_new_ids AS SELECT message_id FROM _collector_ids_df")
    finally:
        con.unregister("_collector_ids_df")
    derive_from_events(con, message_ids_table="_collector_new_ids")


def load_segment(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Load one sealed segment; returns the message ids that were new. The file is left in place."""
    truncate_torn_tail(path)
    if path.stat().st_size == 0:
        return []
    try:
        con.execute("BEGIN TRANSACTION")
        new_ids = [r[0] for r in con.execute(_insert_sql(_READ), [str(path)]).fetchall()]
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        log.warning("bulk load of %s failed (%s); loading it line by line", path, exc)
        new_ids = _load_line_by_line(con, path)
    return new_ids


def derive_touchpoints(con: duckdb.DuckDBPyConnection, new_ids: list[str]) -> bool:
    """Best effort: the events are already safe, and derivation can be rerun from them."""
    try:
        _derive_touchpoints(con, new_ids)
        return True
    except Exception:  # noqa: BLE001
        log.exception("deriving touchpoints for %d collected events failed", len(new_ids))
        return False


def _load_line_by_line(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Fallback when one record breaks the bulk load: good lines load, bad lines go to quarantine."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wal_line (rid VARCHAR, rt TIMESTAMP, k VARCHAR, b JSON)"
    )
    new_ids: list[str] = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.decode("utf-8", "replace")
            try:
                rec = json.loads(text)
                con.execute("BEGIN TRANSACTION")
                con.execute("DELETE FROM _wal_line")
                con.execute(
                    "INSERT INTO _wal_line VALUES (?, ?, ?, ?)",
                    [rec["rid"], rec["rt"], rec["k"], json.dumps(rec["b"])],
                )
                new_ids += [r[0] for r in con.execute(_insert_sql("_wal_line")).fetchall()]
                con.execute("COMMIT")
            except Exception as exc:  # noqa: BLE001 - every failure is recorded, never dropped
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                con.execute(
                    "INSERT INTO quarantine (source, table_name, row_number, field, reason, raw, ingested_at) "
                    "VALUES (?, 'events', ?, NULL, ?, ?, ?)",
                    [f"collector:{path.name}", number, f"{type(exc).__name__}: {exc}"[:1000], text,
                     datetime.now(timezone.utc).replace(tzinfo=None)],
                )
    return new_ids


class EventLoader:
    """A background thread that loads sealed segments in order and deletes them once committed.

    Touchpoint derivation costs a fixed few hundred milliseconds per call whatever the number of
    events, so it runs for all events loaded since the last call: whenever the queue runs dry, and
    at least every `derive_seconds` under sustained load. Loading never waits for it.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, derive: bool = True, derive_seconds: float = 2.0) -> None:
        self.con = con.cursor()
        self.con.execute("SET TimeZone = 'UTC'")
        self.derive = derive
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._outstanding = 0
        self._count_lock = threading.Lock()
        self.loaded_events = 0
        self.errors = 0
        self.derive_seconds = derive_seconds
        self._to_derive: list[str] = []
        self._last_derive = 0.0
        self.derive_failures = 0

    def recover(self, directory: Path) -> int:
        """Replay every segment a previous process left (synchronously, before serving)."""
        new_ids: list[str] = []
        for path in list_segments(directory):
            new_ids += load_segment(self.con, path)
            path.unlink()
        self.loaded_events += len(new_ids)
        if self.derive:
            derive_touchpoints(self.con, new_ids)
        return len(new_ids)

    def submit(self, path: Path) -> None:
        with self._count_lock:
            self._outstanding += 1
            self._idle.clear()
        self._queue.put(path)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="revline-loader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            if path is None:
                if self.derive and self._to_derive:
                    ids, self._to_derive = self._to_derive, []
                    derive_touchpoints(self.con, ids)
                return
            try:
                new_ids = load_segment(self.con, path)
                path.unlink()
                self.loaded_events += len(new_ids)
                self._to_derive += new_ids
                due = time.monotonic() - self._last_derive >= self.derive_seconds
                if self.derive and self._to_derive and (self._queue.empty() or due):
                    ids, self._to_derive = self._to_derive, []
                    self._last_derive = time.monotonic()
                    if not derive_touchpoints(self.con, ids):
                        self.derive_failures += 1
            except Exception:  # the segment stays on disk and is replayed at the next start
                self.errors += 1
                log.exception("loading %s failed; it stays on disk for replay", path)
            finally:
                with self._count_lock:
                    self._outstanding -= 1
                    if self._outstanding == 0:
                        self._idle.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
