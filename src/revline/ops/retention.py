"""Operation `retention`: GRR, NRR, logo churn, expansion and contraction by cohort or segment, and
the renewals due next quarter with their probabilities — what `revline retention` prints, the
read API serves and the HTML report shows (one computation: revline.models.retention.report)."""

from __future__ import annotations

from datetime import date

import duckdb

from revline.models.retention.report import RetentionSummary, summarize
from revline.ops.registry import Progress, no_progress


def retention(con: duckdb.DuckDBPyConnection, *, by: str = "cohort", as_of: str | None = None, months: int = 12,
              progress: Progress = no_progress) -> RetentionSummary:
    """`as_of` (YYYY-MM-DD, default: the day after the store's latest deal event) ends the trailing
    `months` the retention is measured over and starts the renewals-due window."""
    if months < 1 or months > 60:
        raise ValueError(f"--months {months}: choose 1 to 60")
    when = None
    if as_of is not None:
        try:
            when = date.fromisoformat(as_of)
        except ValueError:
            raise ValueError(f"--as-of {as_of!r}: expected a date as YYYY-MM-DD") from None
    progress(None, None, "rebuilding contracts and fitting the renewal model")
    return summarize(con, when, by=by, months=months)


__all__ = ["retention"]
