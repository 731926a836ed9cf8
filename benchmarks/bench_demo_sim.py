"""Demo company generation: wall and CPU time per phase, peak memory, rows per second.

Runs `revline.demo.simulate.generate` for each requested size in a fresh subprocess (so the peak
RSS is that size's own) and prints the phase timings the manifest reports (simulate, write,
counterfactuals), CPU seconds, peak RSS and touchpoints written per second, with the ratio to the
targets: small within a few seconds (target 10 s wall on an idle 2-core box) and large within
~2 GB of memory. There is no peer simulator to compare against; CPU seconds are printed beside
wall time because the shared machine's load inflates the latter.

    .venv/bin/python benchmarks/bench_demo_sim.py --sizes tiny small
    .venv/bin/python benchmarks/bench_demo_sim.py --sizes large   # minutes, ~1.7 GB
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, resource, sys, time
from revline.demo.simulate import generate
t = time.perf_counter(); c = time.process_time()
m = generate(sys.argv[1], size=sys.argv[2], seed=int(sys.argv[3]))
print(json.dumps({"timings": m["timings"], "counts": m["counts"], "cpu": time.process_time() - c,
                  "wall": time.perf_counter() - t,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TARGET_SMALL_WALL_S = 10.0
TARGET_PEAK_MB = 2048.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small"], choices=["tiny", "small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    print(f"{'size':8s} {'wall s':>8s} {'cpu s':>8s} {'sim':>6s} {'write':>6s} {'cf':>6s} {'peak MB':>8s} "
          f"{'touchpoints':>12s} {'tp/s':>9s}  ratios")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", _CHILD, tmp, size, str(args.seed)],
                                 capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        t = r["timings"]
        tp = r["counts"]["touchpoints"]
        ratios = f"peak/2GB={r['peak_mb'] / TARGET_PEAK_MB:.2f}"
        if size == "small":
            ratios += f"  wall/10s={r['wall'] / TARGET_SMALL_WALL_S:.2f}  cpu/10s={r['cpu'] / TARGET_SMALL_WALL_S:.2f}"
        print(f"{size:8s} {r['wall']:8.1f} {r['cpu']:8.1f} {t['simulate']:6.1f} {t['write']:6.1f} "
              f"{t['counterfactuals']:6.1f} {r['peak_mb']:8.0f} {tp:12,d} {tp / r['wall']:9,.0f}  {ratios}")


if __name__ == "__main__":
    main()
