"""The "Funnel by level" panel in headless Chromium: counts, win rate and leakage equal
GET /api/funnel?level=... under the page's filters, and the level and split switches reload it.
No request leaves localhost."""

from __future__ import annotations

import pytest

from served import serve
from test_dashboard_browser import api, login, outside, shot  # noqa: F401 - outside is a fixture
from test_funnel_model import _hand_store

from revline.vocabulary import FUNNEL_REVENUE_TYPE

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def funnel_server(tmp_path_factory):
    """The hand store of test_funnel_model, served by uvicorn on a port-0 socket."""
    from revline.store.state import record_stitch

    db = tmp_path_factory.mktemp("funnel-browser") / "store.duckdb"
    con = _hand_store(str(db))
    record_stitch(con)
    con.close()
    yield from serve(db)


def _values(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("els => els.map(e => e.dataset.value)")


def _check(page, server: str, **params) -> None:
    # the page's default filters: all regions, and under "all" types no type sent (every funnel's default)
    d = api(server, "funnel", segment="all", **params)
    assert d["revenue_type"] == FUNNEL_REVENUE_TYPE
    assert [int(v) for v in _values(page, "#funnel-levels-table tbody tr td:nth-child(3)")] == \
        [s["count"] for s in d["stages"]]
    assert _values(page, "#funnel-levels-table tbody tr td:nth-child(2)") == [s["stage"] for s in d["stages"]]
    total = next(w for w in d["win_rate"] if w["key"] == "all")
    assert float(page.locator("#funnel-win-rate").get_attribute("data-value")) == pytest.approx(total["win_rate"])
    leaks = [x for x in d["leakage"] if not d["by"] or x["key"] != "all"]
    assert [int(v) for v in _values(page, "#funnel-leakage-table tbody tr td:nth-child(6)")] == [x["died"] for x in leaks]
    assert d["definition"]["text"] in page.locator("#funnel-levels-definition").inner_text()


def test_the_panel_shows_the_api_funnel_at_each_level(page, funnel_server, outside):  # noqa: F811
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, funnel_server)
    _check(page, funnel_server, level="lead")
    for level in ("opportunity", "account"):
        page.select_option("#funnel-level", level)
        page.wait_for_selector("body[data-ready='true']", timeout=20_000)
        _check(page, funnel_server, level=level)
    page.select_option("#funnel-level", "opportunity")
    page.select_option("#funnel-by", "owner")
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)
    _check(page, funnel_server, level="opportunity", by="owner")
    assert "Ana" in _values(page, "#funnel-levels-table tbody tr td:first-child")
    assert outside == [] and errors == []  # no script error on the page
    shot(page, "funnel-levels")
