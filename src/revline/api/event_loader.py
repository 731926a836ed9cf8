"""Moving sealed write-ahead-log segments into the `events` table, then deriving touchpoints.

Why SQL over the raw log: DuckDB parses the JSON lines and unnests batches in C++, so loading
costs the collector's Python thread nothing. Loading is idempotent (only messageIds not stored
yet are inserted), which is what makes replay after a crash safe: a segment that was loaded
but not yet deleted when the process died is simply loaded again.

A message without messageId gets `rl-` + md5 of its Spec fields: retries of the same message
dedupe like messages that carry an id, which a random id would not do.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from revline.api.wal import list_segments, truncate_torn_tail
from revline.ingest.pending import derive_owed, enqueue_table
from revline.ingest.timewindow import lower_z_as_utc
from revline.store.transaction import transaction

log = logging.getLogger("revline.collector")

# The Spec fields the loader keeps; read_json parses each line once into these typed structs.
_SPEC = ("messageId VARCHAR, type VARCHAR, event VARCHAR, name VARCHAR, anonymousId VARCHAR, userId VARCHAR, "
         "groupId VARCHAR, previousId VARCHAR, timestamp VARCHAR, originalTimestamp VARCHAR, "
         "properties JSON, traits JSON, context JSON")
_READ = (f"read_json(?, format='newline_delimited', maximum_object_size=4194304, "
         f"columns={{rid: 'VARCHAR', rt: 'TIMESTAMP', k: 'VARCHAR', b: 'STRUCT({_SPEC}, batch STRUCT({_SPEC})[])'}})")

_EVENT_COLUMNS = (
    "message_id, type, event, anonymous_id, user_id, group_id, previous_id, occurred_at, received_at, "
    "properties, traits, context, source"
)

# One row per message: single-message records as they are, batch records unnested. A batch's
# shared context is merged under each message's own context (the message wins). A message
# without messageId is hashed over its Spec fields as sent (before that merge).
_MESSAGES_SQL = """
WITH rec AS MATERIALIZED (SELECT * FROM {source}),
msgs AS (
    SELECT rid, rt, k AS type, b AS m, NULL::JSON AS bctx, 0 AS ord FROM rec WHERE k <> 'batch'
    UNION ALL
    SELECT rid, rt, m.type, m, bctx, ord
    FROM (SELECT rid, rt, b.context AS bctx, unnest(b.batch) AS m, generate_subscripts(b.batch, 1) AS ord
          FROM rec WHERE k = 'batch')
)
SELECT
    CASE WHEN m.messageId IS NOT NULL THEN m.messageId ELSE 'rl-' || md5(CAST(m AS VARCHAR)) END AS message_id,
    type,
    CASE WHEN type = 'page' THEN coalesce(m.name, m.properties->>'path') ELSE m.event END AS event,
    m.anonymousId AS anonymous_id,
    m.userId AS user_id,
    m.groupId AS group_id,
    m.previousId AS previous_id,
    coalesce(timezone('UTC', TRY_CAST({sent} AS TIMESTAMPTZ)), rt) AS occurred_at,
    rt AS received_at,
    m.properties AS properties,
    m.traits AS traits,
    CASE WHEN bctx IS NULL THEN m.context ELSE json_merge_patch(bctx, coalesce(m.context, '{{}}')) END AS context,
    'collector' AS source
FROM msgs
QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY rt, rid, ord) = 1
"""


# the time as sent (a lowercase 'z' suffix is UTC too); a time outside the plausibility window is
# kept on the event, and its touch dated by the receive time (revline.ingest.timewindow)
_SENT = lower_z_as_utc("coalesce(m.timestamp, m.originalTimestamp)")


def _insert_sql(source: str) -> str:
    """Messages of the segment whose id is not stored yet (an anti-join: `events` has no key
    index, see store schema version 4; the QUALIFY above dedupes within the segment)."""
    # fixed SQL only: `source` is _READ (the segment's path is a bound parameter), _SENT a constant
    messages = _MESSAGES_SQL.format(source=source, sent=_SENT)
    return (
        f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT * FROM ({messages}) m "  # noqa: S608 - see above
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.message_id) RETURNING message_id"
    )


def _insert_and_enqueue(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> list[str]:
    """Insert the new messages of `path` and queue them for derivation (revline.ingest.pending),
    in the caller's transaction; returns their ids. The ids travel as Arrow: bound as a list
    parameter, 20,000 of them cost DuckDB 0.1-1 s to convert."""
    ids = con.execute(_insert_sql(source), [str(path)]).arrow().read_all()
    enqueue_table(con, ids)
    return ids.column(0).to_pylist()


def load_segment(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Load one sealed segment; returns the message ids that were new. The file is left in place."""
    truncate_torn_tail(path)
    if path.stat().st_size == 0:
        return []
    try:
        with transaction(con):
            new_ids = _insert_and_enqueue(con, _READ, path)
    except duckdb.Error as exc:
        log.warning("bulk load of %s failed (%s); loading it in parts", path, exc)
        new_ids = _load_bisecting(con, path)
    return new_ids


