"""Stored in-market scores and the alerts they fire (tables `account_scores`, `score_alerts`).

Why here: the live pipeline of `revline serve` writes the scores, the read API lists them, and a
command could store them as well; all three share these functions, which only read and write
tables (the scoring model itself is `revline.models.scoring`, handed in as a DataFrame).

An alert fires when an account's new score reaches the threshold while its stored score was below
it (or it had none): a crossing upwards. At most one alert per account per cool-down: an alert that
is pending or sent within the cool-down holds it; one that failed (given up) does not, so the next
crossing tries again. The alert's row is inserted in the same transaction as the score, which makes
the decision and its record one step (nothing fires twice after a restart).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from revline.store.transaction import transaction

SCORE_COLUMNS = ("account_id", "score", "kind", "baseline_points", "reasons", "scored_at")


# The score is a calibrated probability of opening a deal within 30 days; on the simulated companies
# the base rate is 1-2 % and the hottest accounts score 0.3-0.5 (docs/scoring.md), so 0.5 would almost
# never fire. 0.25 is more than ten times the base rate: an account a seller should call today.
DEFAULT_THRESHOLD = 0.25


@dataclass(frozen=True)
class AlertRule:
    """When a crossing fires an alert: the score threshold and the cool-down per account."""

    threshold: float = DEFAULT_THRESHOLD
    cooldown: timedelta = timedelta(days=7)


@dataclass
class Alert:
    """One alert to deliver: the account, the score that crossed the threshold and its reasons."""

    alert_id: str
    account_id: str
    account_name: str | None
    score: float
    previous_score: float | None
    threshold: float
    kind: str | None
    reasons: list[str] = field(default_factory=list)
    scored_at: datetime | None = None
    fired_at: datetime | None = None
    attempts: int = 0


def crossings(previous: Mapping[str, float | None], new: Mapping[str, float], threshold: float,
              cooling: Iterable[str] = ()) -> list[str]:
    """The accounts of `new` whose score reaches `threshold` from below (or from no score), minus
    those in `cooling` (an alert within the cool-down), in `new`'s order. Pure: the rule itself."""
    held = set(cooling)
    out = []
    for account, score in new.items():
        before = previous.get(account)
        if score >= threshold and (before is None or before < threshold) and account not in held:
            out.append(account)
    return out


def _reasons_json(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "[]"
    return json.dumps([str(r) for r in value])


def _frame(scores: pd.DataFrame) -> pd.DataFrame:
    """The columns of `account_scores` from a `score_accounts` result (extra columns dropped)."""
    missing = {"account_id", "score", "scored_at"} - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack the column(s) {', '.join(sorted(missing))}")
    out = pd.DataFrame({
        "account_id": scores["account_id"].astype(str),
        "score": scores["score"].astype(float),
        "kind": scores["kind"].astype(object) if "kind" in scores else None,
        "baseline_points": scores["baseline_points"].astype(float) if "baseline_points" in scores else float("nan"),
        "reasons": scores["reasons"].map(_reasons_json) if "reasons" in scores else "[]",
        "scored_at": pd.to_datetime(scores["scored_at"]),
    })
    if out["account_id"].duplicated().any():
        raise ValueError("scores name an account more than once")
    bad = out[(out.score < 0) | (out.score > 1) | out.score.isna()]
    if len(bad):
        raise ValueError(f"score of account {bad.account_id.iloc[0]} is {bad.score.iloc[0]}, not a probability")
    return out


def store_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, rule: AlertRule | None = None,
                 now: datetime | None = None) -> list[Alert]:
    """Replace the stored scores of the accounts in `scores` and, under `rule`, record an alert for
    each upward crossing outside its cool-down; one transaction. Returns the new alerts (pending).
    `now`: UTC, naive (default: the current time)."""
    frame = _frame(scores)
    if frame.empty:
        return []
    now = now or datetime.utcnow()  # noqa: DTZ003 - the store keeps naive UTC
    name = f"_scores_{uuid.uuid4().hex}"
    con.register(name, frame)
    try:
        with transaction(con):
            alerts = _alerts(con, name, frame, rule, now) if rule is not None else []
            con.execute(
                f"INSERT OR REPLACE INTO account_scores ({', '.join(SCORE_COLUMNS)}) "  # noqa: S608 - constants and a generated view name
                f"SELECT account_id, score, kind, baseline_points, reasons::JSON, scored_at FROM {name}")
            if alerts:
                con.executemany(
                    "INSERT INTO score_alerts (alert_id, account_id, score, previous_score, threshold, kind, reasons, "
                    "scored_at, fired_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    [[a.alert_id, a.account_id, a.score, a.previous_score, a.threshold, a.kind, json.dumps(a.reasons),
                      a.scored_at, a.fired_at] for a in alerts])
    finally:
        con.unregister(name)
    return alerts


