"""Issue 20 D8-D10, server side: body limits before auth, read timeouts for half-sent bodies, a
bounded shutdown, key rules (equal, short), the read key printed only when generated, and
throttled failed logins."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from conftest import API_READ_KEY, API_WRITE_KEY
from revline.api.limits import BodyLimits, ReadDeadlines


# ------------------------------------------------------------------ body limits (in process)
def _run_asgi(app, scope_extra: dict, chunks: list[bytes], pause: float = 0.0):
    """Drive a pure-ASGI app with a body sent in `chunks` (then silence for `pause` s)."""
    sent: list[dict] = []
    reached: list[bytes] = []

    async def inner(scope, receive, send):
        while True:
            m = await receive()
            reached.append(m.get("body", b""))
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        queue = list(chunks)

        async def receive():
            if queue:
                body = queue.pop(0)
                return {"type": "http.request", "body": body, "more_body": bool(queue) or pause > 0}
            await asyncio.sleep(pause)  # a client that stopped sending
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/login", "headers": [], **scope_extra}
        await (app or BodyLimits(inner))(scope, receive, send)

    # In its own thread: a browser test in the same worker may leave an event loop running here.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), reached


def test_a_declared_body_over_the_limit_is_refused_before_reading_it():
    limits = BodyLimits(None, max_bytes=1000)
    limits.app = lambda *a: pytest.fail("the route ran")
    status, body, _ = _run_asgi(limits, {"headers": [(b"content-length", b"536870912")]}, [b"x" * 10])
    assert status == 413 and b"536870912 bytes exceeds the limit of 1000" in body


def test_a_streamed_body_is_counted_and_cut_at_the_limit():
    limits = BodyLimits(None, max_bytes=1000)
    limits.app = lambda *a: pytest.fail("the route ran")
    status, body, _ = _run_asgi(limits, {}, [b"x" * 400] * 3)  # chunked: no Content-Length
    assert status == 413 and b"exceeds the limit" in body


def test_a_body_within_the_limit_reaches_the_route_whole():
    status, _, reached = _run_asgi(None, {}, [b"a" * 300, b"b" * 300])
    assert status == 200 and b"".join(reached) == b"a" * 300 + b"b" * 300


def test_a_half_sent_body_times_out_with_408():
    limits = BodyLimits(None, deadlines=ReadDeadlines(0.3))
    limits.app = lambda *a: pytest.fail("the route ran")
    started = time.monotonic()
    status, body, _ = _run_asgi(limits, {"headers": [(b"content-length", b"100")]}, [b"key=ab"], pause=30)
    assert status == 408 and b"did not arrive within 0.3 s" in body
    assert time.monotonic() - started < 5


def test_login_with_a_big_body_gets_413_in_the_app(api_client):
    client, _ = api_client
    r = client.post("/login", content=b"key=" + b"x" * (2 * 1024 * 1024),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


# ------------------------------------------------------------------ keys
def _serve_cli(args, monkeypatch, db):
    """`revline serve` through the CLI with uvicorn's run replaced (start-up output only)."""
    import uvicorn

    from revline.cli import app as cli

    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    monkeypatch.delenv("REVLINE_WRITE_KEY", raising=False)
    monkeypatch.delenv("REVLINE_READ_KEY", raising=False)
    return CliRunner().invoke(cli, ["serve", "--db", str(db), *args])


@pytest.mark.parametrize("args,words", [
    (["--write-key", "k" * 20, "--read-key", "k" * 20], "write key and the read key are the same"),
    (["--write-key", "x", "--read-key", "y" * 20], "write key given by --write-key has 1 characters"),
    (["--read-key", "short"], "read key given by --read-key has 5 characters"),
])
def test_unusable_keys_are_one_line_and_exit_1(tmp_path, monkeypatch, args, words):
    result = _serve_cli(args, monkeypatch, tmp_path / "s.duckdb")
    assert result.exit_code == 1
    out = result.output.strip()
    assert words in out and "Traceback" not in out and len(out.splitlines()) == 1, out


def test_the_read_key_is_printed_only_when_generated(tmp_path, monkeypatch):
    db = tmp_path / "s.duckdb"
    first = _serve_cli([], monkeypatch, db)
    assert first.exit_code == 0, first.output
    read_key = next(line.rsplit(": ", 1)[1] for line in first.output.splitlines() if line.startswith("read key"))
    assert read_key.startswith("rlr_") and len(read_key) >= 16
    again = _serve_cli([], monkeypatch, db)
    assert again.exit_code == 0, again.output
    assert read_key not in again.output and "read key: as given or stored (not shown)" in again.output
    given = _serve_cli(["--read-key", "r" * 24], monkeypatch, db)
    assert "r" * 24 not in given.output


