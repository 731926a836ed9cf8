"""Dashboard in headless Chromium (Debian's, via pytest-playwright): login, every panel, model
switch, account journey; numbers on screen equal the API's; no request leaves localhost."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from conftest import API_READ_KEY, API_WRITE_KEY
from served import serve

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parent.parent / "test-results"


@pytest.fixture(scope="module")
def live_server(api_store_template, tmp_path_factory):
    """The app on a socket bound to port 0 (no port race), served by uvicorn in a daemon thread."""
    db = tmp_path_factory.mktemp("browser") / "store.duckdb"
    shutil.copy(api_store_template, db)
    yield from serve(db)


@pytest.fixture(scope="module")
def screen_server(tmp_path_factory):
    """The app on the shared-screen store: regions, currencies, revenue types, campaign programs."""
    from test_shared_screen import build_store

    db = tmp_path_factory.mktemp("browser-screen") / "store.duckdb"
    build_store(db)
    yield from serve(db)


@pytest.fixture
def outside(context):
    """Abort (and record) every request to a host other than localhost."""
    attempted: list[str] = []

    def guard(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            return route.continue_()
        attempted.append(route.request.url)
        return route.abort()

    context.route("**/*", guard)
    yield attempted
    assert attempted == [], f"the page tried to reach other hosts: {attempted}"


def api(live_server: str, path: str, **params):
    r = httpx.get(f"{live_server}/api/{path}", params=params, headers={"Authorization": f"Bearer {API_READ_KEY}"})
    r.raise_for_status()
    return r.json()


def login(page, live_server: str) -> None:
    page.goto(f"{live_server}/dashboard")
    page.fill("#key", API_READ_KEY)
    page.click("#login-button")
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)


def test_login_form_rejects_a_wrong_key_and_accepts_the_read_key(page, live_server, outside):
    page.goto(f"{live_server}/dashboard")
    assert page.locator("#key").is_visible()
    shot(page, "login")
    page.fill("#key", "not-the-key")
    page.click("#login-button")
    assert "not valid" in page.locator(".error").inner_text()
    page.fill("#key", API_READ_KEY)
    page.click("#login-button")
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)
    assert page.url.endswith("/dashboard")


def test_key_in_the_url_sets_the_cookie_and_is_removed_from_the_address(page, live_server, outside):
    page.goto(f"{live_server}/dashboard?key={API_READ_KEY}")
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)
    assert "key=" not in page.url
    assert any(c["name"] == "rl_read_key" and c["httpOnly"] for c in page.context.cookies())
    page.click("#logout")
    assert page.locator("#key").is_visible()


def test_every_panel_renders_with_the_api_numbers(page, live_server, outside):
    login(page, live_server)
    assert page.evaluate("typeof window.Plotly") == "object"
    for chart in ("chart-targets", "chart-attribution", "chart-funnel"):
        assert page.locator(f"#{chart} .main-svg").count() > 0, chart
    model = page.locator("#model").input_value()
    kpis = api(live_server, "kpis", model=model)
    for tile, key in (("kpi-revenue", "revenue"), ("kpi-pipeline", "pipeline"), ("kpi-spend", "spend"), ("kpi-roi", "roi")):
        assert float(page.locator(f"#{tile}").get_attribute("data-value")) == pytest.approx(kpis[key]), tile
    roi = api(live_server, "roi", model=model)
    shown = page.locator("#roi-table tbody tr td:first-child").all_inner_texts()
    assert shown == [r["channel"] for r in roi["rows"]] + ["total"]
    funnel = api(live_server, "funnel")
    counts = page.locator("#funnel-table tbody tr td:nth-child(2)").evaluate_all("els => els.map(e => Number(e.dataset.value))")
    assert counts == [s["count"] for s in funnel["stages"]]
    shot(page, "overview")


def _attribution_rows(page):
    keys = page.locator("#attribution-table tbody tr td:nth-child(1)").all_inner_texts()
    values = page.locator("#attribution-table tbody tr td:nth-child(2)").evaluate_all(
        "els => els.map(e => Number(e.dataset.value))")
    return dict(zip(keys, values))


def test_model_switch_shows_that_models_attribution(page, live_server, outside):
    login(page, live_server)
    models = page.locator("#model option").all_inner_texts()
    assert set(models) == set(api(live_server, "models")["models"])
    seen = {}
    for model in models:
        page.select_option("#model", model)
        page.wait_for_function(f"document.querySelector('#attribution-table').dataset.model === '{model}'")
        page.wait_for_selector("body[data-ready='true']")
        expected = {r["key"]: r["revenue_credit"] for r in api(live_server, "attribution", model=model)["rows"]}
        assert _attribution_rows(page) == pytest.approx(expected)
        seen[model] = _attribution_rows(page)
        shot(page, f"model-{model}")
    assert len({tuple(sorted(v.items())) for v in seen.values()}) == len(models)  # the switch changed the view
    page.select_option("#by", "campaign")
    page.wait_for_selector("body[data-ready='true']")
    expected = {r["key"]: r["revenue_credit"] for r in api(live_server, "attribution", model=models[-1], by="campaign")["rows"]}
    page.wait_for_function("document.querySelector('#attribution-table tbody td') !== null")
    assert _attribution_rows(page) == pytest.approx(expected)


def test_account_search_opens_the_journey(page, live_server, outside):
    login(page, live_server)
    page.fill("#account-search", "acme")
    page.click("#account-search-button")
    button = page.locator("#account-results button").first
    button.wait_for()
    assert button.get_attribute("data-account-id") == "A1"
    button.click()
    page.wait_for_selector("#chart-journey .main-svg")
    journey = api(live_server, "accounts/A1/journey")
    page.wait_for_function("document.querySelector('#journey-count').dataset.value !== undefined")
    assert int(page.locator("#journey-count").get_attribute("data-value")) == len(journey["events"])
    assert "Acme Corp" in page.locator("#journey-title").inner_text()
    shot(page, "journey")


def test_tracker_script_sends_a_page_view_with_utm_and_anonymous_id(page, live_server, outside, context):
    """A page on the same host including /revline.js posts a Segment page call to /v1/page."""
    html = (f'<html><head><title>Pricing</title></head><body>hi<script src="{live_server}/revline.js" '
            f'data-write-key="{API_WRITE_KEY}"></script></body></html>')
    context.route(f"{live_server}/landing*", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    with page.expect_response(lambda r: r.url.endswith("/v1/page")) as info:
        page.goto(f"{live_server}/landing?utm_source=newsletter&utm_medium=email&utm_campaign=C9")
    response = info.value
    assert response.status == 200
    sent = response.request.post_data_json
    assert sent["context"]["campaign"] == {"source": "newsletter", "medium": "email", "name": "C9"}
    anon = [c["value"] for c in context.cookies() if c["name"] == "rl_anon_id"]
    assert anon and sent["anonymousId"] == anon[0]


# ------------------------------------------------------------------ issue 22: filters, definitions, campaigns
def _cells(page, table: str, col: int, attr: bool = False) -> list:
    loc = page.locator(f"#{table} tbody tr td:nth-child({col})")
    if attr:
        return loc.evaluate_all("els => els.map(e => e.dataset.value === '' ? null : e.dataset.value)")
    return loc.all_inner_texts()


def _refiltered(page, select: str, value: str) -> None:
    page.evaluate("document.body.dataset.ready = 'pending'")
    page.select_option(select, value)
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)


def test_filters_reach_every_figure_with_its_definition(page, screen_server, outside):
    login(page, screen_server)
    model = page.locator("#model").input_value()
    base = api(screen_server, "kpis", model=model)
    assert base["revenue_type"] == "all" and base["segment"] == "all"  # the page's defaults are the API's
    assert page.locator("#revenue-type").input_value() == "all" and page.locator("#segment").input_value() == "all"
    _refiltered(page, "#revenue-type", "new_business")
    _refiltered(page, "#segment", "NA")
    kpis = api(screen_server, "kpis", model=model, revenue_type="new_business", segment="NA")
    assert kpis["revenue"] != base["revenue"]  # the filter changed the figure
    for tile, key in (("kpi-revenue", "revenue"), ("kpi-pipeline", "pipeline"), ("kpi-attributed", "attributed_revenue"),
                      ("kpi-spend", "spend")):
        assert float(page.locator(f"#{tile}").get_attribute("data-value")) == pytest.approx(kpis[key]), tile
    for el, key in (("def-revenue", "revenue"), ("def-attributed", "attributed"), ("def-roi", "roi")):
        assert page.locator(f"#{el}").inner_text() == kpis["definitions"][key]["text"], el
    assert "new business only" in page.locator("#def-revenue").inner_text()
    assert "region NA" in page.locator("#def-revenue").inner_text()
    att = api(screen_server, "attribution", model=model, revenue_type="new_business", segment="NA")
    assert dict(zip(_cells(page, "attribution-table", 1), map(float, _cells(page, "attribution-table", 2, True)))) \
        == pytest.approx({r["name"]: r["revenue_credit"] for r in att["rows"]})
    assert page.locator("#def-attribution").inner_text() == att["definition"]["text"]
    roi = api(screen_server, "roi", model=model, revenue_type="new_business", segment="NA")
    assert _cells(page, "roi-table", 1) == [r["name"] for r in roi["rows"]] + ["total"]
    assert "spend has no region" in page.locator("#def-roi-table").inner_text()
    shot(page, "filters")


def test_campaigns_show_by_name_at_the_level_picked(page, screen_server, outside):
    login(page, screen_server)
    model = page.locator("#model").input_value()
    _refiltered(page, "#by", "campaign")
    for level in ("program", "campaign"):
        if level != "program":
            _refiltered(page, "#campaign-level", level)
        att = api(screen_server, "attribution", model=model, by="campaign", campaign_level=level)
        page.wait_for_function("document.querySelector('#attribution-table tbody td') !== null")
        assert _cells(page, "attribution-table", 1) == [r["name"] for r in att["rows"]]
        assert _cells(page, "attribution-table", 1, True) == [r["key"] for r in att["rows"]]  # the id stays
        assert all(r["name"] != r["key"] for r in att["rows"] if r["key"] != "(none)")
        _refiltered(page, "#roi-by", "campaign")
        roi = api(screen_server, "roi", model=model, by="campaign", campaign_level=level)
        assert _cells(page, "roi-table", 1) == [r["name"] for r in roi["rows"]] + ["total"]
        shown = [None if v is None else float(v) for v in _cells(page, "roi-table", 5, True)]
        assert shown[:-1] == pytest.approx([r["roi"] for r in roi["rows"]], nan_ok=True)
        assert f"campaigns at {level} level" in page.locator("#def-roi-table").inner_text()
        shot(page, f"campaigns-{level}")
        _refiltered(page, "#roi-by", "channel")


def test_sourced_vs_influenced_panel_counts_opportunities_in_the_window(page, screen_server, outside):
    login(page, screen_server)
    for window in ("90", "365"):
        if window != "90":
            page.evaluate("document.body.dataset.ready = 'pending'")
            page.fill("#influence-window", window)
            page.locator("#influence-window").dispatch_event("change")
            page.wait_for_selector("body[data-ready='true']", timeout=20_000)
        res = api(screen_server, "influence", window_days=window)
        assert _cells(page, "influence-table", 1) == [r["name"] for r in res["rows"]]
        assert [int(v) for v in _cells(page, "influence-table", 4, True)] == [r["influenced_opportunities"] for r in res["rows"]]
        assert page.locator("#def-influence").inner_text() == res["definition"]["text"]
        assert f"in the {window} days before creation" in res["definition"]["text"]
    shot(page, "influence")


def test_roi_panel_shows_the_unified_table_first_and_the_raw_one_a_switch_away(page, live_server, outside):
    """Issue #16 item 5: the ROI card opens on one ROI per channel (GET /api/roi/unified, here without a
    mix-model fit: attribution rows and the note on how to fit one); the select shows the per-model table."""
    login(page, live_server)
    model = page.locator("#model").input_value()
    unified = api(live_server, "roi/unified", model=model)
    assert page.locator("#roi-unified-table").is_visible() and not page.locator("#roi-table").is_visible()
    assert _cells(page, "roi-unified-table", 1) == [r["channel"] for r in unified["rows"]]
    assert _cells(page, "roi-unified-table", 2) == [r["source"] for r in unified["rows"]]
    shown = [None if v is None else float(v) for v in _cells(page, "roi-unified-table", 4, True)]
    assert shown == pytest.approx([r["value"] for r in unified["rows"]], nan_ok=True)
    assert "revline mmm fit" in page.locator("#def-roi-unified").inner_text()
    page.select_option("#roi-view", "attribution")
    assert page.locator("#roi-table").is_visible() and not page.locator("#roi-unified-table").is_visible()
    roi = api(live_server, "roi", model=model)
    assert _cells(page, "roi-table", 1) == [r["name"] for r in roi["rows"]] + ["total"]
