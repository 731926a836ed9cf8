"""The two forecasts a CRO already has, computed from the same cut store as revline's.

stage_weighted (Salesforce forecast categories): closed-won so far in the quarter plus each open
deal's amount times its stage probability, for deals expected to close in the quarter. The stage
probability is the CRM's own (the probability the store holds for opportunities in that stage of
that revenue type; Salesforce's default stage probabilities where the store has none). The store
keeps no close date for open deals, so a deal is expected to close at creation plus the median
cycle of the type's won deals; a deal already past it is expected this quarter (reps push, they do
not drop). Its 80 % interval: each deal won with its stage probability (what the probabilities claim).

run_rate: the average quarterly bookings of the trailing four complete quarters before `as_of`
(fewer when the store is younger), the same for every quarter forecast. Its 80 % interval: the
normal interval from those quarters' spread (mean +- 1.28 sd).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from revline.models.forecast.data import FORECAST_TYPES, Snapshot, cutoff, open_deals, won_between
from revline.models.forecast.model import TOTAL
from revline.models.forecast.quarters import Quarter, quarter_of

# Salesforce's default probabilities of its standard opportunity stages (canonical snake names)
SALESFORCE_DEFAULT = {
    "opportunity": 0.1, "prospecting": 0.1, "qualification": 0.1, "needs_analysis": 0.2,
    "value_proposition": 0.5, "id_decision_makers": 0.6, "perception_analysis": 0.7,
    "proposal_price_quote": 0.75, "negotiation_review": 0.9,
}
Z80 = 1.2816


def stage_probabilities(con: Any) -> dict[tuple[str, str], float]:
    """(revenue_type, canonical stage) -> the CRM's probability for deals in that stage (median
    over the store's open opportunities in it). Stage names are canonicalised as ingest does."""
    from revline.ingest.crm import canon_stage  # noqa: PLC0415 - ingest is below models; one SQL expression

    rows = con.execute(
        f"""SELECT revenue_type, {canon_stage('stage')} AS s, median(probability)
            FROM opportunities WHERE NOT coalesce(is_closed, FALSE) AND probability IS NOT NULL
            GROUP BY 1, 2"""  # noqa: S608 - fixed expression from ingest (column name only)
    ).fetchall()
    return {(rt, s): float(p) for rt, s, p in rows}


def _prob(probs: dict[tuple[str, str], float], rt: str, stage: str) -> float:
    return probs.get((rt, stage), SALESFORCE_DEFAULT.get(stage, 0.1))


def stage_weighted(snap: Snapshot, quarters: list[Quarter], probs: dict[tuple[str, str], float],
                   n_sims: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Rows (quarter, revenue_type incl. total, mean, p10, p90) of the stage-weighted forecast."""
    rng = np.random.default_rng(seed)
    cut = pd.Timestamp(cutoff(snap.as_of))
    opened = open_deals(snap)
    d = snap.deals
    rows = []
    totals = {str(q): (0.0, np.zeros(n_sims)) for q in quarters}
    for rt in FORECAST_TYPES:
        won_deals = d[(d["revenue_type"] == rt) & d["is_won"]]
        cycle = (won_deals["closed_at"] - won_deals["created_at"]).median() if len(won_deals) else pd.Timedelta(days=90)
        o = opened[opened["revenue_type"] == rt]
        expected = np.maximum(o["created_at"] + cycle, cut) if len(o) else pd.Series(dtype="datetime64[ns]")
        p = np.array([_prob(probs, rt, s) for s in o["stage"]])
        amount = o["amount_usd"].to_numpy(dtype=float)
        for q in quarters:
            inq = np.asarray((expected >= pd.Timestamp(q.start)) & (expected < pd.Timestamp(q.end + timedelta(days=1))),
                             dtype=bool) if len(o) else np.zeros(0, dtype=bool)
            won = float(won_between(snap, q.start, q.end)[rt])
            mean = won + float((p[inq] * amount[inq]).sum())
            sims = won + (rng.random((n_sims, int(inq.sum()))) < p[inq]) @ amount[inq]
            m, s = totals[str(q)]
            totals[str(q)] = (m + mean, s + sims)
            rows.append(_row(q, rt, mean, sims))
    for q in quarters:
        m, s = totals[str(q)]
        rows.append(_row(q, TOTAL, m, s))
    return pd.DataFrame(rows)


def _row(q: Quarter, rt: str, mean: float, sims: np.ndarray) -> dict[str, Any]:
    p10, p90 = np.quantile(sims, (0.1, 0.9))
    return {"quarter": str(q), "revenue_type": rt, "mean": mean, "p10": float(p10), "p90": float(p90)}


def run_rate(snap: Snapshot, quarters: list[Quarter], n_back: int = 4) -> pd.DataFrame:
    """Rows (quarter, revenue_type incl. total, mean, p10, p90) of the trailing-4-quarters run rate."""
    first = snap.deals["created_at"].min()
    past: list[dict[str, float]] = []
    q = quarter_of(snap.as_of).prev()
    while len(past) < n_back and not snap.deals.empty and pd.Timestamp(q.end) >= first:
        won = won_between(snap, q.start, q.end)
        past.append({**won.to_dict(), TOTAL: float(won.sum())})
        q = q.prev()
    rows = []
    for q in quarters:
        for rt in (*FORECAST_TYPES, TOTAL):
            vals = np.array([p[rt] for p in past]) if past else np.zeros(1)
            mean = float(vals.mean())
            sd = float(vals.std(ddof=1)) if len(vals) > 1 else mean * 0.5
            rows.append({"quarter": str(q), "revenue_type": rt, "mean": mean,
                         "p10": max(0.0, mean - Z80 * sd), "p90": mean + Z80 * sd})
    return pd.DataFrame(rows)


__all__ = ["SALESFORCE_DEFAULT", "run_rate", "stage_probabilities", "stage_weighted"]
