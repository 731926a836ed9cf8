"""The funnel at the level the user asks for, with its definition stamped on every output.

Why stamp every row: a conversion rate means nothing without its unit (leads, deals or
accounts), its revenue type(s), the cohort window and the split; DataFrames get copied into
notebooks and spreadsheets, so each row carries `level`, `revenue_type`, `start`, `end`, `by`
and `key` rather than leaving them in a title that gets lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import pandas as pd

from revline.models.funnel.coverage import coverage
from revline.models.funnel.measures import default_as_of, leakage, stage_table, win_rate
from revline.models.funnel.units import ALL, LEVELS, SPLIT_COLUMNS, Units, units
from revline.vocabulary import FUNNEL_REVENUE_TYPE, REGIONS

SPLIT_ALIASES: dict[str, str] = {"segment": "industry", "size": "size_band", "type": "revenue_type"}
SPLITS: tuple[str, ...] = (*SPLIT_COLUMNS, *SPLIT_ALIASES, "owner", "product")
UNIT_OF: dict[str, str] = {"lead": "people", "opportunity": "deals", "account": "accounts"}


@dataclass(frozen=True)
class Definition:
    """What a funnel output counts: unit level, revenue type(s), cohort window, split, as-of."""

    level: str
    revenue_type: str  # one type or "all"
    start: date | None
    end: date | None
    by: str | None
    as_of: pd.Timestamp | None = None
    segment: str = "all"  # the region the units' accounts are in, or all

    def stamp(self, df: pd.DataFrame) -> pd.DataFrame:
        """`df` with the definition as its first columns (and in attrs)."""
        front = pd.DataFrame({"level": self.level, "revenue_type": self.revenue_type, "segment": self.segment,
                              "start": self.start, "end": self.end, "by": self.by or ALL}, index=df.index)
        out = pd.concat([front, df], axis=1)
        out.attrs.update(df.attrs)
        return out

    def describe(self) -> str:
        """One line a title can carry."""
        window = f"{self.start or '…'} to {self.end or '…'} (entered)" if (self.start or self.end) else "all time"
        return (f"{UNIT_OF[self.level]} ({self.level} level), {self.revenue_type}, cohort {window}"
                + (f", region {self.segment}" if self.segment != ALL else "") + (f", by {self.by}" if self.by else ""))


@dataclass(frozen=True)
class FunnelReport:
    """Every output of one funnel definition."""

    definition: Definition
    stages: pd.DataFrame
    win_rate: pd.DataFrame
    leakage: pd.DataFrame
    coverage: pd.DataFrame
    extra: dict = field(default_factory=dict)


# pandas' nanosecond timestamps span 1677-09-21 .. 2262-04-11: a date outside is read at the edge
# (the answer is the same: nothing in a store happened before the one or after the other)
_FIRST, _LAST = date(1678, 1, 1), date(2262, 1, 1)


def parse_day(value: date | datetime | str | None, name: str) -> date | None:
    """A cohort bound as a day (None: open); ValueError naming the option on a bad date. Shared by
    every engine, so a bad --start fails the same way on DuckDB and Spark."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        try:
            value = date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise ValueError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None
    return value


def _ts(day: date) -> pd.Timestamp:
    """Midnight of `day`, inside the span pandas can hold."""
    return pd.Timestamp(min(max(day, _FIRST), _LAST))


def resolve_split(by: str | None, u: Units | None = None) -> str | None:
    """The split column for a `by` name (aliases: segment = industry, size = size_band)."""
    if by in (None, "", ALL):
        return None
    col = SPLIT_ALIASES.get(by, by)
    known = [c for c in (u.splits.columns if u is not None else SPLIT_COLUMNS) if c != "account_id"]
    if col not in known:
        extra = [c for c in known if c not in SPLITS]
        hint = f" (promoted dimensions in this store: {', '.join(extra)})" if extra else \
            " (owner, product and other dimensions once the CRM export has them: see revline ingest --dimension)"
        raise ValueError(f"--by must be one of {', '.join(SPLITS)}{hint}, got {by!r}")
    return col


