"""Scaling of the portable transforms: DuckDB vs local Spark at 1M, 10M and 30M touchpoints.

Why a scale-up and not one giant simulation: the demo simulator makes ~0.64M touchpoints per
"medium" company (10,000 accounts) in about a minute, but a 30M company in one run would hold
its whole population in memory and cost half an hour on a shared box. So the benchmark builds a
small pool of genuinely simulated companies (`--pool` seeds of size `--base`, each ingested,
stitched and its journeys built) and a size is that pool replicated with fresh ids: replica r
copies pool member r mod P with every id column prefixed `r<r>.`, so accounts, people,
touches, opportunities and identity-graph nodes are new while campaigns, channels, FX rates and
the calendar stay the company's. Building a size is one INSERT .. SELECT per table (linear in
rows). What replication keeps: every per-account shape (journey lengths, committee sizes, graph
component diameters, so label propagation takes the same rounds at every size). What it does
not create: new distinct channel paths beyond the pool's; distinct-path growth is therefore
measured on the pool's genuinely distinct companies (1..P seeds) and printed separately.

Each size is exported with `revline.store.exchange.export_store` (what `revline export --to`
writes); Spark reads those Parquet files, DuckDB reads its store. The identity graph (coded
nodes and edges, as stitching builds them) is written beside the export as Parquet, since the
export carries canonical tables only. Steps, each in a fresh subprocess whose process tree
(the Python process and, for Spark, its JVM) is sampled from /proc every 0.2 s for peak RSS:

  components   connected components of the identity graph: scipy (DuckDB engine, edges
               fetched to one process) and Ibis label propagation (DuckDB and Spark)
  milestones   journeys.milestones.milestones_expr, written to a table
  credits      every rule model's credits at milestone won, account scope (one
               attribution.rules.credited_touches over with_positions(eligible_touches(..))),
               as tests/test_portability.py calls it, written to a table
  stitch       the whole identity stitch (identity.stitch: graph, components, merge, write back):
               `stitch(con)` on a copy of the store (scipy components), `stitch_on` on a copy of
               the export folder on Spark (the same SQL steps transpiled, label propagation, the
               stitched tables written back as Parquet); the copy is made before the clock starts
  paths        (DuckDB only, sizes of at most P replicas: more would repeat the pool's paths)
               attribution.paths.export_paths: distinct channel paths for Markov/Shapley, the
               aggregate that stays on the driver

Step seconds exclude the engine start (JVM launch, registering the Parquet views), which is
printed as `startup`. Results are appended to WORK/results.jsonl, so repeated runs make ranges;
the table shows min-max over repeats and the growth exponent (log t2/t1 / log n2/n1, medians)
between consecutive sizes. Each figure carries the load average at its start.

    .venv/bin/python benchmarks/bench_spark_scale.py --sizes 1M            # ~10 min on 2 cores
    .venv/bin/python benchmarks/bench_spark_scale.py --sizes 1M 10M --repeat 2
    .venv/bin/python benchmarks/bench_spark_scale.py --table               # print the table only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {"0.65M": 650_000, "1M": 1_000_000, "10M": 10_000_000, "30M": 30_000_000}
STEPS = ("components", "milestones", "credits", "stitch", "paths")

# Every id column of the tables the transforms read (plus accounts): prefixed per replica.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "name", "domain"),
    "people": ("person_id", "account_id", "email"),
    "touchpoints": ("touchpoint_id", "person_id", "anonymous_id", "account_id", "source_ref", "identity_value"),
    "milestones": ("object_id", "account_id", "person_id", "opportunity_id", "touchpoint_id"),
    "stage_events": ("object_id",),
    "opportunities": ("opportunity_id", "account_id", "name"),
    "opportunity_contacts": ("opportunity_id", "person_id"),
}
SHARED_TABLES = ("fx_rates",)  # the company's, copied once


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# ------------------------------------------------------------------ data: the pool and its replicas
def build_base(work: Path, size: str, seed: int) -> Path:
    """One simulated company, ingested, its identity graph saved, stitched, journeys built."""
    base = work / f"base-{size}-{seed}"
    db = base / "store.duckdb"
    if (base / "done").exists():
        return db
    from revline.demo.simulate import generate
    from revline.identity.stitch import CODED_EDGES, coded_graph, stitch
    from revline.store.sqlsteps import DuckSteps
    from revline.ingest import load_files
    from revline.journeys import build
    from revline.store import connect

    t0 = time.perf_counter()
    generate(base / "files", size=size, seed=seed)
    t1 = time.perf_counter()
    con = connect(db)
    load_files(con, [base / "files"])
    t2 = time.perf_counter()
    # the coded graph exactly as stitching solves it, kept for the components step
    coded_graph(DuckSteps(con), "scipy")
    con.execute("CREATE OR REPLACE TABLE bench_graph_nodes AS SELECT code FROM _stitch_nodes")
    con.execute(f"CREATE OR REPLACE TABLE bench_graph_edges AS {CODED_EDGES}")
    stitch(con)
    build(con)
    t3 = time.perf_counter()
    tp = con.execute("SELECT count(*) FROM touchpoints").fetchone()[0]
    con.close()
    print(f"  base {size} seed {seed}: {tp:,} touchpoints; generate {t1 - t0:.0f} s, ingest {t2 - t1:.0f} s, "
          f"stitch+journeys {t3 - t2:.0f} s; load {_load()}", flush=True)
    (base / "done").write_text("ok")
    return db


def _replicated(table: str, cols: list[str], alias: str) -> str:
    ids = ID_COLUMNS[table]
    sel = ", ".join(f"'r' || k || '.' || {alias}.\"{c}\"" if c in ids else f"{alias}.\"{c}\"" for c in cols)
    return sel


def build_scaled(work: Path, label: str, target: int, bases: list[Path], export: bool = True) -> Path:
    """A store of ~target touchpoints: the pool replicated with fresh ids; exported to Parquet
    (what Spark reads) unless `export` is off (DuckDB alone reads the store)."""
    import duckdb

    from revline.store import connect
    from revline.store.exchange import export_store
    from revline.store.sql import ident, lit

    out = work / f"scale-{label}"
    if (out / "done").exists() and (not export or (out / "export").exists()):
        return out
    out.mkdir(parents=True, exist_ok=True)
    per_base = []
    for b in bases:
        with duckdb.connect(str(b), read_only=True) as c:
            per_base.append((c.execute("SELECT count(*) FROM touchpoints").fetchone()[0],
                             c.execute("SELECT count(*) FROM bench_graph_nodes").fetchone()[0]))
    mean_tp = sum(t for t, _ in per_base) / len(per_base)
    replicas = max(1, round(target / mean_tp))
    t0 = time.perf_counter()
    db = out / "store.duckdb"
    if db.exists():
        db.unlink()
    con = connect(db)
    for i, b in enumerate(bases):
        con.execute(f"ATTACH {lit(str(b))} AS b{i} (READ_ONLY)")
    # replica r is pool member r % P; node codes are offset by the nodes of the replicas before it
    offsets, off = [], 0
    for r in range(replicas):
        offsets.append(off)
        off += per_base[r % len(bases)][1]
    con.execute("CREATE TEMP TABLE _rep (k BIGINT, base BIGINT, off BIGINT)")
    con.executemany("INSERT INTO _rep VALUES (?, ?, ?)", [(r, r % len(bases), offsets[r]) for r in range(replicas)])
    for table in ID_COLUMNS:
        cols = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ? "
            "ORDER BY column_index", [table]).fetchall()]
        parts = [f"SELECT {_replicated(table, cols, 's')} FROM b{i}.main.{ident(table)} s, _rep WHERE _rep.base = {i}"  # noqa: S608 - names are quoted constants
                 for i in range(len(bases))]
        con.execute(f"INSERT INTO {ident(table)} " + " UNION ALL ".join(parts))
    for table in SHARED_TABLES:
        con.execute(f"INSERT INTO {ident(table)} SELECT * FROM b0.main.{ident(table)}")  # noqa: S608 - quoted constant
    for kind, cols in (("nodes", "code + off AS code"), ("edges", "l + off AS l, r + off AS r")):
        parts = [f"SELECT {cols} FROM b{i}.main.bench_graph_{kind}, _rep WHERE _rep.base = {i}"  # noqa: S608 - constants
                 for i in range(len(bases))]
        con.execute(f"COPY ({' UNION ALL '.join(parts)}) TO {lit(str(out / f'graph_{kind}.parquet'))} (FORMAT parquet)")
    for i in range(len(bases)):
        con.execute(f"DETACH b{i}")
    t1 = time.perf_counter()
    tp = con.execute("SELECT count(*) FROM touchpoints").fetchone()[0]
    info = {"label": label, "replicas": replicas, "touchpoints": tp, "replicate_s": t1 - t0, "export_s": None,
            "graph_nodes": off, "load": _load(), "bytes": {}, "rows": {}}
    if export:
        manifest = export_store(con, out / "export", revline_version="bench")
        info.update(export_s=time.perf_counter() - t1,
                    bytes={name: _du(out / "export" / e["path"]) for name, e in manifest["tables"].items()},
                    rows={name: e["rows"] for name, e in manifest["tables"].items()})
    con.close()
    (out / "info.json").write_text(json.dumps(info, indent=1))
    print(f"  {label}: {replicas} replicas, {tp:,} touchpoints; replicate {t1 - t0:.0f} s, export {info['export_s'] or 0:.0f} s; "
          f"touchpoints Parquet {info['bytes'].get('touchpoints', 0) / tp:.0f} B/touch; load {_load()}", flush=True)
    (out / "done").write_text("ok")
    return out


def _range(v: list[float], fmt: str) -> str:
    """min-max of repeated figures (one figure alone when there is one)."""
    lo, hi = f"{min(v):{fmt}}", f"{max(v):{fmt}}"
    return lo if lo == hi else f"{lo}-{hi}"


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------ measuring one step in a child
def _tree(root: int) -> list[int]:
    """`root` and all its descendants (the Python driver and, for Spark, its JVM)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _tree_rss(root: int) -> int:
    """RSS bytes of `root`'s process tree."""
    total = 0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by `root`'s process tree: far less sensitive to
    the shared machine's load than wall time."""
    ticks = 0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def run_child(engine: str, step: str, scale_dir: Path, spark_memory: str, duckdb_memory: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, step, str(scale_dir), "--spark-memory", spark_memory]
    if duckdb_memory:
        cmd += ["--duckdb-memory", duckdb_memory]
    load_before = _load()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} {step} on {scale_dir} failed:\n{err[-3000:]}")
    r = json.loads(out.strip().splitlines()[-1])
    r.update(engine=engine, step=step, peak_mb=peak / 2**20, load_before=load_before, load_after=_load())
    return r


