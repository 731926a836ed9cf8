"""Ingest throughput: N Segment events (JSONL.gz) through load_files with validation on.

Prints events/s, wall time, CPU time and peak RSS of the ingesting process, plus the same file
loaded by a bare DuckDB `read_json` into a table (no validation, no derivation) as the reference
measured in the same run (before and after ours, so a shared machine's load shows in both).
CPU seconds (user + system, all threads) are much less sensitive to other processes than wall
time, so the report gives both ratios. Targets (issue 3): >= 250k events/s on 2 cores, peak RSS < 2 GB.

Each side runs `--repeat` times, interleaved (reference, ours, reference, ...), each in a fresh
process on a fresh store: a shared virtual machine has slow spells of a second or more, so one
run says little. The target is judged on the median run; the best run is printed beside it.

    .venv/bin/python benchmarks/bench_ingest.py --events 1000000
    .venv/bin/python benchmarks/bench_ingest.py --demo large   # if revline.demo.simulate exists
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def generate_events(path: Path, n: int, bad_every: int = 10_000) -> None:
    """Spec-shaped events written by DuckDB itself (fast); every `bad_every`-th has a bad timestamp."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT 'msg-' || i AS messageId,
                 CASE WHEN i % 10 = 0 THEN 'identify' WHEN i % 4 = 0 THEN 'track' ELSE 'page' END AS type,
                 CASE WHEN i % 4 = 0 AND i % 10 <> 0 THEN 'Form Submitted' END AS event,
                 'anon-' || (i % 200000) AS anonymousId,
                 CASE WHEN i % 3 = 0 THEN 'user-' || (i % 50000) END AS userId,
                 CASE WHEN i % {bad_every} = 7 THEN 'not-a-time'
                      ELSE strftime(TIMESTAMP '2025-01-01' + to_seconds(i * 7), '%Y-%m-%dT%H:%M:%SZ') END AS timestamp,
                 {{'campaign': {{'source': ['google', 'linkedin', 'newsletter', NULL][1 + i % 4],
                                'medium': ['cpc', 'paid_social', 'email', NULL][1 + i % 4],
                                'name': 'cmp-' || (i % 40)}},
                  'page': {{'url': 'https://example.com/p/' || (i % 1000), 'path': '/p/' || (i % 1000),
                           'referrer': ['https://www.google.com/', 'https://t.co/x', NULL, 'https://news.ycombinator.com/'][1 + i % 4],
                           'title': 'Page ' || (i % 1000)}}}} AS context,
                 CASE WHEN i % 10 = 0 THEN {{'email': 'user' || (i % 50000) || '@example.com'}} END AS traits,
                 {{'path': '/p/' || (i % 1000)}} AS properties
          FROM range({n}) t(i)
        ) TO '{path}' (FORMAT json, COMPRESSION gzip)
    """)
    con.close()


class PeakRSS:
    """Samples the process RSS (Linux /proc) every 50 ms; ru_maxrss as a cross-check."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in open("/proc/self/status"):
                    if line.startswith("VmRSS:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def child(kind: str, path: str, db: str) -> None:
    """One measurement in a fresh process, so peak memory belongs to this step alone."""
    import duckdb

    setup = time.perf_counter()
    if kind == "revline":
        from revline.ingest import load_files
        from revline.store import connect

        con = connect(db)  # the store exists (made by the parent): opening it is not the ingest
    setup = time.perf_counter() - setup
    with PeakRSS() as rss:
        t0, c0 = time.perf_counter(), _cpu()
        if kind == "revline":
            report = load_files(con, [Path(path)])
            rows = report.by_table()
            con.close()
        else:
            con = duckdb.connect(db)
            con.execute(f"CREATE TABLE raw AS SELECT * FROM read_json('{path}', format='newline_delimited')")
            rows = {"raw": {"loaded": con.execute("SELECT count(*) FROM raw").fetchone()[0]}}
            con.close()
        secs, cpu = time.perf_counter() - t0, _cpu() - c0
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": secs, "cpu": cpu, "peak_rss": max(rss.peak, maxrss), "rows": rows, "setup": setup}))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _median(runs: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def measure(kind: str, path: Path, workdir: Path) -> dict:
    db = workdir / f"{kind}.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    if kind == "revline":  # an empty store, as `revline init` leaves it
        subprocess.run([sys.executable, "-c", f"from revline.store import connect; connect({str(db)!r}).close()"], check=True)
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(db)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side (the median is reported)")
    ap.add_argument("--demo", choices=["small", "medium", "large"], default=None,
                    help="also ingest the demo company of this size (needs revline.demo.simulate)")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "DB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "events.jsonl.gz"
        t0 = time.perf_counter()
        generate_events(path, args.events)
        print(f"generated {args.events:,} events ({path.stat().st_size / 1e6:.1f} MB gz) in {time.perf_counter() - t0:.1f}s")
        refs, runs = [measure("duckdb", path, work)], []
        for _ in range(args.repeat):
            runs.append(measure("revline", path, work))
            refs.append(measure("duckdb", path, work))
        ours, best, ref = _median(runs), min(runs, key=lambda r: r["seconds"]), _median(refs)
        ev = ours["rows"]["events"]
        rate, ref_rate = args.events / ours["seconds"], args.events / ref["seconds"]
        try:
            load = " ".join(open("/proc/loadavg").read().split()[:3])
        except OSError:
            load = "?"
        walls = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        peak = max(r["peak_rss"] for r in runs)
        print(f"machine: {os.cpu_count()} cores, load average {load}")
        print(f"revline load_files : {ours['seconds']:6.2f}s wall {ours['cpu']:6.2f}s cpu  {rate:,.0f} events/s  "
              f"peak RSS {peak / 2**30:.2f} GB  (median of {len(runs)} runs: {walls} s; "
              f"best {args.events / best['seconds']:,.0f} events/s)")
        print(f"  events loaded {ev['loaded']:,}, quarantined {ev['quarantined']:,}; "
              f"touchpoints {ours['rows']['touchpoints']['loaded']:,}, identity_links {ours['rows']['identity_links']['loaded']:,}")
        print(f"  (not counted above: importing revline and opening the empty store took {ours['setup']:.2f}s; "
              f"DuckDB's own import is outside both timings)")
        print(f"duckdb read_json   : {ref['seconds']:6.2f}s wall {ref['cpu']:6.2f}s cpu  {ref_rate:,.0f} events/s  "
              f"(median of {len(refs)} runs before, between and after ours; no validation, no derivation)")
        cores = min(2, os.cpu_count() or 1)
        print(f"ratio revline/read_json: wall {ours['seconds'] / ref['seconds']:.2f}x, cpu {ours['cpu'] / ref['cpu']:.2f}x;  "
              f"CPU-time rate with {cores} cores to itself: revline {args.events * cores / ours['cpu']:,.0f} events/s, "
              f"read_json {args.events * cores / ref['cpu']:,.0f} events/s (upper bounds: assumes perfect parallelism)")
        print(f"target >= 250,000 events/s: {'MET' if rate >= 250_000 else 'NOT MET'} (median wall);  "
              f"peak < 2 GB: {'MET' if peak < 2 * 2**30 else 'NOT MET'}")
        if args.demo:
            try:
                from revline.demo.simulate import generate
            except ImportError:
                print("revline.demo.simulate not available; skipping --demo")
                return
            demo_dir = work / "demo"
            generate(demo_dir, size=args.demo, seed=42)
            res = measure("revline", demo_dir, work)
            total = sum(v["read"] for v in res["rows"].values())
            print(f"demo {args.demo}: {res['seconds']:.1f}s wall, {res['cpu']:.1f}s cpu, {total:,} source rows read "
                  f"({total / res['seconds']:,.0f} rows/s), peak RSS {res['peak_rss'] / 2**30:.2f} GB")


if __name__ == "__main__":
    main()
