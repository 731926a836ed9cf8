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
CampaignLevel = Literal["program", "campaign"]
Segment = Literal["all", "NA", "EMEA", "APAC", "LATAM", "other", "unknown", "na", "emea", "apac", "latam"]
"""A segment filter: all, or the region of the account's country (reports.segments.SEGMENTS, any case)."""
RevenueFilter = Literal["all", "new_business", "renewal", "expansion", "contraction"]
"""A revenue-type filter: one type, or 'all' (vocabulary.DEFAULT_REVENUE_TYPE)."""


class Strict(BaseModel):
    """Base of every response: no coercion, no extra fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Definition(Strict):
    """What a figure means, as every screen states it beside the number (`reports.definitions`)."""

    model: Optional[str]
    milestone: Optional[str]
    revenue_type: Optional[str]
    segment: str
    currency: Optional[str]
    start: Optional[date]
    end: Optional[date]
    clock: str
    text: str


class ErrorResponse(Strict):
    """The body of a 4xx answer: one line saying what was wrong."""

    detail: str


class ModelRun(Strict):
    """One stored attribution run (a model for one milestone and revenue type)."""

    run_id: str
    model: str
    milestone: str
    revenue_type: Optional[str]
    opportunities: Optional[int]
    unattributed: Optional[int]
    created_at: datetime


class ModelsResponse(Strict):
    """The models that have runs in the store, and the runs themselves."""

    models: list[str]
    runs: list[ModelRun]


class AttributionRow(Strict):
    """Credit of one key (channel, campaign, touch type or month) in the chosen run."""

    key: str
    name: str
    credit: float
    revenue_credit: float
    conversions: int
    share: float


class AttributionResponse(Strict):
    """Attributed credit by one dimension, for one model, milestone and window."""

    model: str
    milestone: Milestone
    revenue_type: Optional[RevenueFilter]
    by: Dimension
    start: Optional[date]
    end: Optional[date]
    segment: str
    campaign_level: CampaignLevel
    run_ids: list[str]
    total_credit: float
    total_revenue_credit: float
    rows: list[AttributionRow]
    definition: Definition


class RoiRow(Strict):
    """Spend against attributed revenue and pipeline for one channel or campaign (or the total)."""

    key: str
    name: str
    channel: Optional[str]
    spend: float
    attributed_revenue: float
    attributed_pipeline: float
    roi: Optional[float]
    roas: Optional[float]
    cac: Optional[float] = None
    payback_months: Optional[float] = None


class RoiResponse(Strict):
    """ROI per channel for one model and window, with a total row."""

    model: str
    start: Optional[date]
    end: Optional[date]
    revenue_type: str
    segment: str
    by: Literal["channel", "campaign"]
    campaign_level: CampaignLevel
    rows: list[RoiRow]
    total: RoiRow
    definition: Definition


class FunnelStage(Strict):
    """Accounts that reached a stage, how many went on to the next, and how long they stayed (days
    from the stage to the next recorded stage or the loss; out-of-order records left out)."""

    stage: str
    count: int
    conversion_to_next: Optional[float]
    conversion_low: Optional[float]
    conversion_high: Optional[float]
    median_days_in_stage: Optional[float]
    out_of_order: int


class FunnelResponse(Strict):
    """The funnel of one revenue type within a window."""

    revenue_type: RevenueType
    start: Optional[date]
    end: Optional[date]
    stages: list[FunnelStage]
    definition: Definition


FunnelLevel = Literal["lead", "opportunity", "account"]
FunnelSplit = Literal["channel", "source", "revenue_type", "segment", "industry", "size_band", "region", "cohort",
                      "owner", "product"]
FunnelRevenueType = Literal["new_business", "renewal", "expansion", "contraction", "all"]


class FunnelLevelStage(Strict):
    """Units of one split key that reached a stage (or a later one), conversion to the next stage
    with its Wilson 95 % interval, and days in the stage (revline.models.funnel)."""

    key: str
    stage: str
    count: int
    recorded: int
    conversion_to_next: Optional[float]
    conversion_low: Optional[float]
    conversion_high: Optional[float]
    days_n: int
    days_p25: Optional[float]
    days_median: Optional[float]
    days_p75: Optional[float]
    days_p90: Optional[float]
    out_of_order: int


class FunnelWinRate(Strict):
    """Deals of one split key: won, lost, open, and win rate = won / closed with its interval."""

    key: str
    deals: int
    won: int
    lost: int
    closed: int
    open: int
    win_rate: Optional[float]
    win_rate_low: Optional[float]
    win_rate_high: Optional[float]
    won_amount_usd: float


class FunnelLeakage(Strict):
    """Units of one split key open, stalled (open longer than the stage's p90) and died in a stage."""

    key: str
    stage: str
    reached: int
    open: int
    stalled: int
    stalled_share: Optional[float]
    died: int
    died_share: Optional[float]
    p90_days: Optional[float]
    stalled_amount_usd: float


class FunnelCoverage(Strict):
    """Open pipeline against the target still to close, for one target period (USD)."""

    period_start: date
    period_end: date
    measured_at: datetime
    revenue_target: Optional[float]
    won_to_date: float
    remaining_target: float
    open_pipeline: float
    open_deals: int
    coverage: Optional[float]


class FunnelLevelResponse(Strict):
    """The funnel at a level (`?level=`): every figure with its definition (unit, revenue type,
    cohort window of entry, split, as-of instant of leakage and coverage)."""

    level: FunnelLevel
    unit: str
    revenue_type: FunnelRevenueType
    segment: str
    start: Optional[date]
    end: Optional[date]
    by: Optional[str]
    as_of: datetime
    definition: Definition
    stages: list[FunnelLevelStage]
    win_rate: list[FunnelWinRate]
    leakage: list[FunnelLeakage]
    coverage: list[FunnelCoverage]


class TargetRow(Strict):
    """Won revenue and pipeline of one target period and segment, against its targets."""

    period_start: date
    period_end: date
    segment: str
    revenue: Optional[float]  # null for a segment no account carries (targets only)
    revenue_target: Optional[float]
    pipeline: Optional[float]
    pipeline_target: Optional[float]
    revenue_attainment: Optional[float]
    pipeline_attainment: Optional[float]


class RevenueVsTargetResponse(Strict):
    """Revenue and pipeline against target, period by period."""

    segment: str
    start: Optional[date]
    end: Optional[date]
    rows: list[TargetRow]
    definition: Definition


class KpiResponse(Strict):
    """The headline figures of the dashboard tiles."""

    model: Optional[str]
    start: Optional[date]
    end: Optional[date]
    revenue_type: str
    segment: str
    revenue: float
    pipeline: float
    revenue_target: float
    pipeline_target: float
    spend: float
    attributed_revenue: float
    unattributed_revenue: float
    roi: Optional[float]
    definitions: dict[str, Definition]


class AccountSummary(Strict):
    """An account as listed in search results and at the head of its journey."""

    account_id: str
    name: Optional[str]
    domain: Optional[str]
    industry: Optional[str]
    opportunities: int
    won_revenue: float


class AccountsResponse(Strict):
    """Accounts matching a search by name, domain or id."""

    search: str
    accounts: list[AccountSummary]


class JourneyEvent(Strict):
    """One touch or stage change of an account, with who and what it concerned."""

    occurred_at: datetime
    kind: Literal["touch", "stage"]
    label: str
    channel: Optional[str]
    campaign_id: Optional[str]
    campaign_name: Optional[str] = None
    person_id: Optional[str]
    opportunity_id: Optional[str]
    ref: Optional[str]


class JourneyResponse(Strict):
    """An account and its touches and stage changes, oldest first."""

    account: AccountSummary
    events: list[JourneyEvent]


RevenueTypeQ = Optional[RevenueType]
