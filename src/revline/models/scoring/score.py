"""`score_accounts`: who is in-market now — the calibrated 30-day propensity per account, with
the points baseline beside it and the reasons in words.

Why the scorer is fitted here when none is given: a score is only meaningful for the time it was
fitted for, so `score_accounts(con, as_of)` fits on what the store knew at `as_of` unless the
caller passes a saved scorer (the live pipeline does, refreshing it on its own schedule).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from revline.models.scoring.baseline import baseline_points
from revline.models.scoring.explain import reasons
from revline.models.scoring.features import build_features, data_end
from revline.models.scoring.model import Scorer, fit_scorer

COLUMNS = ("account_id", "account_name", "score", "baseline_points", "kind", "reasons", "scored_at")


def _naive_utc(t: datetime) -> datetime:
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def score_accounts(con: duckdb.DuckDBPyConnection, as_of: datetime | None = None,
                   account_ids: list[str] | None = None, model: Scorer | None = None) -> pd.DataFrame:
    """One row per scorable account (prospects without an open new-business deal, customers
    without an open expansion), hottest first: account_id, account_name, score (calibrated
    probability of opening a deal of its `kind` within 30 days, in [0, 1]), baseline_points (the
    manual points score), kind ('new_business' or 'expansion'), reasons (up to 3 sentences),
    scored_at (the as-of time, naive UTC).

    `as_of` defaults to the store's latest data; `model` to a scorer fitted as of `as_of`.
    `account_ids` restricts the rows (unknown or unscorable ids are simply absent)."""
    when = _naive_utc(as_of) if as_of is not None else data_end(con)
    if when is None:
        return pd.DataFrame(columns=list(COLUMNS))
    scorer = model if model is not None else fit_scorer(con, when)
    feats = build_features(con, [when], scorer.high_intent, scorer.horizon_days, with_labels=False,
                           account_ids=account_ids)
    if account_ids is not None:
        feats = feats[feats["account_id"].isin(list(account_ids))].reset_index(drop=True)
    if feats.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    out = pd.DataFrame({
        "account_id": feats["account_id"].astype(str),
        "account_name": feats["account_name"],
        "score": scorer.predict(feats).astype(float),
        "baseline_points": baseline_points(feats).astype(float),
        "kind": feats["kind"].astype(str),
        "reasons": reasons(scorer, feats),
        "scored_at": when,
    })
    return out.sort_values(["score", "baseline_points", "account_id"], ascending=[False, False, True],
                           kind="stable").reset_index(drop=True)


def scoring_features(con: duckdb.DuckDBPyConnection, as_of: datetime, scorer: Scorer) -> pd.DataFrame:
    """The feature rows `score_accounts` scores (for callers that need the raw numbers)."""
    return build_features(con, [_naive_utc(as_of)], scorer.high_intent, scorer.horizon_days, with_labels=False)


__all__ = ["score_accounts", "scoring_features", "COLUMNS"]
