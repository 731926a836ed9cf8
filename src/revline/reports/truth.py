"""The truth table: every model's channel credit beside the demo's counterfactual ground truth.

Why: no attribution vendor can show how wrong its model is, because real data has no ground
truth. The demo simulator measures each channel's incremental revenue by re-running the company
with the channel switched off (common random numbers), so here each model's revenue share by
channel is scored against the true share: total absolute share error (0 = perfect, 2 = disjoint)
and Spearman rank correlation (does the model order the channels right).

Conventions: shares are taken over the *tracked* channels of the ground truth (tv is untracked: no
touchpoint model can see it); '(unattributed)' credit and channels outside the truth are left out
of the shares (reported in `untracked_revenue`). The true number is the channel's incremental
revenue of the asked revenue type (`incremental_revenue_by_type`) when the truth has it, else its
total `incremental_revenue`; a channel whose removal *raised* revenue (negative incrementality)
counts 0 in the true shares, as in the demo's own `share_of_incremental_revenue`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

TRUTH_COLUMNS = [
    "model", "channel", "attributed_revenue", "attributed_pipeline", "model_share",
    "true_incremental_revenue", "true_incremental_pipeline", "true_share", "abs_share_error",
]


def load_ground_truth(path: str | os.PathLike[str]) -> dict:
    """ground_truth.json from a demo directory (or the file itself), validated for the fields we read."""
    p = Path(path)
    if p.is_dir():
        p = p / "ground_truth.json"
    if not p.exists():
        raise FileNotFoundError(f"no ground truth at {p}; run `revline demo --out DIR` first")
    truth = json.loads(p.read_text())
    channels = truth.get("channels")
    if not isinstance(channels, dict) or not channels:
        raise ValueError(f"{p}: field 'channels' missing or empty")
    for name, c in channels.items():
        if "incremental_revenue" not in c:
            raise ValueError(f"{p}: channels[{name!r}] has no field 'incremental_revenue'")
    return truth


def true_channel_values(truth: dict, revenue_type: str | None = "new_business") -> pd.DataFrame:
    """channel, true_incremental_revenue, true_incremental_pipeline, true_share over tracked channels."""
    rows = []
    for name, c in truth["channels"].items():
        if not c.get("tracked", True):
            continue
        rev = c.get("incremental_revenue_by_type", {}).get(revenue_type, c["incremental_revenue"]) if revenue_type else c["incremental_revenue"]
        pipe = c.get("incremental_pipeline_by_type", {}).get(revenue_type, c.get("incremental_pipeline", np.nan)) if revenue_type else c.get("incremental_pipeline", np.nan)
        rows.append((name, float(rev), float(pipe)))
    df = pd.DataFrame(rows, columns=["channel", "true_incremental_revenue", "true_incremental_pipeline"])
    pos = df["true_incremental_revenue"].clip(lower=0.0)
    df["true_share"] = pos / pos.sum() if pos.sum() > 0 else 0.0
    return df.sort_values("channel").reset_index(drop=True)


def _latest_credit(con, milestone: str, revenue_type: str | None) -> pd.DataFrame:
    """Revenue credit by (model, channel) of the latest run of each model."""
    return con.execute(
        """
        WITH runs AS (
            SELECT run_id, model, row_number() OVER (PARTITION BY model ORDER BY created_at DESC, run_id DESC) AS k
            FROM attribution_runs WHERE milestone = ? AND revenue_type IS NOT DISTINCT FROM ?
        )
        SELECT r.model, l.channel, sum(l.revenue_credit) AS revenue
        FROM credit_ledger l JOIN runs r ON r.run_id = l.run_id AND r.k = 1
        GROUP BY 1, 2
        """,
        [milestone, revenue_type],
    ).df()


def truth_table(
    con,
    truth: dict | str | os.PathLike[str],
    *,
    milestone: str = "won",
    pipeline_milestone: str = "opportunity",
    revenue_type: str | None = "new_business",
    models: list[str] | None = None,
    unified_base: str | None = "linear",
) -> pd.DataFrame:
    """One row per (model, tracked channel): attributed revenue and pipeline, shares and share error.

    Models are those with a ledger run for `milestone` / `revenue_type` (or `models`); the
    attributed pipeline comes from their `pipeline_milestone` run when there is one (else NaN).
    `attrs["untracked_revenue"]` holds, per model, the credit outside the tracked channels.
    With a saved mix-model fit of the store, a "unified" model follows: `unified_base`'s credit with
    each channel scaled as the unified ROI table scales it (reports/unified.py: x mix model / attributed
    where the mix model is confident, x1 elsewhere).
    """
    if not isinstance(truth, dict):
        truth = load_ground_truth(truth)
    true = true_channel_values(truth, revenue_type)
    tracked = set(true["channel"])
    rev = _latest_credit(con, milestone, revenue_type)
    pipe = _latest_credit(con, pipeline_milestone, revenue_type)
    if models is not None:
        missing = sorted(set(models) - set(rev["model"]))
        if missing:
            raise ValueError(f"no ledger run for model(s) {missing} at milestone {milestone!r}, revenue type {revenue_type!r}")
        rev = rev[rev["model"].isin(models)]
    frames, untracked = [], {}

    def scored(model: str, by_ch: pd.Series, p: pd.Series) -> pd.DataFrame:
        untracked[model] = float(by_ch[~by_ch.index.isin(tracked)].sum())
        f = true.copy()
        f.insert(0, "model", model)
        f["attributed_revenue"] = by_ch.reindex(f["channel"]).fillna(0.0).to_numpy()
        f["attributed_pipeline"] = p.reindex(f["channel"]).fillna(0.0).to_numpy() if len(p) else np.nan
        total = f["attributed_revenue"].sum()
        f["model_share"] = f["attributed_revenue"] / total if total > 0 else 0.0
        f["abs_share_error"] = (f["model_share"] - f["true_share"]).abs()
        return f

    credit = {}
    for model, g in rev.groupby("model", sort=True):
        credit[model] = (g.set_index("channel")["revenue"], pipe[pipe["model"] == model].set_index("channel")["revenue"])
        frames.append(scored(str(model), *credit[model]))
    base = unified_base if unified_base in credit else None
    if base is not None:
        from revline.reports.unified import channel_factors

        factors = channel_factors(con, base)
        if factors is not None:  # a saved mix-model fit: the base model's credit, channel by channel calibrated
            by_ch, p = credit[base]
            frames.append(scored("unified", by_ch * factors.reindex(by_ch.index).fillna(1.0),
                                 p * factors.reindex(p.index).fillna(1.0)))
    out = pd.concat(frames, ignore_index=True)[TRUTH_COLUMNS] if frames else pd.DataFrame(columns=TRUTH_COLUMNS)
    out.attrs["untracked_revenue"] = untracked
    return out


def truth_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: total absolute share error and Spearman rank correlation with the truth, best first."""
    # here, not at the top: scipy.stats adds 1.3-1.6 s to any import of the reports (measured),
    # and only a store with a ground truth (the demo's) ever gets here
    from scipy.stats import spearmanr

    rows = []
    for model, g in table.groupby("model", sort=True):
        if g["model_share"].nunique() > 1 and g["true_share"].nunique() > 1:
            rho = float(spearmanr(g["model_share"], g["true_share"]).statistic)
        else:
            rho = float("nan")  # a constant ranking has no correlation
        rows.append((model, float(g["abs_share_error"].sum()), rho, float(g["attributed_revenue"].sum())))
    df = pd.DataFrame(rows, columns=["model", "total_abs_share_error", "rank_correlation", "attributed_revenue"])
    return df.sort_values(["total_abs_share_error", "model"]).reset_index(drop=True)
