"""Account features as of a scoring time, computed in SQL on the store (one query per table
family, every cut-off at once), and the 30-day label.

Why "as of" is strict here: a score is only honest if it uses what the company knew then. So
at a cut-off T a feature sees
- touches with occurred_at < T, and only once their person was known (an identity other than an
  anonymous id first seen before T, or a CRM record created before T): an anonymous visit is
  credited to its account from the day the visitor identifies, never earlier;
- person stage events (lead, mql, sql) entered before T;
- opportunities created before T, and their outcome only if they closed before T.
The label looks at opportunities created in (T, T + horizon].

Cut-offs reach DuckDB as one bound TIMESTAMP[] parameter; the high-intent URL patterns as one
bound regular expression. The long per-channel / per-touch-type aggregates are pivoted in pandas
so the set of channels is whatever the store holds (the fitted scorer remembers its columns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

HIGH_INTENT_PATTERNS: tuple[str, ...] = (r"/pricing", r"/demo(/|$|\?|#)", r"compar", r"/vs[-/]", r"alternative")
"""Regular expressions over a page's path or URL that mark a high-intent view (pricing, demo,
comparison pages). Override per company: `score_accounts(..., model=fit_scorer(con, as_of,
high_intent=(...)))` or `revline score --high-intent REGEX` (repeatable)."""

HALF_LIFE_DAYS = 30.0  # decayed engagement: a touch counts 1 today, 0.5 a month ago
SENIOR_TITLE = r"(?i)\b(chief|c[emfr]o|vp|vice president|head|director|founder|owner|president)\b"
KINDS = ("new_business", "expansion")

# The SQL below names only its own tables and columns; every value is a bound parameter.
_KNOWN = """
known AS (  -- when each person became known to the company (not anonymous any more)
    SELECT person_id, min(ts) AS known_at FROM (
        SELECT person_id, first_seen_at AS ts FROM identities
        WHERE identity_type <> 'anonymous_id' AND person_id IS NOT NULL
        UNION ALL
        SELECT person_id, created_at FROM people WHERE source_system IS DISTINCT FROM 'revline:identity'
    ) WHERE ts IS NOT NULL GROUP BY person_id
)"""

_TOUCHES = f"""
WITH cut AS (SELECT unnest(?::TIMESTAMP[]) AS cutoff), {_KNOWN},
hi AS (
    SELECT message_id,
           regexp_matches(coalesce(context->>'$.page.path', properties->>'$.path', '') || ' ' ||
                          coalesce(context->>'$.page.url', properties->>'$.url', ''), ?) AS high_intent
    FROM events WHERE type = 'page'
),
tp AS (
    SELECT t.account_id, t.person_id, t.occurred_at, t.channel, t.touch_type,
           coalesce(t.source_system = 'segment' AND hi.high_intent, false) AS high_intent,
           greatest(t.occurred_at, coalesce(k.known_at, t.occurred_at)) AS visible_at,
           p.title
    FROM touchpoints t
    LEFT JOIN known k ON k.person_id = t.person_id
    LEFT JOIN hi ON hi.message_id = t.source_ref
    LEFT JOIN people p ON p.person_id = t.person_id
    WHERE t.account_id IS NOT NULL{{ids}}
),
w AS (
    SELECT c.cutoff, tp.*, date_diff('second', tp.occurred_at, c.cutoff) / 86400.0 AS age
    FROM tp JOIN cut c ON tp.visible_at < c.cutoff
)"""

_TOTALS = _TOUCHES + """
SELECT account_id, cutoff,
    count(*) FILTER (WHERE age <= 7) AS n_7d,
    count(*) FILTER (WHERE age <= 30) AS n_30d,
    count(*) FILTER (WHERE age <= 90) AS n_90d,
    count(*) AS n_all,
    min(age) AS days_since_last,
    max(age) AS days_since_first,
    sum(pow(0.5, age / ?)) AS decayed,
    count(*) FILTER (WHERE high_intent AND age <= 7) AS hi_views_7d,
    count(*) FILTER (WHERE high_intent AND age <= 30) AS hi_views_30d,
    count(DISTINCT person_id) FILTER (WHERE high_intent AND age <= 7) AS hi_people_7d,
    count(DISTINCT person_id) FILTER (WHERE high_intent AND age <= 30) AS hi_people_30d,
    min(age) FILTER (WHERE high_intent) AS days_since_hi,
    count(DISTINCT person_id) FILTER (WHERE age <= 7) AS people_7d,
    count(DISTINCT person_id) FILTER (WHERE age <= 30) AS people_30d,
    count(DISTINCT person_id) FILTER (WHERE age <= 90) AS people_90d,
    count(DISTINCT title) FILTER (WHERE age <= 90) AS titles_90d,
    count(DISTINCT person_id) FILTER (WHERE age <= 90 AND regexp_matches(coalesce(title, ''), ?)) AS senior_90d,
    count(DISTINCT channel) FILTER (WHERE age <= 30) AS channels_30d
