"""Benchmark: revline's exact Markov model vs ChannelAttribution.markov_model on several path distributions.

Why several: a speed-up measured on one generator (revline's own) did not hold on someone else's
data (issue 18: 4.8x at order 1 on short journeys, where this generator gave 17x). Each
distribution below is fitted by both models in the same run, at every order asked for:

  revline     revline's own generator: first-order channel chains over 12 channels, 1-24 touches,
              distinct paths with 1-7 journeys each
  mit_sample  the MIT path sample in ../shared/data/mta_paths (10,000 distinct paths, the data
              ChannelAttribution ships; used whole, --size does not apply)
  short       short journeys, few distinct paths: one row per journey (duplicate path strings,
              so revline groups them), 8 channels, 1-5 touches, ~20 % converting
  long        long journeys (up to 40 touches), 30 channels, heavy-tailed journeys per path
              (Pareto counts: a few paths carry thousands of journeys)
  rare        many distinct paths converting rarely: 15 channels, 1-15 touches, ~1 % converting

Every model call runs in its own subprocess, one BLAS thread each (best of --repeats calls inside
it, sub-second calls repeated up to ~1 s or 10 calls; imports and the file load are not timed;
parsing the path strings is timed on both sides, and ChannelAttribution runs with its defaults:
walk cap, simulations, out_more=False as revline returns no transition matrix here). The table
gives, per distribution and order: revline's and ChannelAttribution's wall seconds and their
ratio, the same in CPU seconds (the steadier figure on a shared machine: other jobs stretch wall
time more than CPU time), and exactness: the largest difference between the two
models' per-channel attributed conversions (removal effect share x total conversions), as a % of
total conversions -- against revline's exact limit and against revline at ChannelAttribution's
default walk cap (longest path + 1), which leaves only CA's Monte-Carlo noise.
Target (issue 18): >= 10x at orders 1 and 3 on every distribution.

    .venv/bin/python benchmarks/bench_markov.py [--size 10000] [--orders 1 2 3 4] [--repeats 2]
                                                [--dists revline short ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CHANNELS = [
    "paid_search", "paid_social", "display", "organic_search", "organic_social", "email",
    "referral", "direct", "events", "webinar", "content", "partner",
]
MTA_SAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mta_paths" / "paths.csv.gz"
MTA_SAMPLE_FALLBACK = Path("/work/shared/data/mta_paths/paths.csv.gz")


def _names(k: int) -> list[str]:
    return CHANNELS[:k] if k <= len(CHANNELS) else [f"ch{i:02d}" for i in range(k)]


def _chains(rng: np.random.Generator, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat channel ids of first-order chains with the given lengths, and their offsets."""
    m, top = len(lengths), int(lengths.max())
    trans = rng.dirichlet(np.full(k, 0.6), size=k)
    seqs = np.empty((m, top), dtype=np.int64)
    seqs[:, 0] = rng.integers(0, k, size=m)
    for j in range(1, top):
        prev = seqs[:, j - 1]
        for c in range(k):
            rows = np.flatnonzero(prev == c)
            seqs[rows, j] = rng.choice(k, size=len(rows), p=trans[c])
    flat = seqs[np.arange(top)[None, :] < lengths[:, None]]
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return flat, offsets


def _strings(flat: np.ndarray, offsets: np.ndarray, names: list[str]) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    tokens = pa.array(np.asarray(names, dtype=object)[flat], type=pa.string())
    lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), tokens)
    return pc.binary_join(lists, " > ").to_pandas()


def _conv_prob(rng: np.random.Generator, flat: np.ndarray, offsets: np.ndarray, k: int, base: float) -> np.ndarray:
    """Per path: logistic in the mean channel lift and the length, centred on logit(base)."""
    lengths = np.diff(offsets)
    lift = rng.uniform(0.2, 2.0, size=k)
    score = np.add.reduceat(lift[flat], offsets[:-1]) / lengths
    return 1 / (1 + np.exp(-(np.log(base / (1 - base)) + np.log(score) + 0.05 * (lengths - lengths.mean()))))


def _table(paths: pd.Series, conv: np.ndarray, visits: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": paths,
            "total_conversions": conv.astype(np.float64),
            "total_conversion_value": np.round(conv * rng.uniform(50, 500, size=len(conv)), 2),
            "total_null": (visits - conv).astype(np.float64),
        }
    )


