"""The "Deals by owner / product" dashboard panel in headless Chromium: its rows equal the API's."""

from __future__ import annotations

import pytest

from crm_exports import write
from test_crm_dimensions import DEALS, HEADER
from served import serve
from test_dashboard_browser import api, login, outside, shot  # noqa: F401 - fixtures and helpers

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def deals_server(tmp_path_factory):
    from revline.ingest import load_files
    from revline.store import connect

    folder = tmp_path_factory.mktemp("deals-panel")
    con = connect(folder / "store.duckdb")
    load_files(con, [write(folder / "hubspot-deals.csv", HEADER, DEALS)], fmt="hubspot")
    con.close()
    yield from serve(folder / "store.duckdb")


def test_deals_panel_shows_the_api_rows_in_usd(page, deals_server, outside):  # noqa: F811 - the fixture
    login(page, deals_server)
    for dimension in ("owner", "product"):
        if dimension != "owner":
            page.evaluate("document.body.dataset.ready = 'pending'")
            page.select_option("#deals-dimension", dimension)
            page.wait_for_function(f"document.querySelector('#deals-key').textContent === '{dimension}'", timeout=20_000)
        res = api(deals_server, f"deals/by/{dimension}", revenue_type="all")
        cells = page.locator("#deals-table tbody tr td:nth-child(1)").all_inner_texts()
        assert cells == [r["value"] for r in res["rows"]] + ["total"]
        won = page.locator("#deals-table tbody tr td:nth-child(2)").evaluate_all("els => els.map(e => e.dataset.value)")
        assert [float(v) for v in won] == [r["won_revenue"] for r in res["rows"]] + [res["total"]["won_revenue"]]
        assert page.locator("#deals-definition").inner_text().startswith("USD")
    assert "without a known deal type" in page.locator("#deals-notes").inner_text()
    shot(page, "deals")
