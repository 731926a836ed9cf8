"""Collector throughput, latency and durability on loopback.

Starts `revline serve` in a subprocess on 127.0.0.1 with a temporary store, then:
  1. single-event requests (POST /v1/page) from many keep-alive connections for --seconds;
  2. batches of --batch-size events (POST /v1/batch) for --seconds;
  3. counts the store after a graceful stop: every acknowledged messageId present, nothing extra;
  4. restarts, loads again, kills the server with SIGKILL mid-load, restarts (the write-ahead log is
     replayed) and checks every acknowledged messageId is present.
Prints requests/s, events/s, p50/p99 latency and the ratio to the targets (3,000 single-event
requests/s, 50,000 events/s in batches, on 2 cores). Traffic goes to 127.0.0.1 only; every loop
is bounded in time.

    .venv/bin/python benchmarks/bench_collector.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WRITE_KEY = "bench-write-key-0123456789"
READ_KEY = "bench-read-key-0123456789"
TARGET_RPS = 3000
TARGET_EPS = 50000

_EVENT = (
    '{{"messageId":"{mid}","type":"page","anonymousId":"anon-{anon}","timestamp":"2026-03-01T12:00:00.000Z",'
    '"name":"Pricing","properties":{{"path":"/pricing","url":"https://www.example.com/pricing?utm_source=google",'
    '"referrer":"https://www.google.com/","title":"Pricing - Example"}},'
    '"context":{{"campaign":{{"source":"google","medium":"cpc","name":"C{camp}"}},'
    '"page":{{"path":"/pricing","url":"https://www.example.com/pricing","referrer":"https://www.google.com/"}},'
    '"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",'
    '"library":{{"name":"bench","version":"1"}}}}}}'
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE_ARGS: list[str] = []  # extra `revline serve` options (--no-live)


def start_server(db: Path, port: int, extra_env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "revline", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port),
           "--write-key", WRITE_KEY, "--read-key", READ_KEY, *SERVE_ARGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(extra_env or {})})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process (all threads), so figures can be read on a shared machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- load generator
async def _connection(port: int, tag: str, batch: int, deadline: float, lat: list, acked: list, errors: list,
                      stop_flag: list) -> None:
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    path = "/v1/batch" if batch else "/v1/page"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: "
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        errors.append(repr(exc))
        return
    seq = 0
    try:
        while time.monotonic() < deadline and not stop_flag:
            seq += 1
            mid = f"{tag}-{seq}"
            if batch:
                events = ",".join(_EVENT.format(mid=f"{mid}-{i}", anon=seq % 997, camp=i % 40) for i in range(batch))
                body = ('{"batch":[' + events.replace('"type":"page"', '"type":"page"') + "]}").encode()
            else:
                body = _EVENT.format(mid=mid, anon=seq % 997, camp=seq % 40).encode()
            t0 = time.perf_counter()
            writer.write(head.encode() + str(len(body)).encode() + b"\r\n\r\n" + body)
            status_head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in status_head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status_head.startswith(b"HTTP/1.1 200"):
                acked.append(seq)
            else:
                errors.append(status_head.split(b"\r\n", 1)[0].decode())
    except (OSError, asyncio.IncompleteReadError) as exc:  # the server went away (kill phase)
        errors.append(type(exc).__name__)
    finally:
        writer.close()


def _generator(args) -> dict:
    port, proc_index, conns, batch, seconds, prefix = args
    lat: list = []
    acked: dict[str, list] = {}
    errors: list = []

    async def main():
        deadline = time.monotonic() + seconds
        tasks = []
        for c in range(conns):
            tag = f"{prefix}{proc_index}x{c}"
            acked[tag] = []
            tasks.append(_connection(port, tag, batch, deadline, lat, acked[tag], errors, []))
        await asyncio.gather(*tasks)

    t0 = time.perf_counter()
    asyncio.run(main())
    return {"lat": lat, "acked": acked, "errors": errors, "elapsed": time.perf_counter() - t0}


def run_load(port: int, *, batch: int, seconds: float, procs: int, conns: int, prefix: str) -> dict:
    per = max(1, conns // procs)
    with mp.get_context("fork").Pool(procs) as pool:
        parts = pool.map(_generator, [(port, p, per, batch, seconds, prefix) for p in range(procs)])
    lat = np.array([x for p in parts for x in p["lat"]])
    acked = {k: v for p in parts for k, v in p["acked"].items()}
    errors = [e for p in parts for e in p["errors"]]
    elapsed = max(p["elapsed"] for p in parts)
    requests = sum(len(v) for v in acked.values())
    events = requests * (batch or 1)
    return {
        "requests": requests, "events": events, "elapsed": elapsed, "rps": requests / elapsed, "eps": events / elapsed,
        "p50_ms": float(np.percentile(lat, 50) * 1000) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99) * 1000) if len(lat) else float("nan"),
        "errors": errors, "acked": acked, "batch": batch,
    }


def expected_ids(result: dict) -> list[str]:
    batch = result["batch"]
    out = []
    for tag, seqs in result["acked"].items():
        for seq in seqs:
            if batch:
                out.extend(f"{tag}-{seq}-{i}" for i in range(batch))
            else:
                out.append(f"{tag}-{seq}")
    return out


def check_store(db: Path, results: list[dict], prefix_like: str) -> dict:
    import duckdb
    import pandas as pd

    ids = [i for r in results for i in expected_ids(r)]
    con = duckdb.connect(str(db), read_only=True)
    con.register("acked", pd.DataFrame({"message_id": ids}))
    missing = con.execute("SELECT count(*) FROM acked a ANTI JOIN events e USING (message_id)").fetchone()[0]
    stored = con.execute("SELECT count(*) FROM events WHERE message_id LIKE ?", [prefix_like]).fetchone()[0]
    con.close()
    return {"acked": len(ids), "missing": missing, "stored": stored}


def report(name: str, r: dict, target: tuple[str, float]) -> None:
    key, goal = target
    value = r[key]
    cpu = r.get("server_cpu", float("nan"))
    print(f"{name:<26} {r['requests']:>9,} req {r['events']:>10,} events in {r['elapsed']:.1f}s  "
          f"{r['rps']:>9,.0f} req/s {r['eps']:>10,.0f} events/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
          f"{key} vs target {value / goal:.2f}x  (non-200 or errors: {len(r['errors'])})")
    if r["requests"] and cpu == cpu:
        print(f"{'':<26} server CPU {cpu:.1f}s = {1000 * cpu / r['requests']:.3f} ms/request, "
              f"{r['requests'] / cpu:,.0f} req and {r['events'] / cpu:,.0f} events per server CPU-second; "
              f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="duration of each load phase (default 60)")
    ap.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections")
    ap.add_argument("--procs", type=int, default=1, help="load-generator processes")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--kill-after", type=float, default=None, help="seconds of load before SIGKILL (default seconds/4, max 10)")
    ap.add_argument("--no-live", action="store_true", help="serve without the live pipeline (to measure its cost)")
    args = ap.parse_args()
    if args.no_live:
        SERVE_ARGS.append("--no-live")
    kill_after = args.kill_after or min(10.0, max(2.0, args.seconds / 4))
    ok = True
    with tempfile.TemporaryDirectory(prefix="revline-bench-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        port = _free_port()
        print(f"revline serve on 127.0.0.1:{port}, store {db}, {args.connections} connections, {args.procs} generator process(es)")
        server = start_server(db, port)
        c0 = cpu_seconds(server.pid)
        single = run_load(port, batch=0, seconds=args.seconds, procs=args.procs, conns=args.connections, prefix="s")
        single["server_cpu"] = cpu_seconds(server.pid) - c0
        report("single events (/v1/page)", single, ("rps", TARGET_RPS))
        c0 = cpu_seconds(server.pid)
        batched = run_load(port, batch=args.batch_size, seconds=args.seconds, procs=args.procs,
                           conns=max(4, args.connections // 4), prefix="b")
        batched["server_cpu"] = cpu_seconds(server.pid) - c0
        report(f"batches of {args.batch_size} (/v1/batch)", batched, ("eps", TARGET_EPS))
        t0 = time.perf_counter()
        stop_server(server)
        print(f"graceful stop (log sealed, loader drained) took {time.perf_counter() - t0:.1f}s")
        counts = check_store(db, [single, batched], "s%")
        counts_b = check_store(db, [batched], "b%")
        lost = counts["missing"]
        extra = (counts["stored"] + counts_b["stored"]) - counts["acked"]
        print(f"store check: {counts['acked']:,} acknowledged, {lost} lost, {extra} unexpected extra")
        ok &= lost == 0 and extra == 0

        # ---- crash: SIGKILL mid-load, restart, every acknowledged messageId present
        server = start_server(db, port)
        holder: dict = {}

        def load():
            holder["r"] = run_load(port, batch=10, seconds=kill_after + 5, procs=1, conns=16, prefix="k")

        import threading
        th = threading.Thread(target=load)
        th.start()
        time.sleep(kill_after)
        server.send_signal(signal.SIGKILL)
        server.wait()
        th.join()
        crash = holder["r"]
        t0 = time.perf_counter()
        server = start_server(db, port)
        restart_s = time.perf_counter() - t0
        stop_server(server)
        counts_k = check_store(db, [crash], "k%")
        print(f"kill -9 after {kill_after:.0f}s of load: {counts_k['acked']:,} events acknowledged, "
              f"{counts_k['missing']} missing after restart (restart with replay {restart_s:.1f}s); "
              f"{counts_k['stored'] - counts_k['acked']} stored but unacknowledged (in flight at the kill)")
        ok &= counts_k["missing"] == 0
    print("RESULT:", "ok" if ok else "FAILED (events lost or duplicated)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