def _distinct(make, n: int) -> pd.DataFrame:
    """Draw batches until n distinct paths are collected (the first row of each path kept)."""
    frames, have, batch = [], 0, 0
    while have < n:
        frames.append(make(int((n - have) * 1.5) + 1000, batch))
        df = pd.concat(frames, ignore_index=True).drop_duplicates("path")
        frames, have, batch = [df], len(df), batch + 1
    return frames[0].head(n).reset_index(drop=True)


def gen_revline(n: int, seed: int = 0, n_channels: int = 12) -> pd.DataFrame:
    """The revline generator (the one the README's first figures came from); bench_shapley uses
    it with more channels as `generate`."""
    k = n_channels

    def make(m: int, batch: int) -> pd.DataFrame:
        rng = np.random.default_rng([seed, batch])
        flat, off = _chains(rng, np.minimum(rng.geometric(0.15, size=m), 24), k)
        visits = rng.integers(1, 8, size=m)
        conv = rng.binomial(visits, _conv_prob(rng, flat, off, k, 0.3))
        return _table(_strings(flat, off, _names(k)), conv, visits, rng)

    return _distinct(make, n)


def gen_mit_sample(n: int, seed: int = 0) -> pd.DataFrame:
    """The MIT path sample, whole (10,000 distinct paths); n is ignored."""
    src = MTA_SAMPLE if MTA_SAMPLE.exists() else MTA_SAMPLE_FALLBACK
    return pd.read_csv(src)


def gen_short(n: int, seed: int = 0) -> pd.DataFrame:
    """Journeys (n), one row each, 1-5 touches over 8 channels: few distinct path strings."""
    rng = np.random.default_rng(seed)
    k = 8
    lengths = np.minimum(rng.geometric(0.45, size=n), 5)
    flat, off = _chains(rng, lengths, k)
    conv = rng.binomial(1, _conv_prob(rng, flat, off, k, 0.2))
    return _table(_strings(flat, off, _names(k)), conv, np.ones(n, dtype=np.int64), rng)


def gen_long(n: int, seed: int = 0) -> pd.DataFrame:
    """Distinct paths (n) of 1-40 touches over 30 channels, Pareto-distributed journeys per path."""
    k = 30

    def make(m: int, batch: int) -> pd.DataFrame:
        rng = np.random.default_rng([seed, batch])
        flat, off = _chains(rng, np.minimum(rng.geometric(0.08, size=m), 40), k)
        visits = np.minimum(np.floor(rng.pareto(1.1, size=m)) + 1, 100_000).astype(np.int64)
        conv = rng.binomial(visits, _conv_prob(rng, flat, off, k, 0.1))
        return _table(_strings(flat, off, _names(k)), conv, visits, rng)

    return _distinct(make, n)


def gen_rare(n: int, seed: int = 0) -> pd.DataFrame:
    """Distinct paths (n) of 1-15 touches over 15 channels, one journey each, ~1 % converting."""
    k = 15

    def make(m: int, batch: int) -> pd.DataFrame:
        rng = np.random.default_rng([seed, batch])
        flat, off = _chains(rng, rng.integers(1, 16, size=m), k)
        conv = rng.binomial(1, _conv_prob(rng, flat, off, k, 0.01))
        return _table(_strings(flat, off, _names(k)), conv, np.ones(m, dtype=np.int64), rng)

    return _distinct(make, n)


generate = gen_revline  # the name bench_shapley imports

DISTRIBUTIONS = {
    "revline": gen_revline,
    "mit_sample": gen_mit_sample,
    "short": gen_short,
    "long": gen_long,
    "rare": gen_rare,
}


_WORKER = r"""
import json, sys, time
import pandas as pd
which, data, order, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
df = pd.read_parquet(data)
def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")
if which == "revline":
    from revline.attribution.markov import markov_model
    fit = lambda: markov_model(df, order=order, out_transition_matrix=False)
else:
    from ChannelAttribution import markov_model
    fit = lambda: markov_model(df, "path", "total_conversions", var_value="total_conversion_value",
                               var_null="total_null", order=order, sep=">", out_more=False, verbose=False,
                               flg_pro=False)
walls, cpus = [], []
# at least `repeats` calls; sub-second calls are repeated until ~1 s of calls or 10 calls (the same
# rule for both models), so one call slowed by another job on the machine does not set the figure
while len(walls) < repeats or (sum(walls) < 1.0 and len(walls) < 10):
    t, c = time.perf_counter(), time.process_time()
    out = fit()
    walls.append(time.perf_counter() - t)
    cpus.append(time.process_time() - c)
res = out["result"] if isinstance(out, dict) else out  # CA with out_more=False: the result table alone
capped = {}
if which == "revline":
    # ChannelAttribution's default walk cap is the longest path + 1 (see tests/test_markov.py);
    # the same cap computed exactly shows how much of the difference is truncation, not noise
    from revline.attribution.paths import encode_paths
    cap = int(encode_paths(df).lengths.max()) + 1
    rc = markov_model(df, order=order, out_transition_matrix=False, max_step=cap)["result"]
    capped = dict(zip(rc["channel_name"], rc["total_conversions"]))
print(json.dumps({"walls": walls, "cpus": cpus, "peak_mb": status_mb("VmHWM"), "capped": capped,
                  "conv": dict(zip(res["channel_name"], res["total_conversions"]))}))
"""


