"""The revline web app: read API, Segment-compatible collector and the CMO/CRO dashboard.

Why one app: the dashboard reads the same JSON endpoints anyone else can call, so the numbers on
screen are, by construction, the API's numbers; and one process owns the DuckDB file (DuckDB
allows one writer), with the collector's loader thread and the read queries sharing it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from revline.api import (admin, dashboard, deals_api, forecast_api, in_market_api, influence_api, openapi_doc,
                         queries, read_api, result_cache, retention_api, unified_api)
from revline.api.alerts import AlertSettings
from revline.api.live_scores import Scoring
from revline.api.result_cache import ResultCache
from revline.api.collector import Collector, CollectorFirst
from revline.api.keys import resolve_keys
from revline.api.limits import BodyLimits
from revline.api.read_api import cached_call, filters
from revline.api.wal import wal_dir_for
from revline.store import connect
from revline.vocabulary import FUNNEL_REVENUE_TYPE

DESCRIPTION = """Read API, Segment-compatible collector and dashboard of a revline store.

* **Read API** (`/api/...`): send the read key as `Authorization: Bearer <key>`, or `?key=<key>`.
* **Collector** (`/v1/...`): HTTP Basic with the write key as user name and an empty password,
  exactly like Segment's HTTP tracking API. A 200 means the message is fsynced in the write-ahead
  log; it normally reaches the `events` table within a second. A message without `messageId`
  gets `rl-<md5 of its Spec fields>`, so retries of it are deduplicated too.
* **Dashboard** (`/dashboard`): log in with the read key (form, or `/dashboard?key=<key>` once;
  both set the `rl_read_key` cookie).
"""


def create_app(
    db: Path | str,
    write_key: str | None = None,
    read_key: str | None = None,
    *,
    segment_seconds: float = 0.25,
    fsync: bool = True,
    derive: bool = True,
    warm: bool = True,
    admin_key: str | None = None,
    snapshot_seconds: float | None = None,
    live: bool = True,
    schedule: Path | None = None,
    scoring: Scoring | None = None,
    alerts: AlertSettings | None = None,
) -> FastAPI:
    """Open the store, replay the collector's log, and build the app (keys: see revline.api.keys).

    `segment_seconds`: how long a log segment stays open (latency from 200 to `events`);
    `derive`: derive touchpoints/identity links from collected events (revline.ingest.segment);
    `warm`: compute the dashboard's default views into the result cache in the background;
    `admin_key`, `snapshot_seconds`: the admin API and read snapshot (revline.api.admin; None: no
    snapshot, which `revline serve` turns on); `live`: the live pipeline (revline.api.live);
    `schedule`: a schedule file (revline.api.schedules); `scoring`: the in-market model whose scores
    the live pipeline refreshes for touched accounts (revline.api.live_scores; None: no live scores),
    `alerts`: where and when to alert on them (revline.api.alerts).
    """
    db_path = Path(db)
    con = connect(db_path)
    try:
        keys = resolve_keys(con, write_key, read_key)
    except Exception:
        con.close()
        raise
    collector = Collector(con, wal_dir_for(db_path), keys.write, segment_seconds=segment_seconds,
                          fsync=fsync, derive=derive)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await collector.start()
        try:
            yield
        finally:
            await collector.stop()

    app = FastAPI(title="revline", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.con = con
    app.state.keys = keys
    app.state.collector = collector
    app.state.db_path = db_path
    app.state.cache = ResultCache()
    app.state.warmer = result_cache.Warmer(con, app.state.cache, _dashboard_views(con)) if warm else None

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with one readable reason per bad parameter (FastAPI's default, minus the echoed input);
        /admin answers in its own documented shape (admin.invalid_request)."""
        if request.url.path.startswith("/admin/"):
            return admin.invalid_request(exc.errors())
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    app.include_router(read_api.router)
    app.include_router(in_market_api.router)
    app.include_router(retention_api.router)
    app.include_router(influence_api.router)
    app.include_router(deals_api.router)
    app.include_router(forecast_api.router)
    app.include_router(unified_api.router)
    admin.install(app, con, db_path, collector.loader, admin_key, snapshot_seconds, derive and live, schedule,
                  scoring, alerts)
    dashboard.register(app)
    app.add_middleware(CollectorFirst, collector=collector)
    # outermost: size and time limits on every body before any route or auth runs (issue 20 D8)
    app.add_middleware(BodyLimits)
    openapi_doc.document_collector(app)
    return app


def _dashboard_views(con) -> list:
    """What the dashboard asks for first, per model with a `won` run (the default model first)."""
    models = sorted({m for (m,) in con.execute("SELECT DISTINCT model FROM attribution_runs WHERE milestone = 'won'").fetchall()},
                    key=lambda m: (m != "linear", m))
    views: list[tuple[str, Callable[..., dict[str, Any]], dict[str, Any]]] = [
        ("funnel", queries.funnel, {"revenue_type": FUNNEL_REVENUE_TYPE, "start": None, "end": None})]
    for m in models:
        views += [("kpis", queries.kpis, {"model": m, "start": None, "end": None, **filters()}),
                  ("attribution", queries.attribution, {"model": m, "milestone": "won", "by": "channel", "start": None,
                                                        "end": None, **filters(campaign_level=None)})]
    return [lambda cache, cur, v=v: cached_call(cache, cur, v[0], v[1], **v[2]) for v in views]


def close_app(app: FastAPI) -> None:
    """Release what create_app opened: seal and load the log, stop threads, close the store."""
    if app.state.warmer is not None:
        app.state.warmer.stop()
    app.state.hub.close()
    app.state.collector.close()
    app.state.con.close()