FROM w GROUP BY ALL"""

_BY = _TOUCHES + """
SELECT account_id, cutoff, {col} AS key,
    count(*) FILTER (WHERE age <= 30) AS n30,
    sum(pow(0.5, age / ?)) AS dec,
    min(age) AS last
FROM w WHERE age <= 180 GROUP BY ALL"""

_STAGES = """
WITH cut AS (SELECT unnest(?::TIMESTAMP[]) AS cutoff)
SELECT p.account_id, c.cutoff,
    count(DISTINCT s.object_id) FILTER (WHERE s.stage = 'lead') AS people_lead,
    count(DISTINCT s.object_id) FILTER (WHERE s.stage = 'mql') AS people_mql,
    count(DISTINCT s.object_id) FILTER (WHERE s.stage = 'sql') AS people_sql,
    min(date_diff('second', s.entered_at, c.cutoff) / 86400.0) FILTER (WHERE s.stage = 'mql') AS days_since_mql,
    min(date_diff('second', s.entered_at, c.cutoff) / 86400.0) FILTER (WHERE s.stage = 'sql') AS days_since_sql
FROM stage_events s JOIN people p ON s.object_type = 'person' AND p.person_id = s.object_id
JOIN cut c ON s.entered_at < c.cutoff
WHERE p.account_id IS NOT NULL AND s.stage IN ('lead', 'mql', 'sql')
GROUP BY ALL"""

_PEOPLE = f"""
WITH cut AS (SELECT unnest(?::TIMESTAMP[]) AS cutoff), {_KNOWN}
SELECT p.account_id, c.cutoff, count(*) AS known_people
FROM people p JOIN known k USING (person_id) JOIN cut c ON k.known_at < c.cutoff
WHERE p.account_id IS NOT NULL GROUP BY ALL"""

# Opportunities as known at the cut-off: created before it; closed (won/lost) only if closed
# before it. A lost renewal is churn: the account stops being a customer.
_OPPS = """
WITH cut AS (SELECT unnest(?::TIMESTAMP[]) AS cutoff),
o AS (
    SELECT c.cutoff, o.account_id, o.revenue_type, o.created_at,
           o.is_closed AND o.closed_at < c.cutoff AS closed_then,
           o.is_won AND o.is_closed AND o.closed_at < c.cutoff AS won_then, o.closed_at
    FROM opportunities o JOIN cut c ON o.created_at < c.cutoff
    WHERE o.account_id IS NOT NULL
)
SELECT account_id, cutoff,
    count(*) FILTER (WHERE revenue_type = 'new_business' AND NOT closed_then) AS open_nb,
    count(*) FILTER (WHERE revenue_type = 'expansion' AND NOT closed_then) AS open_exp,
    count(*) FILTER (WHERE revenue_type = 'new_business' AND closed_then AND NOT won_then) AS lost_nb,
    count(*) FILTER (WHERE won_then) AS won_deals,
    count(*) FILTER (WHERE revenue_type = 'expansion') AS expansions,
    min(date_diff('second', closed_at, cutoff) / 86400.0) FILTER (WHERE won_then) AS days_since_win,
    min(date_diff('second', created_at, cutoff) / 86400.0) AS days_since_opp,
    -- a customer: won a deal or has a renewal on the books, and has not lost a renewal since
    coalesce(max(closed_at) FILTER (WHERE won_then), max(created_at) FILTER (WHERE revenue_type = 'renewal'))
        AS customer_since,
    max(closed_at) FILTER (WHERE revenue_type = 'renewal' AND closed_then AND NOT won_then) AS churned_at
