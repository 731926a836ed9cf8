"""Response models of the read API: strict, so the OpenAPI document is exactly what is sent.

Why strict: a loose model silently coerces (a `false` becoming 0, a string number becoming a
float) and then the schema promises something the data never was.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

Milestone = Literal["lead", "mql", "sql", "opportunity", "won"]
RevenueType = Literal["new_business", "renewal", "expansion", "contraction"]
Dimension = Literal["channel", "campaign", "touch_type", "month"]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ErrorResponse(Strict):
    detail: str


class ModelRun(Strict):
    run_id: str
    model: str
    milestone: str
    revenue_type: Optional[str]
    opportunities: Optional[int]
    unattributed: Optional[int]
    created_at: datetime


class ModelsResponse(Strict):
    models: list[str]
    runs: list[ModelRun]


class AttributionRow(Strict):
    key: str
    credit: float
    revenue_credit: float
    conversions: int
    share: float


class AttributionResponse(Strict):
    model: str
    milestone: Milestone
    revenue_type: Optional[RevenueType]
    by: Dimension
    start: Optional[date]
    end: Optional[date]
    run_ids: list[str]
    total_credit: float
    total_revenue_credit: float
    rows: list[AttributionRow]


class RoiRow(Strict):
    channel: str
    spend: float
    attributed_revenue: float
    attributed_pipeline: float
    roi: Optional[float]
    roas: Optional[float]
    cac: Optional[float] = None
    payback_months: Optional[float] = None


class RoiResponse(Strict):
    model: str
    start: Optional[date]
    end: Optional[date]
    rows: list[RoiRow]
    total: RoiRow


class FunnelStage(Strict):
    stage: str
    count: int
    conversion_to_next: Optional[float]
    median_days_to_next: Optional[float]


class FunnelResponse(Strict):
    revenue_type: RevenueType
    start: Optional[date]
    end: Optional[date]
    stages: list[FunnelStage]


class TargetRow(Strict):
    period_start: date
    period_end: date
    segment: str
    revenue: float
    revenue_target: Optional[float]
    pipeline: float
    pipeline_target: Optional[float]
    revenue_attainment: Optional[float]
    pipeline_attainment: Optional[float]


class RevenueVsTargetResponse(Strict):
    segment: str
    start: Optional[date]
    end: Optional[date]
    rows: list[TargetRow]


class KpiResponse(Strict):
    model: Optional[str]
    start: Optional[date]
    end: Optional[date]
    revenue: float
    pipeline: float
    revenue_target: float
    pipeline_target: float
    spend: float
    attributed_revenue: float
    roi: Optional[float]


class AccountSummary(Strict):
    account_id: str
    name: Optional[str]
    domain: Optional[str]
    industry: Optional[str]
    opportunities: int
    won_revenue: float


class AccountsResponse(Strict):
    search: str
    accounts: list[AccountSummary]


class JourneyEvent(Strict):
    occurred_at: datetime
    kind: Literal["touch", "stage"]
    label: str
    channel: Optional[str]
    campaign_id: Optional[str]
    person_id: Optional[str]
    opportunity_id: Optional[str]
    ref: Optional[str]


class JourneyResponse(Strict):
    account: AccountSummary
    events: list[JourneyEvent]


RevenueTypeQ = Optional[RevenueType]
