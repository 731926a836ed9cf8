"""Time to close-won / close-lost of open deals, from history: landmark Aalen-Johansen estimates.

Why landmarks and not a constant win rate or a single Kaplan-Meier curve: a deal's chances depend
on where it is. A deal 90 days old still in its first stage is not the deal it was on day one: in
real pipelines (and in the demo) deals that stall in a stage are the ones that are lost, and the
remaining time to close shrinks as a deal moves. So for each historical deal we take "landmark"
snapshots every `step` days while it was open (its stage, age, time in that stage then, and what
happened after: won, lost or still open = censored), and for an open deal we weight the snapshots
of the same revenue type and stage by how close their age and time-in-stage are (Gaussian kernel
in log days), then run the competing-risks Aalen-Johansen estimator (won vs lost; censoring at the
as-of cut) on the weighted residual times. The result is P(won within h days | where the deal is
now) for any horizon h, with no parametric shape and no constant. When a stage has too little
history (effective sample below `min_ess`) the deal falls back to every stage of its type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from revline.models.forecast.data import Snapshot, cutoff, days_between

WON, LOST, CENSORED = 1, 2, 0


@dataclass(frozen=True)
class Landmarks:
    """One row per (historical deal, landmark age): revenue_type, stage, age, tis (days in stage),
    residual (days from the landmark to close or censoring), event (WON, LOST, CENSORED)."""

    table: pd.DataFrame


def landmarks(snap: Snapshot, step: float = 7.0, half_life_days: float | None = None,
              max_deals: int = 4000) -> Landmarks:
    """Snapshots of every deal known at the cut, every `step` days of age while it was open.

    `half_life_days`: each snapshot's weight halves with every that many days between it and the
    cut (recent selling weighs more when win rates drift); None weighs all history alike.
    `max_deals`: a revenue type with more deals uses a seeded random sample of that many (the
    estimate's cost grows with open deals x snapshots; 4,000 deals leave its sampling error small
    and the bootstrap still measures it)."""
    d = _sample(snap.deals, max_deals)
    cut = pd.Timestamp(cutoff(snap.as_of))
    end = d["closed_at"].fillna(cut)
    life = np.asarray(days_between(end, d["created_at"]), dtype=float)
    event = np.where(d["closed_at"].isna(), CENSORED, np.where(d["is_won"], WON, LOST))
    n_marks = np.where(life > 0, np.floor(np.maximum(life - 1e-9, 0) / step).astype(int) + 1, 0)
    idx = np.repeat(np.arange(len(d)), n_marks)
    if len(idx) == 0:
        return Landmarks(pd.DataFrame(columns=["opportunity_id", "revenue_type", "stage", "age", "tis", "residual", "event", "weight"]))
    age = (np.arange(len(idx)) - np.repeat(np.cumsum(n_marks) - n_marks, n_marks)) * step
    marks = pd.DataFrame({
        "opportunity_id": d["opportunity_id"].to_numpy()[idx], "revenue_type": d["revenue_type"].to_numpy()[idx],
        "age": age, "residual": life[idx] - age, "event": event[idx],
        "at": d["created_at"].to_numpy()[idx] + pd.to_timedelta(age, unit="D"),
    })
    marks["stage"], marks["since"] = _stage_at(marks, snap.history, d)
    marks["tis"] = np.maximum(np.asarray(days_between(marks["at"], marks["since"]), dtype=float), 0.0)
    ago = np.asarray(days_between(cut, marks["at"]), dtype=float)
    marks["weight"] = 1.0 if half_life_days is None else 0.5 ** (ago / half_life_days)
    return Landmarks(marks[["opportunity_id", "revenue_type", "stage", "age", "tis", "residual", "event", "weight"]]
                     .reset_index(drop=True))


def _sample(deals: pd.DataFrame, max_deals: int) -> pd.DataFrame:
    """At most `max_deals` deals per revenue type (seeded, so a replay draws the same ones)."""
    counts = deals["revenue_type"].value_counts()
    if counts.empty or counts.max() <= max_deals:
        return deals
    rng = np.random.default_rng(0)
    keep = np.zeros(len(deals), dtype=bool)
    for rt, n in counts.items():
        rows = np.flatnonzero((deals["revenue_type"] == rt).to_numpy())
        keep[rows if n <= max_deals else rng.choice(rows, max_deals, replace=False)] = True
    return deals[keep].reset_index(drop=True)


def _stage_at(marks: pd.DataFrame, history: pd.DataFrame, deals: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The stage each landmark was in (last entry at or before it) and when it was entered."""
    created = deals.set_index("opportunity_id")["created_at"]
    default_since = created.reindex(marks["opportunity_id"]).to_numpy()
    if history.empty:
        return np.full(len(marks), "opportunity", dtype=object), default_since
    m = marks.reset_index().sort_values("at", kind="stable")
    # stable: among entries at the same instant the history's own order (data.load) decides
    h = history.sort_values("entered_at", kind="stable").rename(columns={"entered_at": "since"})
    j = pd.merge_asof(m, h, left_on="at", right_on="since", by="opportunity_id", direction="backward")
    j = j.set_index("index").sort_index()
    stage = j["stage"].fillna("opportunity").to_numpy(dtype=object)
    since = j["since"].to_numpy()
    since = np.where(pd.isna(since), default_since, since)
    return stage, since


