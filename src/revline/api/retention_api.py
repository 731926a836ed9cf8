"""GET /api/retention: GRR, NRR, logo churn, expansion and contraction by cohort or segment, the
trailing-year series by quarter, and the renewals due next quarter with their probabilities.

The same computation as `revline retention` and the HTML report (revline.ops.retention), served
through the app's result cache: it is recomputed only when opportunities or touchpoints change
(result_cache's fingerprint covers both). Same read-key authentication as every /api route.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from revline.api.read_api import Cursor, IsoDate, cached_call, require_read_key
from revline.api.responses import ErrorResponse


class RetentionResponse(BaseModel):
    """Retention tables keyed by grouping; rows carry customers, arr_start, churned, churn_usd,
    contraction_usd, expansion_usd, arr_end, grr, nrr, logo_churn (USD; rates 0..1, null without a base)."""

    as_of: date = Field(description="End of the trailing window and start of the renewals-due window.")
    months: int
    tables: dict[str, list[dict[str, Any]]] = Field(description="Grouping (cohort, industry, size_band, region) -> rows; the last row is 'all'.")
    quarterly: list[dict[str, Any]] = Field(description="Trailing-12-month retention at each of the last quarter ends.")
    due_window: list[date] = Field(description="First and last day of the renewals-due quarter.")
    due: list[dict[str, Any]] = Field(description="Renewals due: account_id, account_name, due_date, arr_usd, renewal_usd "
                                                  "(what it should book: arr_usd at the measured renewal uplift, or the open "
                                                  "renewal's amount), p_renew, p_low, p_high (80 % interval), expected_usd "
                                                  "(p_renew x renewal_usd), open_renewal_id.")
    bookings: dict[str, Optional[float]] = Field(description="Renewal bookings of the window: mean, p10, p50, p90, count_*.")
    outlook: list[dict[str, Any]] = Field(description="Expected renewal bookings per quarter, the next four quarters: "
                                                      "contracts, arr_usd, expected_usd, p10_usd, p50_usd, p90_usd, expected_renewals.")
    model: dict[str, Optional[float]] = Field(description="The renewal model: closed renewals learned from, P(renew) at average "
                                                "engagement, engagement effect (log-odds per log(1 + touches)) with its 80 % interval.")
    notes: list[str]


def _rows(df) -> list[dict[str, Any]]:
    out = []
    for r in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v.isoformat() if isinstance(v, date) else v)
                    for k, v in r.items()})
    return out


def _compute(cur, by: str, as_of: Optional[str], months: int) -> dict[str, Any]:
    from revline.ops.retention import retention

    s = retention(cur, by=by, as_of=as_of, months=months)
    return {"as_of": s.as_of, "months": s.months, "tables": {k: _rows(v) for k, v in s.tables.items()},
            "quarterly": _rows(s.quarterly), "due_window": list(s.due_window), "due": _rows(s.due),
            "outlook": _rows(s.outlook), "bookings": {k: (v if math.isfinite(v) else None) for k, v in s.bookings.items()}, "model": {k: (v if math.isfinite(v) else None) for k, v in s.model.items()},
            "notes": list(s.notes)}


router = APIRouter(prefix="/api", tags=["reports"], dependencies=[Depends(require_read_key)],
                   responses={401: {"model": ErrorResponse, "description": "Missing or invalid read key"},
                              400: {"model": ErrorResponse, "description": "A question the store cannot answer"}})


@router.get("/retention", response_model=RetentionResponse, summary="GRR, NRR, logo churn by cohort or segment; renewals due")
def retention_view(
    request: Request,
    cur: Cursor,
    by: Annotated[Literal["cohort", "segment", "industry", "size_band", "region"],
                  Query(description="cohort (customer start quarter), segment (industry, size band and region), or one segment.")] = "cohort",
    as_of: Annotated[Optional[IsoDate], Query(description="YYYY-MM-DD (default: the day after the latest deal event).")] = None,
    months: Annotated[int, Query(ge=1, le=60, description="Trailing months retention is measured over.")] = 12,
) -> RetentionResponse:
    """Retention by cohort or segment and the renewals due next quarter, only from data known on `as_of`."""
    try:
        data = cached_call(request.app.state.cache, cur, "retention", _compute, by=by,
                           as_of=as_of.isoformat() if as_of else None, months=months)
    except ValueError as exc:  # as the other read endpoints: 400 with one line (422 is a bad parameter)
        raise HTTPException(400, str(exc)) from None
    return RetentionResponse.model_validate(data)
