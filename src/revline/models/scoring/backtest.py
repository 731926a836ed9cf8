"""Time-split backtests of the in-market score against the points baseline.

Why this protocol: at each cut-off T the scorer is fitted on snapshots whose 30-day outcome was
known at T (train before T), scores the accounts as they stood at T, and is judged on what they
did in (T, T + 30 days]. That is exactly what using the score live would have given, so the
figures are honest: no random split mixing the future into training, no tuning on the test slice.

Metrics per cut-off and scorer: ROC AUC and PR AUC (average precision) for ranking, lift of the
top decile (the share of buyers among the 10 % highest scores over the overall share; ties at
the cut-off counted fractionally, so a coarse points score is neither helped nor hurt by how ties
fall), expected calibration error over ten equal-count bins (equal-width bins would put nearly
every account in the first bin at a 1-2 % base rate). The baseline's points are mapped to a
probability by the same Platt calibration on the same slice, so its calibration error is that of
its best monotone reading.

Lead time: every week of the evaluation period is scored by the model of the latest cut-off
before it (a quarterly refit); a deal's lead time is how long before its creation its account
was first flagged (in the top 5 % of that week's scores) within the 90 days before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from revline.models.scoring.baseline import baseline_points
from revline.models.scoring.features import HIGH_INTENT_PATTERNS, build_features, data_end, data_start
from revline.models.scoring.model import (CALIBRATION_DAYS, HORIZON_DAYS, STEP_DAYS, WARMUP_DAYS, Scorer,
                                          fit_from_features)

N_CUTOFFS = 4
SPACING_DAYS = 91
MIN_TRAIN_DAYS = 120  # at least this much snapshot history before the calibration slice
FLAG_SHARE = 0.05  # "flagged as in-market": the top 5 % of a week's scores
LOOKBACK_DAYS = 90
SCORERS = ("revline", "points baseline")


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC (ties count half); NaN when one class is absent."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision; NaN without positives."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if y.sum() > 0 else math.nan


def top_decile_lift(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Positive rate among the top `share` by score over the overall rate (ties at the boundary
    share the remaining places in proportion)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(y) == 0 or y.sum() == 0:
        return math.nan
    k = max(1, int(math.ceil(share * len(y))))
    thr = np.sort(p)[::-1][k - 1]
    above, tied = p > thr, p == thr
    need = k - int(above.sum())
    hits = y[above].sum() + (y[tied].mean() * need if need > 0 else 0.0)
    return float((hits / k) / y.mean())


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean score| over (about) equal-count bins of the score, weighted by size."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(y) == 0:
        return math.nan
    # equal-count bins by rank; tied scores share a bin (a coarse score is not split arbitrarily)
    rank = pd.Series(p).rank(method="min").to_numpy() - 1
    b = np.minimum((rank * bins / len(p)).astype(int), bins - 1)
    err = 0.0
    for k in np.unique(b):
        m = b == k
        err += abs(y[m].mean() - p[m].mean()) * m.sum() / len(y)
    return float(err)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every metric of one scorer on one cut-off."""
    return {"roc_auc": roc_auc(y, p), "pr_auc": pr_auc(y, p), "top_decile_lift": top_decile_lift(y, p),
            "ece": expected_calibration_error(y, p), "mean_score": float(np.mean(p)) if len(p) else math.nan}


@dataclass
class BacktestResult:
    """Per cut-off and scorer: accounts, buyers, the metrics; lead times of the flagged deals."""

    table: pd.DataFrame
    lead_times: pd.DataFrame  # one row per deal: cutoff model, account, created_at, revline/baseline days
    summary: dict[str, Any] = field(default_factory=dict)
    scorers: dict[str, Scorer] = field(default_factory=dict)
    scored: pd.DataFrame | None = None  # every weekly (account, cut-off) row scored by both


def default_cutoffs(start: datetime, end: datetime, horizon_days: int = HORIZON_DAYS,
                    n: int = N_CUTOFFS, spacing_days: int = SPACING_DAYS) -> list[datetime]:
    """`n` cut-offs a quarter apart, the last one a horizon before the data ends (its outcomes are
    complete), none so early that it has too little history to train on."""
    last = end - timedelta(days=horizon_days + 1)
    earliest = start + timedelta(days=WARMUP_DAYS + MIN_TRAIN_DAYS + CALIBRATION_DAYS + horizon_days)
    cuts = [last - timedelta(days=spacing_days * k) for k in range(n)]
    return sorted(c for c in cuts if c >= earliest)


def _grid(cutoffs: Sequence[datetime], start: datetime, end: datetime, step_days: int) -> list[datetime]:
    """Weekly snapshot times aligned on the first cut-off, from `start` to a quarter after the last
    cut-off (at most `end`); the cut-offs themselves are always in."""
    first = min(cutoffs)
    out = set(cutoffs)
    t = first
    while t >= start:
        out.add(t)
        t -= timedelta(days=step_days)
    t = first
    last = min(max(cutoffs) + timedelta(days=SPACING_DAYS), end)
    while t <= last:
        out.add(t)
        t += timedelta(days=step_days)
    return sorted(out)