def run(which: str, data: str, order: int, repeats: int) -> dict:
    # one thread each: ChannelAttribution's walks run on one core, and BLAS threads would let
    # revline's dense solves use both cores of a machine the peer cannot
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, which, data, str(order), str(repeats)],
        capture_output=True, text=True, check=False, env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{which} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def max_diff_pct(ours: dict, peer: dict, total: float) -> float:
    """Largest |attributed conversions difference| over channels, as a % of total conversions."""
    chans = set(ours) | set(peer)
    worst = max(abs(float(ours.get(c, 0.0)) - float(peer.get(c, 0.0))) for c in chans)
    return 100.0 * worst / total if total > 0 else 0.0


def describe(df: pd.DataFrame) -> str:
    lengths = df["path"].str.count(">") + 1
    rows, distinct = len(df), df["path"].nunique()
    journeys = (df["total_conversions"] + df["total_null"]).sum()
    return (f"{rows:,} rows, {distinct:,} distinct paths, touches median {int(lengths.median())} max {int(lengths.max())}, "
            f"{journeys:,.0f} journeys, {df['total_conversions'].sum() / max(journeys, 1):.1%} converting")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000, help="paths (rows) per generated distribution")
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--repeats", type=int, default=2, help="model calls per cell at least (sub-second ones up to 10); the best is reported")
    ap.add_argument("--dists", nargs="+", default=list(DISTRIBUTIONS), choices=list(DISTRIBUTIONS))
    args = ap.parse_args()
    rows = []
    print(f"# load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.dists:
            t = time.perf_counter()
            df = DISTRIBUTIONS[name](args.size)
            data = os.path.join(tmp, f"{name}.parquet")
            df.to_parquet(data)
            total = float(df["total_conversions"].sum())
            print(f"# {name}: {describe(df)} (generated in {time.perf_counter() - t:.1f}s)", flush=True)
            for order in args.orders:
                ours = run("revline", data, order, args.repeats)
                peer = run("ChannelAttribution", data, order, args.repeats)
                r_s, p_s = min(ours["walls"]), min(peer["walls"])
                r_c, p_c = min(ours["cpus"]), min(peer["cpus"])
                rows.append((name, order, r_s, p_s, p_s / r_s, r_c, p_c, p_c / r_c,
                             max_diff_pct(ours["conv"], peer["conv"], total),
                             max_diff_pct(ours["capped"], peer["conv"], total), ours["peak_mb"], peer["peak_mb"]))
                print(f"  order {order}: revline {r_s:.3f}s  ChannelAttribution {p_s:.3f}s  ratio {p_s / r_s:.1f}x "
                      f"(CPU {r_c:.3f}s / {p_c:.3f}s = {p_c / r_c:.1f}x)", flush=True)
    print()
    print(f"{'distribution':<12} {'order':>5} {'revline s':>10} {'CA s':>9} {'ratio':>7} {'rl CPU s':>9} {'CA CPU s':>9} "
          f"{'CPU ratio':>9} {'max diff %':>10} {'@CA cap %':>9} {'rl MB':>6} {'CA MB':>6}")
    for name, order, r_s, p_s, ratio, r_c, p_c, c_ratio, d, dc, rm, pm in rows:
        print(f"{name:<12} {order:>5} {r_s:>10.3f} {p_s:>9.3f} {ratio:>6.1f}x {r_c:>9.3f} {p_c:>9.3f} {c_ratio:>8.1f}x "
              f"{d:>10.3f} {dc:>9.3f} {rm:>6.0f} {pm:>6.0f}")
    for label, k in (("wall", 4), ("CPU", 7)):
        ratios = [r[k] for r in rows]
        if ratios:
            worst = min(rows, key=lambda r: r[k])
            print(f"{label} ratio range {min(ratios):.1f}x-{max(ratios):.1f}x; worst: {worst[0]} order {worst[1]}")
    print(f"(peak MB is the worker process's peak RSS, data load included; load average at the end: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
