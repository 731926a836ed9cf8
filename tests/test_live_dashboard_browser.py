"""The dashboard follows the live pipeline: a page view by a known contact, posted to the collector
of a running `revline serve`, appears in the open account journey without a reload of the page or
a restart of the server (headless Debian Chromium via pytest-playwright; every wait bounded)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import duckdb
import pytest

from test_dashboard_browser import outside  # noqa: F401 - fixture: no request may leave localhost
from test_hub import READ_KEY, WRITE_KEY, Server, _http, _prepared_store

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> Path:
    from revline.demo.simulate import generate

    out = tmp_path_factory.mktemp("livedemo") / "demo"
    generate(out, size="tiny", seed=7)
    return out


def _known_contact(db: Path) -> tuple[str, str]:
    """A user id the identity graph links to a person of an account, and that account."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT i.identity_value, p.account_id FROM identities i JOIN people p USING (person_id) "
            "WHERE i.identity_type = 'user_id' AND p.account_id IS NOT NULL ORDER BY 1 LIMIT 1").fetchone()
    finally:
        con.close()


def test_a_collected_page_view_appears_in_the_open_journey(page, tmp_path, tiny_demo, outside):  # noqa: F811
    db = _prepared_store(tmp_path, tiny_demo, "live.duckdb")
    user_id, account_id = _known_contact(db)
    server = Server(db)
    try:
        page.goto(f"{server.url}/dashboard")
        page.fill("#key", READ_KEY)
        page.click("#login-button")
        page.wait_for_selector("body[data-ready='true']", timeout=WAIT_MS)
        page.fill("#account-search", account_id)
        page.click("#account-search-button")
        button = page.locator(f"#account-results button[data-account-id='{account_id}']")
        button.wait_for(timeout=WAIT_MS)
        button.click()
        page.wait_for_selector("#chart-journey .main-svg", timeout=WAIT_MS)
        count = page.locator("#journey-count")
        page.wait_for_function("document.querySelector('#journey-count').dataset.touches !== undefined",
                               timeout=WAIT_MS)
        before = _http("GET", f"{server.url}/api/accounts/{account_id}/journey", READ_KEY)
        touches_before = sum(e["kind"] == "touch" for e in before["events"])
        assert int(count.get_attribute("data-touches")) == touches_before
        assert count.inner_text().startswith(f"{touches_before} touches")
        assert page.locator("#journey-touches li[data-ref^='live-']").count() == 0
        page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded

        message_id = f"live-{uuid.uuid4()}"
        event = {"userId": user_id, "messageId": message_id, "name": "Pricing",
                 "properties": {"path": "/pricing", "url": "https://example.com/pricing?utm_source=google"},
                 "context": {"campaign": {"source": "google", "medium": "cpc", "name": "browser-live"},
                             "page": {"path": "/pricing", "url": "https://example.com/pricing"}}}
        _http("POST", server.url + "/v1/page", body=event, basic=WRITE_KEY)
        sent = time.monotonic()
        # the panel refreshes by itself: no reload, no click
        touch = page.locator(f"#journey-touches li[data-ref='{message_id}']")
        touch.wait_for(timeout=WAIT_MS)
        seen_after = time.monotonic() - sent
        assert touch.inner_text().split(" · ")[1:] == ["page_view", "paid_search", "browser-live"]
        page.wait_for_function(
            f"document.querySelector('#journey-count').dataset.touches === '{touches_before + 1}'", timeout=WAIT_MS)
        assert count.inner_text().startswith(f"{touches_before + 1} touches")
        after = _http("GET", f"{server.url}/api/accounts/{account_id}/journey", READ_KEY)
        assert int(count.get_attribute("data-value")) == len(after["events"]) == len(before["events"]) + 1
        assert "live" in page.locator("#journey-live").inner_text()
        assert page.evaluate("window.__sameDocument") is True
        assert seen_after < 20
        assert server.proc.poll() is None  # the same server process throughout
    finally:
        server.stop()
