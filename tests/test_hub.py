"""The server as the hub: CLI delegation, jobs surviving kill -9, readers and the live pipeline.

The process tests start `python -m revline serve` on a free port (marked `server` and `slow`);
every wait is bounded. Expected figures always come from a local run on the same files.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import duckdb
import pytest

REVLINE = [sys.executable, "-m", "revline"]
ENV = {**os.environ, "COLUMNS": "200", "REVLINE_DB": ""}
WRITE_KEY, READ_KEY, ADMIN_KEY = "hub-test-write-key-0", "hub-test-read-key-00", "hub-test-admin-key-0"


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(REVLINE + args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def _ok(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, key: str | None = None, body=None, basic: str | None = None, timeout=10.0):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic}:".encode()).decode()
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


class Server:
    """`revline serve` in a child process, ready when its admin API answers."""

    def __init__(self, db: Path, snapshot_seconds: float = 2.0, extra: tuple[str, ...] = (),
                 in_market: bool = False) -> None:
        """`in_market`: keep in-market scores (off by default here: fitting the scoring model costs a
        minute of CPU on the tiny store, which only tests/test_in_market_live.py needs)."""
        self.db = db
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(db.with_name(db.name + f".serve-{self.port}.log"), "w")
        self.proc = subprocess.Popen(
            REVLINE + ["serve", "--db", str(db), "--port", str(self.port), "--write-key", WRITE_KEY,
                       "--read-key", READ_KEY, "--admin-key", ADMIN_KEY, "--snapshot-seconds", str(snapshot_seconds),
                       "--in-market" if in_market else "--no-in-market", *extra],
            cwd=db.parent, env=ENV, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, Path(self.log.name).read_text()
            try:
                if _http("GET", self.url + "/admin/ping", ADMIN_KEY, timeout=2)["pid"] == self.proc.pid:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not answer within 90 s"
            time.sleep(0.3)

    def admin(self, method: str, path: str, body=None):
        return _http(method, self.url + path, ADMIN_KEY, body)

    def wait_job(self, job_id: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.admin("GET", f"/admin/jobs/{job_id}")
            if job["status"] in ("done", "failed", "cancelled"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not end within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    from revline.demo.simulate import generate

    out = tmp_path_factory.mktemp("hubdemo") / "demo"
    generate(out, size="tiny", seed=7)
    return out


def _normalise(text: str, *names: str) -> str:
    """Timings and the store's own name differ between two runs; nothing else may."""
    for name in names:
        text = text.replace(name, "<store>")
    text = re.sub(r"\d+:\d\d:\d\d", "<elapsed>", text)
    return re.sub(r"done in [0-9.]+s", "done in <s>", text)


def _jobs(db: Path) -> list[dict]:
    return json.loads(db.with_name(db.name + ".jobs.json").read_text())


def _prepared_store(tmp_path: Path, demo_dir: Path, name: str) -> Path:
    db = tmp_path / name
    _ok(_run(["ingest", str(demo_dir), "--db", str(db)], tmp_path))
    _ok(_run(["stitch", "--db", str(db)], tmp_path))
    return db


# --------------------------------------------------------------------------- process tests
@pytest.mark.server
@pytest.mark.slow
def test_cli_delegates_to_a_running_server_with_local_output(tmp_path, demo_dir):
    # same-length paths: rich centres titles that name the store
    local, served = tmp_path / "one" / "store.duckdb", tmp_path / "two" / "store.duckdb"
    local.parent.mkdir()
    served.parent.mkdir()
    commands = [
        ["ingest", str(demo_dir)],
        ["stitch"],
        ["attribute", "-m", "linear", "-m", "first_touch", "--milestone", "won"],
        ["report", "--model", "linear", "--model", "first_touch"],
        ["report", "--roi", "--model", "linear", "--revenue-type", "all"],
    ]
    expected = [_normalise(_ok(_run([*c, "--db", str(local)], tmp_path)), "/one/") for c in commands]
    _ok(_run(["init", "--db", str(served)], tmp_path))
    server = Server(served)
    try:
        for cmd, want in zip(commands, expected):
            got = _normalise(_ok(_run([*cmd, "--db", str(served)], tmp_path)), "/two/")
            assert got == want, f"`revline {cmd[0]}` through the server differs from the local run"
        # they ran as the server's jobs, in order, not beside it
        ops = [j["op"] for j in _jobs(served)]
        assert ops == ["ingest", "stitch", "attribute", "report", "report"]
        assert all(j["status"] == "done" for j in _jobs(served))
        # init on a served store: the server migrated it at start, so it is ready; no lock error
        res = _run(["init", "--db", str(served)], tmp_path)
        assert res.returncode == 0, res.stderr
        assert "held by `revline serve`" in " ".join(res.stdout.split()) and "lock" not in res.stderr.lower()
        assert "Traceback" not in res.stderr
        # a failing job fails the command as locally: one line, exit 1
        res = _run(["attribute", "-m", "no_such_model", "--db", str(served)], tmp_path)
        local_res = _run(["attribute", "-m", "no_such_model", "--db", str(local)], tmp_path)
        assert res.returncode == local_res.returncode == 1
        assert res.stderr == local_res.stderr
    finally:
        server.stop()
    assert not served.with_name(served.name + ".server.json").exists(), "advertisement left after a clean exit"


