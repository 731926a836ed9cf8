"""Run every benchmark in sequence (`make bench`): each prints its own figures and its ratio
against the peer measured in the same run. Pass names to run a subset:
`python benchmarks/run_all.py markov shapley`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = {
    "demo_sim": ["bench_demo_sim.py"],
    "ingest": ["bench_ingest.py"],
    "rules": ["bench_rules.py"],
    "markov": ["bench_markov.py"],
    "shapley": ["bench_shapley.py"],
    "collector": ["bench_collector.py", "--seconds", "60"],
    "mmm": ["bench_mmm.py"],
}


def main(names: list[str]) -> int:
    failed = []
    for name in names or list(BENCHES):
        if name not in BENCHES:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        script, *args = BENCHES[name]
        print(f"\n=== {name} ({script}) ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / script), *args])
        print(f"=== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s ===", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