def backtest(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[datetime] | None = None, *,
             horizon_days: int = HORIZON_DAYS, high_intent: Sequence[str] = HIGH_INTENT_PATTERNS,
             calibration: str | None = None, seed: int = 0, features: pd.DataFrame | None = None) -> BacktestResult:
    """Fit at each cut-off on the past only, score at the cut-off, compare with what happened."""
    start, end = data_start(con), data_end(con)
    if start is None or end is None:
        raise ValueError("the store has no touchpoints to backtest on; ingest data first")
    cuts = sorted(pd.Timestamp(c).to_pydatetime() for c in (cutoffs or default_cutoffs(start, end, horizon_days)))
    if not cuts:
        raise ValueError(f"the store's history ({start:%Y-%m-%d} .. {end:%Y-%m-%d}) is too short for a backtest: "
                         f"it needs about {WARMUP_DAYS + MIN_TRAIN_DAYS + CALIBRATION_DAYS + 2 * horizon_days} days")
    if features is None:
        grid = _grid(cuts, start + timedelta(days=WARMUP_DAYS), end, STEP_DAYS)
        features = build_features(con, grid, high_intent, horizon_days)
    rows, scored, scorers = [], [], {}
    for i, T in enumerate(cuts):
        Tts = pd.Timestamp(T)
        scorer = fit_from_features(features[features["cutoff"] < Tts], T, horizon_days, high_intent,
                                   calibration=calibration, seed=seed)
        scorers[T.isoformat()] = scorer
        nxt = pd.Timestamp(cuts[i + 1]) if i + 1 < len(cuts) else Tts + pd.Timedelta(days=SPACING_DAYS)
        week = features[(features["cutoff"] >= Tts) & (features["cutoff"] < nxt)].copy()
        week["revline"] = scorer.predict(week)
        week["points baseline"] = scorer.predict_baseline(week)
        week["points"] = baseline_points(week)
        week["model_cutoff"] = Tts
        scored.append(week)
        test = week[week["cutoff"] == Tts]
        y = test["label"].to_numpy()
        for name in SCORERS:
            rows.append({"cutoff": Tts, "scorer": name, "method": scorer.method if name == "revline" else "points",
                         "accounts": int(len(y)), "buyers": int(y.sum()), "observed_rate": float(y.mean()) if len(y) else math.nan,
                         **metrics(y, test[name].to_numpy())})
    table = pd.DataFrame(rows)
    all_scored = pd.concat(scored, ignore_index=True)
    leads = lead_times(con, all_scored, min(cuts))
    summary = summarize(table, leads)
    return BacktestResult(table=table, lead_times=leads, summary=summary, scorers=scorers, scored=all_scored)


def lead_times(con: duckdb.DuckDBPyConnection, scored: pd.DataFrame, first_cutoff: datetime,
               flag_share: float = FLAG_SHARE, lookback_days: int = LOOKBACK_DAYS) -> pd.DataFrame:
    """For each new-business or expansion deal created after the first cut-off plus the look-back
    (so its 90 days before are all scored): days from the first week its account was flagged by
    each scorer (top `flag_share` of that week) to the deal's creation; NaN = never flagged."""
    if scored.empty:
        return pd.DataFrame(columns=["account_id", "created_at", "won", "revline_days", "baseline_days"])
    s = scored.copy()
    for name, col in (("revline", "revline_flag"), ("points", "baseline_flag")):
        thr = s.groupby("cutoff")[name].transform(lambda v: v.quantile(1 - flag_share))
        s[col] = (s[name] >= thr) & (s[name] > s.groupby("cutoff")[name].transform("min"))
    lo = pd.Timestamp(first_cutoff) + pd.Timedelta(days=lookback_days)
    hi = s["cutoff"].max() + pd.Timedelta(days=STEP_DAYS)
    deals = con.execute(
        "SELECT account_id, created_at, revenue_type, coalesce(is_won, false) AS won FROM opportunities "
        "WHERE revenue_type IN ('new_business', 'expansion') AND created_at > ? AND created_at <= ?",
        [lo.to_pydatetime(), hi.to_pydatetime()]).df()
    out = []
    by_acc = {k: g for k, g in s.groupby("account_id")}
    for d in deals.itertuples():
        g = by_acc.get(d.account_id)
        rec = {"account_id": d.account_id, "created_at": d.created_at, "revenue_type": d.revenue_type, "won": bool(d.won)}
        for col, key in (("revline_flag", "revline_days"), ("baseline_flag", "baseline_days")):
            days = math.nan
            if g is not None:
                w = g[(g["cutoff"] < d.created_at) & (g["cutoff"] >= d.created_at - pd.Timedelta(days=lookback_days))
                      & g[col]]
                if len(w):
                    days = (d.created_at - w["cutoff"].min()).total_seconds() / 86400.0
            rec[key] = days
        out.append(rec)
    return pd.DataFrame(out, columns=["account_id", "created_at", "revenue_type", "won", "revline_days", "baseline_days"])


def summarize(table: pd.DataFrame, leads: pd.DataFrame) -> dict[str, Any]:
    """The figures the docs quote: mean metrics per scorer, cut-offs won, lead times."""
    out: dict[str, Any] = {}
    for name in SCORERS:
        t = table[table["scorer"] == name]
        out[name] = {m: float(t[m].mean()) for m in ("roc_auc", "pr_auc", "top_decile_lift", "ece")}
    r = table[table["scorer"] == "revline"].set_index("cutoff")
    b = table[table["scorer"] == "points baseline"].set_index("cutoff")
    out["cutoffs"] = int(len(r))
    out["revline_ahead_auc"] = int((r["roc_auc"] > b["roc_auc"]).sum())
    out["revline_ahead_pr_auc"] = int((r["pr_auc"] > b["pr_auc"]).sum())
    if len(leads):
        for key, col in (("revline", "revline_days"), ("points baseline", "baseline_days")):
            won = leads[leads["won"]]
            out[key]["deals"] = int(len(leads))
            out[key]["flagged_share"] = float(leads[col].notna().mean())
            out[key]["median_lead_days"] = float(leads[col].median()) if leads[col].notna().any() else math.nan
            out[key]["won_deals"] = int(len(won))
            out[key]["won_flagged_share"] = float(won[col].notna().mean()) if len(won) else math.nan
            out[key]["won_median_lead_days"] = float(won[col].median()) if won[col].notna().any() else math.nan
    return out
