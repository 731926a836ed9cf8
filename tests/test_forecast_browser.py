"""The forecast panel in headless Chromium: the first panel of the dashboard shows, per quarter,
the median and its 80 % interval against the target, exactly as /api/forecast gives them."""

from __future__ import annotations

import pytest

from test_dashboard_browser import api, live_server, login, outside, shot  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


def test_forecast_panel_matches_the_api(page, live_server, outside):  # noqa: F811
    login(page, live_server)
    body = api(live_server, "forecast", model="linear")
    rows = page.locator("#forecast-table tbody tr")
    assert rows.count() == len(body["vs_target"]) == 2
    for i, q in enumerate(body["vs_target"]):
        values = rows.nth(i).locator("td").evaluate_all("els => els.map(e => e.dataset.value)")
        assert values[0] == q["quarter"]
        if q["target"] is None:
            assert values[1] == ""
        else:
            assert float(values[1]) == pytest.approx(q["target"])
        for j, key in ((3, "p10"), (4, "p50"), (5, "p90")):
            assert float(values[j]) == pytest.approx(q[key])
    assert page.locator("#forecast-as-of").get_attribute("data-value") == body["as_of"]
    assert page.locator("#forecast-empty").is_hidden()
    # the panel comes before every other panel
    first = page.locator("section.card[id]").evaluate_all("els => els.map(e => e.id)")
    assert first.index("forecast") < first.index("in-market")
    shot(page, "forecast")
