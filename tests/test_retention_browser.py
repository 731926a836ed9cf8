"""The retention panel in headless Chromium: NRR, GRR, logo churn and the renewals due next quarter,
the same numbers as GET /api/retention (raw values in data-value). No request leaves localhost."""

from __future__ import annotations

import pytest

from served import serve
from test_dashboard_browser import api, login, outside, shot  # noqa: F401 - outside is a fixture
from test_retention_due import _store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def retention_server(tmp_path_factory):
    """The hand-made contract book of test_retention_due, served by uvicorn on a port-0 socket."""
    db = tmp_path_factory.mktemp("retention-browser") / "store.duckdb"
    _store(db).close()
    yield from serve(db)


def _values(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("els => els.map(e => e.dataset.value)")


def test_the_panel_shows_the_api_retention_and_renewals_due(page, retention_server, outside):  # noqa: F811
    login(page, retention_server)
    d = api(retention_server, "retention", by="cohort")
    cohorts = d["tables"]["cohort"]
    total = cohorts[-1]
    assert total["cohort"] == "all"
    assert float(page.locator("#retention-nrr").get_attribute("data-value")) == pytest.approx(total["nrr"])
    assert float(page.locator("#retention-grr").get_attribute("data-value")) == pytest.approx(total["grr"])
    assert float(page.locator("#retention-logo-churn").get_attribute("data-value")) == pytest.approx(total["logo_churn"])
    assert float(page.locator("#retention-due-usd").get_attribute("data-value")) == pytest.approx(sum(x["arr_usd"] for x in d["due"]))
    assert [float(v) for v in _values(page, "#retention-cohorts tbody tr td:nth-child(5)")] == pytest.approx([c["nrr"] for c in cohorts])
    shown = _values(page, "#retention-due tbody tr td:first-child")
    assert sorted(shown) == sorted(x["account_id"] for x in d["due"]) and len(shown) > 0
    assert page.locator("#retention-empty").is_hidden()
    assert outside == []
    shot(page, "retention")
