"""Account covariates for the renewal model: engagement before a renewal, firmographic segments.

Why engagement: a customer still reading, attending and talking to its account team renews more
often than one gone quiet; the demo company draws renewals exactly so (its `renew_prob` rises with
the account's intent over the 90 days before the renewal opportunity). The store holds that
signal as touchpoints; the feature is the number of the account's touchpoints in the
`WINDOW_DAYS` before a reference time (the renewal opportunity's creation, or `as_of` for a
renewal not opened yet), on a log scale.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from revline.vocabulary import region_of

WINDOW_DAYS = 90

SIZE_BANDS: tuple[tuple[int, str], ...] = ((50, "1-49"), (200, "50-199"), (1000, "200-999"), (5000, "1000-4999"))
"""Employee-count bands (upper bound exclusive -> label); 5000+ above the last."""
UNKNOWN = "(unknown)"


def size_band(employees: float | int | None) -> str:
    """The SIZE_BANDS label of an employee count; '(unknown)' when missing."""
    if employees is None or pd.isna(employees):
        return UNKNOWN
    for upper, label in SIZE_BANDS:
        if int(employees) < upper:
            return label
    return "5000+"


def account_segments(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """account_id, industry, size_band, region for every account (unknowns labelled, never dropped).
    The region is revline.vocabulary's (`region_of`), the one the reports' segment filter and the
    funnel use: NA, EMEA, APAC, LATAM, 'other' for a country it does not know, 'unknown' without one."""
    df = con.execute("SELECT account_id, industry, employees, country FROM accounts").df()
    df["industry"] = df["industry"].where(df["industry"].notna() & (df["industry"].astype(str).str.strip() != ""), UNKNOWN)
    df["size_band"] = [size_band(e) for e in df["employees"]]
    df["region"] = [region_of(c) for c in df["country"]]
    return df[["account_id", "industry", "size_band", "region"]]


def engagement(con: duckdb.DuckDBPyConnection, refs: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Touchpoints of each `refs` row's account in the WINDOW_DAYS before its `ref` time (and before
    `as_of`: nothing later was known). `refs` has columns account_id, ref; returns counts in order."""
    if refs.empty:
        return np.zeros(0)
    frame = pd.DataFrame({"k": np.arange(len(refs)), "account_id": refs["account_id"].to_numpy(),
                          "ref": pd.to_datetime(refs["ref"]).to_numpy()})
    con.register("_retention_refs", frame)
    try:
        out = con.execute(
            """
            WITH t AS (
                SELECT coalesce(p.account_id, t.account_id) AS account_id, t.occurred_at
                FROM touchpoints t LEFT JOIN people p ON p.person_id = t.person_id
                WHERE t.occurred_at < ? AND coalesce(p.account_id, t.account_id) IN (SELECT account_id FROM _retention_refs)
            )
            SELECT r.k, count(t.occurred_at) AS n
            FROM _retention_refs r LEFT JOIN t ON t.account_id = r.account_id
                 AND t.occurred_at <= r.ref AND t.occurred_at > r.ref - to_days(?::INTEGER)
            GROUP BY r.k ORDER BY r.k
            """,
            [as_of, WINDOW_DAYS],
        ).df()
    finally:
        con.unregister("_retention_refs")
    return out["n"].to_numpy(dtype=float)


__all__ = ["SIZE_BANDS", "UNKNOWN", "WINDOW_DAYS", "account_segments", "engagement", "region_of", "size_band"]
