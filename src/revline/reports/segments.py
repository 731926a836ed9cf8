"""Segments: the region of an account's country, the filter every report takes as `segment`.

Why regions: the targets file's segments are regions (the demo's NA, EMEA, APAC), so a regional
target can be set against the won revenue of that region's accounts. An opportunity, person or
account belongs to the segment of its account (`vocabulary.region_sql` on accounts.country, or its
Ibis twin `vocabulary.region_expr` in portable queries).
"""

from __future__ import annotations

from typing import Any

from revline.reports.errors import ReportError
from revline.vocabulary import ALL_SEGMENTS, DEFAULT_SEGMENT, REGIONS, region_expr, region_sql

SEGMENTS: tuple[str, ...] = (ALL_SEGMENTS, *REGIONS, "other", "unknown")
"""What `--segment` / `segment=` accept (any case)."""


def normal_segment(segment: str | None) -> str:
    """The segment as stored ('all' or a region name in REGIONS' case, 'other', 'unknown');
    ReportError naming the accepted values otherwise."""
    if segment is None or segment == "":
        return DEFAULT_SEGMENT
    for s in SEGMENTS:
        if s.lower() == segment.strip().lower():
            return s
    raise ReportError(f"unknown segment {segment!r}; expected one of {', '.join(SEGMENTS)} (regions of the account's country)")


def region_or_none(segment: str | None) -> str | None:
    """`normal_segment`, or None for a segment that is no region (a targets file may break its
    company target down by e.g. 'enterprise'/'smb': such targets are shown, with no actuals)."""
    try:
        return normal_segment(segment)
    except ReportError:
        return None


def segment_accounts_sql(segment: str | None) -> tuple[str, list[Any]] | None:
    """`SELECT account_id ...` of the accounts in `segment` with its parameters, or None for the
    whole company (no filter)."""
    seg = normal_segment(segment)
    if seg == ALL_SEGMENTS:
        return None
    return f"SELECT account_id FROM accounts WHERE {region_sql('country')} = ?", [seg]  # noqa: S608 - region_sql is constants; value bound


def segment_members_expr(be: Any, segment: str | None) -> Any:
    """The portable (Ibis) twin of `segment_accounts_sql`, for ledger rows: (member_id,
    member_kind) of every opportunity, person and account in `segment`'s accounts, kind
    'opportunity', 'person' or 'account' as the ledger's conversion_type says; None for the
    whole company (no filter). Reads accounts, opportunities and people from `be`."""
    import ibis

    seg = normal_segment(segment)
    if seg == ALL_SEGMENTS:
        return None
    a = be.table("accounts")
    ids = a.filter(region_expr(a.country) == seg).select(acc="account_id")
    o, p = be.table("opportunities"), be.table("people")
    def member(ids_: Any, kind: str) -> Any:  # one nullable schema for the union
        return ids_.cast("string").name("member_id"), ibis.literal(kind).name("member_kind")

    opps = o.join(ids, o.account_id == ids.acc).select(*member(o.opportunity_id, "opportunity"))
    people = p.join(ids, p.account_id == ids.acc).select(*member(p.person_id, "person"))
    accounts = ids.select(*member(ids.acc, "account"))
    return opps.union(people, distinct=False).union(accounts, distinct=False)


__all__ = ["SEGMENTS", "normal_segment", "region_or_none", "segment_accounts_sql", "segment_members_expr"]
