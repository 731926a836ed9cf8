"""Keeping the read snapshot (revline.store.snapshot) fresh while the server runs.

When: right after every writer job (inside the job, so a client that saw the job finish reads
its result in the snapshot), and every `interval` seconds when the collector changed the store
(a cheap fingerprint of row counts says so). A reader therefore sees the store as of the last
writer job, or at most `interval` seconds (plus the copy's own time) older than the collector.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import duckdb

from revline.store.hub import snapshot_path
from revline.store.rows import one_row
from revline.store.snapshot import SnapshotInfo, write_snapshot

log = logging.getLogger("revline.snapshot")

_FINGERPRINT = """
SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM touchpoints),
       (SELECT count(*) FROM attribution_runs), (SELECT count(*) FROM milestones),
       (SELECT count(*) FROM people), (SELECT count(*) FROM opportunities)
"""


class SnapshotKeeper:
    """Refreshes the read copy (revline.store.snapshot) every `interval` seconds when the store changed,
    or at once on `refresh()`, never two at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: Path, write_lock: threading.RLock,
                 interval: float = 60.0) -> None:
        self.con = con
        self.db_path = Path(db_path)
        self.write_lock = write_lock
        self.target = snapshot_path(db_path)
        self.interval = interval
        self.last: SnapshotInfo | None = None
        self._fingerprint: tuple | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="revline-snapshot", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def refresh(self) -> SnapshotInfo:
        """Write a new snapshot now (one at a time), with the store's writers held off."""
        with self.write_lock, self._lock:  # this order everywhere: a writer job calls refresh() holding write_lock
            cur = self.con.cursor()
            try:
                fp = one_row(cur, _FINGERPRINT)
            finally:
                cur.close()
            self.last = write_snapshot(self.con, self.target, self.db_path)
            self._fingerprint = fp
            log.info("snapshot %s: %.2f s, %d bytes", self.target, self.last.seconds, self.last.bytes)
            return self.last

    def refresh_if_changed(self) -> SnapshotInfo | None:
        cur = self.con.cursor()
        try:
            fp = one_row(cur, _FINGERPRINT)
        finally:
            cur.close()
        if fp == self._fingerprint and self.target.exists():
            return None
        return self.refresh()

    def _loop(self) -> None:
        first = True
        while not self._stop.wait(0 if first else self.interval):
            first = False
            try:
                self.refresh_if_changed()
            except Exception:  # noqa: BLE001 - the next round tries again; readers keep the last copy
                log.exception("refreshing the read snapshot failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=120)
