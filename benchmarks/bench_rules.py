"""Benchmark: every rule model at milestone won over a synthetic B2B store, and first/last/linear
against ChannelAttribution.heuristic_models on the same 1M journeys, in one run.

Part 1 (scale): a synthetic store of --touchpoints touchpoints (default 10M) over
--opportunities opportunities (default 500k; one per account, 2 people per account, 60% of
people with a lead milestone, ~40% won) is generated in DuckDB SQL. Each rule model then runs
`run_models(con, [model], ['won'], ['all'])` in its own subprocess — conversions, eligible
touches, positions, credit, invariant checks and the ledger write included — and a last
subprocess runs all models in one pass (the positioned journeys are computed once).
Targets: every model < 10 s on 2 cores, peak RSS < 2 GB.

Part 2 (peer): --paths journeys (default 1M) are generated once, as 1M path strings ('>'
separated, one conversion each, value = amount) in a parquet file and as canonical rows (one
account, won opportunity and 1-8 touches per journey) in a store. Every side runs in its own
subprocess, measured the same way:
* path level (the like-for-like comparison): ChannelAttribution.heuristic_models and
  revline.attribution.heuristics.heuristic_models on the same DataFrame read from the parquet
  file, all three heuristics in one call each; their results are compared (max abs difference).
* table level: revline run_models over the store (one call per model and one for the three),
  which also resolves eligibility, positions and writes the ledger - more work than the peer.
Targets: first/last/linear >= 5x faster than ChannelAttribution, with less memory.

Reported per run: wall (seconds of the model call alone, data already on disk), cpu (user+sys
seconds of that call: on a shared machine the wall clock also counts other people's work),
peak_mb (peak RSS of the process, VmHWM) and model_mb (peak minus RSS before the call).
revline children run DuckDB with threads=2, memory_limit=$BENCH_MEMORY_LIMIT (default 1200MB)
and preserve_insertion_order=false.
`--demo-db FILE` also times every model on a copy of a real store (e.g. the large demo).

    .venv/bin/python benchmarks/bench_rules.py [--touchpoints 10000000] [--opportunities 500000]
        [--paths 1000000] [--models first_touch ...] [--skip-scale] [--skip-peer] [--skip-table-peer]
        [--demo-db FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHANNELS = [
    "paid_search", "paid_social", "display", "organic_search", "organic_social", "email", "referral",
    "direct", "events", "webinar", "content", "partner", "direct_mail", "tv", "sales_outreach",
]
RULE_MODELS = ["first_touch", "lead_creation", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped", "full_path"]
PEER_MODELS = ["first_touch", "last_touch", "linear"]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _channel_list() -> str:
    return "[" + ", ".join(f"'{c}'" for c in CHANNELS) + "]"


def build_scale_store(path: Path, touchpoints: int, opportunities: int) -> None:
    """The synthetic store, generated in DuckDB SQL (hash-based, so deterministic)."""
    import revline

    con = revline.connect(path)
    accounts = opportunities
    people = 2 * accounts
    ch = _channel_list()
    con.execute(f"""
        INSERT INTO people (person_id, account_id)
        SELECT 'P' || i, 'A' || (i % {accounts}) FROM range({people}) r(i);
        INSERT INTO milestones (object_type, object_id, account_id, person_id, milestone, occurred_at)
        SELECT 'person', 'P' || i, 'A' || (i % {accounts}), 'P' || i, 'lead',
               TIMESTAMP '2024-01-01' + to_seconds((hash(i, 'lead') % (330 * 86400))::BIGINT)
        FROM range({people}) r(i) WHERE hash(i, 'has_lead') % 10 < 6;
        INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, currency, probability,
                                   created_at, closed_at, is_closed, is_won)
        SELECT 'O' || a, 'A' || a,
               CASE WHEN hash(a, 'rt') % 10 < 7 THEN 'new_business' WHEN hash(a, 'rt') % 10 < 9 THEN 'renewal' ELSE 'expansion' END,
               5000 + (hash(a, 'amt') % 95000)::BIGINT, 'USD', 0.5,
               TIMESTAMP '2024-02-01' + to_seconds((hash(a, 'created') % (240 * 86400))::BIGINT),
               TIMESTAMP '2024-02-01' + to_seconds((hash(a, 'created') % (240 * 86400))::BIGINT)
                   + to_seconds((hash(a, 'cycle') % (90 * 86400))::BIGINT),
               TRUE, hash(a, 'won') % 10 < 4
        FROM range({accounts}) r(a);
    """)  # noqa: S608 - sizes are ints, channels this file's constants
    con.execute(f"""
        INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel, campaign_id, touch_type)
        SELECT 'T' || n,
               TIMESTAMP '2024-01-01' + to_seconds((hash(n, 't') % (365 * 86400))::BIGINT),
               'P' || (hash(n, 'p') % {people}),
               CASE WHEN hash(n, 'a') % 10 <> 0 THEN 'A' || ((hash(n, 'p') % {people}) % {accounts}) END,
               {ch}[1 + (hash(n, 'c') % {len(CHANNELS)})::BIGINT],
               'C' || (hash(n, 'cmp') % 500),
               'page_view'
        FROM range({touchpoints}) r(n)
    """)  # noqa: S608 - sizes are ints, channels this file's constants
    con.execute("CHECKPOINT")
    con.close()


def build_path_store(path: Path, paths_file: Path, n: int) -> None:
    """The n journeys as canonical rows (for revline) and as path strings (for ChannelAttribution)."""
    import revline

    con = revline.connect(path)
    ch = _channel_list()
    con.execute(f"""
        CREATE TEMP TABLE j AS
        SELECT i, 1 + (hash(i, 'len') % 8)::BIGINT AS len, 100 + (hash(i, 'v') % 900)::BIGINT AS amount
        FROM range({n}) r(i);
        CREATE TEMP TABLE jt AS
        SELECT i, k, {ch}[1 + (hash(i, k, 'c') % {len(CHANNELS)})::BIGINT] AS channel
        FROM j, LATERAL range(len) s(k);
        INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, currency, created_at, closed_at, is_closed, is_won)
        SELECT 'O' || i, 'A' || i, 'new_business', amount, 'USD', TIMESTAMP '2024-01-01' + INTERVAL 30 DAY,
               TIMESTAMP '2024-01-01' + INTERVAL 30 DAY, TRUE, TRUE FROM j;
        INSERT INTO touchpoints (touchpoint_id, occurred_at, account_id, channel)
        SELECT 'T' || i || '_' || k, TIMESTAMP '2024-01-01' + to_hours(k), 'A' || i, channel FROM jt;
    """)  # noqa: S608 - sizes are ints, channels this file's constants
    con.execute(f"""
        COPY (SELECT string_agg(channel, '>' ORDER BY k) AS path, 1 AS total_conversions, any_value(j.amount) AS total_conversion_value
              FROM jt JOIN j USING (i) GROUP BY i) TO '{paths_file}' (FORMAT parquet)
    """)  # noqa: S608 - paths_file is a temp path this benchmark made (COPY TO takes no parameter)
    con.execute("CHECKPOINT")
    con.close()


# ---- subprocess bodies -------------------------------------------------------------------

def child_revline(db: str, models: list[str]) -> dict:
    import revline
    from revline.attribution import run_models

    import resource

    con = revline.connect(db)
    con.execute("SET threads = 2")
    con.execute(f"SET memory_limit = '{os.environ.get('BENCH_MEMORY_LIMIT', '1200MB')}'")
    con.execute("SET preserve_insertion_order = false")
    base = _rss_mb()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    ids = run_models(con, models, ["won"], ["all"])
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    rows = con.execute(
        f"SELECT count(*) FROM credit_ledger WHERE run_id IN ({', '.join('?' for _ in ids)})", ids  # noqa: S608 - only ? placeholders are interpolated
    ).fetchone()[0]
    conv = con.execute(
        f"SELECT max(opportunities) FROM attribution_runs WHERE run_id IN ({', '.join('?' for _ in ids)})", ids  # noqa: S608 - only ? placeholders are interpolated
    ).fetchone()[0]
    con.close()
    peak = _peak_mb()
    return {"wall": wall, "cpu": cpu, "peak_mb": peak, "model_mb": peak - base, "ledger_rows": rows, "conversions": conv}


def child_peer(paths_file: str, side: str = "channelattribution") -> dict:
    """One heuristic_models call on the paths parquet: ChannelAttribution's or revline's."""
    import contextlib
    import io

    import pandas as pd

    with contextlib.redirect_stdout(io.StringIO()):
        if side == "channelattribution":
            from ChannelAttribution import heuristic_models as fit

            def run(df):
                return fit(df, "path", "total_conversions", var_value="total_conversion_value", sep=">", flg_pro=False)
        else:
            from revline.attribution.heuristics import heuristic_models as fit

            def run(df):
                return fit(df, "path", "total_conversions", var_value="total_conversion_value", sep=">")
    import resource

    df = pd.read_parquet(paths_file)
    base = _rss_mb()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        res = run(df)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    peak = _peak_mb()
    return {
        "wall": wall, "cpu": cpu, "peak_mb": peak, "model_mb": peak - base, "paths": len(df), "channels": len(res),
        "result": res.set_index("channel_name").to_dict(orient="index"),
    }


def _max_diff(a: dict, b: dict) -> float:
    """Largest absolute difference between two heuristic tables (inf if the channels differ)."""
    if set(a) != set(b):
        return float("inf")
    return max(abs(a[ch][c] - b[ch][c]) for ch in a for c in a[ch])


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(label: str, r: dict, extra: str = "") -> None:
    print(f"  {label:<30} wall {r['wall']:7.2f} s  cpu {r['cpu']:7.2f} s  peak {r['peak_mb']:7.0f} MB   model {r['model_mb']:7.0f} MB  {extra}", flush=True)


def bench_store(db: Path, models: list[str], label: str) -> dict[str, dict]:
    results = {}
    for m in models:
        work = db.with_name(db.stem + f"-{m}.duckdb")
        shutil.copy(db, work)
        r = run_child("revline", str(work), m)
        work.unlink()
        results[m] = r
        ok = "OK " if r["wall"] < 10 and r["peak_mb"] < 2048 else "MISS"
        _row(m, r, f"{r['ledger_rows']:>10,} ledger rows  [{ok} target <10 s, <2 GB]")
    work = db.with_name(db.stem + "-all.duckdb")
    shutil.copy(db, work)
    r = run_child("revline", str(work), *models)
    work.unlink()
    _row(f"all {len(models)} in one pass", r, f"{r['ledger_rows']:>10,} ledger rows")
    results["all"] = r
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--touchpoints", type=int, default=10_000_000)
    ap.add_argument("--opportunities", type=int, default=500_000)
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--models", nargs="+", default=RULE_MODELS)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-table-peer", action="store_true", help="peer part: only the path-level comparison")
    ap.add_argument("--demo-db", type=Path, help="also time every model on a copy of this store")
    ap.add_argument("--workdir", type=Path, help="keep generated stores here (default: a temp dir)")
    args = ap.parse_args()

    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="revline-bench-rules-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"bench_rules: {os.cpu_count()} cores, work dir {tmp}")
    try:
        if not args.skip_scale:
            db = tmp / "scale.duckdb"
            if not db.exists():
                t = time.perf_counter()
                build_scale_store(db, args.touchpoints, args.opportunities)
                print(f"generated {args.touchpoints:,} touchpoints / {args.opportunities:,} opportunities in {time.perf_counter() - t:.1f} s")
            print(f"\n[scale] every rule model at milestone won ({args.touchpoints:,} touchpoints)")
            bench_store(db, args.models, "scale")

        if not args.skip_peer:
            db, pq = tmp / "paths.duckdb", tmp / "paths.parquet"
            if not db.exists():
                t = time.perf_counter()
                build_path_store(db, pq, args.paths)
                print(f"\ngenerated {args.paths:,} journeys in {time.perf_counter() - t:.1f} s")
            print(f"\n[peer] {args.paths:,} paths: revline vs ChannelAttribution.heuristic_models")
            peer = run_child("peer", str(pq), "channelattribution")
            _row("ChannelAttribution (3 at once)", peer)
            mine = run_child("peer", str(pq), "revline")
            speed, cpu_speed = peer["wall"] / mine["wall"], peer["cpu"] / mine["cpu"]
            mem = peer["peak_mb"] / mine["peak_mb"]
            ok = "OK " if speed >= 5 and mine["peak_mb"] < peer["peak_mb"] else "MISS"
            _row(
                "revline paths (3 at once)", mine,
                f"speed x{speed:5.2f} (cpu x{cpu_speed:5.2f})  memory ratio x{mem:4.2f}  [{ok} target >=5x, less memory]",
            )
            print(f"  results agree: max abs difference {_max_diff(peer['result'], mine['result']):.3g} over {mine['channels']} channels")
            if not args.skip_table_peer:
                print(f"\n[peer, table level] {args.paths:,} journeys as canonical rows: run_models (eligibility, positions, ledger write)")
            ours = {}
            for m in [] if args.skip_table_peer else PEER_MODELS + ["three"]:
                work = tmp / f"paths-{m}.duckdb"
                shutil.copy(db, work)
                ms = PEER_MODELS if m == "three" else [m]
                ours[m] = run_child("revline", str(work), *ms)
                work.unlink()
                r = ours[m]
                speed = peer["wall"] / r["wall"]
                cpu_speed = peer["cpu"] / r["cpu"]
                mem = peer["peak_mb"] / r["peak_mb"]
                ok = "OK " if speed >= 5 and r["peak_mb"] < peer["peak_mb"] else "MISS"
                _row(f"revline {m}", r, f"speed x{speed:5.2f} (cpu x{cpu_speed:5.2f})  memory ratio x{mem:4.2f}  [{ok} target >=5x, less memory]")

        if args.demo_db:
            db = tmp / "demo.duckdb"
            shutil.copy(args.demo_db, db)
            print(f"\n[demo] {args.demo_db}")
            bench_store(db, args.models, "demo")
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        result = child_revline(rest[0], rest[1:]) if kind == "revline" else child_peer(*rest)
        print(json.dumps(result))
    else:
        main()
