"""Benchmark: revline's exact Markov model vs ChannelAttribution.markov_model, same run, same data.

Generates N distinct paths over 12 channels (default 100k and 1M), then for each order fits
both models, each in its own subprocess so peak memory (ru_maxrss) is measured per model:
  wall      seconds of the model call alone (parsing the path strings included; imports and
            the file load not)
  peak_mb   peak RSS of the process during the model call (peak reset after loading the data)
  model_mb  that peak minus the RSS after loading the data (what the model itself needed)
and prints the speed and memory ratios plus the largest removal-effect difference between the
two: against our exact (uncapped) limit, and against our exact value at ChannelAttribution's
default walk cap (longest path + 1), which leaves only its Monte-Carlo noise.
Targets (issue 5): >= 10x faster than ChannelAttribution at 1M paths, order 1 and 3, with less memory.

    .venv/bin/python benchmarks/bench_markov.py [--sizes 100000 1000000] [--orders 1 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

CHANNELS = [
    "paid_search", "paid_social", "display", "organic_search", "organic_social", "email",
    "referral", "direct", "events", "webinar", "content", "partner",
]


def generate(n: int, seed: int = 0, n_channels: int = 12) -> pd.DataFrame:
    """The n distinct paths: first-order channel chains with channel-dependent conversion odds.

    Vectorised (pyarrow builds the strings), so 1M paths take seconds.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    names = CHANNELS[:n_channels] if n_channels <= len(CHANNELS) else [f"ch{i:02d}" for i in range(n_channels)]
    k = len(names)
    trans = rng.dirichlet(np.full(k, 0.6), size=k)
    lift = rng.uniform(0.2, 2.0, size=k)
    frames, have = [], 0
    while have < n:
        m = int((n - have) * 1.5) + 1000
        lengths = np.minimum(rng.geometric(0.15, size=m), 24)
        seqs = np.empty((m, 24), dtype=np.int64)
        seqs[:, 0] = rng.integers(0, k, size=m)
        for j in range(1, 24):
            prev = seqs[:, j - 1]
            for c in range(k):
                rows = np.flatnonzero(prev == c)
                seqs[rows, j] = rng.choice(k, size=len(rows), p=trans[c])
        keep = np.arange(24)[None, :] < lengths[:, None]
        flat = seqs[keep]
        offsets = np.zeros(m + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        score = np.add.reduceat(lift[flat], offsets[:-1]) / lengths
        p = 1 / (1 + np.exp(-(np.log(score) - 1.0 + 0.05 * lengths)))
        visits = rng.integers(1, 8, size=m)
        conv = rng.binomial(visits, p)
        tokens = pa.array(np.asarray(names, dtype=object)[flat], type=pa.string())
        paths = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), tokens), " > ")
        frames.append(
            pd.DataFrame(
                {
                    "path": paths.to_pandas(),
                    "total_conversions": conv,
                    "total_conversion_value": np.round(conv * rng.uniform(50, 500, size=m), 2),
                    "total_null": visits - conv,
                }
            )
        )
        df = pd.concat(frames, ignore_index=True).drop_duplicates("path")
        frames, have = [df], len(df)
    return frames[0].head(n).reset_index(drop=True)


_WORKER = r"""
import json, resource, sys, time
import pandas as pd
which, data, order = sys.argv[1], sys.argv[2], int(sys.argv[3])
df = pd.read_parquet(data)
def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
def reset_peak():
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM), so loading the data (whose
    # transient peak is the same for both models) is not counted as the model's peak
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
if which == "revline":
    from revline.attribution.markov import markov_model
    fit = lambda: markov_model(df, order=order, out_transition_matrix=False)
else:
    from ChannelAttribution import markov_model
    fit = lambda: markov_model(df, "path", "total_conversions", var_value="total_conversion_value",
                               var_null="total_null", order=order, sep=">", out_more=True, verbose=False,
                               flg_pro=False)
import gc
gc.collect()
base = status_mb("VmRSS")
if not reset_peak():
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
re = fit()["removal_effects"]
wall = time.perf_counter() - t
peak = status_mb("VmHWM")
capped = {}
if which == "revline":
    # ChannelAttribution's default walk cap is the longest path + 1 (see tests/test_markov.py);
    # the same cap computed exactly shows how much of the difference is truncation, not noise
    from revline.attribution.paths import encode_paths
    cap = int(encode_paths(df).lengths.max()) + 1
    rc = markov_model(df, order=order, out_transition_matrix=False, max_step=cap)["removal_effects"]
    capped = dict(zip(rc["channel_name"], rc["removal_effects_conversion"]))
print(json.dumps({"wall": wall, "peak_mb": peak, "model_mb": peak - base, "capped": capped,
                  "re": dict(zip(re["channel_name"], re["removal_effects_conversion"]))}))
"""


def run(which: str, data: str, order: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, which, data, str(order)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{which} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 3])
    args = ap.parse_args()
    print(f"{'paths':>9} {'order':>5} {'model':>18} {'wall s':>8} {'peak MB':>8} {'model MB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            t = time.perf_counter()
            df = generate(n)
            data = os.path.join(tmp, f"paths_{n}.parquet")
            df.to_parquet(data)
            print(f"# generated {len(df):,} distinct paths over {len(CHANNELS)} channels in {time.perf_counter() - t:.1f}s")
            for order in args.orders:
                ours = run("revline", data, order)
                peer = run("ChannelAttribution", data, order)
                for name, r in (("revline (exact)", ours), ("ChannelAttribution", peer)):
                    print(f"{n:>9,} {order:>5} {name:>18} {r['wall']:>8.2f} {r['peak_mb']:>8.0f} {r['model_mb']:>9.0f}")
                diff = max(abs(ours["re"][c] - peer["re"].get(c, 0.0)) for c in ours["re"])
                diff_cap = max(abs(ours["capped"][c] - peer["re"].get(c, 0.0)) for c in ours["capped"])
                print(
                    f"{'':>9} {'':>5} {'ratio':>18} {peer['wall'] / ours['wall']:>7.1f}x "
                    f"{peer['peak_mb'] / ours['peak_mb']:>7.2f}x {peer['model_mb'] / max(ours['model_mb'], 1):>8.2f}x"
                    f"   max |removal effect diff| {diff:.4f} (exact limit), {diff_cap:.4f} (at CA's walk cap)"
                )


if __name__ == "__main__":
    main()
