"""Operations `score` and `score_backtest`: the hottest accounts with their reasons and next best
content, and the time-split backtest against the points baseline. The CLI and the server call
these (revline.models.scoring does the modelling)."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from revline.ops.registry import Progress, no_progress


class ScoreError(ValueError):
    """A request the scorer cannot answer (one line, naming what to change)."""


@dataclass
class ScoreView:
    """The top accounts as every interface shows them: rank, account, kind, calibrated score, the
    points baseline, reasons and next best content (in words, counts included)."""

    as_of: datetime
    method: str
    table: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class ScoreBacktestView:
    """The backtest table (per cut-off and scorer), its summary, the lead times and the points table."""

    table: pd.DataFrame
    summary: dict[str, Any]
    lead_times: pd.DataFrame
    points: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _as_of(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return pd.Timestamp(value).to_pydatetime()
    except ValueError:
        raise ScoreError(f"as-of {value!r} is not a date (like 2026-07-01 or 2026-07-01T12:00)") from None


def _patterns(high_intent: Sequence[str] | None) -> tuple[str, ...]:
    from revline.models.scoring.features import HIGH_INTENT_PATTERNS, pattern_regex

    pats = tuple(high_intent) if high_intent else HIGH_INTENT_PATTERNS
    try:
        pattern_regex(pats)
    except Exception as exc:  # re.error: the user's pattern, named
        raise ScoreError(f"--high-intent pattern is not a regular expression: {exc}") from None
    return pats


def _check_store(con: duckdb.DuckDBPyConnection) -> None:
    if con.execute("SELECT count(*) FROM touchpoints").fetchone()[0] == 0:  # type: ignore[index]
        raise ScoreError("the store has no touchpoints to score accounts from: ingest data first (revline ingest FILES)")


def score(con: duckdb.DuckDBPyConnection, *, top: int = 20, as_of: str | datetime | None = None,
          high_intent: list[str] | None = None, save_to: str | None = None,
          progress: Progress = no_progress) -> ScoreView:
    """Fit the scorer as of `as_of` (default: the store's latest data) and list the `top` accounts
    (0: all), hottest first. `save_to`: also pickle the fitted scorer there (for the live pipeline)."""
    from revline.models.scoring.content import describe, next_best_content, uplift_table
    from revline.models.scoring.features import build_features, data_end
    from revline.models.scoring.model import fit_from_features, training_cutoffs
    from revline.models.scoring.score import score_accounts, scoring_features

    _check_store(con)
    pats = _patterns(high_intent)
    when = _as_of(as_of) or data_end(con)
    if when is None:
        raise ScoreError("the store has no dated data to score from")
    progress(0, 3, "features of the past weeks")
    cuts = training_cutoffs(con, when)
    if not cuts:
        raise ScoreError(f"not enough history before {when:%Y-%m-%d} to fit a score: it needs about three months "
                         "of touches (use a later --as-of)")
    train = build_features(con, cuts, pats)
    progress(1, 3, "fitting")
    try:
        scorer = fit_from_features(train, when, high_intent=pats)
    except ValueError as exc:
        raise ScoreError(str(exc)) from None
    if save_to:
        Path(save_to).write_bytes(pickle.dumps(scorer))
    progress(2, 3, "scoring")
    ranked = score_accounts(con, when, model=scorer)
    if top > 0:
        ranked = ranked.head(top)
    feats = scoring_features(con, when, scorer).set_index("account_id").loc[ranked["account_id"]].reset_index()
    picks = next_best_content(uplift_table(train), feats)
    table = ranked.assign(rank=range(1, len(ranked) + 1),
                          next_best=[[describe(p) for p in ps] for ps in picks])
    table = table[["rank", "account_id", "account_name", "kind", "score", "baseline_points", "reasons", "next_best",
                   "scored_at"]]
    notes = []
    if scorer.method != "gradient_boosting":
        notes.append(f"too little history for the learned score ({scorer.stats.get('train_positives', 0)} deals in "
                     "training): scores are the calibrated points baseline")
    progress(3, 3, "done")
    return ScoreView(as_of=when, method=scorer.method, table=table, stats=dict(scorer.stats), notes=notes)


def backtest(con: duckdb.DuckDBPyConnection, *, cutoffs: list[str] | None = None,
             high_intent: list[str] | None = None, progress: Progress = no_progress) -> ScoreBacktestView:
    """The time-split backtest (default: four cut-offs a quarter apart, the last a horizon before
    the data ends): revline and the points baseline per cut-off."""
    from revline.models.scoring.backtest import backtest as run
    from revline.models.scoring.baseline import points_table

    _check_store(con)
    pats = _patterns(high_intent)
    cuts = [c for c in (_as_of(c) for c in (cutoffs or [])) if c is not None] or None
    progress(None, None, "backtest")
    try:
        bt = run(con, cuts, high_intent=pats)
    except ValueError as exc:
        raise ScoreError(str(exc)) from None
    table = bt.table.copy()
    return ScoreBacktestView(table=table, summary=bt.summary, lead_times=bt.lead_times, points=points_table())
