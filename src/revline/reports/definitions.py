"""What a figure means, stated beside it on every screen.

Why one module: "W-shaped ROAS 0.40" and "1.34" were both right, one over new business and one over
every revenue type, and neither screen said which. Every report figure now travels with a
`definition` (model, milestone, revenue type(s), segment, currency, period and the date it is
counted on) built here, and the CLI, the HTML report, the API and the dashboard print its `text`
beside the number. The defaults come from `revline.vocabulary` (DEFAULT_REVENUE_TYPE,
DEFAULT_SEGMENT), so the screens agree when the user picks nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from revline.reports.errors import as_date
from revline.reports.segments import region_or_none
from revline.vocabulary import (
    ALL_REVENUE,
    ALL_SEGMENTS,
    ATTRIBUTED_REVENUE_TYPES,
    DEFAULT_INFLUENCE_WINDOW_DAYS,
    DEFAULT_REVENUE_TYPE,
    DEFAULT_SEGMENT,
    LEAD_MILESTONES,
)

MILESTONE_WORDS = {
    "won": "closed-won revenue", "opportunity": "pipeline at opportunity creation",
    "lead": "leads", "mql": "MQLs", "sql": "SQLs",
}
CLOCK_WORDS = {
    "won": "close date", "opportunity": "opportunity creation date",
    "lead": "touch date", "mql": "touch date", "sql": "touch date",
}


def revenue_type_words(revenue_type: str | None) -> str:
    """'all revenue types (new business, renewal, expansion)' or e.g. 'new business only'."""
    if revenue_type in (None, ALL_REVENUE):
        return "all revenue types (" + ", ".join(t.replace("_", " ") for t in ATTRIBUTED_REVENUE_TYPES) + ")"
    return f"{revenue_type.replace('_', ' ')} only"


def segment_words(segment: str | None) -> str:
    """'all regions' or 'region EMEA' (a targets-only segment is named as such)."""
    seg = region_or_none(segment)
    if seg is None:
        return f"segment {segment} (targets only: accounts carry no such segment)"
    return "all regions" if seg == ALL_SEGMENTS else f"region {seg}"


def period_words(start: Any, end: Any, clock: str) -> str:
    """'all dates' or '2024-01-01 to 2024-03-31 by close date' (open ends said as such)."""
    s, e = as_date(start, "start"), as_date(end, "end")
    if s is None and e is None:
        return f"all dates (by {clock})"
    lo = s.isoformat() if isinstance(s, date) else "the first record"
    hi = e.isoformat() if isinstance(e, date) else "the latest"
    return f"{lo} to {hi} (by {clock})"


def definition(
    *,
    model: str | None = None,
    milestone: str | None = None,
    revenue_type: str | None = DEFAULT_REVENUE_TYPE,
    segment: str | None = DEFAULT_SEGMENT,
    start: Any = None,
    end: Any = None,
    clock: str | None = None,
    what: str | None = None,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A figure's definition: its parts (for the API) and `text`, the one line every screen shows.

    `clock` is the date the period filters on (default: the milestone's conversion date); `what`
    replaces the milestone's words (e.g. 'spend and attributed revenue'); `notes` are appended.
    """
    lead = milestone in LEAD_MILESTONES
    rt = None if lead else (revenue_type or ALL_REVENUE)
    clock = clock or CLOCK_WORDS.get(milestone or "", "date")
    parts = [f"{model} model" if model else None, what or MILESTONE_WORDS.get(milestone or ""),
             None if lead else revenue_type_words(rt), segment_words(segment),
             None if lead else "USD", period_words(start, end, clock), *notes]
    s, e = as_date(start, "start"), as_date(end, "end")
    return {
        "model": model, "milestone": milestone, "revenue_type": rt, "segment": region_or_none(segment) or str(segment),
        "currency": None if lead else "USD", "start": s, "end": e, "clock": clock,
        "text": " · ".join(p for p in parts if p),
    }


def influence_definition(*, revenue_type: str | None = DEFAULT_REVENUE_TYPE, segment: str | None = None,
                         start: Any = None, end: Any = None, window_days: int = DEFAULT_INFLUENCE_WINDOW_DAYS,
                         sourced_by: str = "first_touch", campaign_level: str | None = None) -> dict[str, Any]:
    """`definitions.definition` of the sourced vs influenced table, its window and sources named."""
    sourced = ("sourced: the first-touch model's credit at opportunity creation" if sourced_by == "first_touch"
               else "sourced: the opportunity's primary campaign in the CRM")
    notes: tuple[str, ...] = (f"influenced: opportunities whose account had a touch in the {window_days} days before creation, "
             "each counted once with its whole amount", sourced)
    if campaign_level:
        notes += (f"campaigns at {campaign_level} level",)
    d = definition(milestone="opportunity", revenue_type=revenue_type, segment=segment, start=start, end=end,
                   what="opportunities and pipeline", notes=notes)
    return {**d, "window_days": window_days, "sourced_by": sourced_by}


__all__ = ["definition", "influence_definition", "period_words", "revenue_type_words", "segment_words"]
