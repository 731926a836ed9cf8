"""The read API under /api: reports for the dashboard, notebooks and BI tools.

Authentication (documented in the OpenAPI security schemes): the read key as
`Authorization: Bearer <key>`, or `?key=<key>`, or the `rl_read_key` cookie the dashboard login
sets. Every parameter is validated by FastAPI (enums as Literal, patterns, bounds) before a
query runs, and reaches SQL only as a bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal, Optional, Union

import duckdb
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Security
from pydantic import AfterValidator, BeforeValidator
from fastapi.security import APIKeyCookie, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from revline.api import queries
from revline.api.keys import same
from revline.reports.errors import ReportError
from revline.reports.segments import normal_segment
from revline.vocabulary import DEFAULT_CAMPAIGN_LEVEL, DEFAULT_REVENUE_TYPE, FUNNEL_REVENUE_TYPE
from revline.api.responses import (
    AccountsResponse,
    AttributionResponse,
    CampaignLevel,
    Dimension,
    ErrorResponse,
    FunnelLevel,
    FunnelLevelResponse,
    FunnelResponse,
    FunnelRevenueType,
    FunnelSplit,
    JourneyResponse,
    KpiResponse,
    Milestone,
    ModelsResponse,
    RevenueFilter,
    RevenueVsTargetResponse,
    RoiResponse,
    Segment,
)

COOKIE = "rl_read_key"
_bearer = HTTPBearer(auto_error=False, scheme_name="readKeyBearer", description="The read key as a bearer token.")
_query = APIKeyQuery(name="key", auto_error=False, scheme_name="readKeyQuery", description="The read key as ?key=.")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="readKeyCookie",
                       description="Set by the dashboard login (POST /login or /dashboard?key=).")


def read_key_given(request: Request) -> str | None:
    """The key a request carries, from header, query or cookie (in that order)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.query_params.get("key") or request.cookies.get(COOKIE)


def require_read_key(
    request: Request,
    _b: Annotated[Optional[HTTPAuthorizationCredentials], Security(_bearer)] = None,
    _q: Annotated[Optional[str], Security(_query)] = None,
    _c: Annotated[Optional[str], Security(_cookie)] = None,
) -> None:
    """Every /api route depends on this: 401 unless the request carries the read key."""
    if not same(read_key_given(request), request.app.state.keys.read):
        raise HTTPException(401, "missing or invalid read key", headers={"WWW-Authenticate": "Bearer"})


def cursor(request: Request) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of the app's connection per request (a DuckDB connection must not serve several threads at once)."""
    cur = request.app.state.con.cursor()
    try:
        yield cur
    finally:
        cur.close()


Cursor = Annotated[duckdb.DuckDBPyConnection, Depends(cursor)]
ModelQ = Annotated[Optional[str], Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$",
                                        description="Model name as in /api/models (default: linear, else the first).")]
def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic alone would also take `0` (a Unix time) as a date."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2199, 12, 31)
"""The span a query's date is taken within: an earlier or later date (0001-01-01, 9999-12-31, both
valid per the OpenAPI `format: date`) counts as the nearest end. Why: the reports shift dates by
days and months and pandas holds 1677..2262 only, so a far date crashed some endpoints with a 500;
no revenue data lies outside these years, so a window reaching past them means the same, and the
answers that echo a date (as_of) show the one used."""


def _in_span(value: date) -> date:
    return min(max(value, FIRST_DATE), LAST_DATE)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_in_span)]
StartQ = Annotated[Optional[IsoDate], Query(description="First day (inclusive) of conversions counted, YYYY-MM-DD.")]
EndQ = Annotated[Optional[IsoDate], Query(description="Last day (inclusive) of conversions counted, YYYY-MM-DD.")]

RevenueTypeF = Annotated[Optional[RevenueFilter], Query(
    description="Revenue type(s) counted: one type or 'all' (the default, the same on every screen).")]
SegmentQ = Annotated[Optional[Segment], Query(description=(
    "Region of the account's country: all (default), NA, EMEA, APAC, LATAM, other or unknown."))]
