"""The reports' errors and their one date parser (below every report module, so each can import them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


class ReportError(ValueError):
    """A report was asked for something the store cannot answer; the message says what to run."""


def as_date(x: Any, name: str) -> date | None:
    """A date from a date, datetime or ISO text (None stays None); ReportError naming `name` otherwise."""
    if x is None:
        return None
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    try:
        return date.fromisoformat(str(x))
    except ValueError:
        raise ReportError(f"{name} must be a date like 2024-01-31, got {x!r}") from None


class NotFound(ReportError, LookupError):
    """The store holds no run (or account) answering the request; the message says what to run."""


__all__ = ["NotFound", "ReportError", "as_date"]