FROM o GROUP BY ALL"""

_LABELS = """
WITH cut AS (SELECT unnest(?::TIMESTAMP[]) AS cutoff)
SELECT o.account_id, c.cutoff,
    count(*) FILTER (WHERE o.revenue_type = 'new_business') > 0 AS opened_new_business,
    count(*) FILTER (WHERE o.revenue_type = 'expansion') > 0 AS opened_expansion,
    min(o.created_at) FILTER (WHERE o.revenue_type IN ('new_business', 'expansion')) AS opened_at
FROM opportunities o JOIN cut c
  ON o.created_at > c.cutoff AND o.created_at <= c.cutoff + to_days(CAST(? AS INTEGER))
WHERE o.account_id IS NOT NULL GROUP BY ALL"""

_ACCOUNTS = """
WITH cut AS (SELECT unnest(?::TIMESTAMP[]) AS cutoff)
SELECT a.account_id, c.cutoff, a.name AS account_name, a.employees, a.annual_revenue, a.industry, a.country
FROM accounts a JOIN cut c ON a.created_at IS NULL OR a.created_at < c.cutoff{ids}"""
_IDS_TP = " AND t.account_id IN (SELECT unnest(?::VARCHAR[]))"
_IDS_ACC = " WHERE a.account_id IN (SELECT unnest(?::VARCHAR[]))"

_EMPTY_BY = pd.DataFrame(columns=["account_id", "cutoff", "key", "n30", "dec", "last"])


def pattern_regex(patterns: Sequence[str]) -> str:
    """One regular expression matching any of the high-intent patterns (each checked here, so a
    bad pattern fails with its own text rather than inside DuckDB)."""
    for p in patterns:
        re.compile(p)
    return "|".join(f"(?:{p})" for p in patterns) if patterns else r"(?!)"


def _q(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pd.DataFrame:
    return con.execute(sql, params).df()


def _slug(text: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "unknown"


def _wide(long: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Long (account, cutoff, key, n30, dec, last) rows as one column per key and measure."""
    if long.empty:
        return pd.DataFrame(columns=["account_id", "cutoff"])
    long = long.assign(key=long["key"].map(_slug))
    long = long.groupby(["account_id", "cutoff", "key"], as_index=False).agg(
        n30=("n30", "sum"), dec=("dec", "sum"), last=("last", "min"))
    wide = long.pivot(index=["account_id", "cutoff"], columns="key", values=["n30", "dec", "last"])
    wide.columns = [f"{prefix}_{k}_{m}" for m, k in wide.columns]
    return wide.reset_index()