CampaignLevelQ = Annotated[Optional[CampaignLevel], Query(description=(
    "By campaign: 'program' (default) sums children into their top parent (Campaign.ParentId); 'campaign' keeps "
    "each, its ROI over itself and its children."))]

router = APIRouter(
    prefix="/api",
    tags=["reports"],
    dependencies=[Depends(require_read_key)],
    responses={401: {"model": ErrorResponse, "description": "Missing or invalid read key"},
               400: {"model": ErrorResponse, "description": "A filter the store cannot answer (e.g. an unknown segment)"}},
)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "No such model run or account"}}


def _found(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except queries.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ReportError as exc:  # a filter the store cannot answer (e.g. an unknown segment)
        raise HTTPException(400, str(exc)) from None


def filters(revenue_type: str | None = None, segment: str | None = None, **more: Any) -> dict[str, Any]:
    """The filters as every screen's defaults spell them (vocabulary), so one question is one cache
    key whether a parameter was left out or given as its default (400 for an unknown segment)."""
    out = {"revenue_type": revenue_type or DEFAULT_REVENUE_TYPE, "segment": _found(normal_segment, segment)}
    if "campaign_level" in more:
        more["campaign_level"] = more["campaign_level"] or DEFAULT_CAMPAIGN_LEVEL
    return {**out, **more}


def _cached(request: Request, cur, name: str, fn, **params):
    """`fn(cur, **params)` through the app's result cache (see result_cache.py)."""
    return _found(cached_call, request.app.state.cache, cur, name, fn, **params)


def cached_call(cache, cur, name: str, fn, **params):
    """`fn(cur, **params)` through `cache`, keyed by name and parameters (see result_cache.py)."""
    key = (name, *sorted(params.items()))
    if name == "kpis":  # the tiles reuse the cached ROI of the same model and window
        params["roi_fn"] = lambda c, **p: cached_call(cache, c, "roi", queries.roi, **p)
    return cache.get(cur, key, lambda: fn(cur, **params))


@router.get("/models", response_model=ModelsResponse, summary="Attribution runs available")
def models(cur: Cursor) -> ModelsResponse:
    """The attribution models with runs in the store, and every run."""
    runs = queries.model_runs(cur)
    return ModelsResponse.model_validate({"models": sorted({r["model"] for r in runs}), "runs": runs})


@router.get("/attribution", response_model=AttributionResponse, responses=_NOT_FOUND,
            summary="Attributed credit and revenue by channel, campaign, touch type or month")
def attribution(
    request: Request,
    cur: Cursor,
    model: ModelQ = None,
    milestone: Milestone = "won",
    revenue_type: RevenueTypeF = None,
    by: Dimension = "channel",
    start: StartQ = None,
    end: EndQ = None,
    segment: SegmentQ = None,
    campaign_level: CampaignLevelQ = None,
) -> AttributionResponse:
    """Attributed credit of one model by channel, campaign (name beside the id), touch type or
    month, with the definition every screen shows beside it."""
    data = _cached(request, cur, "attribution", queries.attribution, model=model, milestone=milestone,
                   by=by, start=start, end=end,
                   **filters(revenue_type, segment, campaign_level=campaign_level))
    return AttributionResponse.model_validate(data)


@router.get("/roi", response_model=RoiResponse, responses=_NOT_FOUND,
            summary="Spend vs attributed revenue by channel or campaign")
def roi(request: Request, cur: Cursor, model: ModelQ = None, start: StartQ = None, end: EndQ = None,
        revenue_type: RevenueTypeF = None, segment: SegmentQ = None,
        by: Annotated[Literal["channel", "campaign"], Query(description="Rows per channel or per campaign.")] = "channel",
        campaign_level: CampaignLevelQ = None) -> RoiResponse:
    """Spend against attributed revenue and pipeline per channel or campaign, with a total row."""
    return RoiResponse.model_validate(_cached(request, cur, "roi", queries.roi, model=model, start=start, end=end,
                                              by=by, **filters(revenue_type, segment, campaign_level=campaign_level)))


@router.get("/funnel", response_model=Union[FunnelResponse, FunnelLevelResponse],
            summary="The funnel: accounts per stage, or (with level) leads, deals or accounts with win rate, "
                    "leakage and coverage")
def funnel(
    request: Request,
    cur: Cursor,
    revenue_type: Annotated[FunnelRevenueType, Query(
        description="A type, or all; absent: new_business, every funnel's default (vocabulary.FUNNEL_REVENUE_TYPE)."
    )] = FUNNEL_REVENUE_TYPE,
    start: StartQ = None,
    end: EndQ = None,
    level: Annotated[Optional[FunnelLevel], Query(
        description="lead (people), opportunity (deals) or account; absent: the account funnel as before.")] = None,
    by: Annotated[Optional[FunnelSplit], Query(description="Split of the level funnel (needs level).")] = None,
    as_of: Annotated[Optional[IsoDate], Query(description="Leakage and coverage measured at (level funnel).")] = None,
    segment: SegmentQ = None,
) -> FunnelResponse | FunnelLevelResponse:
    """Without `level`: accounts reaching each funnel stage, the conversion to the next and the
    median days in the stage (the same figures as `level=account`). With `level`: the funnel of leads, deals or accounts split
    `by`, with Wilson intervals, days in stage, win rate, leakage and pipeline coverage; start and
    end select the units that entered the funnel in that window."""
    if level is None and by is None and as_of is None and segment in (None, "all") and revenue_type != "all":
        return FunnelResponse.model_validate(
            _cached(request, cur, "funnel", queries.funnel, revenue_type=revenue_type, start=start, end=end))
    try:
        data = _cached(request, cur, "funnel_level", queries.funnel_level, level=level or "account", by=by,
                       revenue_type=revenue_type, start=start, end=end, as_of=as_of, segment=segment)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return FunnelLevelResponse.model_validate(data)


@router.get("/revenue-vs-target", response_model=RevenueVsTargetResponse, summary="Won revenue and pipeline per target period")
def revenue_vs_target(
    cur: Cursor,
    segment: Annotated[str, Query(max_length=100, description=(
        "all (the company target), a region (NA, EMEA, APAC, LATAM, other, unknown: its accounts' deals against "
        "its target) or another segment of the targets file (its targets, no actuals)."))] = "all",
    start: StartQ = None,
    end: EndQ = None,
) -> RevenueVsTargetResponse:
    """Won revenue and pipeline against the targets of each period (a region's: its accounts' deals)."""
    return RevenueVsTargetResponse.model_validate(
        _found(queries.revenue_vs_target, cur, segment=segment, start=start, end=end))


@router.get("/kpis", response_model=KpiResponse, summary="Headline figures of the dashboard tiles")
def kpis(request: Request, cur: Cursor, model: ModelQ = None, start: StartQ = None, end: EndQ = None,
         revenue_type: RevenueTypeF = None, segment: SegmentQ = None) -> KpiResponse:
    """The headline figures of the dashboard tiles, each with its definition."""
    return KpiResponse.model_validate(_cached(request, cur, "kpis", queries.kpis, model=model, start=start, end=end,
                                              **filters(revenue_type, segment)))


@router.get("/accounts", response_model=AccountsResponse, summary="Find accounts by name, domain or id")
def accounts(
    cur: Cursor,
    search: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> AccountsResponse:
    """Accounts whose name, domain or id contains the search text."""
    rows = queries.search_accounts(cur, search=search, limit=limit)
    return AccountsResponse.model_validate({"search": search, "accounts": rows})


@router.get("/accounts/{account_id}/journey", response_model=JourneyResponse, responses=_NOT_FOUND,
            summary="An account's touches and stage changes in time order")
def journey(cur: Cursor, account_id: Annotated[str, Path(max_length=200)]) -> JourneyResponse:
    """An account's touches and stage changes, oldest first."""
    return JourneyResponse.model_validate(_found(queries.account_journey, cur, account_id))