def derive_touchpoints(con: duckdb.DuckDBPyConnection) -> bool:
    """Derive every stored event still owed a derivation (revline.ingest.pending). A failure is
    logged and leaves the events queued: the next call, the next start or `revline stitch` retries."""
    try:
        derive_owed(con)
        return True
    except Exception:  # noqa: BLE001
        log.exception("deriving touchpoints from collected events failed; they stay queued")
        return False


def _load_bisecting(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Fallback when a record breaks the bulk load: the segment is split in halves, each half
    bulk-loaded, and only a half that fails is split again, down to the bad lines, which go to
    quarantine with their line number and reason. One bad line among n costs about 2·log2(n)
    bulk loads of shrinking parts, instead of n single-line transactions (the collector refuses
    what the loader cannot read, so this is for what slipped through)."""
    lines = path.read_bytes().splitlines(keepends=True)
    mid = len(lines) // 2
    if mid == 0:
        return _load_lines(con, path, lines, 1)
    return _load_lines(con, path, lines[:mid], 1) + _load_lines(con, path, lines[mid:], mid + 1)


def _load_lines(con: duckdb.DuckDBPyConnection, path: Path, lines: list[bytes], first: int) -> list[str]:
    part = path.with_suffix(".part")
    part.write_bytes(b"".join(lines))
    try:
        with transaction(con):
            return _insert_and_enqueue(con, _READ, part)
    except duckdb.Error as exc:
        if len(lines) > 1:
            mid = len(lines) // 2
            return _load_lines(con, path, lines[:mid], first) + _load_lines(con, path, lines[mid:], first + mid)
        con.execute(  # every failure is recorded, never dropped
            "INSERT INTO quarantine (source, table_name, row_number, field, reason, raw, ingested_at) "
            "VALUES (?, 'events', ?, NULL, ?, ?, ?)",
            [f"collector:{path.name}", first, f"{type(exc).__name__}: {exc}"[:1000],
             lines[0].decode("utf-8", "replace"), datetime.now(timezone.utc).replace(tzinfo=None)],
        )
        return []
    finally:
        part.unlink(missing_ok=True)


_DERIVE_NOW = "derive-now"


class EventLoader:
    """A background thread that loads sealed segments in order and deletes them once committed.

    Touchpoint derivation costs a fixed few hundred milliseconds per call whatever the number of
    events, so it runs for all events loaded since the last call, at most every `derive_seconds`
    (and at once on `request_derive()`, which `Collector.flush` and shutdown use). Which events
    are owed a derivation is kept in the store (revline.ingest.pending), not in memory, so a
    crash between loading and deriving loses nothing: `recover` derives them at the next start.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, derive: bool = True, derive_seconds: float = 2.0) -> None:
        self.con = con.cursor()
        self.con.execute("SET TimeZone = 'UTC'")
        self.derive = derive
        self._queue: queue.Queue[Path | str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._outstanding = 0
        self._count_lock = threading.Lock()
        self.loaded_events = 0
        self.errors = 0
        self.derive_seconds = derive_seconds
        self._to_derive = 0  # events loaded since the last derivation (the ids are in the store)
        self._last_derive = 0.0
        self.derive_failures = 0
        # held per segment and per derive; the server's writer jobs hold it too (revline.api.jobs)
        self.write_lock = threading.RLock()
        # called after each successful derivation, still holding write_lock (the live pipeline)
        self.after_derive: Callable[[], None] | None = None

    def recover(self, directory: Path) -> int:
        """Replay every segment a previous process left (synchronously, before serving)."""
        loaded = 0
        for path in list_segments(directory):
            loaded += len(load_segment(self.con, path))
            path.unlink()
        self.loaded_events += loaded
        if self.derive:  # also what a crashed process loaded but had not derived yet
            if not derive_touchpoints(self.con):
                self.derive_failures += 1
        return loaded

    def request_derive(self) -> None:
        """Derive touchpoints for everything loaded so far, after the segments already queued."""
        self.submit(_DERIVE_NOW)

    def _derive_pending(self) -> None:
        if self.derive and self._to_derive:
            self._last_derive = time.monotonic()
            if derive_touchpoints(self.con):
                self._to_derive = 0
                if self.after_derive is not None:
                    self.after_derive()
            else:  # still queued in the store; retried at the next segment or flush
                self.derive_failures += 1

    def submit(self, path: Path | str) -> None:
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
                self._derive_pending()
                return
            try:
                with self.write_lock:
                    if isinstance(path, str):  # _DERIVE_NOW
                        self._derive_pending()
                        continue
                    new_ids = load_segment(self.con, path)
                    path.unlink()
                    self.loaded_events += len(new_ids)
                    self._to_derive += len(new_ids)
                    if time.monotonic() - self._last_derive >= self.derive_seconds:
                        self._derive_pending()
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
