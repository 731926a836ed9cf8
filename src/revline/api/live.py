"""The live pipeline: collected events reach their account's journey within seconds.

Steps, after every derivation batch of the collector's loader (same thread, same write lock),
for the events collected since the previous batch:
1. the batch's new touches get their person and account from the stitched identity graph
   (`revline.identity.incremental.assign_known`: only those rows, one UPDATE), which puts a page
   view by a known visitor into its account's journey at once (the journey reads touchpoints);
2. when the batch carries identify, alias or group calls (new graph edges, which can merge or
   move persons), a full `stitch` job is queued, at most once per `restitch_seconds`;
3. when a newly assigned touch precedes an existing conversion of its account (a backdated
   event), the credit of that conversion may change: the existing rule-model runs are brought up
   to date for those accounts only (`revline.attribution.runner.refresh_accounts`, one
   transaction, from this module's thread under the loader's write lock, never while a stitch
   or attribute job is queued or running). Runs it cannot refresh (custom weights, data-driven
   models) are left to their own `attribute` job; a refresh that fails queues a full `attribute`
   job instead (same bound as stitch).
   Touches after every conversion of their account (the normal live case) change no credit.
4. the accounts of the batch's touches are handed to the in-market scorer
   (`revline.api.live_scores`), which re-scores only those from its own thread and alerts on a
   threshold crossing (`revline.api.alerts`); it never delays these steps.

A timer asks the loader to derive pending events once `derive_seconds` have passed, so a lone
event is not left waiting for the next segment.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime


from revline.api.event_loader import EventLoader
from revline.api.jobs import TERMINAL, JobManager
from revline.api.live_scores import LiveScorer
from revline.attribution.runner import refresh_accounts
from revline.identity.incremental import assign_known
from revline.store.rows import one_row, scalar
from revline.store.transaction import transaction

log = logging.getLogger("revline.live")


@dataclass
class LiveStats:
    """Counters of the live pipeline since the server started (what the admin API reports)."""

    batches: int = 0
    touches: int = 0
    assigned: int = 0
    seconds: float = 0.0  # total time spent in step 1
    last_seconds: float = 0.0
    stitch_jobs: int = 0
    attribute_jobs: int = 0
    refreshes: int = 0  # incremental attribution refreshes (step 3)
    refreshed_accounts: int = 0
    refreshed_conversions: int = 0  # summed over the runs rewritten
    last_refresh_seconds: float = 0.0
    skipped_runs: int = 0  # runs the last refresh left (custom weights, data-driven models)


class LivePipeline:
    """Runs the steps of the module docstring after every derivation batch, and queues the stitch
    and attribute jobs from its own thread."""

    def __init__(self, loader: EventLoader, jobs: JobManager, *, restitch_seconds: float = 300.0,
                 tick: float = 0.5, scorer: LiveScorer | None = None) -> None:
        self.loader = loader
        self.jobs = jobs
        self.scorer = scorer
        self.restitch_seconds = restitch_seconds
        self.tick = tick
        self.stats = LiveStats()
        self._want = {"stitch": False, "attribute": False}
        self._last_submit = {"stitch": 0.0, "attribute": 0.0}
        self._job_ids: dict[str, str] = {}
        self._accounts: set[str] = set()  # accounts with backdated touches, awaiting step 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="revline-live", daemon=True)
        with loader.write_lock:
            self._mark = self._mark_now() or datetime(1970, 1, 1)
        loader.after_derive = self.on_derived

    def start(self) -> None:
        self._thread.start()
        if self.scorer is not None:
            self.scorer.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self.scorer is not None:
            self.scorer.stop()

    def _mark_now(self) -> object:
        return scalar(
            self.loader.con,
            "SELECT max(received_at) FROM events WHERE source = 'collector'",
        )

    def on_derived(self) -> None:
        """Step 1 (and the flags of steps 2 and 3) for the events collected since the last call:
        those received at or after the mark (received_at grows as the collector receives, and
        DuckDB skips the older row groups by their min/max, so this does not scan the table)."""
        started = time.perf_counter()
        con = self.loader.con
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _live_ids AS SELECT message_id, received_at FROM events "
                "WHERE source = 'collector' AND received_at >= ?", [self._mark])
            n, mark = one_row(con, "SELECT count(*), max(received_at) FROM _live_ids")
            if not n:
                return
            with transaction(con):
                assigned = assign_known(con, "_live_ids")
            (edges,) = one_row(
                con,
                "SELECT count(*) FROM events WHERE type IN ('identify', 'alias', 'group') AND source = 'collector' "
                "AND received_at >= ? AND message_id IN (SELECT message_id FROM _live_ids)",
                [self._mark],
            )
            touched = con.execute(  # the batch's accounts, and whether a touch of each is backdated
                """
                SELECT t.account_id, bool_or(EXISTS (
                    SELECT 1 FROM milestones m WHERE m.account_id = t.account_id
                      AND m.milestone IN ('opportunity', 'won') AND m.occurred_at >= t.occurred_at))
                FROM touchpoints t
                WHERE t.touchpoint_id IN (SELECT message_id FROM _live_ids) AND t.account_id IS NOT NULL
                GROUP BY 1
                """).fetchall()
            backdated = {a for a, late in touched if late}
            self._mark = mark
        except Exception:  # noqa: BLE001 - the touches stay as derived; the next full stitch assigns them
            log.exception("live assignment of collected touches failed")
            return
        finally:
            con.execute("DROP TABLE IF EXISTS _live_ids")
        self._want["stitch"] |= bool(edges)
        self._accounts |= backdated
        if self.scorer is not None:
            self.scorer.submit({a for a, _ in touched})
        took = time.perf_counter() - started
        s = self.stats
        s.batches, s.touches, s.assigned = s.batches + 1, s.touches + int(n), s.assigned + assigned
        s.seconds += took
        s.last_seconds = took

    def _busy(self, op: str) -> bool:
        job = self.jobs.get(self._job_ids.get(op, ""))
        return job is not None and job.status not in TERMINAL

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            loader = self.loader
            if loader._to_derive and time.monotonic() - loader._last_derive >= loader.derive_seconds:
                loader.request_derive()
            if self._accounts and not (self._want["stitch"] or self._busy("stitch") or self._busy("attribute")):
                self._refresh()
            now = time.monotonic()
            for op in ("stitch", "attribute"):
                if self._want[op] and not self._busy(op) and now - self._last_submit[op] >= self.restitch_seconds:
                    if op == "attribute" and self._busy("stitch"):
                        continue  # after the stitch it waits for
                    self._want[op] = False
                    self._last_submit[op] = now
                    self._job_ids[op] = self.jobs.submit(op, {}).id
                    setattr(self.stats, f"{op}_jobs", getattr(self.stats, f"{op}_jobs") + 1)

    def _refresh(self) -> None:
        """Step 3: rewrite the credit of the pending accounts' conversions in the rule-model runs."""
        started = time.perf_counter()
        with self.loader.write_lock:
            accounts, self._accounts = self._accounts, set()
            try:
                result = refresh_accounts(self.loader.con, accounts)
            except Exception:  # noqa: BLE001 - rolled back whole; the full job re-runs every model
                log.exception("incremental attribution of %d accounts failed; queueing a full run", len(accounts))
                self._want["attribute"] = True
                return
        s = self.stats
        s.refreshes += 1
        s.refreshed_accounts += len(accounts)
        s.refreshed_conversions += result.conversions
        s.last_refresh_seconds = time.perf_counter() - started
        s.skipped_runs = len(result.skipped)  # custom or data-driven: their own job re-runs them
