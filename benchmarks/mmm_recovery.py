"""Parameter-recovery suite: revline's mix model beside PyMC-Marketing on data sets with known truth.

The sets come from `revline.models.mmm.recovery` (15 scenarios varying length, channel count,
spend patterns, carry-over, saturation, noise, trend, seasonality and controls; `--sets quick`
is 4 of them). Every (set, seed, contender) fit runs in its own subprocess, which regenerates
the set from its name and seed, so both contenders see the same frame. Same specification on
both sides: GeometricAdstock(l_max=8), LogisticSaturation, yearly seasonality of order 2, the
set's controls, a linear trend (revline's trend term; PyMC-Marketing's `t` control, as in its
quick start), the same chains, tune and draws; each contender keeps its own default priors and
NUTS defaults.

Per set and contender it prints each channel's contribution and ROI error (relative, signed),
whether the 94 % interval covers the truth, divergences, the minimum bulk ESS over the media
parameters and the intercept per second of fit wall time, and the wall time; then, per
contender, the overall line: median absolute contribution and ROI error, coverage share,
divergences, median ESS/s, and revline's ESS/s over PyMC-Marketing's.

    .venv/bin/python benchmarks/mmm_recovery.py --sets quick --quick          # smoke run
    .venv/bin/python benchmarks/mmm_recovery.py --sets suite --json benchmarks/results/mmm_recovery.json
    .venv/bin/python benchmarks/mmm_recovery.py --only revline --lift-tests   # how much a lift test per channel helps
    .venv/bin/python benchmarks/mmm_recovery.py --compare OLD.json            # print OLD's overall line beside this run's
    .venv/bin/python benchmarks/mmm_recovery.py --information RUN.json        # errors against the posterior sds

`--lift-tests` adds the contender `revline+lift`: one 8-week lift test per channel, taken from the
truth (the channel's true contribution over the weeks it contributed most, with a 10 % standard
error). PyMC-Marketing is not given them: its `add_lift_test_measurements` takes a spend level,
a spend change and the outcome change on the saturation curve (no carry-over, no time window),
a different quantity from a windowed incremental outcome, and translating one into the other
would be our assumption, not its API.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from mmm_common import cold_revline_cache, cpu_s, emit, ess, run_child

# the media parameters and the intercept: present under the same names in both models
ESS_SITES = ["adstock_alpha", "saturation_lam", "saturation_beta", "intercept"]
HDI_PROB = 0.94
CONTENDERS = ("revline", "pymc", "revline+lift")


def max_r_hat(samples: dict) -> float:
    """The largest rank-normalised split R-hat over the shared sites (ArviZ's definition)."""
    import arviz as az
    import numpy as np

    out = 0.0
    for name in ESS_SITES:
        if name in samples:
            arr = np.asarray(samples[name], dtype=float)
            flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
            out = max(out, *(float(az.rhat(flat[:, :, j])) for j in range(flat.shape[2])))
    return out


def _set(name: str, seed: int):
    from revline.models.mmm.recovery import generate, scenarios

    return generate(scenarios(name)[0], seed)


def _estimates_table(channels, totals, spend) -> list[dict]:
    """Per channel: posterior mean, sd and 94 % HDI of the total contribution and of ROI, from
    (draws, channels) totals. ArviZ's HDI on both sides (the PyMC child never imports JAX)."""
    import arviz as az
    import numpy as np

    rows = []
    for j, ch in enumerate(channels):
        lo, hi = az.hdi(np.asarray(totals[:, j], dtype=float), hdi_prob=HDI_PROB)
        rows.append({"channel": ch, "spend": float(spend[j]), "contribution": float(np.mean(totals[:, j])),
                     "contribution_sd": float(np.std(totals[:, j])),
                     "contribution_low": float(lo), "contribution_high": float(hi),
                     "roi": float(np.mean(totals[:, j]) / spend[j]), "roi_low": float(lo / spend[j]),
                     "roi_high": float(hi / spend[j])})
    return rows


def run_revline(name: str, seed: int, chains: int, tune: int, draws: int, lift: bool, spec: str = "") -> dict:
    cold_revline_cache()
    from revline.models.mmm.fit import fit
    from revline.models.mmm.report import contribution_draws
    from revline.models.mmm.spec import ModelSpec

    rs = _set(name, seed)
    tests = rs.lift_tests(sd_frac=0.1, weeks=8, seed=seed) if lift else None
    model = ModelSpec(**{"l_max": 8, "yearly_seasonality": 2, "trend": True, **json.loads(spec or "{}")})
    c0, t0 = cpu_s(), time.perf_counter()
    f = fit(rs.frame, spec=model, chains=chains, tune=tune, draws=draws, seed=seed, lift_tests=tests)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    totals = contribution_draws(f).sum(axis=1)
    return {"wall": wall, "cpu": cpu, "ess": ess(f.samples, ESS_SITES), "divergences": int(f.run_info["divergences"]),
            "max_r_hat": max_r_hat(f.samples),
            "estimates": _estimates_table(f.channels, totals, f.spend.sum(axis=0))}


def run_pymc(name: str, seed: int, chains: int, tune: int, draws: int, sampler: str) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import numpy as np
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation

    rs = _set(name, seed)
    channels, controls = rs.channels, list(rs.scenario.control_cols)
    df = rs.frame.copy()
    df["t"] = np.arange(len(df), dtype=float)  # PyMC-Marketing's MMM has no trend term: its quick start's `t`
    mmm = MMM(date_column="date", channel_columns=channels, adstock=GeometricAdstock(l_max=8),
              saturation=LogisticSaturation(), control_columns=[*controls, "t"], yearly_seasonality=2)
    X, y = df.drop(columns="y"), df["y"]
    c0, t0 = cpu_s(), time.perf_counter()
    mmm.fit(X, y, chains=chains, tune=tune, draws=draws, random_seed=seed, nuts_sampler=sampler, progressbar=False)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    post = mmm.idata.posterior
    totals = post["channel_contribution_original_scale"].sum("date").transpose("chain", "draw", "channel")
    totals = totals.sel(channel=channels).values.reshape(-1, len(channels))
    div = int(mmm.idata.sample_stats["diverging"].values.sum())
    shared = {k: post[k].values for k in ESS_SITES if k in post}
    return {"wall": wall, "cpu": cpu, "ess": ess(shared, ESS_SITES), "max_r_hat": max_r_hat(shared),
            "divergences": div, "estimates": _estimates_table(channels, totals, df[channels].sum(axis=0).to_numpy())}


def child(args) -> None:
    if args.child == "pymc":
        res = run_pymc(args.set, args.seed, args.chains, args.tune, args.draws, args.pymc_sampler)
    else:
        res = run_revline(args.set, args.seed, args.chains, args.tune, args.draws, args.child == "revline+lift",
                          args.spec)
    emit(res)


def scored(run: dict) -> list[dict]:
    """The run's per-channel rows with errors and coverage against the truth."""
    import pandas as pd

    from revline.models.mmm.recovery import score

    rs = _set(run["set"], run["seed"])
    est = pd.DataFrame(run["estimates"])
    rows = score(est, rs).to_dict("records")
    if "contribution_sd" in est.columns:  # the posterior sd: is an error within what the posterior admits?
        sd = dict(zip(est["channel"].astype(str), est["contribution_sd"]))
        for row in rows:
            row["contribution_sd"] = float(sd[str(row["channel"])])
    return rows


def summarize(runs: list[dict]) -> dict[str, dict]:
    """Per contender, the overall line over every set, seed and channel it fitted."""
    import numpy as np

    out: dict[str, dict] = {}
    for who in dict.fromkeys(r["contender"] for r in runs):
        mine = [r for r in runs if r["contender"] == who and "channels" in r]
        ch = [c for r in mine for c in r["channels"]]
        if not ch:
            continue
        out[who] = {
            "fits": len(mine), "channels": len(ch),
            "median_abs_contribution_error": float(np.median([abs(c["contribution_error"]) for c in ch])),
            "median_contribution_error": float(np.median([c["contribution_error"] for c in ch])),
            "median_abs_roi_error": float(np.median([abs(c["roi_error"]) for c in ch])),
            "coverage": float(np.mean([bool(c["covered"]) for c in ch])),
            "divergences": int(sum(r["divergences"] for r in mine)),
            "fits_with_divergences": int(sum(r["divergences"] > 0 for r in mine)),
            "fits_with_r_hat_over_1_05": int(sum(r.get("max_r_hat", 0.0) > 1.05 for r in mine)),
            "median_ess_per_s": float(np.median([r["ess_per_s"] for r in mine])),
            "wall_s": float(sum(r["wall"] for r in mine)),
        }
    if "revline" in out and "pymc" in out:
        pairs = {(r["set"], r["seed"]): r for r in runs if r["contender"] == "pymc" and "channels" in r}
        ratios = [r["ess_per_s"] / pairs[(r["set"], r["seed"])]["ess_per_s"] for r in runs
                  if r["contender"] == "revline" and "channels" in r and (r["set"], r["seed"]) in pairs]
        out["revline"]["ess_per_s_ratio_vs_pymc"] = float(np.median(ratios)) if ratios else float("nan")
    return out


def _print_run(r: dict) -> None:
    print(f"  {r['contender']:13s} wall {r['wall']:6.1f} s  divergences {r['divergences']:4d}  "
          f"ESS min {r['ess_min']:6.0f}  ESS/s {r['ess_per_s']:6.1f}  max R-hat {r.get('max_r_hat', float('nan')):5.2f}",
          flush=True)
    for c in r["channels"]:
        print(f"    {c['channel']:16s} contribution {c['contribution']:12,.0f} vs {c['true_contribution']:12,.0f} "
              f"({c['contribution_error']:+7.1%})  ROI {c['roi']:6.2f} vs {c['true_roi']:6.2f} ({c['roi_error']:+7.1%})  "
              f"94% interval {'covers' if c['covered'] else 'MISSES'}", flush=True)


def print_overall(summary: dict, title: str = "overall") -> None:
    print(f"\n{title}:")
    print(f"  {'contender':13s} {'fits':>4s} {'ch':>4s} {'med|contrib err|':>16s} {'med contrib err':>15s} "
          f"{'med|ROI err|':>12s} {'coverage':>8s} {'div':>5s} {'fits w/ div':>11s} {'R-hat>1.05':>10s} {'med ESS/s':>9s} "
          f"{'wall s':>8s}")
    for who, s in summary.items():
        print(f"  {who:13s} {s['fits']:4d} {s['channels']:4d} {s['median_abs_contribution_error']:16.1%} "
              f"{s['median_contribution_error']:+15.1%} {s['median_abs_roi_error']:12.1%} {s['coverage']:8.0%} "
              f"{s['divergences']:5d} {s['fits_with_divergences']:11d} {s.get('fits_with_r_hat_over_1_05', 0):10d} "
              f"{s['median_ess_per_s']:9.1f} {s['wall_s']:8.0f}")
    if "ess_per_s_ratio_vs_pymc" in summary.get("revline", {}):
        print(f"  revline ESS/s / PyMC-Marketing ESS/s (median over sets): x{summary['revline']['ess_per_s_ratio_vs_pymc']:.1f}")


def markdown(data: dict) -> str:
    """The docs tables of a saved run: accuracy (each contender's per-channel contribution errors,
    signed, their median absolute value and the intervals covering the truth) and sampling
    (divergences, max R-hat, ESS/s, wall time), one row per (set, seed); then the overall lines."""
    import numpy as np

    from revline.models.mmm.recovery import scenarios

    failed = {(r["set"], r["seed"], r["contender"]) for r in data["runs"] if "error" in r}
    by = {(r["set"], r["seed"], r["contender"]): r for r in data["runs"] if "channels" in r}
    who = list(dict.fromkeys(r["contender"] for r in data["runs"]))
    keys = list(dict.fromkeys((r["set"], r["seed"]) for r in data["runs"]))
    shape = {s.name: f"{s.weeks} x {s.n_channels}" for s in scenarios("suite")}
    several = len(data["meta"]["seeds"]) > 1

    def table(head: list[str], cells) -> list[str]:
        out = ["| set (weeks x channels) | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
        for key in keys:
            row = [f"{key[0]} ({shape.get(key[0], '?')})" + (f", seed {key[1]}" if several else "")]
            for w in who:
                r = by.get((*key, w))
                got = cells(r) if r else ["failed" if (*key, w) in failed else "not run"]
                row += got + [""] * (len(head) // len(who) - len(got))
            out.append("| " + " | ".join(row) + " |")
        return out

    def accuracy(r):
        errs = [c["contribution_error"] for c in r["channels"]]
        return [" / ".join(f"{e:+.0%}" for e in errs), f"{np.median(np.abs(errs)):.0%}",
                f"{sum(bool(c['covered']) for c in r['channels'])}/{len(errs)}"]

    def sampling(r):
        return [str(r["divergences"]), f"{r.get('max_r_hat', float('nan')):.2f}", f"{r['ess_per_s']:.1f}",
                f"{r['wall']:.0f}"]

    lines = table([h for w in who for h in (f"{w}: error per channel", "med abs", "covered")], accuracy)
    lines += [""] + table([h for w in who for h in (f"{w}: div", "R-hat", "ESS/s", "wall s")], sampling)
    lines += ["", "| contender | fits | channels | median abs contribution error | median signed error | coverage (94 %) "
              "| divergences (fits with any) | fits with R-hat > 1.05 | median ESS/s | total wall s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for w, s in data["summary"].items():
        lines.append(f"| {w} | {s['fits']} | {s['channels']} | {s['median_abs_contribution_error']:.1%} | "
                     f"{s['median_contribution_error']:+.1%} | {s['coverage']:.0%} | {s['divergences']} "
                     f"({s['fits_with_divergences']}) | {s.get('fits_with_r_hat_over_1_05', 0)} | "
                     f"{s['median_ess_per_s']:.1f} | {s['wall_s']:.0f} |")
    if "ess_per_s_ratio_vs_pymc" in data["summary"].get("revline", {}):
        lines.append(f"\nrevline's ESS/s over PyMC-Marketing's, median over sets: "
                     f"x{data['summary']['revline']['ess_per_s_ratio_vs_pymc']:.1f}")
    return "\n".join(lines)


def information(data: dict) -> str:
    """Is the error information-limited? Per contender, each channel's |error| against its posterior
    sd (relative to the truth): the share of channels within 1 and 2 sds, the rank correlation of
    |error| with the relative sd, and the median |error| a calibrated posterior of those widths would
    give (the median over channels of rel_sd * |N(0, 1)|, simulated): if the estimates miss by what
    their own posteriors admit, a smaller error needs narrower posteriors, i.e. more information.
    Runs saved before the sd was recorded fall back on the 94 % interval's width / 3.76 (marked ~)."""
    import numpy as np
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    lines = ["| contender | channels | median abs error | median posterior sd / truth | abs error < 1 sd | "
             "< 2 sd | Spearman(abs error, sd / truth) | median abs error if calibrated | "
             "channels with sd / truth < 7.2 % |", "|---|---|---|---|---|---|---|---|---|"]
    for who in dict.fromkeys(r["contender"] for r in data["runs"]):
        ch = [c for r in data["runs"] if r["contender"] == who and "channels" in r for c in r["channels"]]
        if not ch:
            continue
        exact = all("contribution_sd" in c for c in ch)
        sd = np.array([c["contribution_sd"] if exact else (c["contribution_high"] - c["contribution_low"]) / 3.76
                       for c in ch], dtype=float)
        truth = np.array([c["true_contribution"] for c in ch], dtype=float)
        err = np.abs([c["contribution_error"] for c in ch])
        rel = sd / truth
        z = err / rel
        calibrated = float(np.median(np.median(rel[None, :] * np.abs(rng.standard_normal((4000, len(ch)))), axis=1)))
        mark = "" if exact else "~"
        lines.append(f"| {who} | {len(ch)} | {np.median(err):.1%} | {mark}{np.median(rel):.1%} | "
                     f"{np.mean(z < 1):.0%} | {np.mean(z < 2):.0%} | {spearmanr(err, rel)[0]:+.2f} | "
                     f"{mark}{calibrated:.1%} | {int(np.sum(rel < 0.072))}/{len(ch)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="quick", help="quick, suite, or one scenario name (revline.models.mmm.recovery)")
    ap.add_argument("--seeds", default="0", help="comma list of data seeds (each also seeds the sampler)")
    ap.add_argument("--only", default="", help="comma list of contenders: revline, pymc (default both)")
    ap.add_argument("--lift-tests", action="store_true", help="also fit revline with one lift test per channel")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="2 x (200 tune + 200 draws)")
    ap.add_argument("--pymc-sampler", default="pymc", help="PyMC-Marketing's nuts_sampler (default: its default, pymc)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds before a single fit is given up")
    ap.add_argument("--spec", default="", help='revline\'s ModelSpec fields over the defaults, as JSON: a candidate '
                    'model, e.g. \'{"media_prior": "share"}\' or \'{"priors": {"saturation_beta": {"sigma": 2.0}}}\'')
    ap.add_argument("--json", default="", help="save every run and the summary here")
    ap.add_argument("--compare", default="", help="a --json file of an earlier run: print its overall line too")
    ap.add_argument("--markdown", default="", help="print the docs table of a --json file and exit")
    ap.add_argument("--information", default="", help="print a --json file's errors against the posterior sds "
                    "(is the error information-limited?) and exit")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--set", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.tune = args.draws = 200
    if args.child:
        child(args)
        return
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return
    if args.information:
        print(information(json.loads(Path(args.information).read_text())))
        return
    import numpy as np

    from revline.models.mmm.recovery import scenarios

    sets = [s.name for s in scenarios(args.sets)]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    contenders = [c for c in CONTENDERS if c != "revline+lift"]
    if args.only:
        contenders = [c for c in contenders if c in args.only.split(",")]
    if args.lift_tests:
        contenders.append("revline+lift")
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_start = os.getloadavg()
    print(f"{len(sets)} sets x {len(seeds)} seeds x {contenders}; {args.chains} chains x ({args.tune} + {args.draws}); "
          f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} on {os.cpu_count()} cores", flush=True)
    from importlib import metadata

    versions = {}
    for pkg in ("jax", "numpyro", "pymc", "pymc-marketing"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    meta = {"started": started, "sets": args.sets, "seeds": seeds, "chains": args.chains, "tune": args.tune,
            "draws": args.draws, "contenders": contenders, "pymc_sampler": args.pymc_sampler, "spec": args.spec,
            "cpu_count": os.cpu_count(), "machine": platform.machine(), "load_start": load_start, "versions": versions}
    runs: list[dict] = []
    for name in sets:
        for seed in seeds:
            print(f"\n{name} (seed {seed}): {scenarios(name)[0].description}", flush=True)
            for who in contenders:
                cmd = [sys.executable, __file__, "--child", who, "--set", name, "--seed", str(seed),
                       "--chains", str(args.chains), "--tune", str(args.tune), "--draws", str(args.draws),
                       "--pymc-sampler", args.pymc_sampler, "--spec", args.spec]
                r, err = run_child(cmd, dict(os.environ), timeout=args.timeout)
                if r is None:
                    print(f"  {who}: FAILED {err.strip().splitlines()[-1] if err.strip() else ''}", flush=True)
                    runs.append({"set": name, "seed": seed, "contender": who, "error": err[-1000:]})
                    continue
                r.update(set=name, seed=seed, contender=who)
                e = np.asarray(r["ess"])
                r["ess_min"] = float(e.min())
                r["ess_per_s"] = r["ess_min"] / r["wall"]
                r["channels"] = scored(r)
                runs.append(r)
                _print_run(r)
                if args.json:  # after every fit: a long run stopped half-way keeps what it measured
                    save(args.json, meta, runs)
    summary = summarize(runs)
    print_overall(summary, f"overall ({len(sets)} sets x {len(seeds)} seeds)")
    if args.compare:
        old = json.loads(Path(args.compare).read_text())
        print_overall(old["summary"], f"earlier run {args.compare} ({old['meta']['started']})")
    meta["load_end"] = os.getloadavg()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"\nload average at the end {meta['load_end'][0]:.2f} {meta['load_end'][1]:.2f} {meta['load_end'][2]:.2f}",
          flush=True)
    if args.json:
        save(args.json, meta, runs)
        print(f"saved {args.json}")


def save(path: str, meta: dict, runs: list[dict]) -> None:
    """Every run (the scored channel rows, not the raw estimates they repeat) and the summary."""
    slim = [{k: v for k, v in r.items() if k != "estimates"} for r in runs]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"meta": meta, "summary": summarize(runs), "runs": slim}, indent=1,
                                     default=lambda o: o.item() if hasattr(o, "item") else float(o)))


if __name__ == "__main__":
    main()
