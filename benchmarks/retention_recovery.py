"""Retention's recovery check on simulated companies: the figures in docs/retention.md.

Usage: python benchmarks/retention_recovery.py [--size small] [--configs default,long_cycle] [--seeds 11,12]
Generates each company (generate + ingest + stitch + journeys), then prints, per company, the
parameter check (as of 2025-10-01 and 2026-04-01, scored out of sample to 2026-10-01) and the
per-quarter check (as of each quarter's first day, 2025-Q1 .. 2026-Q3). A small company takes
about a minute to build on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import date
from pathlib import Path

import duckdb


def build(root: Path, config: str, size: str, seed: int) -> tuple[Path, dict]:
    from revline.demo.simulate import generate
    from revline.identity import stitch
    from revline.ingest import load_files
    from revline.journeys import build as build_journeys
    from revline.store import connect

    out = root / f"{config}-{size}-{seed}"
    generate(out / "files", size=size, seed=seed, config=config)
    con = connect(out / "store.duckdb")
    load_files(con, [out / "files"])
    stitch(con)
    build_journeys(con)
    con.close()
    return out / "store.duckdb", json.loads((out / "files" / "ground_truth.json").read_text())


def main() -> None:
    from revline.models.retention.backtest import parameter_check, quarter_starts, quarterly_check

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="small")
    ap.add_argument("--configs", default="default,long_cycle")
    ap.add_argument("--seeds", default="11,12")
    ap.add_argument("--store-dir", default=None, help="Reuse <dir>/<config>-<size>-<seed>/ (store.duckdb, files/).")
    a = ap.parse_args()
    root = Path(a.store_dir or tempfile.mkdtemp(prefix="retention-recovery-"))
    for config in a.configs.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            db = root / f"{config}-{a.size}-{seed}" / "store.duckdb"
            if db.exists():
                truth = json.loads((db.parent / "files" / "ground_truth.json").read_text())
            else:
                db, truth = build(root, config, a.size, seed)
            con = duckdb.connect(str(db), read_only=True)
            print(f"== {config} {a.size} seed {seed}")
            for as_of in (date(2025, 10, 1), date(2026, 4, 1)):
                r = parameter_check(con, truth, as_of, holdout_end=date(2026, 10, 1))
                h = r["holdout"]
                print(f"  as of {as_of}: {r['renewals']} closed renewals; true mean p {r['true_mean_p']:.3f}, posterior "
                      f"{r['mean_p']:.3f} [80% {r['mean_p_low']:.3f}-{r['mean_p_high']:.3f}, 95% {r['mean_p_low95']:.3f}-"
                      f"{r['mean_p_high95']:.3f}]; engagement effect true {r['true_slope']:.2f}, posterior {r['slope'][0]:.2f} "
                      f"[80% {r['slope'][1]:.2f}, {r['slope'][2]:.2f}; 95% {r['slope_95'][0]:.2f}, {r['slope_95'][1]:.2f}]; "
                      f"corr(p, p_true) {r['corr_with_true_p']:.2f}; MAE to p_true model "
                      f"{r['mae_model']:.3f} / sBG {r['mae_sbg']:.3f} / constant {r['mae_constant']:.3f}; holdout "
                      f"({h['renewals']}) log loss model {h['log_loss_model']:.3f} / sBG {h['log_loss_sbg']:.3f} / constant "
                      f"{h['log_loss_constant']:.3f} / truth {h['log_loss_truth']:.3f}")
            q = quarterly_check(con, truth, quarter_starts(date(2025, 1, 1), date(2026, 7, 1)))
            print(q[["quarter", "listed", "unseen", "actual_count", "count_p10", "count_p90", "actual_usd", "usd_p10",
                     "usd_p90", "count_in_80", "usd_in_80"]].round(0).to_string(index=False))
            print(f"  inside the 80% interval: count {int(q.count_in_80.sum())}/{len(q)}, USD {int(q.usd_in_80.sum())}/{len(q)}")
            con.close()


if __name__ == "__main__":
    main()
