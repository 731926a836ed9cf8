"""Marking the portable transforms: Ibis expressions that run on any backend, and what they read.

Why a declaration: a portable transform receives a backend (DuckDB's, Spark's) and asks it for
canonical tables by name. Moving revline onto a warehouse means providing exactly those tables,
so each transform states them (`@reads(...)`), `tables_read` answers for any transform, and a
test checks every declaration against the tables the transform actually asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

PORTABLE: dict[str, Callable[..., Any]] = {}
"""Every transform marked with `reads`, by qualified name."""


def reads(*tables: str) -> Callable[[F], F]:
    """Declare the canonical tables a portable transform reads from its backend (directly or
    through the transforms it calls), and register it in PORTABLE."""

    def mark(fn: F) -> F:
        fn.__dict__["tables_read"] = frozenset(tables)
        PORTABLE[f"{fn.__module__}.{fn.__qualname__}"] = fn
        return fn

    return mark


def tables_read(fn: Callable[..., Any]) -> frozenset[str]:
    """The tables a portable transform declared; KeyError for a function that is not one."""
    try:
        return fn.__dict__["tables_read"]
    except KeyError:
        raise KeyError(f"{getattr(fn, '__qualname__', fn)} is not a portable transform (no @reads)") from None


__all__ = ["PORTABLE", "reads", "tables_read"]