def cohort(u: Units, start: date | None, end: date | None) -> Units:
    """The units whose first recorded stage falls between start and end, both days included."""
    if start is None and end is None:
        return u
    entered = u.entered()
    keep = pd.Series(True, index=u.dates.index)
    if start is not None:
        keep &= entered >= _ts(start)
    if end is not None:
        keep &= entered < _ts(end) + pd.Timedelta(days=1)
    return u.subset(keep)


def as_known_at(u: Units, when: pd.Timestamp) -> Units:
    """The units as the store would have shown them at `when`: later stage dates and losses not
    yet happened, units that had not entered yet left out (replaying history, no hindsight)."""
    dates = u.dates.where(u.dates <= when)
    lost = u.lost_at.where(u.lost_at <= when)
    kept = Units(u.level, u.revenue_types, u.stages, dates, lost, u.splits, u.amount_usd)
    return kept.subset(dates.notna().any(axis=1))


def in_segment(u: Units, segment: str | None) -> tuple[Units, str]:
    """The units whose account is in `segment` (a region of revline.vocabulary, any case, or
    'other' / 'unknown'; None or 'all': every unit), and the segment's name as shown."""
    if segment in (None, "", ALL):
        return u, ALL
    names = {r.lower(): r for r in (*REGIONS, "other", "unknown")}
    name = names.get(str(segment).strip().lower())
    if name is None:
        raise ValueError(f"segment must be all or one of {', '.join(names.values())}, got {segment!r}")
    return u.subset(u.splits["region"] == name), name


def funnel_report(
    con: duckdb.DuckDBPyConnection,
    level: str = "lead",
    by: str | None = None,
    revenue_type: str | None = FUNNEL_REVENUE_TYPE,
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    as_of: date | datetime | str | None = None,
    segment: str | None = None,
) -> FunnelReport:
    """Stage counts and conversion (with Wilson intervals and time in stage), win rate, leakage
    and pipeline coverage of one funnel definition (see units.py and measures.py)."""
    u = units(con, level, revenue_type)
    split = resolve_split(by, u)
    lo, hi = parse_day(start, "start"), parse_day(end, "end")
    if as_of in (None, ""):
        when = default_as_of(u)
    else:
        when = _ts(parse_day(as_of, "as_of") or _LAST) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        u = as_known_at(u, when)
    u = cohort(u, lo, hi)
    u, seg = in_segment(u, segment)
    label = ALL if len(u.revenue_types) > 1 else u.revenue_types[0]
    leak = leakage(u, split, when)
    d = Definition(level, label, lo, hi, split, when, seg)
    # coverage is of the company (or the region): targets hold every revenue type, so the pipeline does too
    cov = coverage(con, None, d.as_of, seg)
    cov_def = Definition(level, ALL, None, None, None, d.as_of, seg)
    return FunnelReport(d, d.stamp(stage_table(u, split)), d.stamp(win_rate(u, split)), d.stamp(leak),
                        cov_def.stamp(cov))


def funnel_frame(con: duckdb.DuckDBPyConnection, level: str = "lead", by: str | None = None,
                 revenue_type: str | None = FUNNEL_REVENUE_TYPE, start=None, end=None) -> pd.DataFrame:
    """Only the stage table (for notebooks): one row per split key and stage."""
    u = units(con, level, revenue_type)
    split = resolve_split(by, u)
    lo, hi = parse_day(start, "start"), parse_day(end, "end")
    u = cohort(u, lo, hi)
    label = ALL if len(u.revenue_types) > 1 else u.revenue_types[0]
    return Definition(level, label, lo, hi, split).stamp(stage_table(u, split))


__all__ = ["LEVELS", "SPLITS", "Definition", "FunnelReport", "cohort", "funnel_frame", "funnel_report", "parse_day",
           "resolve_split"]
