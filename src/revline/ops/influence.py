"""Operation `influence`: sourced vs influenced pipeline per channel or campaign, with its
definition, after stitching a changed store (the CLI and the server's jobs call this)."""

from __future__ import annotations

import duckdb
import pandas as pd

from revline.ops.fresh import stitch_if_stale
from revline.ops.registry import Progress, no_progress
from revline.ops.report import ReportResult
from revline.reports.influence import sourced_vs_influenced
from revline.reports.definitions import influence_definition
from revline.reports.tables import NotFound
from revline.vocabulary import DEFAULT_CAMPAIGN_LEVEL, DEFAULT_INFLUENCE_WINDOW_DAYS, DEFAULT_REVENUE_TYPE


def influence(
    con: duckdb.DuckDBPyConnection,
    *,
    by: str = "channel",
    revenue_type: str = DEFAULT_REVENUE_TYPE,
    segment: str | None = None,
    start: str | None = None,
    end: str | None = None,
    window_days: int = DEFAULT_INFLUENCE_WINDOW_DAYS,
    campaign_level: str = DEFAULT_CAMPAIGN_LEVEL,
    sourced_by: str = "first_touch",
    no_stitch: bool = False,
    db: str | None = None,
    progress: Progress = no_progress,
) -> ReportResult:
    """`reports.influence.sourced_vs_influenced` as a titled table (the title is its definition)."""
    stitched = stitch_if_stale(con, no_stitch=no_stitch, db=db)
    try:
        df = sourced_vs_influenced(con, by, revenue_type, start, end, sourced_by,  # type: ignore[arg-type]
                                   window_days=window_days, segment=segment, campaign_level=campaign_level)
    except NotFound as exc:
        return ReportResult(pd.DataFrame(), "Sourced vs influenced", f"{exc} (sourced pipeline reads it)", stitched)
    d = influence_definition(revenue_type=revenue_type, segment=segment, start=start, end=end,
                             window_days=window_days, sourced_by=sourced_by,
                             campaign_level=campaign_level if by == "campaign" else None)
    problem = None if not df.empty else "no opportunities match; widen the filters or run `revline ingest`"
    return ReportResult(df, f"Sourced vs influenced by {by}\n{d['text']}", problem, stitched)
