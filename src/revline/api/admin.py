"""The admin API under /admin: jobs (ingest, stitch, attribute, report, paths, mmm fit) and uploads.

Authentication: the admin key as `Authorization: Bearer <key>`; it is neither the read key nor
the write key (the write key is public, the read key is handed to dashboard viewers). The key is
`--admin-key`, else $REVLINE_ADMIN_KEY, else the one in `<store>.admin-key`, else a new one; the
file (mode 0600, beside the store) always holds the key in use, so the CLI of the same user can
send its work to the server (see revline.store.hub and revline.commands._hub).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.responses import JSONResponse, Response

from revline.api.alerts import AlertSender, AlertSettings
from revline.api.event_loader import EventLoader
from revline.api.jobs import JobManager
from revline.api.live import LivePipeline
from revline.api.live_scores import LiveScorer, Scoring, model_path
from revline.api.responses import ErrorResponse
from revline.api.keys import MIN_KEY_CHARS, ApiKeyError, same
from revline.api.schedules import Scheduler, load_schedule
from revline.api.snapshots import SnapshotKeeper
from revline.store.hub import admin_key_path, uploads_dir

ENV = "REVLINE_ADMIN_KEY"
PREFIX = "rla_"
MAX_UPLOAD_BYTES = 20 * 1024**3


def resolve_admin_key(db_path: Path, given: str | None) -> tuple[str, bool]:
    """(key, generated): see the module docstring. The file is (re)written with mode 0600."""
    path = admin_key_path(db_path)
    key = given or os.environ.get(ENV)
    if key and len(key) < MIN_KEY_CHARS:
        raise ApiKeyError(f"the admin key given by {'--admin-key' if given else '$' + ENV} has {len(key)} characters, "
                          f"fewer than {MIN_KEY_CHARS}: give a longer one, or none to use {path}")
    generated = False
    if not key:
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            key = ""
    if not key:
        key, generated = PREFIX + secrets.token_urlsafe(24), True
    try:
        current = path.read_text().strip()
    except FileNotFoundError:
        current = None
    if current != key:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    os.chmod(path, 0o600)
    return key, generated


class Hub:
    """What the admin API needs: the key, the jobs and the snapshot keeper."""

    def __init__(self, con, db_path: Path, loader: EventLoader, admin_key: str | None,
                 snapshot_seconds: float | None, live: bool, schedule: Path | None = None,
                 scoring: Scoring | None = None, alerts: AlertSettings | None = None) -> None:
        self.db_path = db_path
        planned = load_schedule(schedule) if schedule is not None else None  # a bad file fails before any thread
        self.admin_key, self.admin_key_generated = resolve_admin_key(db_path, admin_key)
        self.snapshots = SnapshotKeeper(con, db_path, loader.write_lock, snapshot_seconds) if snapshot_seconds else None

        def after_write(job, note) -> None:
            if self.scorer is not None:  # the job may have changed any account's touches or stage
                self.scorer.submit_all()
            if self.snapshots is not None:
                note("refreshing the read snapshot")
                self.snapshots.refresh()

        self.scorer: LiveScorer | None = None
        self.jobs = JobManager(con, db_path, loader.write_lock, after_write=after_write)
        if self.snapshots is not None:
            self.snapshots.start()
        self.alerts: AlertSender | None = None
        if live and scoring is not None:  # in-market scores of touched accounts, alerts on crossings
            self.alerts = AlertSender(con.cursor(), loader.write_lock, alerts) if alerts is not None else None
            self.scorer = LiveScorer(con.cursor(), loader.write_lock, score_fn=scoring.score_fn, fit_fn=scoring.fit_fn,
                                     refit_seconds=scoring.refit_seconds, as_of_fn=scoring.as_of_fn, sender=self.alerts,
                                     rule=alerts.rule if alerts is not None else None, model_file=model_path(db_path))
        self.live = LivePipeline(loader, self.jobs, scorer=self.scorer) if live else None
        if self.live is not None:
            self.live.start()
        self.scheduler = Scheduler(self.jobs, *planned) if planned is not None else None
        if self.scheduler is not None:
            self.scheduler.start()

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.live is not None:
            self.live.stop()
        self.jobs.close()
        if self.snapshots is not None:
            self.snapshots.stop()


_bearer = HTTPBearer(auto_error=False, scheme_name="adminKeyBearer", description="The admin key as a bearer token.")


def require_admin_key(
    request: Request, _b: Annotated[Optional[HTTPAuthorizationCredentials], Security(_bearer)] = None
) -> None:
    """Every /admin route depends on this: 401 unless the request carries the admin key as a bearer token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not same(token.strip(), request.app.state.hub.admin_key):
        raise HTTPException(401, "missing or invalid admin key", headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin_key)],
    responses={400: {"model": ErrorResponse, "description": "A body that is not JSON"},
               401: {"model": ErrorResponse, "description": "Missing or invalid admin key"},
               422: {"model": ErrorResponse, "description": "Invalid parameters"}},
)


