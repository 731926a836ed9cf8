"""The plausibility window of event timestamps, shared by the collector and Segment file ingest.

Why: an event's `timestamp` is whatever its sender says, and the collector's write key is public.
A touch dated 1 BC (or 2999) wins first-touch attribution for good and breaks code that turns
times into Python datetimes. So a sent time outside [receive time - past, receive time + future]
(default 2 years back, 1 day ahead: clocks drift and mobile SDKs send late, but not by years) is
kept on the event as sent, while the touch derived from it is dated by the receive time and
flagged: `touchpoints.time_flag = 'received_at'` (store schema version 9).

An event without a receive time (a file line without `receivedAt`) is compared with the time of
the ingest for the future bound, and with 1970-01-01 for the past: a file may legitimately
backfill years of history, which a window relative to today would wrongly move.

Configure with REVLINE_TIMESTAMP_PAST_DAYS / REVLINE_TIMESTAMP_FUTURE_DAYS (numbers of days).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone

from revline.store.sql import lit

ENV_PAST = "REVLINE_TIMESTAMP_PAST_DAYS"
ENV_FUTURE = "REVLINE_TIMESTAMP_FUTURE_DAYS"
FLAG = "received_at"  # touchpoints.time_flag: the touch is dated by the receive time
_FLOOR = "TIMESTAMP '1970-01-01'"


@dataclass(frozen=True)
class TimeWindow:
    """The plausible span of an event time around the moment it was received (see module docstring)."""

    past_days: float = 730.0
    future_days: float = 1.0

    def __post_init__(self) -> None:
        for name in ("past_days", "future_days"):
            value = getattr(self, name)
            if not 0 <= value <= 365_000:
                raise ValueError(f"timestamp window: {name} must be between 0 and 365000 days, got {value}")

    @classmethod
    def from_env(cls) -> TimeWindow:
        """The window from the environment (defaults: 730 days back, 1 day ahead)."""
        values = {}
        for field, env in (("past_days", ENV_PAST), ("future_days", ENV_FUTURE)):
            raw = os.environ.get(env, "").strip()
            if raw:
                try:
                    values[field] = float(raw)
                except ValueError:
                    raise ValueError(f"${env} must be a number of days, got {raw!r}") from None
        return cls(**values)

    def implausible_sql(self, at: str, received: str, now: datetime | None = None) -> str:
        """SQL boolean: the (UTC, naive) time `at` lies outside the window around `received`
        (or, where `received` is NULL, before 1970 or after `now` + future). NULL `at`: false."""
        now = now or datetime.now(timezone.utc).replace(tzinfo=None)
        past, future = f"to_seconds({int(self.past_days * 86400)})", f"to_seconds({int(self.future_days * 86400)})"
        ref_now = f"CAST({lit(now.isoformat(sep=' '))} AS TIMESTAMP)"
        return (
            f"coalesce(CASE WHEN {received} IS NOT NULL "
            f"THEN {at} < {received} - {past} OR {at} > {received} + {future} "
            f"ELSE {at} < {_FLOOR} OR {at} > {ref_now} + {future} END, false)"
        )

    def touch_time_sql(self, at: str, received: str, now: datetime | None = None) -> tuple[str, str]:
        """(SQL of the touch's time, SQL of its time_flag) for an event sent at `at`, received at
        `received`: the sent time when plausible, else the receive time (the ingest's when none)."""
        now = now or datetime.now(timezone.utc).replace(tzinfo=None)
        bad = self.implausible_sql(at, received, now)
        ref_now = f"CAST({lit(now.isoformat(sep=' '))} AS TIMESTAMP)"
        return (f"CASE WHEN {bad} THEN coalesce({received}, {ref_now}) ELSE {at} END",
                f"CASE WHEN {bad} THEN {lit(FLAG)} END")


def lower_z_as_utc(expr: str) -> str:
    """ISO text with a lowercase 'z' suffix read as UTC, like 'Z' (DuckDB's casts refuse 'z')."""
    return f"CASE WHEN suffix({expr}, 'z') THEN left({expr}, -1) || 'Z' ELSE {expr} END"


__all__ = ["ENV_FUTURE", "ENV_PAST", "FLAG", "TimeWindow", "lower_z_as_utc"]
