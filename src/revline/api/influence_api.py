"""GET /api/influence: sourced vs influenced opportunities and pipeline, with its definition.

An adapter over `revline.reports.influence` (the CLI's `revline influence` reads the same
function through the `influence` operation), behind the read API's key and result cache.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Optional

import duckdb
from fastapi import APIRouter, Depends, Query, Request

from revline.api import read_api
from revline.api.read_api import CampaignLevelQ, Cursor, EndQ, RevenueTypeF, SegmentQ, StartQ, _cached, filters
from revline.api.read_api import require_read_key
from revline.api.responses import CampaignLevel, Definition, Strict
from revline.reports.definitions import influence_definition
from revline.reports.influence import COLUMNS, sourced_vs_influenced
from revline.vocabulary import DEFAULT_INFLUENCE_WINDOW_DAYS


class InfluenceRow(Strict):
    """One channel's or campaign's sourced and influenced opportunities and pipeline (USD)."""

    key: str
    name: str
    sourced_opportunities: float
    sourced_pipeline: float
    influenced_opportunities: int
    influenced_pipeline: float
    influenced_share: Optional[float]
    influence_ratio: Optional[float]


class InfluenceResponse(Strict):
    """Sourced vs influenced per channel or campaign, and what the figures mean."""

    by: Literal["channel", "campaign"]
    revenue_type: str
    segment: str
    campaign_level: CampaignLevel
    window_days: int
    start: Optional[date]
    end: Optional[date]
    rows: list[InfluenceRow]
    definition: Definition


def influence(cur: duckdb.DuckDBPyConnection, *, by: str, revenue_type: str, segment: str, campaign_level: str,
              window_days: int, start: date | None, end: date | None) -> dict[str, Any]:
    """`reports.influence.sourced_vs_influenced` as the response's fields."""
    from revline.api.queries import _records

    df = sourced_vs_influenced(cur, by, revenue_type, start, end, window_days=window_days,  # type: ignore[arg-type]
                               segment=segment, campaign_level=campaign_level)
    names = df["campaign_name"] if by == "campaign" else df[by]
    rows = [{"key": str(r[by]), "name": str(n), **{c: r[c] for c in COLUMNS}} for r, n in zip(_records(df), names)]
    d = influence_definition(revenue_type=revenue_type, segment=segment, start=start, end=end, window_days=window_days,
                             campaign_level=campaign_level if by == "campaign" else None)
    return {"by": by, "revenue_type": revenue_type, "segment": segment, "campaign_level": campaign_level,
            "window_days": window_days, "start": start, "end": end, "rows": rows,
            "definition": {k: d[k] for k in Definition.model_fields}}


router = APIRouter(prefix="/api", tags=["reports"], dependencies=[Depends(require_read_key)],
                   responses=read_api.router.responses)


@router.get("/influence", response_model=InfluenceResponse, summary="Sourced vs influenced pipeline")
def influence_endpoint(
    request: Request,
    cur: Cursor,
    by: Annotated[Literal["channel", "campaign"], Query(description="Rows per channel or per campaign.")] = "channel",
    revenue_type: RevenueTypeF = None,
    segment: SegmentQ = None,
    campaign_level: CampaignLevelQ = None,
    window_days: Annotated[int, Query(ge=0, le=3650, description=(
        "A channel influenced an opportunity when the account had a touch of it at most this many days "
        "before the opportunity was created."))] = DEFAULT_INFLUENCE_WINDOW_DAYS,
    start: StartQ = None,
    end: EndQ = None,
) -> InfluenceResponse:
    """Opportunities and pipeline each channel (or campaign) sourced, against those it influenced:
    counted per opportunity, with a touch in the window before creation."""
    data = _cached(request, cur, "influence", influence, by=by, window_days=window_days, start=start, end=end,
                   **filters(revenue_type, segment, campaign_level=campaign_level))
    return InfluenceResponse.model_validate(data)
