"""Live latency: from the collector's 200 to the touch in the account's journey (GET /api/accounts/{id}/journey).

Builds a tiny demo store (ingest + stitch), starts `revline serve` on 127.0.0.1, then sends page
views with UTM parameters by known visitors (userIds the identity graph knows), one every
--interval seconds, and polls the journey API until each touch appears. Optionally a background
batch load (--load-eps events/s of anonymous page views) runs meanwhile. Prints p50/p99/max
latency. Every wait is bounded.

    .venv/bin/python benchmarks/bench_live.py --events 20
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import duckdb
import numpy as np

WRITE_KEY, READ_KEY = "bench-live-write-key-01", "bench-live-read-key-001"
REVLINE = [sys.executable, "-m", "revline"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> None:
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Authorization": auth,
                                                                 "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def _journey(base: str, account: str) -> list[dict]:
    req = urllib.request.Request(f"{base}/api/accounts/{account}/journey", headers={"Authorization": f"Bearer {READ_KEY}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["events"]


def _page(user_id: str | None, message_id: str) -> dict:
    return {"userId": user_id, "anonymousId": None if user_id else f"anon-{message_id}", "messageId": message_id,
            "name": "Pricing", "properties": {"path": "/pricing"},
            "context": {"campaign": {"source": "google", "medium": "cpc", "name": "live-bench"},
                        "page": {"path": "/pricing", "url": "https://example.com/pricing?utm_source=google"}}}


def _load(base: str, eps: float, stop: threading.Event) -> None:
    """Anonymous page views in batches of 100 at about `eps` events/s."""
    url, n = base + "/v1/batch", 0
    while not stop.is_set():
        t = time.monotonic()
        batch = [dict(_page(None, f"load-{n}-{i}"), type="page") for i in range(100)]
        _post(url, {"batch": batch})
        n += 1
        stop.wait(max(0.0, 100 / eps - (time.monotonic() - t)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20, help="known-visitor page views to time")
    ap.add_argument("--interval", type=float, default=0.7, help="seconds between them")
    ap.add_argument("--load-eps", type=float, default=0.0, help="background anonymous events/s in batches")
    ap.add_argument("--timeout", type=float, default=30.0, help="give up on one touch after this many seconds")
    args = ap.parse_args()
    env = {**os.environ, "COLUMNS": "200"}
    with tempfile.TemporaryDirectory(prefix="revline-live-") as tmp:
        tmp = Path(tmp)
        from revline.demo.simulate import generate

        generate(tmp / "demo", size="tiny", seed=11)
        db = tmp / "live.duckdb"
        for cmd in (["ingest", str(tmp / "demo")], ["stitch"]):
            subprocess.run(REVLINE + cmd + ["--db", str(db)], check=True, capture_output=True, env=env, timeout=600)
        con = duckdb.connect(str(db), read_only=True)
        known = con.execute(
            "SELECT i.identity_value, p.account_id FROM identities i JOIN people p USING (person_id) "
            "WHERE i.identity_type = 'user_id' AND p.account_id IS NOT NULL ORDER BY 1").fetchall()
        con.close()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(REVLINE + ["serve", "--db", str(db), "--port", str(port), "--write-key", WRITE_KEY,
                                             "--read-key", READ_KEY], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT)
        stop = threading.Event()
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    _journey(base, known[0][1])
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.3)
            loader = None
            if args.load_eps:
                loader = threading.Thread(target=_load, args=(base, args.load_eps, stop), daemon=True)
                loader.start()
            latencies, missed = [], 0
            for i in range(args.events):
                user, account = known[i % len(known)]
                mid = f"live-{uuid.uuid4()}"
                _post(base + "/v1/page", _page(user, mid))
                sent = time.monotonic()
                while True:
                    if any(e["ref"] == mid for e in _journey(base, account)):
                        latencies.append(time.monotonic() - sent)
                        break
                    if time.monotonic() - sent > args.timeout:
                        missed += 1
                        break
                    time.sleep(0.05)
                time.sleep(args.interval)
        finally:
            stop.set()
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
    lat = np.array(latencies)
    print(f"live latency (200 -> touch in the journey API), {len(lat)} touches, {missed} missed "
          f"(background load {args.load_eps:,.0f} events/s):")
    if len(lat):
        print(f"  p50 {np.percentile(lat, 50):.2f} s   p99 {np.percentile(lat, 99):.2f} s   max {lat.max():.2f} s")
    print(f"  machine load: {os.getloadavg()[0]:.2f} (1 min)")
    return 0 if missed == 0 and len(lat) and lat.max() < 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
