"""Run an operation where the store is: locally, or as a job of the server that holds it.

Why here: every command that touches the store asks the same question. When `<store>.server.json`
names a live server (its pid is alive and it answers /admin/ping with that pid), the operation is
submitted to the server's admin API and its progress is relayed to the caller's progress
callback, so the command prints what it prints locally; otherwise it runs on a local connection
as before. An advertisement whose process is gone is removed (the server crashed).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import duckdb

from revline.ops import codec, get_operation
from revline.ops.registry import Progress, no_progress
from revline.store import connect, resolve_db_path
from revline.store.errors import StoreLockedError
from revline.store.hub import Advert, pid_alive, read_advert
from revline.store.state import staleness

PING_SECONDS = 15.0  # a server just started may need this long before it answers
POLL_SECONDS = 0.2


class RemoteJobError(ValueError):
    """The server ran the job and it failed; the message is the job's error."""

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type


class Server:
    """A live server's admin API, as seen from its advertisement."""

    def __init__(self, advert: Advert) -> None:
        self.advert = advert
        self.url = advert.url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):  # urlopen would also open file: and ftp:
            raise StoreLockedError(f"the store's server advertisement names {advert.url!r}, not an http(s) URL; "
                                   f"stop the server or remove the stale advertisement")
        try:
            self.key = Path(advert.admin_key_file).read_text().strip()
        except OSError as exc:
            raise StoreLockedError(f"the store is held by `revline serve` at {advert.url}, but its admin key "
                            f"{advert.admin_key_file} cannot be read ({exc.strerror})") from None

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,  # noqa: S310 - http(s), checked in __init__
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s), checked in __init__
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail")
            except ValueError:
                detail = exc.reason
            raise RemoteJobError(f"{detail}" if isinstance(detail, str) else f"server said {exc.code}: {detail}") from None

    def answers(self) -> bool:
        try:
            return int(self.call("GET", "/admin/ping", timeout=2.0)["pid"]) == self.advert.pid
        except (OSError, RemoteJobError, ValueError, KeyError, TypeError):
            return False


def live_server(db: Path | str | None) -> Server | None:
    """The server holding `db`, or None when there is none (a crashed one's advertisement is removed)."""
    path = resolve_db_path(db)
    if str(path) == ":memory:":
        return None
    advert = read_advert(path)
    if advert is None:
        return None
    server = Server(advert)
    deadline = time.monotonic() + PING_SECONDS
    while True:
        if server.answers():
            return server
        if not pid_alive(advert.pid):
            read_advert(path)  # removes the stale file
            return None
        if time.monotonic() >= deadline:
            raise StoreLockedError(f"the store is held by `revline serve` (pid {advert.pid}) which does not answer at "
                            f"{advert.url}; wait for it, or stop it")
        time.sleep(0.3)


def run_remote(server: Server, name: str, params: dict[str, Any], progress: Progress = no_progress) -> Any:
    """Submit the job, relay its progress until it ends, return its decoded result."""
    job = server.call("POST", "/admin/jobs", {"op": name, "params": params})
    job_id, seen = job["id"], 0
    try:
        while True:
            job = server.call("GET", f"/admin/jobs/{job_id}?logs_since={seen}")
            seen += len(job["logs"])
            if job["label"] or job["total"] is not None:
                progress(job["done"], job["total"], job["label"])
            if job["status"] in ("done", "failed", "cancelled"):
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        server.call("POST", f"/admin/jobs/{job_id}/cancel")
        raise
    if job["status"] != "done":
        raise RemoteJobError(job["error"] or job["status"], job.get("error_type"))
    return codec.decode(server.call("GET", f"/admin/jobs/{job_id}/result")["result"])


def run_operation(db: Path | str | None, name: str, params: dict[str, Any], progress: Progress = no_progress,
                  *, create: bool = True) -> Any:
    """Run operation `name` (revline.ops) on the store `db`, wherever the store is held."""
    server = live_server(db)
    if server is not None:
        return run_remote(server, name, params, progress)
    op = get_operation(name)
    path = resolve_db_path(db)
    read_only = op.writes == "never" or (op.writes == "if_stale" and not _stale(path))
    con = connect(path, read_only=read_only, create=create)
    try:
        return op.run(con, params, progress)
    finally:
        con.close()


def _stale(path: Path) -> bool:
    """Whether an if_stale operation will stitch first (then it needs the store writable)."""
    con = connect(path, read_only=True)
    try:
        return staleness(con).stale
    except duckdb.CatalogException:  # older than the state table: stitching migrates it
        return True
    finally:
        con.close()


def absolute(path: Path | str | None) -> str | None:
    """A path the server can open (it runs on this machine, maybe in another folder)."""
    return None if path is None else os.path.abspath(path)
