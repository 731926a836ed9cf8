"""Schedules: watched folders re-ingested when their files change, operations re-run on a timer.

Why jobs: a scheduled run is submitted to the same job queue as any other (revline.api.jobs), so
it waits its turn behind writers, is all-or-nothing like them, and shows in /admin/jobs.

The config file (TOML, `revline serve --schedule FILE`)::

    [[watch]]                 # re-ingest when a file under `path` is new or changed
    path = "exports/"         # relative to the config file's folder
    every = 60                # seconds between looks (default 60)
    format = "auto"           # optional, as `revline ingest --format`

    [[run]]                   # an operation every `every` seconds
    op = "attribute"          # ingest, stitch, attribute, report, paths_export, paths_model, mmm_fit
    every = 3600
    params = { models = ["linear"], milestones = ["won"] }

A watched folder's first look counts as a change only for files not ingested yet: ingest skips a
file whose sha256 it has seen, so re-submitting the folder is safe and cheap.
"""

from __future__ import annotations

import logging
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revline.api.jobs import TERMINAL, JobManager
from revline.ops import get_operation

log = logging.getLogger("revline.schedules")


class ScheduleError(ValueError):
    """The schedule file is unreadable or names something that does not exist (one line)."""


@dataclass
class Watch:
    """A `[[watch]]` entry: the folder, how often to look, and the files' sizes and times last seen."""

    path: Path
    every: float = 60.0
    fmt: str = "auto"
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # file -> (size, mtime_ns)
    due: float = 0.0
    job: str | None = None


@dataclass
class Run:
    """A `[[run]]` entry: the operation, its parameters and how often it runs."""

    op: str
    every: float
    params: dict[str, Any]
    due: float = 0.0
    job: str | None = None


def load_schedule(path: Path) -> tuple[list[Watch], list[Run]]:
    """Parse and check the schedule file (ScheduleError names the entry at fault)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScheduleError(f"schedule {path}: {exc}") from None
    base = Path(path).resolve().parent
    watches, runs = [], []
    for i, w in enumerate(data.get("watch", []), 1):
        if "path" not in w:
            raise ScheduleError(f"schedule {path}: [[watch]] number {i} has no path")
        folder = (base / w["path"]).resolve()
        if not folder.exists():
            raise ScheduleError(f"schedule {path}: watched path {folder} does not exist")
        watches.append(Watch(folder, float(w.get("every", 60)), str(w.get("format", "auto"))))
    for i, r in enumerate(data.get("run", []), 1):
        if "op" not in r or "every" not in r:
            raise ScheduleError(f"schedule {path}: [[run]] number {i} needs op and every")
        params = dict(r.get("params", {}))
        try:
            get_operation(r["op"]).check_params(params)
        except ValueError as exc:
            raise ScheduleError(f"schedule {path}: [[run]] number {i}: {exc}") from None
        runs.append(Run(r["op"], float(r["every"]), params))
    return watches, runs


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    paths = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    out = {}
    for p in paths:
        try:
            st = p.stat()
        except OSError:  # removed meanwhile
            continue
        out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


class Scheduler:
    """Looks at each watch and run when it is due and submits a job (never two of one entry at once)."""

    def __init__(self, jobs: JobManager, watches: list[Watch], runs: list[Run], tick: float = 1.0) -> None:
        self.jobs, self.watches, self.runs, self.tick = jobs, watches, runs, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="revline-schedules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _busy(self, job_id: str | None) -> bool:
        job = self.jobs.get(job_id or "")
        return job is not None and job.status not in TERMINAL

    def step(self, now: float | None = None) -> list[str]:
        """One round: the ids of the jobs submitted."""
        now = time.monotonic() if now is None else now
        submitted = []
        for w in self.watches:
            if now < w.due or self._busy(w.job):
                continue
            w.due = now + w.every
            files = _files(w.path)
            changed = [f for f, sig in files.items() if w.seen.get(f) != sig]
            if changed:
                w.job = self.jobs.submit("ingest", {"paths": changed, "fmt": w.fmt}).id
                w.seen = files
                submitted.append(w.job)
        for r in self.runs:
            if now < r.due or self._busy(r.job):
                continue
            r.due = now + r.every
            r.job = self.jobs.submit(r.op, r.params).id
            submitted.append(r.job)
        return submitted

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("schedule round failed")