def invalid_request(errors: Sequence[Any]) -> JSONResponse:
    """The answer to an /admin request FastAPI could not parse, in the shape the router documents
    (ErrorResponse: `detail` is one line): 400 when the body is not JSON, else 422 naming each bad
    field. The read API keeps FastAPI's list of errors (HTTPValidationError), as it documents."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "the request body is not JSON: send {\"op\": ..., \"params\": {...}}"},
                            status_code=400)
    reasons = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors)
    return JSONResponse({"detail": f"invalid request: {reasons or 'unreadable'}"}, status_code=422)


_NO_JOB: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "No such job"}}


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _job_or_404(request: Request, job_id: str):
    job = _hub(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


@router.get("/ping", summary="Who holds the store")
def ping(request: Request) -> dict[str, Any]:
    """The process holding the store, its live-pipeline counters and its last snapshot."""
    hub = _hub(request)
    snap = hub.snapshots.last if hub.snapshots is not None else None
    return {"pid": os.getpid(), "db": str(hub.db_path),
            "live": None if hub.live is None else asdict(hub.live.stats),
            "scores": None if hub.scorer is None else asdict(hub.scorer.stats),
            "alerts": None if hub.alerts is None else asdict(hub.alerts.stats),
            "snapshot": None if snap is None else {"path": snap.path, "as_of": snap.as_of,
                                                    "seconds": snap.seconds, "bytes": snap.bytes}}


@router.post("/jobs", status_code=202, summary="Submit a job: {op, params}")
def submit(request: Request, op: Annotated[str, Body(max_length=64)],
           params: Annotated[dict[str, Any], Body()] = {}) -> dict[str, Any]:  # noqa: B006 - FastAPI copies it
    """Queue operation `op` with `params` (checked against its signature first: 422 when they do not fit)."""
    try:
        job = _hub(request).jobs.submit(op, params)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return job.public()


@router.get("/queue", summary="Jobs, newest first")
def list_jobs(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The latest jobs, newest first, without their log lines."""
    jobs = list(_hub(request).jobs.jobs.values())[::-1][:limit]
    return {"jobs": [j.public(len(j.logs)) | {"logs": []} for j in jobs]}


@router.get("/jobs/{job_id}", responses=_NO_JOB, summary="A job's status, progress and log lines from `logs_since`")
def job_status(request: Request, job_id: str, logs_since: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """One job: status, progress, and its log lines from `logs_since` on."""
    return _job_or_404(request, job_id).public(logs_since)


@router.get("/jobs/{job_id}/result", summary="A finished job's result (revline.ops.codec JSON)", responses={
    **_NO_JOB, 409: {"model": ErrorResponse, "description": "The job has not finished, or failed"},
    410: {"model": ErrorResponse, "description": "The result was not kept across a restart"}})
def job_result(request: Request, job_id: str) -> Response:
    """The result of a finished job; 409 while it is not done, 410 when a restart dropped it."""
    job = _job_or_404(request, job_id)
    if job.status != "done":
        raise HTTPException(409, f"job {job_id} is {job.status}" + (f": {job.error}" if job.error else ""))
    try:
        result = _hub(request).jobs.result(job_id)
    except KeyError:
        raise HTTPException(410, f"the result of job {job_id} was not kept across a server restart") from None
    return Response(json.dumps({"id": job_id, "op": job.op, "result": result}), media_type="application/json")


@router.post("/jobs/{job_id}/cancel", responses=_NO_JOB, summary="Cancel a job (a running one rolls back)")
def cancel(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel a job: a queued one is dropped, a running one is interrupted and rolls back."""
    _job_or_404(request, job_id)
    job = _hub(request).jobs.cancel(job_id)
    if job is None:  # gone between the two calls
        raise HTTPException(404, f"no job {job_id}")
    return job.public()


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


@router.put("/uploads/{name}", responses={413: {"model": ErrorResponse, "description": "Upload too large"}},
            summary="Upload a file (raw body) for an ingest job; returns its server path")
async def upload(request: Request, name: str) -> dict[str, Any]:
    """Store the raw body as a file for an ingest job (at most MAX_UPLOAD_BYTES); returns its server path."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise HTTPException(422, "file name: letters, digits, '.', '_' and '-' only")
    folder = uploads_dir(_hub(request).db_path) / secrets.token_hex(8)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    size = 0
    with open(target, "wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                fh.close()
                target.unlink(missing_ok=True)
                raise HTTPException(413, f"uploads are limited to {MAX_UPLOAD_BYTES} bytes")
            fh.write(chunk)
    return {"path": str(target), "bytes": size}


def install(app: FastAPI, con, db_path: Path, loader: EventLoader, admin_key: str | None = None,
            snapshot_seconds: float | None = 60.0, live: bool = True, schedule: Path | None = None,
            scoring: Scoring | None = None, alerts: AlertSettings | None = None) -> Hub:
    """Create the hub on `app.state.hub` and mount /admin (one line in create_app)."""
    app.state.hub = Hub(con, db_path, loader, admin_key, snapshot_seconds, live, schedule, scoring, alerts)
    app.include_router(router)
    return app.state.hub
