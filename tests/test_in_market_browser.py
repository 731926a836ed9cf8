"""The in-market panel in headless Chromium: the hottest accounts with their reasons, as the API
lists them; a click opens the account's journey; the alert's link (/dashboard#journey=<id>) opens
it at load. No request leaves localhost."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from served import serve
from test_dashboard_browser import api, login, outside, shot  # noqa: F401 - outside is a fixture

pytestmark = pytest.mark.browser
WAIT_MS = 20_000

# what revline.models.scoring.score_accounts returns, for the fixture's three accounts
SCORES = pd.DataFrame({
    "account_id": ["A1", "A2", "A3"],
    "account_name": ["Acme Corp", "Globex", "Initech 100%_off"],
    "score": [0.31, 0.82, 0.07],
    "baseline_points": [25.0, 40.0, 5.0],
    "kind": ["expansion", "expansion", "new_business"],
    "reasons": [["1 person viewed pricing this week"],
                ["3 people from finance viewed pricing this week", "touches up 4x on its baseline"], []],
    "scored_at": pd.Timestamp("2026-04-20 09:30:00"),
})


@pytest.fixture(scope="module")
def scored_server(api_store_template, tmp_path_factory):
    """The API fixture's store with stored scores, served by uvicorn on a port-0 socket."""
    from revline.ops.scores import store_scores
    from revline.store import connect

    db = tmp_path_factory.mktemp("inmarket") / "store.duckdb"
    shutil.copy(api_store_template, db)
    con = connect(db)
    store_scores(con, SCORES)
    con.close()
    yield from serve(db)


def test_the_panel_lists_the_api_accounts_with_reasons_and_opens_a_journey(page, scored_server, outside):  # noqa: F811
    login(page, scored_server)
    listed = api(scored_server, "accounts/in-market", limit=10)
    rows = page.locator("#in-market-table tbody tr")
    assert rows.evaluate_all("els => els.map(e => e.dataset.accountId)") == [a["account_id"] for a in listed["accounts"]]
    assert [a["account_id"] for a in listed["accounts"]] == ["A2", "A1", "A3"]
    scores = page.locator("#in-market-table td.score").evaluate_all("els => els.map(e => Number(e.dataset.value))")
    assert scores == [a["score"] for a in listed["accounts"]]
    for i, account in enumerate(listed["accounts"]):
        assert rows.nth(i).locator("ul.reasons li").all_inner_texts() == account["reasons"]
        assert rows.nth(i).locator("button").inner_text() == account["account_name"]
    assert page.locator("#in-market-empty").is_hidden()
    assert "3 accounts scored" in page.locator("#in-market-as-of").inner_text()
    shot(page, "in-market")

    page.locator("#in-market-table button[data-account-id='A1']").click()
    page.wait_for_function("document.querySelector('#journey-title').textContent.includes('(A1)')", timeout=WAIT_MS)
    journey = api(scored_server, "accounts/A1/journey")
    page.wait_for_function(f"document.querySelector('#journey-count').dataset.value === '{len(journey['events'])}'",
                           timeout=WAIT_MS)
    assert page.locator("#journey-title").inner_text() == "Acme Corp (A1)"


def test_the_alert_link_opens_the_journey_at_load(page, scored_server, outside):  # noqa: F811
    login(page, scored_server)
    page.goto(f"{scored_server}/dashboard#journey=A2")
    page.wait_for_selector("body[data-ready='true']", timeout=WAIT_MS)
    page.wait_for_function("document.querySelector('#journey-title').textContent === 'Globex (A2)'", timeout=WAIT_MS)
    journey = api(scored_server, "accounts/A2/journey")
    assert int(page.locator("#journey-count").get_attribute("data-value")) == len(journey["events"])
