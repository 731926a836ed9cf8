"""Operation `funnel`: the funnel at a level (lead, opportunity, account) with its win rate,
leakage and coverage, after stitching a changed store (milestones come from the stitch)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from revline.models.funnel import FunnelReport, funnel_report
from revline.ops.fresh import stitch_if_stale
from revline.ops.registry import Progress, no_progress
from revline.vocabulary import FUNNEL_REVENUE_TYPE


@dataclass(frozen=True)
class FunnelResult:
    """A funnel report and whether the store was stitched first (None: it was fresh)."""

    report: FunnelReport
    stitched: str | None = None


def funnel(
    con: duckdb.DuckDBPyConnection,
    *,
    level: str = "lead",
    by: str | None = None,
    revenue_type: str = FUNNEL_REVENUE_TYPE,
    start: str | None = None,
    end: str | None = None,
    as_of: str | None = None,
    segment: str | None = None,
    no_stitch: bool = False,
    db: str | None = None,
    progress: Progress = no_progress,
) -> FunnelResult:
    """`revline.models.funnel.funnel_report` of one definition; ValueError on a bad argument."""
    stitched = stitch_if_stale(con, no_stitch=no_stitch, db=db)
    progress(None, None, f"Measuring the {level} funnel")
    return FunnelResult(funnel_report(con, level, by, revenue_type, start, end, as_of, segment), stitched)
