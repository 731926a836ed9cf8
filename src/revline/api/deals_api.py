"""GET /api/deals/by/{dimension} and /api/dimensions: deals by owner, product or another promoted
dimension (won revenue, pipeline, win rate), the same figures as `revline report --by owner`.

Same read-key authentication as every /api route; money in USD (revline.store.fx), named in
each response's `currency`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from revline.api.read_api import Cursor, EndQ, StartQ, require_read_key
from revline.api.responses import ErrorResponse
from revline.reports.deals import deals_by, deals_total, defaulted_types_note
from revline.reports.tables import NotFound, ReportError
from revline.store.dimensions import available_dimensions
from revline.store.fx import REPORTING_CURRENCY


class DealRow(BaseModel):
    """One value of the dimension (or the total) and its deals."""

    value: str = Field(description="The dimension's value; '(none)' groups deals without one.")
    opportunities_created: int
    pipeline_created: float = Field(description="Amount of the deals created in the window, at their creation date's rate.")
    open_pipeline: float = Field(description="Amount of the deals open now.")
    closed_deals: int
    won_deals: int
    win_rate: Optional[float] = Field(None, description="won / closed among deals closed in the window (None: none closed).")
    won_revenue: float = Field(description="Amount of the deals won in the window, at their close date's rate.")
    defaulted_type_deals: int = Field(description="Deals without a known deal type, counted as new_business.")


class DealsResponse(BaseModel):
    """Deals by a promoted dimension, with the company total."""

    dimension: str
    currency: str = Field(description="The reporting currency of every amount.")
    rows: list[DealRow]
    total: DealRow
    notes: list[str] = Field(default_factory=list)


class DimensionsResponse(BaseModel):
    """The promoted dimensions the store's opportunities, people and accounts hold."""

    opportunity: list[str]
    person: list[str]
    account: list[str]


router = APIRouter(prefix="/api", tags=["reports"], dependencies=[Depends(require_read_key)],
                   responses={401: {"model": ErrorResponse, "description": "Missing or invalid read key"},
                              400: {"model": ErrorResponse, "description": "A filter the store cannot answer"}})
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No opportunity holds that dimension"}}
DimensionP = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="owner, product, or a --dimension name.")]
RevenueTypeQ = Literal["new_business", "renewal", "expansion", "contraction", "all"]


def _clean(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


@router.get("/deals/by/{dimension}", response_model=DealsResponse, responses=_NOT_FOUND,
            summary="Won revenue, pipeline and win rate by owner, product or another promoted dimension")
def deals(cur: Cursor, dimension: DimensionP, revenue_type: RevenueTypeQ = "all", start: StartQ = None,
          end: EndQ = None) -> DealsResponse:
    """Deals grouped by `dimension` (USD), best-selling first, with the company total."""
    try:
        df = deals_by(cur, dimension, revenue_type, start, end)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ReportError as exc:  # as read_api: 400 with one line (422 is a bad parameter, FastAPI's list)
        raise HTTPException(400, str(exc)) from None
    rows = [_clean({"value": str(r[dimension]), **{c: r[c] for c in df.columns if c != dimension}})
            for r in df.to_dict("records")]
    total = _clean({"value": "total", **deals_total(df)})
    note = defaulted_types_note(cur, "won", revenue_type)
    return DealsResponse(dimension=dimension, currency=REPORTING_CURRENCY, rows=rows, total=total,
                         notes=[note] if note else [])


@router.get("/dimensions", response_model=DimensionsResponse, summary="Promoted dimensions held by the store")
def dimensions(cur: Cursor) -> DimensionsResponse:
    """Which dimension names (owner, product, ...) the rows of each object carry."""
    return DimensionsResponse(**{o: available_dimensions(cur, o) for o in ("opportunity", "person", "account")})
