"""Benchmark: revline's mix model vs PyMC-Marketing on PyMC-Marketing's own quick-start data.

Same specification (GeometricAdstock(l_max=8), LogisticSaturation, controls event_1, event_2,
t, yearly seasonality of order 2), same chains and draws, in one run; every contender runs in
its own subprocess so its peak RSS is its own. Prints, per contender: wall time, min and
median bulk ESS over the shared parameters, ESS per second, contribution error vs the
documented truth (x1 274,848; x2 65,906), in-sample R^2 and MAPE, peak RSS; then the ratios.

    .venv/bin/python benchmarks/bench_mmm.py            # 2 chains x (1000 tune + 1000 draws)
    .venv/bin/python benchmarks/bench_mmm.py --quick    # 2 x (300 + 300), smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from mmm_common import cold_revline_cache, cpu_s, emit, ess, run_child

CSV = "/work/shared/data/pymc_marketing/mmm_example.csv"
TRUTH = {"x1": 274_848.0, "x2": 65_906.0}
CONTROLS = ["event_1", "event_2", "t"]
SHARED = ["adstock_alpha", "saturation_lam", "saturation_beta", "intercept", "gamma_control", "gamma_fourier"]


def _ess(samples: dict) -> list[float]:
    """Bulk ESS of every scalar of the shared parameters (arrays shaped chain, draw, ...)."""
    return ess(samples, SHARED)


def _fit_metrics(y, yhat) -> dict:
    import numpy as np

    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    return {"r2": float(1 - ((y - yhat) ** 2).sum() / ((y - y.mean()) ** 2).sum()),
            "mape": float(np.mean(np.abs((y - yhat) / y)))}


def run_revline(chains: int, tune: int, draws: int, seed: int, chain_method: str) -> dict:
    cold_revline_cache()
    from revline.models.mmm import from_csv
    from revline.models.mmm.fit import fit
    from revline.models.mmm.model import ModelSpec
    from revline.models.mmm.report import contribution_draws, decomposition

    df = from_csv(CSV, "date_week", "y", ["x1", "x2"], CONTROLS)
    c0, t0 = cpu_s(), time.perf_counter()
    f = fit(df, spec=ModelSpec(l_max=8, yearly_seasonality=2), chains=chains, tune=tune, draws=draws, seed=seed,
            chain_method=chain_method)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    contrib = contribution_draws(f).sum(axis=1).mean(axis=0)
    dec = decomposition(f, max_draws=None)
    return {"wall": wall, "cpu": cpu, "ess": _ess(f.samples), "contrib": dict(zip(["x1", "x2"], map(float, contrib))),
            "divergences": f.run_info["divergences"], "chain_method": f.run_info["chain_method"],
            **_fit_metrics(dec["observed"], dec["fitted"])}


def run_pymc(chains: int, tune: int, draws: int, seed: int, sampler: str) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np
    import pandas as pd
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation

    df = pd.read_csv(CSV, parse_dates=["date_week"])
    mmm = MMM(date_column="date_week", channel_columns=["x1", "x2"], adstock=GeometricAdstock(l_max=8),
              saturation=LogisticSaturation(), control_columns=CONTROLS, yearly_seasonality=2)
    X, y = df.drop(columns="y"), df["y"]
    c0, t0 = cpu_s(), time.perf_counter()
    mmm.fit(X, y, chains=chains, tune=tune, draws=draws, random_seed=seed, nuts_sampler=sampler, progressbar=False)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    post = mmm.idata.posterior
    samples = {k: post[k].values for k in SHARED}
    contrib = post["channel_contribution_original_scale"].sum("date").mean(("chain", "draw")).values
    yhat = post["y_original_scale"].mean(("chain", "draw")).values if "y_original_scale" in post else \
        post["mu"].mean(("chain", "draw")).values * float(np.abs(y).max())
    div = int(mmm.idata.sample_stats["diverging"].values.sum())
    return {"wall": wall, "cpu": cpu, "ess": _ess(samples), "contrib": dict(zip(["x1", "x2"], map(float, contrib))),
            "divergences": div, **_fit_metrics(y, yhat)}


def child(args) -> None:
    if args.child.startswith("revline"):
        res = run_revline(args.chains, args.tune, args.draws, args.seed, args.child.split(":")[1])
        res["cache"] = os.environ.get("REVLINE_JAX_CACHE", "")
    else:
        res = run_pymc(args.chains, args.tune, args.draws, args.seed, args.child.split(":")[1])
    emit(res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma list of contenders to run")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.tune = args.draws = 300
    if args.child:
        child(args)
        return
    import numpy as np

    contenders = {
        "revline (parallel chains, default)": "revline:parallel",
        "revline (parallel, XLA cache warmed by the run above)": "revline:parallel:warm",
        "revline (sequential chains)": "revline:sequential",
        "revline (vectorized chains)": "revline:vectorized",
        "PyMC-Marketing (pymc default)": "pymc:pymc",
        "PyMC-Marketing (numpyro)": "pymc:numpyro",
    }
    if args.only:
        keep = set(args.only.split(","))
        contenders = {k: v for k, v in contenders.items() if v in keep}
    results = {}
    print(f"1-min load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    import shutil
    import tempfile

    # the cold default-run child compiles into this cache; the "warm" child then reuses it, as a
    # second `revline mmm fit` of the same shapes would (fit() keeps a persistent XLA cache)
    shared_cache = tempfile.mkdtemp(prefix="bench_mmm_jax_")
    for name, tag in contenders.items():
        env = dict(os.environ)
        if tag.startswith("revline:parallel"):
            env["REVLINE_JAX_CACHE"] = shared_cache
        cmd = [sys.executable, __file__, "--child", tag, "--chains", str(args.chains), "--tune", str(args.tune),
               "--draws", str(args.draws), "--seed", str(args.seed)]
        r, err = run_child(cmd, env)
        if r is None:
            print(f"{name}: FAILED\n{err}")
            continue
        ess = np.asarray(r["ess"])
        r["ess_min"], r["ess_median"] = float(ess.min()), float(np.median(ess))
        r["ess_per_s"] = r["ess_min"] / r["wall"]
        r["ess_per_cpu_s"] = r["ess_min"] / r["cpu"]
        r["err"] = {c: abs(r["contrib"][c] - TRUTH[c]) / TRUTH[c] for c in TRUTH}
        results[name] = r
        print(f"{name}: done in {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU (1-min load average {r['load'][0]:.2f} before, "
              f"{r['load'][1]:.2f} after)", flush=True)

    print(f"\n{args.chains} chains x ({args.tune} tune + {args.draws} draws); truth x1 {TRUTH['x1']:,.0f}, x2 {TRUTH['x2']:,.0f}")
    hdr = f"{'contender':40s} {'wall s':>7s} {'CPU s':>7s} {'ESS min':>8s} {'ESS med':>8s} {'ESS/s':>7s} {'ESS/CPUs':>8s} {'x1':>9s} {'err':>6s} {'x2':>8s} {'err':>6s} {'R2':>6s} {'MAPE':>6s} {'div':>4s} {'RSS MB':>7s}"
    print(hdr)
    for name, r in results.items():
        print(f"{name:40s} {r['wall']:7.1f} {r['cpu']:7.1f} {r['ess_min']:8.0f} {r['ess_median']:8.0f} {r['ess_per_s']:7.1f} "
              f"{r['ess_per_cpu_s']:8.1f} "
              f"{r['contrib']['x1']:9,.0f} {r['err']['x1']:6.1%} {r['contrib']['x2']:8,.0f} {r['err']['x2']:6.1%} "
              f"{r['r2']:6.3f} {r['mape']:6.2%} {r['divergences']:4d} {r['peak_rss_mb']:7.0f}")
    shutil.rmtree(shared_cache, ignore_errors=True)
    revs = {k: v for k, v in results.items() if k.startswith("revline")}
    peers = {k: v for k, v in results.items() if not k.startswith("revline")}
    if not (revs and peers):
        return
    default = peers.get("PyMC-Marketing (pymc default)")
    fastest = max(peers.values(), key=lambda r: r["ess_per_s"])
    # ratios for the default configuration, cold (compilation counted) and warm, and for the best
    shown = [k for k in revs if k.startswith("revline (parallel")]
    best_name = max(revs, key=lambda k: revs[k]["ess_per_s"])
    for name in dict.fromkeys(shown + [best_name]):
        best = revs[name]
        print(f"\nratios for {name}:")
        for pname, p in peers.items():
            print(f"  vs {pname}: ESS/s x{best['ess_per_s'] / p['ess_per_s']:.1f}, "
                  f"ESS per CPU-second x{best['ess_per_cpu_s'] / p['ess_per_cpu_s']:.1f}, wall x{p['wall'] / best['wall']:.1f} faster, "
                  f"peak RAM x{p['peak_rss_mb'] / best['peak_rss_mb']:.1f} smaller, contribution error "
                  f"x1 {best['err']['x1']:.1%} vs {p['err']['x1']:.1%}, x2 {best['err']['x2']:.1%} vs {p['err']['x2']:.1%}")
        if default:
            print(f"  target ESS/s >= 5x PyMC default: {'met' if best['ess_per_s'] >= 5 * default['ess_per_s'] else 'NOT met'}")
        print(f"  target ESS/s >= 2x fastest PyMC-Marketing sampler: {'met' if best['ess_per_s'] >= 2 * fastest['ess_per_s'] else 'NOT met'}")
        worse = [c for c in TRUTH if best["err"][c] > max(p["err"][c] for p in peers.values()) + 0.005]
        print(f"  contribution error no larger than the peers': {'met' if not worse else 'NOT met for ' + ', '.join(worse)}")


if __name__ == "__main__":
    main()