# ------------------------------------------------------------------ login throttling
def test_failed_logins_are_throttled_per_client(api_client):
    client, app = api_client
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    statuses = [client.post("/login", content=f"key=wrong{i}", headers=form, follow_redirects=False).status_code
                for i in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    # while throttled even the right key is not compared (no oracle), and the wait is announced
    r = client.post("/login", content=f"key={API_READ_KEY}", headers=form, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert client.get("/dashboard?key=wrong", follow_redirects=False).status_code == 429


def test_the_throttle_refills_and_forgets(monkeypatch):
    import revline.api.keys as keys

    now = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: now[0])
    t = keys.FailedLoginThrottle(burst=3, refill_seconds=10, max_clients=2)
    for _ in range(3):
        assert t.retry_after("a") == 0
        t.failed("a")
    assert t.retry_after("a") == 10 and t.retry_after("b") == 0  # per client
    now[0] += 10
    assert t.retry_after("a") == 0
    t.failed("b")
    t.failed("c")  # a third client: the table stays within max_clients
    assert len(t._buckets) <= 2


def test_a_right_key_is_not_slowed_by_the_throttle(api_client):
    client, _ = api_client
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(30):
        r = client.post("/login", content=f"key={API_READ_KEY}", headers=form, follow_redirects=False)
        assert r.status_code == 303


# ------------------------------------------------------------------ a real server (slow)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db, port, **env) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "revline", "serve", "--db", str(db), "--port", str(port),
         "--write-key", API_WRITE_KEY, "--read-key", API_READ_KEY],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("revline serve did not start")


def _raw(port: int, head: bytes, body: bytes = b"", wait: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head + body)
        try:
            return s.recv(4096)
        except TimeoutError:
            return b""


@pytest.mark.slow
def test_a_real_server_bounds_bodies_and_its_shutdown(tmp_path):
    db = tmp_path / "s.duckdb"
    port = _free_port()
    server = _start(db, port, REVLINE_BODY_SECONDS="1.5", REVLINE_SHUTDOWN_SECONDS="3")
    try:
        # 512 MB declared to /login, unauthenticated: 413 at once, nothing read
        head = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 536870912\r\n\r\n"
        assert b" 413 " in _raw(port, head, b"key=" + b"x" * 65536).split(b"\r\n")[0]
        # a half-sent body: 408 after the body time limit, on /login and on the collector
        started = time.monotonic()
        head = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        assert b" 408 " in _raw(port, head, b"key=abc").split(b"\r\n")[0]
        auth = __import__("base64").b64encode(f"{API_WRITE_KEY}:".encode())
        head = (b"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth
                + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        assert b" 408 " in _raw(port, head, b'{"userId":').split(b"\r\n")[0]
        assert time.monotonic() - started < 10
        # a stop with a connection holding a half-sent body ends within the bound
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nkey=")
        time.sleep(0.2)
        stopped = time.monotonic()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        assert time.monotonic() - stopped < 8
        held.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_streamed_upload_route_passes_big_bodies_through_unbuffered():
    """Routes that stream their body (the admin API's uploads) keep their own, larger limit."""
    limits = BodyLimits(None, max_bytes=1000, streamed={"/admin/uploads/": 5000})
    seen: list[int] = []

    async def route(scope, receive, send):
        while True:
            m = await receive()
            seen.append(len(m.get("body", b"")))  # chunk by chunk, as sent
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limits.app = route
    up = {"path": "/admin/uploads/a.csv", "method": "PUT"}
    status, _, _ = _run_asgi(limits, up, [b"x" * 1500] * 3)
    assert status == 200 and seen == [1500] * 3
    status, body, _ = _run_asgi(limits, up, [b"x" * 1500] * 4)
    assert status == 413 and b"limit of 5000" in body
    status, _, _ = _run_asgi(limits, {**up, "headers": [(b"content-length", b"6000")]}, [b"x"])
    assert status == 413
    limits.deadlines = ReadDeadlines(0.3)
    status, body, _ = _run_asgi(limits, up, [b"x" * 10], pause=30)
    assert status == 408 and b"stalled" in body


def test_the_admin_upload_route_takes_files_over_the_general_limit(tmp_path):
    """The 1 MB limit must not cut the admin API's uploads (they stream, after the admin key)."""
    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    admin = "a" * 24
    app = create_app(tmp_path / "s.duckdb", write_key=API_WRITE_KEY, read_key=API_READ_KEY, warm=False, admin_key=admin)
    big = b"date,channel,spend\n" + b"2026-01-01,google,1.00\n" * 100_000  # 2.3 MB
    try:
        with TestClient(app) as client:
            r = client.put("/admin/uploads/spend.csv", content=big, headers={"Authorization": f"Bearer {admin}"})
            assert r.status_code == 200 and r.json()["bytes"] == len(big)
            assert client.put("/admin/uploads/spend.csv", content=big,
                              headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.post("/login", content=b"key=" + b"x" * len(big)).status_code == 413
    finally:
        close_app(app)
