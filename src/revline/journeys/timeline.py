"""Timelines: the ordered touches and milestones behind one account or one person.

Why a key resolver: sales and marketing ask about "acme.com" or "jane@acme.com" as often as
about a CRM id, so one entry point accepts any of them and says which it matched.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from revline.identity.domains import domain_sql, normalize_domain, registered_domain
from revline.ingest.account_names import normalised_name

TIMELINE_COLUMNS: tuple[str, ...] = (
    "occurred_at", "kind", "person_id", "email", "channel", "touch_type", "campaign_id", "source",
    "medium", "milestone", "object_type", "opportunity_id", "touchpoint_id", "account_id", "campaign_name",
)


@dataclass(frozen=True)
class JourneyKey:
    """What a user-supplied key turned out to be."""

    kind: str  # 'account' or 'person'
    id: str
    matched_by: str  # account_id, domain, person_id, email, identity


STAGE_ORDER: tuple[str, ...] = ("first_touch", "lead", "mql", "sql", "opportunity", "won", "lost", "renewal",
                                 "expansion", "contraction", "churn")
"""Milestones in funnel order: events at the same instant are listed in this order (an
opportunity created and won at one time reads opportunity, then won), never alphabetically."""


def stage_rank_sql(col: str) -> str:
    """SQL rank of milestone column `col` in STAGE_ORDER (NULL, a touch: -1; unknown: last)."""
    whens = " ".join(f"WHEN '{m}' THEN {i}" for i, m in enumerate(STAGE_ORDER))
    return f"(CASE WHEN {col} IS NULL THEN -1 ELSE (CASE {col} {whens} ELSE {len(STAGE_ORDER)} END) END)"


def resolve_key(con: duckdb.DuckDBPyConnection, key: str) -> JourneyKey:
    """Account id, then account domain, then person id, then email or any stitched identity, then
    account name (AmbiguousKey, a KeyError listing the candidates, when several answer to it)."""
    key = key.strip()
    if not key:
        raise ValueError("journey key is empty: give an account id, a domain, an account name, a person id or an email")
    row = con.execute("SELECT account_id FROM accounts WHERE account_id = ?", [key]).fetchone()
    if row:
        return JourneyKey("account", row[0], "account_id")
    if "@" not in key:
        domain = normalize_domain(key)
        row = con.execute(
            f"SELECT min(account_id) FROM accounts WHERE {domain_sql('domain')} = ?",  # noqa: S608 - fixed column, bound domain
            [domain],
        ).fetchone()
        if row and row[0] is not None:
            return JourneyKey("account", row[0], "domain")
        account = _account_by_registered_domain(con, domain)
        if account is not None:
            return JourneyKey("account", account, "domain")
    row = con.execute("SELECT person_id FROM people WHERE person_id = ?", [key]).fetchone()
    if row:
        return JourneyKey("person", row[0], "person_id")
    row = con.execute(
        "SELECT person_id FROM identities WHERE identity_type = 'email' AND identity_value = lower(?) "
        "UNION ALL SELECT person_id FROM people WHERE lower(email) = lower(?) LIMIT 1",
        [key, key],
    ).fetchone()
    if row and row[0] is not None:
        return JourneyKey("person", row[0], "email")
    row = con.execute(
        "SELECT min(person_id) FROM identities WHERE identity_value = ?", [key]
    ).fetchone()
    if row and row[0] is not None:
        return JourneyKey("person", row[0], "identity")
    by_name = _account_by_name(con, key)
    if by_name is not None:
        return by_name
    raise KeyError(f"no account id, account domain, account name, person id or email matches {key!r}")


class AmbiguousKey(KeyError):
    """A name that several accounts answer to; `candidates` lists them as (id, name, domain)."""

    def __init__(self, key: str, candidates: list[tuple], more: bool) -> None:
        self.candidates = candidates
        head = (f"{key!r} matches {'more than ' if more else ''}{len(candidates)} accounts by name; "
                f"give the account id or domain of one:")
        lines = [f"  {cid}  {name or ''}{f'  ({dom})' if dom else ''}" for cid, name, dom in candidates]
        super().__init__("\n".join([head, *lines]))


# Name steps, strictest first: the exact name (case aside), the normalised name (punctuation and
# legal suffixes aside: "ACME, Inc." is "Acme"), then names containing the key (3+ characters).
_NAME_STEPS = (
    ("name", "lower(trim(name)) = lower(trim(?))"),
    ("name", f"{normalised_name('name')} = {normalised_name('?')}"),
    ("part of the name", "length(trim(?)) >= 3 AND contains(lower(name), lower(trim(?)))"),
)
_MAX_CANDIDATES = 10


def _account_by_name(con: duckdb.DuckDBPyConnection, key: str) -> JourneyKey | None:
    """The one account whose name matches `key` at the strictest step that matches any; several
    at that step raise AmbiguousKey with them (up to _MAX_CANDIDATES)."""
    for how, where in _NAME_STEPS:
        rows = con.execute(
            f"SELECT account_id, name, domain FROM accounts WHERE {where} ORDER BY name, account_id LIMIT ?",  # noqa: S608 - fixed fragments, the key is bound
            [key] * where.count("?") + [_MAX_CANDIDATES + 1],
        ).fetchall()
        if len(rows) == 1:
            return JourneyKey("account", rows[0][0], how)
        if rows:
            raise AmbiguousKey(key, rows[:_MAX_CANDIDATES], more=len(rows) > _MAX_CANDIDATES)
    return None


def _account_by_registered_domain(con: duckdb.DuckDBPyConnection, domain: str | None) -> str | None:
    """The account under the same registered domain (`eu.acme.com` -> the account `acme.com`), as
    stitching joins people to accounts: the account whose domain is the registered one, else the
    smallest id. None for a key that is not a domain."""
    reg = registered_domain(domain)
    if reg is None or "." not in reg:
        return None
    rows = con.execute(
        f"SELECT account_id, {domain_sql('domain')} AS d FROM accounts "  # noqa: S608 - fixed column
        f"WHERE d = ? OR ends_with(d, ?) ORDER BY d <> ?, account_id", [reg, "." + reg, reg]
    ).fetchall()
    for account_id, d in rows:
        if registered_domain(d) == reg:
            return account_id
    return None


# Times a Python datetime can hold (years 1-9999). Why: a store may hold any TIMESTAMP (DuckDB's
# run from 290,309 BC), e.g. a CRM date typed as year 0 or 20260; such a time is shown at the
# nearest representable instant (and still sorted by its true value) instead of failing every
# reader of the journey (API, CLI) that turns it into a datetime.
def python_time(expr: str) -> str:
    """SQL: the TIMESTAMP `expr` moved into the years a Python datetime holds (1-9999)."""
    return f"least(greatest({expr}, TIMESTAMP '0001-01-01 00:00:00'), TIMESTAMP '9999-12-31 23:59:59.999999')"


def timeline(con: duckdb.DuckDBPyConnection, key: str) -> pd.DataFrame:
    """Touches and milestones of an account (all its people) or a person, oldest first.

    Milestones sort after a touch at the same instant (the touch caused them), and both carry
    the person so a reader can follow who moved the deal.
    """
    k = resolve_key(con, key)
    if k.kind == "account":
        touch_filter = "t.account_id = $id"
        milestone_filter = "m.account_id = $id"
    else:
        touch_filter = "t.person_id = $id"
        milestone_filter = (
            "(m.object_type = 'person' AND m.object_id = $id) OR (m.object_type = 'opportunity' AND "
            "m.opportunity_id IN (SELECT opportunity_id FROM opportunity_contacts WHERE person_id = $id))"
        )
    df = con.execute(
        f"""
        SELECT {python_time("occurred_at")} AS occurred_at, kind, person_id, email, channel, touch_type,
               campaign_id, source, medium, milestone, object_type, opportunity_id, touchpoint_id, account_id,
               campaign_name
        FROM (
            SELECT t.occurred_at AS _at, t.occurred_at, 'touch' AS kind, t.person_id, p.email, t.channel, t.touch_type,
                   t.campaign_id, t.source, t.medium, NULL AS milestone, NULL AS object_type,
                   NULL AS opportunity_id, t.touchpoint_id, t.account_id, 0 AS kind_order,
                   coalesce(nullif(trim(c.name), ''), t.campaign_id) AS campaign_name
            FROM touchpoints t LEFT JOIN people p ON p.person_id = t.person_id
            LEFT JOIN campaigns c ON c.campaign_id = t.campaign_id
            WHERE {touch_filter}
            UNION ALL
            SELECT m.occurred_at, m.occurred_at, 'milestone', m.person_id, p.email, NULL, NULL, NULL, NULL, NULL,
                   m.milestone, m.object_type, m.opportunity_id, m.touchpoint_id, m.account_id,
                   CASE m.object_type WHEN 'person' THEN 1 WHEN 'account' THEN 2 ELSE 3 END, NULL
            FROM milestones m LEFT JOIN people p ON p.person_id = m.person_id
            WHERE {milestone_filter}
        )
        ORDER BY _at, {stage_rank_sql("milestone")}, kind_order, person_id NULLS LAST, touchpoint_id, milestone,
                 opportunity_id
        """,  # noqa: S608 - filters are fixed fragments; the key is bound as $id
        {"id": k.id},
    ).df()
    df.attrs["key"] = k
    return df[list(TIMELINE_COLUMNS)]
