"""Benchmark: exact Shapley attribution over all 2^n channel coalitions, n = 12, 16, 20.

For each n, generates paths over n channels and times shapley_model end to end (parsing
included) with method="exact" for both characteristic functions:
  conversions  v(S) = conversions of journeys whose channel set is within S (dividends = table)
  rate         v(S) = conversion rate of those journeys (zeta transforms + Moebius over 2^n)
and, as a reference, the permutation sampler on the same data with its largest standard error
and its largest deviation from the exact values. Target (issue 5): 20 channels in < 10 s.

    .venv/bin/python benchmarks/bench_shapley.py [--channels 12 16 20] [--paths 200000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from bench_markov import generate  # noqa: E402

from revline.attribution.paths import encode_paths  # noqa: E402
from revline.attribution.shapley import shapley_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, nargs="+", default=[12, 16, 20])
    ap.add_argument("--paths", type=int, default=200_000)
    ap.add_argument("--permutations", type=int, default=2000)
    args = ap.parse_args()
    print(f"{'channels':>8} {'coalitions':>11} {'worth':>11} {'method':>8} {'wall s':>8} {'max SE':>9} {'max |diff|':>10}")
    for n in args.channels:
        df = generate(args.paths, seed=n, n_channels=n)
        n_seen = len(encode_paths(df).channels)
        for worth in ("conversions", "rate"):
            t = time.perf_counter()
            exact = shapley_model(df, worth=worth, method="exact")["result"]
            wall = time.perf_counter() - t
            print(f"{n_seen:>8} {2**n_seen:>11,} {worth:>11} {'exact':>8} {wall:>8.2f} {0.0:>9.3f} {0.0:>10.3f}")
            t = time.perf_counter()
            samp = shapley_model(df, worth=worth, method="sampled", n_permutations=args.permutations)["result"]
            wall = time.perf_counter() - t
            diff = (samp["total_conversions"] - exact["total_conversions"]).abs().max()
            print(
                f"{n_seen:>8} {'':>11} {worth:>11} {'sampled':>8} {wall:>8.2f} "
                f"{samp['std_error_conversions'].max():>9.3f} {diff:>10.3f}"
            )
    print(f"# peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