def _spark(scale_dir: Path, memory: str):
    import ibis
    from pyspark.sql import functions as F

    from revline.store.engine import local_builder

    wh = scale_dir / "spark-warehouse"
    shutil.rmtree(wh, ignore_errors=True)  # a table folder left by an earlier run blocks a new table of that name
    spark = (
        local_builder("revline-bench", "local[2]", wh, 8)
        .config("spark.ui.enabled", "true")  # its REST API gives the shuffle and input bytes per step
        .config("spark.ui.port", "0")
        .config("spark.driver.memory", memory)
        .config("spark.sql.adaptive.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    manifest = json.loads((scale_dir / "export" / "manifest.json").read_text())
    types = {"VARCHAR": "string", "TIMESTAMP": "timestamp_ntz", "JSON": "string", "INTEGER": "int", "BIGINT": "bigint",
             "DOUBLE": "double", "BOOLEAN": "boolean", "DATE": "date"}
    for name, entry in manifest["tables"].items():
        df = spark.read.parquet(str(scale_dir / "export" / entry["path"]))
        df = df.select(*[F.col(f"`{c}`").cast(ty if ty.startswith("DECIMAL") else types.get(ty, "string")).alias(c)
                         for c, ty in entry["columns"]])
        df.createOrReplaceTempView(name)
    for kind in ("nodes", "edges"):
        spark.read.parquet(str(scale_dir / f"graph_{kind}.parquet")).createOrReplaceTempView(f"bench_graph_{kind}")
    return spark, ibis.pyspark.connect(spark)


def _spark_io(spark) -> dict:
    """MB read from Parquet and written to shuffle over the step's stages (Spark's REST API)."""
    import urllib.request

    sc = spark.sparkContext
    try:
        with urllib.request.urlopen(f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/stages", timeout=30) as r:  # noqa: S310 - local UI
            stages = json.loads(r.read())
    except (OSError, ValueError, TypeError) as exc:
        return {"spark_io_error": str(exc)[:200]}
    return {"input_mb": sum(st.get("inputBytes", 0) for st in stages) / 2**20,
            "shuffle_write_mb": sum(st.get("shuffleWriteBytes", 0) for st in stages) / 2**20,
            "stages": len(stages)}


def _write(be, name: str, expr, engine: str):
    if engine == "spark":
        return be.create_table(name, expr, overwrite=True)
    return be.create_table(name, expr, temp=True)


def child(engine: str, step: str, scale_dir: Path, spark_memory: str, duckdb_memory: str | None = None) -> None:
    """Run one step on one engine and print its figures as one JSON line."""
    t0 = time.perf_counter()
    res: dict = {}
    spark = None
    replicas = json.loads((scale_dir / "info.json").read_text())["replicas"]
    if step == "paths" and replicas > len(list(scale_dir.parent.glob("base-*"))):
        print(json.dumps({"skipped": "replicas repeat the pool's paths", "seconds": 0.0, "startup": 0.0}))
        return
    copy = scale_dir / f"stitch-{engine}"  # the stitch rewrites what it reads: a copy, made before the clock
    if step == "stitch":
        shutil.rmtree(copy, ignore_errors=True)
        if engine == "spark":
            shutil.copytree(scale_dir / "export", copy)
        else:
            copy.mkdir()
            shutil.copy(scale_dir / "store.duckdb", copy / "store.duckdb")
        t0 = time.perf_counter()
    if engine == "spark":
        spark, be = _spark(scale_dir, spark_memory)
        if step == "stitch":
            from revline.store.engine import SparkEngine

            stitch_engine = SparkEngine(copy, spark)
    else:
        from revline.store import connect, ibis_backend

        con = connect(copy / "store.duckdb" if step == "stitch" else scale_dir / "store.duckdb")
        if duckdb_memory:
            from revline.store.sql import lit

            con.execute(f"SET memory_limit = {lit(duckdb_memory)}")
        be = ibis_backend(con)
    startup = time.perf_counter() - t0
    t, cpu0 = time.perf_counter(), _tree_cpu(os.getpid())
    if step.startswith("components"):
        from revline.identity.components import representatives_expr

        if engine != "spark":
            for kind in ("nodes", "edges"):
                con.execute(f"CREATE TEMP TABLE bench_graph_{kind} AS SELECT * FROM read_parquet(?)",  # noqa: S608 - constant
                            [str(scale_dir / f"graph_{kind}.parquet")])
        if step == "components_scipy":
            import numpy as np

            from revline.identity.graph import representatives

            n = con.execute("SELECT count(*) FROM bench_graph_nodes").fetchone()[0]
            e = con.execute("SELECT l, r FROM bench_graph_edges").fetchnumpy()
            rep = representatives(n, np.asarray(e["l"]), np.asarray(e["r"]))
            res.update(components=int(len(np.unique(rep))), label_sum=int(rep.sum()), rounds=None, edges=len(e["l"]))
        else:
            found = representatives_expr(be.table("bench_graph_nodes"), be.table("bench_graph_edges"))
            lab = found.labels
            res.update(components=int(lab.label.nunique().execute()), label_sum=int(lab.label.sum().execute()),
                       rounds=found.rounds)
            found.release()
    elif step == "milestones":
        from revline.journeys.milestones import TABLES_READ, milestones_expr

        out = _write(be, "bench_milestones", milestones_expr({n: be.table(n) for n in TABLES_READ}), engine)
        res.update(rows=int(out.count().execute()))
    elif step == "credits":
        from revline.attribution.config import BUILTIN_MODELS
        from revline.attribution.eligibility import conversions, eligible_touches
        from revline.attribution.positions import with_positions
        from revline.attribution.rules import credited_touches

        conv, keys = conversions(be, "won", scope="account")
        p = with_positions(eligible_touches(be, conv, keys))
        out = _write(be, "bench_credits", credited_touches(p, BUILTIN_MODELS, half_life_days=7.0), engine)
        res.update(rows=int(out.count().execute()), conversions=int(out.conversion_id.nunique().execute()),
                   credit_sum=round(float(out["credit__linear"].sum().execute()), 6))
    elif step == "stitch":
        from revline.identity.stitch import stitch, stitch_on

        report = stitch_on(stitch_engine) if engine == "spark" else stitch(con)
        res.update(rows=report.identities, components=report.persons, edges=report.edges)
    elif step == "paths":
        from revline.attribution.paths import export_paths

        paths = export_paths(con, "won", revenue_type=None)
        res.update(distinct_paths=len(paths), conversions=float(paths["total_conversions"].sum()),
                   nulls=float(paths["total_null"].sum()))
    else:
        raise ValueError(step)
    res.update(seconds=time.perf_counter() - t, cpu_s=_tree_cpu(os.getpid()) - cpu0, startup=startup)
    if spark is not None:
        res.update(_spark_io(spark))
        spark.stop()
    if step == "stitch":
        shutil.rmtree(copy, ignore_errors=True)
    print(json.dumps(res))


# ------------------------------------------------------------------ the table
PLAN = {"duckdb": ("components_scipy", "components", "milestones", "credits", "stitch", "paths"),
        "spark": ("components", "milestones", "credits", "stitch")}
# Steps the tables show beside PLAN's: rows recorded before a fix, kept under their own name
# (credits_nljoin: DuckDB's credits while eligibility's stage-events join ran as a nested loop).
SHOWN = {"duckdb": ("components_scipy", "components", "milestones", "credits", "credits_nljoin", "stitch", "paths"),
         "spark": PLAN["spark"]}


def _results(work: Path) -> tuple[dict[str, dict], dict[tuple, list[dict]]]:
    """Each size's info.json by label, and the measured (not skipped) runs grouped by (size, engine, step)."""
    rows = [r for line in (work / "results.jsonl").read_text().splitlines()
            if line.strip() and "skipped" not in (r := json.loads(line))]
    infos = {(i := json.loads(p.read_text()))["label"]: i for p in work.glob("scale-*/info.json")}
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["size"], r["engine"], r["step"]), []).append(r)
    return infos, groups


def print_table(work: Path) -> None:
    if not (work / "results.jsonl").exists():
        print("no results yet")
        return
    infos, groups = _results(work)
    order = [s for s in SIZES if any(k[0] == s for k in groups)]
    print(f"\n{'size':>5} {'touchpoints':>12} {'engine':>7} {'step':<17} {'n':>2} {'seconds':>13} {'cpu s':>13} "
          f"{'peak MB':>11} {'startup s':>9}  load at start       result")
    for size in order:
        for engine, steps in SHOWN.items():
            for step in steps:
                g = groups.get((size, engine, step))
                if not g:
                    continue
                cpu = [x["cpu_s"] for x in g if "cpu_s" in x]
                extra = {k: (round(v, 1) if isinstance(v, float) else v) for k in
                         ("rounds", "components", "rows", "distinct_paths", "input_mb", "shuffle_write_mb")
                         if (v := g[-1].get(k)) is not None}
                print(f"{size:>5} {infos.get(size, {}).get('touchpoints', 0):>12,} {engine:>7} {step:<17} {len(g):>2} "
                      f"{_range([x['seconds'] for x in g], '.1f'):>13} {_range(cpu, '.1f') if cpu else '-':>13} "
                      f"{_range([x['peak_mb'] for x in g], '.0f'):>11} {statistics.median(x['startup'] for x in g):>9.1f}  "
                      f"{' '.join(x['load_before'] for x in g):<19} {extra}")
    print("\ngrowth exponent between sizes, medians, k in x ~ n^k: wall seconds / CPU seconds / peak MB")
    for engine, steps in SHOWN.items():
        for step in steps:
            pts = [(infos[s]["touchpoints"], groups[(s, engine, step)]) for s in order
                   if (s, engine, step) in groups and s in infos]
            parts = []
            for (n1, g1), (n2, g2) in zip(pts, pts[1:]):
                def k(key: str, g1=g1, g2=g2, n1=n1, n2=n2) -> str:
                    v1, v2 = [x[key] for x in g1 if key in x], [x[key] for x in g2 if key in x]
                    if not v1 or not v2:
                        return "-"
                    return f"{math.log(statistics.median(v2) / statistics.median(v1)) / math.log(n2 / n1):.2f}"
                parts.append(f"{n1 / 1e6:.2f}M->{n2 / 1e6:.1f}M: {k('seconds')}/{k('cpu_s')}/{k('peak_mb')}")
            if parts:
                print(f"  {engine:>7} {step:<17} " + "   ".join(parts))
    print("\nParquet bytes per touchpoint (export of each size; touchpoints table / whole export):")
    for label in order:
        if label in infos and infos[label]["bytes"]:
            i = infos[label]
            print(f"  {label:>5} {i['touchpoints']:>12,} touchpoints: {i['bytes']['touchpoints'] / i['touchpoints']:.1f} / "
                  f"{sum(i['bytes'].values()) / i['touchpoints']:.1f} B; graph nodes {i['graph_nodes']:,}; "
                  f"replicate {i['replicate_s']:.0f} s, export {i['export_s']:.0f} s (load {i['load']})")


def print_markdown(work: Path) -> None:
    """The scaling table as Markdown (docs/architecture.md's scale plan quotes it)."""
    infos, groups = _results(work)
    print("| touchpoints | engine | step | runs | CPU s | wall s | peak MB | Spark shuffle MB | load at start |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in [s for s in SIZES if s in infos]:
        for engine, steps in SHOWN.items():
            for step in steps:
                g = groups.get((size, engine, step))
                if not g:
                    continue
                cpu = [x["cpu_s"] for x in g if "cpu_s" in x]
                shuffle = [x["shuffle_write_mb"] for x in g if "shuffle_write_mb" in x]
                loads = sorted(float(x["load_before"].split("/")[0]) for x in g)
                print(f"| {infos[size]['touchpoints'] / 1e6:.2f}M | {engine} | {step} | {len(g)} | "
                      f"{_range(cpu, '.1f') if cpu else '-'} | {_range([x['seconds'] for x in g], '.0f')} | "
                      f"{_range([x['peak_mb'] for x in g], '.0f')} | {_range(shuffle, '.0f') if shuffle else '-'} | "
                      f"{_range(loads, '.0f')} |")


def distinct_path_growth(work: Path, bases: list[Path]) -> None:
    """Distinct won paths over 1..P genuinely different companies (not replicas)."""
    import duckdb
    import pandas as pd

    from revline.attribution.paths import export_paths

    frames, total_tp = [], 0
    for b in bases:
        with duckdb.connect(str(b), read_only=True) as c:
            frames.append(export_paths(c, "won", revenue_type=None))
            total_tp += c.execute("SELECT count(*) FROM touchpoints").fetchone()[0]
        union = pd.concat(frames)
        conv = union[union["total_conversions"] > 0]
        print(f"  {len(frames)} companies, {total_tp:,} touchpoints: {union['path'].nunique():,} distinct paths "
              f"({conv['path'].nunique():,} converting, {conv['total_conversions'].sum():,.0f} conversions)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "STEP", "DIR"))
    ap.add_argument("--sizes", nargs="*", default=["1M"], choices=list(SIZES))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "revline-bench-spark-scale")
    ap.add_argument("--base", default="medium", help="demo size of each pool company")
    ap.add_argument("--pool", type=int, default=2, help="genuinely simulated companies replicated to each size")
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    ap.add_argument("--spark-memory", default="6g", help="spark.driver.memory (local mode: the whole JVM heap)")
    ap.add_argument("--duckdb-memory", default=None,
                    help="DuckDB memory_limit (e.g. 8GB; default DuckDB's 80%% of RAM): beyond it DuckDB spills to disk")
    ap.add_argument("--table", action="store_true", help="print the table of WORK/results.jsonl and exit")
    ap.add_argument("--markdown", action="store_true", help="print the table of WORK/results.jsonl as Markdown and exit")
    ap.add_argument("--paths-growth", action="store_true", help="distinct paths over the pool's companies")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]), args.spark_memory, args.duckdb_memory)
        return
    if args.table:
        print_table(args.work)
        return
    if args.markdown:
        print_markdown(args.work)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load {_load()}; work {args.work}", flush=True)
    bases = [build_base(args.work, args.base, args.seed + i) for i in range(args.pool)]
    if args.paths_growth:
        distinct_path_growth(args.work, bases)
    for label in args.sizes:
        scale_dir = build_scaled(args.work, label, SIZES[label], bases, export="spark" in args.engines)
        replicas = json.loads((scale_dir / "info.json").read_text())["replicas"]
        for _ in range(args.repeat):
            for engine in args.engines:
                for step in PLAN[engine]:
                    if step.split("_")[0] not in args.steps:
                        continue
                    if step == "paths" and replicas > len(bases):
                        continue  # replicas repeat the pool's paths (and pandas holds every touch): see --paths-growth
                    r = run_child(engine, step, scale_dir, args.spark_memory, args.duckdb_memory)
                    r["duckdb_memory"] = args.duckdb_memory
                    r["size"] = label
                    with (args.work / "results.jsonl").open("a") as f:
                        f.write(json.dumps(r) + "\n")
                    print(f"  {label} {engine:>6} {step:<17} {r['seconds']:8.1f} s  cpu {r['cpu_s']:7.1f} s  peak {r['peak_mb']:7.0f} MB  "
                          f"(startup {r['startup']:.1f} s; load {r['load_before']} -> {r['load_after']})  "
                          f"{ {k: v for k, v in r.items() if k in ('rounds', 'components', 'rows', 'distinct_paths', 'label_sum', 'credit_sum', 'input_mb', 'shuffle_write_mb')} }",
                          flush=True)
    print_table(args.work)


if __name__ == "__main__":
    main()
