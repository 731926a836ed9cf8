"""The price uplift renewals are booked at, measured on the store's own renewals.

Why: a contract is valued at its last term (plus expansions, minus contractions), but renewals
are usually booked above it (list-price increases, indexation); the demo company's are 0-8 %
above. Expected renewal bookings that ignore it sit low by that much. One measure, used by the
retention outlook (`due.py`) and the bookings forecast (`models/forecast`), so the two screens
value a renewal alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLIP = (0.8, 1.25)


def renewal_uplift(deals: pd.DataFrame, cut: pd.Timestamp, window_days: int = 365, min_pairs: int = 10) -> float:
    """How much renewals were booked above the contract they renewed, over the `window_days` before
    `cut`: sum of won renewal amounts / sum of (the account's previous won new-business or renewal
    amount + its expansions won in the year before). `deals` are as known at `cut` (account_id,
    revenue_type, amount_usd, created_at, closed_at, is_won). 1.0 with fewer than `min_pairs`
    renewals; clipped to CLIP."""
    d = deals
    won = d[d["is_won"]]
    ren = won[(won["revenue_type"] == "renewal") & (won["closed_at"] >= cut - pd.Timedelta(days=window_days))]
    base = won[won["revenue_type"].isin(["new_business", "renewal"])].sort_values("closed_at")
    exp = won[won["revenue_type"] == "expansion"]
    num = den = 0.0
    pairs = 0
    for r in ren.itertuples():
        prev = base[(base["account_id"] == r.account_id) & (base["closed_at"] < r.created_at)]
        if prev.empty:
            continue
        e = exp[(exp["account_id"] == r.account_id) & (exp["closed_at"] < r.created_at)
                & (exp["closed_at"] >= r.created_at - pd.Timedelta(days=365))]["amount_usd"].sum()
        num += r.amount_usd
        den += float(prev["amount_usd"].iloc[-1]) + float(e)
        pairs += 1
    if pairs < min_pairs or den <= 0:
        return 1.0
    return float(np.clip(num / den, *CLIP))


__all__ = ["CLIP", "renewal_uplift"]