def _alerts(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, rule: AlertRule,
            now: datetime) -> list[Alert]:
    previous = dict(con.execute(
        f"SELECT s.account_id, s.score FROM account_scores s JOIN {name} n USING (account_id)").fetchall())  # noqa: S608 - generated view name
    cooling = {a for (a,) in con.execute(
        f"SELECT DISTINCT a.account_id FROM score_alerts a JOIN {name} n USING (account_id) "  # noqa: S608 - generated view name
        "WHERE a.status <> 'failed' AND a.fired_at > ?", [now - rule.cooldown]).fetchall()}
    new = dict(zip(frame.account_id, frame.score))
    fire = crossings(previous, new, rule.threshold, cooling)
    if not fire:
        return []
    names = dict(con.execute("SELECT account_id, name FROM accounts WHERE account_id IN (SELECT unnest(?))",
                             [fire]).fetchall())
    rows = frame.set_index("account_id")
    out = []
    for account in fire:
        r = rows.loc[account]
        out.append(Alert(alert_id=uuid.uuid4().hex, account_id=account, account_name=names.get(account),
                         score=float(r.score), previous_score=previous.get(account), threshold=rule.threshold,
                         kind=None if pd.isna(r.kind) else str(r.kind), reasons=json.loads(r.reasons),
                         scored_at=r.scored_at.to_pydatetime(), fired_at=now))
    return out


def pending_alerts(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """Alerts recorded but not delivered or given up yet (a server that stopped left them), oldest first."""
    rows = con.execute(
        "SELECT a.alert_id, a.account_id, c.name, a.score, a.previous_score, a.threshold, a.kind, a.reasons, "
        "a.scored_at, a.fired_at, a.attempts FROM score_alerts a LEFT JOIN accounts c USING (account_id) "
        "WHERE a.status = 'pending' ORDER BY a.fired_at, a.alert_id").fetchall()
    return [Alert(alert_id=r[0], account_id=r[1], account_name=r[2], score=r[3], previous_score=r[4], threshold=r[5],
                  kind=r[6], reasons=json.loads(r[7] or "[]"), scored_at=r[8], fired_at=r[9], attempts=r[10])
            for r in rows]


def record_delivery(con: duckdb.DuckDBPyConnection, outcomes: Iterable[tuple[str, str, int, str | None,
                                                                             datetime | None]]) -> None:
    """Write delivery outcomes (alert_id, status sent/failed/pending, attempts, last error, sent_at)."""
    rows = [list(o) for o in outcomes]
    if not rows:
        return
    with transaction(con):
        con.executemany("UPDATE score_alerts SET status = $2, attempts = $3, last_error = $4, sent_at = $5 "
                        "WHERE alert_id = $1", rows)


def hottest(con: duckdb.DuckDBPyConnection, limit: int = 20, kind: str | None = None) -> list[dict[str, Any]]:
    """The stored scores, highest first (ties: account id), with the account's name."""
    rows = con.execute(
        "SELECT s.account_id, a.name, s.score, s.kind, s.baseline_points, s.reasons, s.scored_at "
        "FROM account_scores s LEFT JOIN accounts a USING (account_id) "
        "WHERE ?::VARCHAR IS NULL OR s.kind = ? ORDER BY s.score DESC, s.account_id LIMIT ?",
        [kind, kind, limit]).fetchall()
    return [{"account_id": r[0], "account_name": r[1], "score": r[2], "kind": r[3],
             "baseline_points": None if r[4] is None or pd.isna(r[4]) else r[4],
             "reasons": json.loads(r[5] or "[]"), "scored_at": r[6]} for r in rows]
