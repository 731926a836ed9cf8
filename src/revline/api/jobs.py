"""The server's jobs: operations (revline.ops) run on the server's own connection, with ids.

Why this shape: DuckDB admits one writing process, so while `revline serve` runs, the CLI's work
must run inside the server. Jobs that write the store run one at a time, in the order they were
submitted, holding the store's write lock (the collector's loader takes the same lock per
segment, so a job never interleaves with a half-loaded batch; acknowledged events wait in the
write-ahead log). Each operation commits as the CLI's does (ingest in one transaction; stitch and
journeys in one each), so a job that fails, is cancelled or dies with the process leaves the
store as its last commit left it. Readers (report, paths, mmm fit) run beside the writer.

The job table is kept in `<store>.jobs.json` (results stay in memory): a job found `running` or
`queued` there at start-up belonged to a process that died, and is reported failed.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from revline.ops import codec
from revline.ops.registry import get_operation
from revline.store.hub import jobs_path

log = logging.getLogger("revline.jobs")

TERMINAL = ("done", "failed", "cancelled")
KEEP_JOBS = 500  # finished jobs kept in the table (oldest dropped first)
INTERRUPTED = "the server stopped while this job was {state}; the store is as its last commit left it"


def _now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


@dataclass
class Job:
    """One submitted operation: its parameters, whether it writes, its state and its result or error."""

    id: str
    op: str
    params: dict[str, Any]
    writes: bool
    status: str = "queued"
    submitted_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    done: int | None = None
    total: int | None = None
    label: str = ""
    logs: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None

    def public(self, logs_since: int = 0) -> dict[str, Any]:
        data = asdict(self)
        data["logs"] = self.logs[logs_since:]
        data["logs_from"] = logs_since
        return data


class JobManager:
    """Queues, runs and remembers jobs. `after_write(job)` runs after each successful writer job,
    still holding the write lock (the server refreshes its read snapshot there)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        db_path: Path,
        write_lock: threading.RLock,
        after_write: Callable[[Job, Callable[[str], None]], None] | None = None,
        readers: int = 2,
    ) -> None:
        self.con = con
        self.state_file = jobs_path(db_path)
        self.write_lock = write_lock
        self.after_write = after_write
        self._lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self._results: dict[str, Any] = {}
        self._cursors: dict[str, duckdb.DuckDBPyConnection] = {}
        self._cancel: set[str] = set()
        self._next = 1
        self.interrupted = self._load()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="revline-jobs", daemon=True)
        self._writer.start()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="revline-read-job")

    # -- persistence --
    def _load(self) -> int:
        """Read the job table; jobs a dead process left running or queued become failed."""
        try:
            rows = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            log.warning("job table %s unreadable; starting a new one", self.state_file)
            return 0
        interrupted = 0
        for row in rows:
            try:
                job = Job(**{k: row[k] for k in Job.__dataclass_fields__ if k in row})
            except TypeError:
                continue
            if job.status not in TERMINAL:
                interrupted += 1
                job.error = INTERRUPTED.format(state=job.status)
                job.error_type = "Interrupted"
                job.status = "failed"
                job.finished_at = job.finished_at or _now()
                job.logs.append(f"{_now()} {job.error}")
            self.jobs[job.id] = job
            if job.id.isdigit():
                self._next = max(self._next, int(job.id) + 1)
        if interrupted:
            self._persist()
        return interrupted

    def _persist(self) -> None:
        with self._lock:  # the write too: two threads sharing the .tmp name raced to os.replace it
            jobs = list(self.jobs.values())[-KEEP_JOBS:]
            data = json.dumps([asdict(j) for j in jobs], default=str)
            tmp = self.state_file.with_name(self.state_file.name + ".tmp")
            tmp.write_text(data)
            os.replace(tmp, self.state_file)

    # -- API --
    def submit(self, op_name: str, params: dict[str, Any]) -> Job:
        """Check the operation and its parameters (ValueError) and queue the job."""
        op = get_operation(op_name)
        op.check_params(params)
        with self._lock:
            job = Job(str(self._next), op.name, dict(params), op.may_write)
            self._next += 1
            self.jobs[job.id] = job
        job.logs.append(f"{job.submitted_at} queued")
        self._persist()
        if op.may_write:
            self._queue.put(job)
        else:
            self._readers.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def result(self, job_id: str) -> Any:
        """The job's encoded result (KeyError when there is none in this process)."""
        return self._results[job_id]

    def cancel(self, job_id: str) -> Job | None:
        """A queued job is dropped; a running one is interrupted (its transaction rolls back)."""
        job = self.jobs.get(job_id)
        if job is None or job.status in TERMINAL:
            return job
        self._cancel.add(job_id)
        cur = self._cursors.get(job_id)
        if cur is not None:
            try:
                cur.interrupt()
            except duckdb.Error:
                pass
        return job

    def close(self) -> None:
        """Stop taking jobs; interrupt the running ones (their work rolls back), wait for them."""
        for job in list(self.jobs.values()):
            if job.status not in TERMINAL:
                self.cancel(job.id)
        self._queue.put(None)
        self._writer.join(timeout=60)
        self._readers.shutdown(wait=True, cancel_futures=True)

    # -- running --
    def _write_loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self.write_lock:
                self._run(job)

    def _log(self, job: Job, line: str) -> None:
        job.logs.append(f"{_now()} {line}")

    def _run(self, job: Job) -> None:
        if job.id in self._cancel:
            self._finish(job, "cancelled", "cancelled before it started", "Cancelled")
            return
        op = get_operation(job.op)
        job.status, job.started_at = "running", _now()
        self._log(job, "started")
        self._persist()

        def progress(done: int | None, total: int | None, label: str) -> None:
            job.done, job.total = done, total
            if label != job.label:
                job.label = label
                self._log(job, label)

        cur = self.con.cursor()
        self._cursors[job.id] = cur
        try:
            result = op.run(cur, job.params, progress)
            self._cancel.discard(job.id)  # committed: too late to cancel
            self._results[job.id] = codec.encode(result)
            if op.wrote(result) and self.after_write is not None:
                try:  # the job's work is committed; a failure here is noted, not the job's
                    self.after_write(job, lambda line: self._log(job, line))
                except Exception as exc:  # noqa: BLE001
                    log.warning("after job %s: %s", job.id, exc, exc_info=True)
                    self._log(job, f"warning: the read snapshot was not refreshed: {exc}")
        except BaseException as exc:  # noqa: BLE001 - every failure is the job's, reported with it
            if job.id in self._cancel:
                self._finish(job, "cancelled", "cancelled; the store is as before the job", "Cancelled")
            else:
                log.info("job %s (%s) failed", job.id, job.op, exc_info=True)
                self._finish(job, "failed", str(exc) or type(exc).__name__, type(exc).__name__)
            if not isinstance(exc, Exception):
                raise
        else:
            self._finish(job, "done", None, None)
        finally:
            self._cursors.pop(job.id, None)
            cur.close()

    def _finish(self, job: Job, status: str, error: str | None, error_type: str | None) -> None:
        job.status, job.error, job.error_type, job.finished_at = status, error, error_type, _now()
        self._log(job, status if error is None else f"{status}: {error}")
        self._persist()