def build_features(con: duckdb.DuckDBPyConnection, cutoffs: Sequence[datetime],
                   high_intent: Sequence[str] = HIGH_INTENT_PATTERNS, horizon_days: int = 30,
                   with_labels: bool = True, account_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (account, cut-off) of the accounts a score applies to at that cut-off, with
    `kind` (new_business for prospects with no open new-business deal, expansion for customers
    with no open expansion), the features, and (with_labels) `label` = the account opened a deal
    of its kind within `horizon_days` after the cut-off, `opened_at` its creation time.

    Accounts with an open new-business deal are not scored (they are in the pipeline already),
    nor churned customers. `account_ids` limits the work to those accounts (a live refresh)."""
    cuts = [pd.Timestamp(c).to_pydatetime().replace(tzinfo=None) for c in cutoffs]
    if not cuts:
        raise ValueError("no cut-off to compute features at")
    rx = pattern_regex(high_intent)
    ids = [] if account_ids is None else [[str(a) for a in account_ids]]
    tp_ids = _IDS_TP if ids else ""
    base = _q(con, _ACCOUNTS.format(ids=_IDS_ACC if ids else ""), [cuts, *ids])
    totals = _q(con, _TOTALS.format(ids=tp_ids), [cuts, rx, *ids, HALF_LIFE_DAYS, SENIOR_TITLE])
    by_channel = _q(con, _BY.format(ids=tp_ids, col="channel"), [cuts, rx, *ids, HALF_LIFE_DAYS])
    by_type = _q(con, _BY.format(ids=tp_ids, col="touch_type"), [cuts, rx, *ids, HALF_LIFE_DAYS])
    stages = _q(con, _STAGES, [cuts])
    people = _q(con, _PEOPLE, [cuts])
    opps = _q(con, _OPPS, [cuts])
    keys = ["account_id", "cutoff"]
    df = base
    for part in (totals, _wide(by_channel, "ch"), _wide(by_type, "tt"), stages, people, opps):
        if len(part.columns) > 2:
            df = df.merge(part, on=keys, how="left")
    cut_ts = pd.to_datetime(df["cutoff"])
    cust_since = pd.to_datetime(df.get("customer_since"))
    churned = pd.to_datetime(df.get("churned_at"))
    is_customer = cust_since.notna() & ~(churned.notna() & (churned >= cust_since))
    df["is_customer"] = is_customer.astype(float)
    df["days_as_customer"] = np.where(is_customer, (cut_ts - cust_since).dt.total_seconds() / 86400.0, np.nan)
    df["kind"] = np.where(is_customer, "expansion", "new_business")
    open_nb = df["open_nb"].fillna(0) if "open_nb" in df else 0
    open_exp = df["open_exp"].fillna(0) if "open_exp" in df else 0
    churned_now = cust_since.isna() & churned.notna()
    keep = np.where(is_customer, open_exp == 0, (open_nb == 0) & ~churned_now)
    df = df[keep].drop(columns=[c for c in ("customer_since", "churned_at", "open_nb", "open_exp") if c in df])
    counts = [c for c in df.columns if c.startswith(("n_", "hi_", "people_", "titles_", "senior_", "channels_",
                                                         "known_people", "lost_nb", "won_deals", "expansions",
                                                         "decayed"))
              or (c.startswith(("ch_", "tt_")) and not c.endswith("_last"))]
    df[counts] = df[counts].astype(float).fillna(0.0)
    recent = df["n_7d"] if "n_7d" in df else 0.0
    prior = (df["n_90d"] - recent) if "n_90d" in df else 0.0
    df["velocity"] = (recent + 1.0) / (prior * 7.0 / 83.0 + 1.0)  # this week vs the account's usual week
    if with_labels:
        labels = _q(con, _LABELS, [cuts, int(horizon_days)])
        df = df.merge(labels, on=keys, how="left")
        nb = df["opened_new_business"].astype("boolean").fillna(False).astype(bool)
        ex = df["opened_expansion"].astype("boolean").fillna(False).astype(bool)
        df["label"] = np.where(df["kind"] == "expansion", ex, nb).astype(int)
        df = df.drop(columns=["opened_new_business", "opened_expansion"])
    df["cutoff"] = pd.to_datetime(df["cutoff"])
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def data_end(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The latest time the store has data for (touches, deals, stage changes): the default
    scoring time, so a demo store two years old is scored as of its own last day."""
    row = con.execute(
        "SELECT max(m) FROM (SELECT max(occurred_at) AS m FROM touchpoints "
        "UNION ALL SELECT max(created_at) FROM opportunities UNION ALL SELECT max(entered_at) FROM stage_events)"
    ).fetchone()
    return None if row is None or row[0] is None else pd.Timestamp(row[0]).to_pydatetime()


def data_start(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The earliest touch in the store (training snapshots start some weeks after it)."""
    row = con.execute("SELECT min(occurred_at) FROM touchpoints").fetchone()
    return None if row is None or row[0] is None else pd.Timestamp(row[0]).to_pydatetime()
