"""GET /api/forecast: bookings this quarter and next per revenue type (mean, 10/50/90 %), against
the company target, with marketing's share of the gap.

The forecast is computed by the operations layer (revline.ops.forecast, the same call as
`revline forecast`) through the app's result cache: a second request on an unchanged store is
answered from memory. Same read-key authentication as every /api route.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from revline.api.read_api import Cursor, IsoDate, cached_call, require_read_key
from revline.api.responses import ErrorResponse


class ForecastRow(BaseModel):
    """One quarter and revenue type ('total' sums the types): the distribution and its parts (means)."""

    quarter: str
    quarter_start: date
    quarter_end: date
    revenue_type: str
    won_to_date: float = Field(description="Closed-won in the quarter before as-of (USD).")
    open_deals: float = Field(description="Mean bookings from deals open at as-of.")
    new_pipeline: float = Field(description="Mean bookings from deals not created yet.")
    renewals_due: float = Field(description="Mean bookings from contracts due without a renewal opportunity yet.")
    mean: float
    p10: float
    p50: float
    p90: float


class TargetRow(BaseModel):
    """A quarter's total forecast against the company target."""

    quarter: str
    quarter_start: date
    quarter_end: date
    won_to_date: float
    mean: float
    p10: float
    p50: float
    p90: float
    target: Optional[float] = Field(None, description="Company revenue target (None: no target period in the quarter).")
    gap: Optional[float] = Field(None, description="target - p50 (negative: the median is above the target).")
    p_reach_target: Optional[float] = Field(None, description="Share of simulations at or above the target.")


class ChannelShare(BaseModel):
    """A channel's cost per pipeline dollar and its share of the extra pipeline needed."""

    channel: str
    spend: float
    pipeline: float
    cost_per_pipeline: float
    share: float
    pipeline_needed: float
    spend_needed: float
    spend_if_alone: float


class MarketingShare(BaseModel):
    """The extra new-business pipeline this quarter needs to close the gap, and what it costs."""

    quarter: str
    target: Optional[float] = None
    forecast_p50: float
    gap: Optional[float] = None
    pipeline_yield: float = Field(description="Won USD by the quarter's end per pipeline USD created from as-of on.")
    pipeline_needed: Optional[float] = None
    model: Optional[str] = None
    channels: list[ChannelShare]
    notes: list[str]


class ForecastResponse(BaseModel):
    """The bookings forecast as every interface shows it (revline.ops.forecast)."""

    as_of: date
    quarters: list[str]
    currency: str
    forecast: list[ForecastRow]
    vs_target: list[TargetRow]
    marketing: Optional[MarketingShare] = None
    notes: list[str]


router = APIRouter(prefix="/api", tags=["reports"], dependencies=[Depends(require_read_key)],
                   responses={401: {"model": ErrorResponse, "description": "Missing or invalid read key"},
                              404: {"model": ErrorResponse, "description": "No forecast for this store, quarter and date "
                                                                            "(no opportunities, or as-of after the quarter)"}})


def _compute(cur, quarter: Optional[str], as_of: Optional[date], model: str) -> dict:
    from revline.ops.forecast import as_json, forecast

    return as_json(forecast(cur, quarter=quarter, as_of=as_of, model=model))


@router.get("/forecast", response_model=ForecastResponse, summary="Bookings forecast vs target, with marketing's share")
def get_forecast(
    request: Request,
    cur: Cursor,
    quarter: Annotated[Optional[str], Query(pattern=r"^\d{4}-?[Qq][1-4]$", description="Like 2026-Q3 (default: as-of's quarter).")] = None,
    as_of: Annotated[Optional[IsoDate], Query(description="YYYY-MM-DD (default: today, or the day after the store's last deal).")] = None,
    model: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="Attribution model for the cost of pipeline.")] = "linear",
) -> ForecastResponse:
    """The forecast of the quarter and the next one, with the target, the gap and marketing's share."""
    from revline.ops.forecast import ForecastError

    try:
        data = cached_call(request.app.state.cache, cur, "forecast", _compute, quarter=quarter, as_of=as_of, model=model)
    except ForecastError as exc:
        raise HTTPException(404, str(exc)) from None
    return ForecastResponse.model_validate(data)
