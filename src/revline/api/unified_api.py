"""GET /api/roi/unified: one ROI per channel, the mix model and attribution reconciled
(revline.reports.unified; the table `revline report --roi` prints by default).

Not through the result cache: a new `revline mmm fit` changes the answer without changing the store,
and the table is cheap (one ROI query and the fit's saved contributions.csv; no JAX). Same read-key
authentication as every /api route.
"""

from __future__ import annotations

import math
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from revline.api.read_api import Cursor, ModelQ, RevenueTypeF, require_read_key
from revline.api.responses import ErrorResponse


class UnifiedRow(BaseModel):
    """A channel: its return (in the fit's outcome, USD) from the source that can see it, with its interval."""

    channel: str
    spend: Optional[float] = None
    source: str = Field(description="mix model, attribution calibrated by mix model, or attribution.")
    value: Optional[float] = Field(None, description="Return: the channel's incremental outcome (USD).")
    value_low: Optional[float] = Field(None, description="94 % interval, low end (None: attribution has no interval).")
    value_high: Optional[float] = None
    per_dollar: Optional[float] = Field(None, description="value / spend.")
    per_dollar_low: Optional[float] = None
    per_dollar_high: Optional[float] = None
    roi: Optional[float] = Field(None, description="(value - spend) / spend.")
    attributed: float = Field(description="The attribution model's credit, for comparison.")
    mmm: Optional[float] = Field(None, description="The mix model's mean contribution (None: not in the fit).")
    mmm_low: Optional[float] = None
    mmm_high: Optional[float] = None
    scale: Optional[float] = Field(None, description="Calibration factor applied to the attributed credit.")
    note: str


class UnifiedResponse(BaseModel):
    """The unified ROI table and how it was made."""

    model: str
    outcome: str
    revenue_type: Optional[str] = None
    fitted: bool = Field(description="Whether a saved mix-model fit was found (`revline mmm fit`).")
    method: str
    rows: list[UnifiedRow]


router = APIRouter(prefix="/api", tags=["reports"], dependencies=[Depends(require_read_key)],
                   responses={401: {"model": ErrorResponse, "description": "Missing or invalid read key"},
                              404: {"model": ErrorResponse, "description": "No attribution run of this model"}})


def _num(v: object) -> Optional[float]:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)  # type: ignore[arg-type]


@router.get("/roi/unified", response_model=UnifiedResponse, summary="One ROI per channel: mix model + attribution")
def unified(request: Request, cur: Cursor, model: ModelQ = None, revenue_type: RevenueTypeF = None) -> UnifiedResponse:
    """Each channel's return from the source that can see it (see revline.reports.unified)."""
    from revline.reports.tables import ReportError, resolve_model
    from revline.reports.unified import unified_roi

    try:
        name = resolve_model(cur, model, "won")
        table = unified_roi(cur, name, request.app.state.db_path, revenue_type=revenue_type)
    except ReportError as exc:
        raise HTTPException(404, str(exc)) from None
    rows = [UnifiedRow(channel=str(r["channel"]), spend=_num(r["spend"]), source=str(r["source"]), value=_num(r["return"]),
                       value_low=_num(r["return_low"]), value_high=_num(r["return_high"]),
                       per_dollar=_num(r["per_dollar"]), per_dollar_low=_num(r["per_dollar_low"]),
                       per_dollar_high=_num(r["per_dollar_high"]), roi=_num(r["roi"]),
                       attributed=float(r["attributed"]), mmm=_num(r["mmm"]), mmm_low=_num(r["mmm_low"]),
                       mmm_high=_num(r["mmm_high"]), scale=_num(r["scale"]), note=str(r["note"]))
            for r in table.to_dict("records")]
    a = table.attrs
    return UnifiedResponse(model=name, outcome=str(a["outcome"]), revenue_type=a.get("revenue_type"),
                           fitted=a.get("fit_dir") is not None, method=str(a["method"]), rows=rows)
