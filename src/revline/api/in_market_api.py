"""GET /api/accounts/in-market: the accounts most likely to open an opportunity (or expand) soon.

Reads the scores the server keeps up to date (revline.api.live_scores writes them: every account
when the model is fitted, then each account again as collected events touch it); a request never
computes a model. Same read-key authentication as every /api route.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from revline.api.read_api import Cursor, require_read_key
from revline.api.responses import ErrorResponse
from revline.ops.scores import hottest
from revline.store.rows import one_row


class InMarketAccount(BaseModel):
    """One account's stored score, its reasons and where to see its journey."""

    account_id: str
    account_name: Optional[str] = None
    score: float = Field(description="Probability (0..1) of an opportunity (new business) or an expansion "
                                     "(customers) within 30 days.")
    kind: Optional[str] = Field(None, description="What the score predicts: new_business or expansion.")
    baseline_points: Optional[float] = Field(None, description="Recency/frequency points of manual scoring.")
    reasons: list[str] = Field(description="The score's top reasons, in words.")
    scored_at: datetime
    journey: str = Field(description="The account's journey in the read API.")
    dashboard: str = Field(description="The dashboard opened on the account's journey (relative link).")


class InMarketResponse(BaseModel):
    """The hottest accounts, and how many have a score and as of when."""

    accounts: list[InMarketAccount]
    scored: int = Field(description="Accounts with a score.")
    as_of: Optional[datetime] = Field(None, description="The latest scoring time (None: nothing scored yet).")


router = APIRouter(prefix="/api", tags=["reports"], dependencies=[Depends(require_read_key)],
                   responses={401: {"model": ErrorResponse, "description": "Missing or invalid read key"}})


@router.get("/accounts/in-market", response_model=InMarketResponse, summary="The hottest accounts: score and reasons")
def in_market(
    cur: Cursor,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    kind: Annotated[Optional[str], Query(pattern=r"^[a-z_]{1,32}$",
                                         description="Only this kind of score (new_business, expansion).")] = None,
) -> InMarketResponse:
    """Accounts by in-market score, highest first, with the score's reasons and links to the journey."""
    rows = hottest(cur, limit, kind)
    scored, as_of = one_row(cur, "SELECT count(*), max(scored_at) FROM account_scores")
    for r in rows:
        key = quote(r["account_id"], safe="")
        r["journey"] = f"/api/accounts/{key}/journey"
        r["dashboard"] = f"/dashboard#journey={key}"
    return InMarketResponse.model_validate({"accounts": rows, "scored": scored, "as_of": as_of})