@pytest.mark.server
@pytest.mark.slow
def test_readers_while_the_server_runs(tmp_path, demo_dir):
    import revline

    db = _prepared_store(tmp_path, demo_dir, "read.duckdb")
    server = Server(db)
    try:
        with pytest.raises(duckdb.IOException):  # the raw file is the server's
            duckdb.connect(str(db), read_only=True)
        con = revline.connect(db, read_only=True)  # the notebook entry opens the snapshot
        try:
            assert con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] == 0
            (as_of,) = con.execute("SELECT as_of FROM snapshot_info").fetchone()
            assert as_of is not None
        finally:
            con.close()
        out = _ok(_run(["attribute", "-m", "linear", "--milestone", "won", "--db", str(db)], tmp_path))
        written = int(re.search(r"(\d+) attribution runs written", out).group(1))
        con = revline.connect(db, read_only=True)  # a writer job refreshes the snapshot before it ends
        try:
            runs = con.execute("SELECT count(*) FROM attribution_runs WHERE model = 'linear'").fetchone()[0]
        finally:
            con.close()
        assert runs == written > 0
        account = duckdb.connect(str(db.with_name(db.name + ".snapshot.duckdb")), read_only=True).execute(
            "SELECT account_id FROM touchpoints WHERE account_id IS NOT NULL LIMIT 1").fetchone()[0]
        out = _ok(_run(["journey", account, "--db", str(db)], tmp_path))
        assert account in out
        _ok(_run(["quarantine", "--db", str(db), "--limit", "1"], tmp_path))
    finally:
        server.stop()


@pytest.mark.server
@pytest.mark.slow
def test_kill_9_mid_job_leaves_the_store_and_reports_the_job_failed(tmp_path, demo_dir):
    db = _prepared_store(tmp_path, demo_dir, "kill.duckdb")

    def state() -> tuple:
        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.execute("SELECT (SELECT count(*) FROM attribution_runs), (SELECT count(*) FROM credit_ledger), "
                               "(SELECT count(*) FROM touchpoints), (SELECT count(*) FROM people)").fetchone()
        finally:
            con.close()

    before = state()
    server = Server(db)
    try:
        job = server.admin("POST", "/admin/jobs", {"op": "attribute", "params": {}})  # every model: many runs
        deadline = time.monotonic() + 120
        while True:  # kill once some runs are written inside the job's transaction
            status = server.admin("GET", f"/admin/jobs/{job['id']}")
            if status["status"] == "running" and (status["done"] or 0) >= 2:
                break
            assert status["status"] in ("queued", "running"), status
            assert time.monotonic() < deadline, "the job never got going"
            time.sleep(0.05)
        server.proc.kill()
        server.proc.wait(timeout=30)
    finally:
        server.log.close()
    assert state() == before, "a killed job changed the store"
    restarted = Server(db)
    try:
        after = restarted.admin("GET", f"/admin/jobs/{job['id']}")
        assert after["status"] == "failed" and after["error_type"] == "Interrupted", after
        # the server works on: the same job submitted again completes
        again = restarted.wait_job(restarted.admin("POST", "/admin/jobs", {"op": "attribute", "params": {
            "models": ["linear"], "milestones": ["won"]}})["id"])
        assert again["status"] == "done", again
    finally:
        restarted.stop()


@pytest.mark.server
@pytest.mark.slow
def test_live_touch_reaches_the_account_journey_within_10_s(tmp_path, demo_dir):
    db = _prepared_store(tmp_path, demo_dir, "live.duckdb")
    con = duckdb.connect(str(db), read_only=True)
    user_id, account_id = con.execute(
        "SELECT i.identity_value, p.account_id FROM identities i JOIN people p USING (person_id) "
        "WHERE i.identity_type = 'user_id' AND p.account_id IS NOT NULL ORDER BY 1 LIMIT 1").fetchone()
    con.close()
    server = Server(db)
    try:
        latencies = []
        for _ in range(3):
            message_id = f"live-{uuid.uuid4()}"
            event = {"userId": user_id, "messageId": message_id, "name": "Pricing",
                     "properties": {"path": "/pricing", "url": "https://example.com/pricing?utm_source=google"},
                     "context": {"campaign": {"source": "google", "medium": "cpc", "name": "live-test"},
                                 "page": {"path": "/pricing", "url": "https://example.com/pricing"}}}
            _http("POST", server.url + "/v1/page", body=event, basic=WRITE_KEY)
            sent = time.monotonic()
            while True:
                journey = _http("GET", f"{server.url}/api/accounts/{account_id}/journey", READ_KEY)
                touch = [e for e in journey["events"] if e["ref"] == message_id]
                if touch:
                    latencies.append(time.monotonic() - sent)
                    break
                assert time.monotonic() - sent < 10, "the touch did not reach the journey within 10 s"
                time.sleep(0.1)
            assert touch[0]["channel"] == "paid_search" and touch[0]["campaign_id"] == "live-test"
        assert max(latencies) < 10
    finally:
        server.stop()
