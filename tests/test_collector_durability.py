"""Durability: events acknowledged by a `revline serve` process survive its SIGKILL (replayed at start)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from conftest import API_READ_KEY, API_WRITE_KEY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db, port) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "revline", "serve", "--db", str(db), "--port", str(port),
         "--write-key", API_WRITE_KEY, "--read-key", API_READ_KEY],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("revline serve did not start")


@pytest.mark.slow
def test_acknowledged_events_survive_kill_9(tmp_path):
    db = tmp_path / "store.duckdb"
    port = _free_port()
    server = _serve(db, port)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(API_WRITE_KEY, ""), timeout=5) as client:
            for seq in range(100_000):
                if stop.is_set():
                    return
                ids = [f"w{worker}-{seq}-{i}" for i in range(5)]
                body = {"batch": [{"type": "track", "event": "Clicked", "userId": f"u{worker}", "messageId": m}
                                  for m in ids]}
                try:
                    r = client.post("/v1/batch", json=body)
                except httpx.HTTPError:
                    return  # the server is gone: this request was never acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.extend(ids)

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.send_signal(signal.SIGKILL)  # mid-load, no shutdown hook runs
    server.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 0

    from revline.api.app import close_app, create_app

    app = create_app(db, write_key=API_WRITE_KEY, read_key=API_READ_KEY)  # start-up replays the log
    collector = app.state.collector
    collector.flush()
    cur = app.state.con.cursor()
    cur.execute("CREATE TEMP TABLE acked (message_id VARCHAR)")
    cur.executemany("INSERT INTO acked VALUES (?)", [[m] for m in acked])
    missing = cur.execute("SELECT count(*) FROM acked ANTI JOIN events USING (message_id)").fetchone()[0]
    stored = cur.execute("SELECT count(*) FROM events").fetchone()[0]
    close_app(app)
    assert missing == 0, f"{missing} of {len(acked)} acknowledged events lost"
    assert stored >= len(acked)


@pytest.mark.slow
def test_every_stored_touch_event_has_its_touchpoint_after_kill_9s_at_random_points(tmp_path):
    """Issue 20 D1: kill -9 `revline serve` under load at random moments, several times, then start
    again: every stored page/track event has its touchpoint (none is left to a later derivation
    that never comes), and every acknowledged event is stored."""
    import random

    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    db = tmp_path / "store.duckdb"
    acked: list[str] = []
    lock = threading.Lock()
    for round_ in range(3):
        port = _free_port()
        server = _serve(db, port)
        stop = threading.Event()

        def sender(worker: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(API_WRITE_KEY, ""), timeout=5) as client:
                for seq in range(100_000):
                    if stop.is_set():
                        return
                    ids = [f"r{round_}-w{worker}-{seq}-{i}" for i in range(5)]
                    kinds = ("page", "track", "identify", "page", "track")
                    body = {"batch": [{"type": k, "event": "Clicked", "name": "Home", "anonymousId": f"a{worker}",
                                       "userId": f"u{worker}", "messageId": m} for k, m in zip(kinds, ids)]}
                    try:
                        r = client.post("/v1/batch", json=body)
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        with lock:
                            acked.extend(ids)

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 7.0))  # the loader derives every 5 s: before, during and after one
        server.send_signal(signal.SIGKILL)
        server.wait()
        stop.set()
        for t in threads:
            t.join()

    from revline.api.app import close_app, create_app

    app = create_app(db, write_key=API_WRITE_KEY, read_key=API_READ_KEY)  # replays the log, derives what is owed
    cur = app.state.con.cursor()
    touchless = cur.execute(
        "SELECT count(*) FROM events e WHERE e.type IN ('page', 'screen', 'track') "
        "AND NOT EXISTS (SELECT 1 FROM touchpoints t WHERE t.touchpoint_id = e.message_id)").fetchone()[0]
    touch_events = cur.execute("SELECT count(*) FROM events WHERE type IN ('page', 'track')").fetchone()[0]
    cur.execute("CREATE TEMP TABLE acked (message_id VARCHAR)")
    cur.executemany("INSERT INTO acked VALUES (?)", [[m] for m in acked])
    missing = cur.execute("SELECT count(*) FROM acked ANTI JOIN events USING (message_id)").fetchone()[0]
    close_app(app)
    assert acked, f"seed {seed}: nothing was acknowledged"
    assert missing == 0, f"seed {seed}: {missing} of {len(acked)} acknowledged events lost"
    assert touchless == 0, f"seed {seed}: {touchless} of {touch_events} stored touch events have no touchpoint"
