"""Memoised read-API results, invalidated by a cheap fingerprint of the tables they read.

Why: some report functions the API calls (ROI over the whole ledger) take seconds on a demo-size
store, while their inputs change only when a model run or a spend file lands. A fingerprint of
attribution_runs, spend, targets and opportunities costs milliseconds, so a repeated request
(the dashboard's) is answered from memory and a changed store is never served stale. `warm`
computes the dashboard's default views in a background thread at start-up.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import duckdb

from revline.store.rows import one_row

log = logging.getLogger("revline.api")

_FINGERPRINT_SQL = """
SELECT (SELECT count(*) || '/' || coalesce(max(created_at)::VARCHAR, '') FROM attribution_runs),
       (SELECT count(*) || '/' || coalesce(sum(spend)::VARCHAR, '') FROM spend),
       (SELECT count(*) || '/' || coalesce(sum(revenue_target)::VARCHAR, '') FROM targets),
       (SELECT count(*) || '/' || coalesce(sum(amount)::VARCHAR, '') || '/' || count(closed_at) FROM opportunities),
       (SELECT count(*) FROM milestones),
       (SELECT count(*) FROM touchpoints),
       (SELECT count(*) || '/' || coalesce(sum(rate)::VARCHAR, '') FROM fx_rates)
"""


def fingerprint(cur: duckdb.DuckDBPyConnection) -> tuple:
    """A cheap summary (counts, sums, latest run) of the tables the cached reports read; an entry
    is served only while the summary it was computed under is unchanged."""
    return one_row(cur, _FINGERPRINT_SQL)


class ResultCache:
    """A bounded LRU of report results, each stored with the fingerprint it was computed under."""

    def __init__(self, max_entries: int = 512) -> None:
        self._data: OrderedDict[Hashable, tuple[tuple, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = self.misses = 0

    def get(self, cur: duckdb.DuckDBPyConnection, key: Hashable, compute: Callable[[], Any]) -> Any:
        fp = fingerprint(cur)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] == fp:
                self._data.move_to_end(key)
                self.hits += 1
                return hit[1]
        self.misses += 1
        value = compute()
        with self._lock:
            self._data[key] = (fp, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value


class Warmer:
    """Runs `jobs` (callables of (cache, cursor)) into the cache in a daemon thread; `stop()`
    interrupts a running query so the store can be closed safely."""

    def __init__(self, con: duckdb.DuckDBPyConnection, cache: ResultCache, jobs: list[Callable]) -> None:
        self.cur = con.cursor()
        self.cache = cache
        self.jobs = jobs
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="revline-warmup", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for job in self.jobs:
            if self._stop.is_set():
                return
            try:
                job(self.cache, self.cur)
            except Exception:  # noqa: BLE001 - a view that fails now fails again, visibly, on request
                log.debug("warm-up job failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.cur.interrupt()
        except duckdb.Error:
            pass
        self.thread.join()
        self.cur.close()
