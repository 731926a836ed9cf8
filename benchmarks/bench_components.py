"""Stitching's connected components: scipy (default) vs label propagation in Ibis, on the demo company.

Builds the demo company's source files (size from --size), loads them into one store, then for
each method stitches a fresh copy of that store, timing the whole stitch and the component step
alone (the same coded graph solved by `graph.representatives` and by
`components.representatives_expr` on DuckDB). Prints the machine load with the figures:

    .venv/bin/python benchmarks/bench_components.py --size small
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from revline.demo.simulate import generate
from revline.identity.components import representatives_expr
from revline.identity.graph import representatives
from revline.identity.stitch import CODED_EDGES, coded_graph, stitch
from revline.store.sqlsteps import DuckSteps
from revline.ingest import load_files
from revline.store import connect, ibis_backend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="small")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-components-") as tmp:
        root = Path(tmp)
        generate(root / "files", size=args.size, seed=args.seed)
        base = root / "ingested.duckdb"
        con = connect(base)
        load_files(con, [root / "files"])
        con.close()

        graph_db = root / "graph.duckdb"
        shutil.copy(base, graph_db)
        con = connect(graph_db)
        n, _ = coded_graph(DuckSteps(con), "scipy")
        con.execute(f"CREATE TABLE _codes AS {CODED_EDGES}")
        edges = con.execute("SELECT l, r FROM _codes").fetchnumpy()
        print(f"demo {args.size} seed {args.seed}: {n:,} identities, {len(edges['l']):,} edges; load {os.getloadavg()}")
        for _ in range(args.repeat):
            t = time.perf_counter()
            representatives(n, edges["l"], edges["r"])
            scipy_s = time.perf_counter() - t
            be = ibis_backend(con)
            t = time.perf_counter()
            found = representatives_expr(be.table("_stitch_nodes").select("code"), be.table("_codes"))
            found.labels.count().execute()
            found.release()
            prop_s = time.perf_counter() - t
            print(f"components only: scipy {scipy_s:.3f} s (incl. nothing to fetch), propagation {prop_s:.3f} s "
                  f"in {found.rounds} rounds")
        con.close()

        for method in ("scipy", "propagation") * args.repeat:
            db = root / f"{method}.duckdb"
            shutil.copy(base, db)
            con = connect(db)
            t = time.perf_counter()
            report = stitch(con, components=method)
            print(f"stitch {method:<12} {time.perf_counter() - t:6.2f} s  ({report.persons:,} persons)")
            con.close()
            db.unlink()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