def _aalen_johansen(residual: np.ndarray, event: np.ndarray, w: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """Weighted cumulative incidence of WON at each horizon (days), competing with LOST.

    `residual` sorted increasingly; `w` one row of weights or a (B, n) stack (one estimate each)."""
    w = np.atleast_2d(w)
    at_risk = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]  # weight still open just before each time
    with np.errstate(invalid="ignore", divide="ignore"):
        hw = np.where(at_risk > 0, np.where(event == WON, w, 0.0) / at_risk, 0.0)
        hl = np.where(at_risk > 0, np.where(event == LOST, w, 0.0) / at_risk, 0.0)
    surv = np.cumprod(1.0 - hw - hl, axis=1)
    surv_before = np.concatenate([np.ones((w.shape[0], 1)), surv[:, :-1]], axis=1)
    cif = np.cumsum(surv_before * hw, axis=1)
    k = np.searchsorted(residual, horizons, side="right")  # events with residual <= h
    return np.where(k > 0, cif[:, np.maximum(k - 1, 0)], 0.0)


def win_within(lm: Landmarks, revenue_type: str, stage: np.ndarray, age: np.ndarray, tis: np.ndarray,
               horizons: np.ndarray, bandwidth: float = 0.35, min_ess: float = 15.0,
               boot: np.ndarray | None = None) -> np.ndarray:
    """P(won within each horizon | revenue type, stage, age, days in stage), one row per deal.

    horizons: days from now, increasing. Returns (n_deals, n_horizons), or with `boot` (a
    (B, n_landmarks) array of bootstrap weights, e.g. Poisson(1) per historical deal) the B
    re-estimates (B, n_deals, n_horizons): the estimate's own uncertainty."""
    sel = (lm.table["revenue_type"] == revenue_type).to_numpy()
    order = np.flatnonzero(sel)[np.argsort(lm.table["residual"].to_numpy()[sel], kind="stable")]
    t = lm.table.iloc[order]
    B = 1 if boot is None else boot.shape[0]
    out = np.zeros((B, len(stage), len(horizons)))
    if t.empty:
        return out if boot is not None else out[0]
    bw = np.ones((1, len(t))) if boot is None else boot[:, order]
    la, lt = np.log(t["age"].to_numpy() + 7.0), np.log(t["tis"].to_numpy() + 7.0)
    res, ev, st = t["residual"].to_numpy(), t["event"].to_numpy(), t["stage"].to_numpy()
    rec = t["weight"].to_numpy(dtype=float)
    hz = np.asarray(horizons, dtype=float)
    for i in range(len(stage)):
        k = rec * np.exp(-0.5 * (((la - np.log(age[i] + 7.0)) / bandwidth) ** 2
                                 + ((lt - np.log(tis[i] + 7.0)) / bandwidth) ** 2))
        w = np.where(st == stage[i], k, 0.0)
        if _ess(w) < min_ess:
            w = k  # too little history in this stage: every stage of the type at this age
        if w.sum() <= 0:
            continue
        keep = w > 1e-4 * w.max()  # negligible weights change nothing: skip them (sorted order kept)
        out[:, i] = _aalen_johansen(res[keep], ev[keep], w[keep][None, :] * bw[:, keep], hz)
    return out if boot is not None else out[0]


def bootstrap_weights(lm: Landmarks, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_landmarks) Poisson(1) weights drawn per historical deal (all its landmarks share
    one): resampling deals, not snapshots, since a deal's snapshots are not independent."""
    ids, inv = np.unique(lm.table["opportunity_id"].to_numpy(), return_inverse=True)
    return rng.poisson(1.0, (n_boot, len(ids)))[:, inv].astype(float)


def new_deal_win_within(lm: Landmarks, revenue_type: str, horizons: np.ndarray) -> np.ndarray:
    """P(won within each horizon) for a deal created now (the age-0 landmarks of the type)."""
    t = lm.table[(lm.table["revenue_type"] == revenue_type) & (lm.table["age"] == 0)]
    if t.empty:
        return np.zeros(len(horizons))
    t = t.sort_values("residual", kind="stable")
    return _aalen_johansen(t["residual"].to_numpy(), t["event"].to_numpy(), t["weight"].to_numpy(dtype=float),
                           np.asarray(horizons, dtype=float))[0]


def _ess(w: np.ndarray) -> float:
    s = w.sum()
    return 0.0 if s <= 0 else float(s * s / (w * w).sum())


__all__ = ["CENSORED", "LOST", "Landmarks", "WON", "bootstrap_weights", "landmarks", "new_deal_win_within", "win_within"]
