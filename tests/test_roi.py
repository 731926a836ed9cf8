"""ROI table and sourced vs influenced pipeline, checked by hand on the W5 journey.

W-shaped credits of O1 (1000 USD, won): at won t1 paid_search .3, t2 email .3, t3 webinar .05,
t4 events .3, t5 direct .05; at opportunity creation t1 .3, t2 .3, t3 .1, t4 .3.
O2 (500 EUR = 540 USD) has no touch: unattributed.
"""

from __future__ import annotations

import pytest
from attribution_data import make_store
from test_attribution_rules import W5

from revline.attribution import run_models
from revline.reports.roi import roi_table, sourced_vs_influenced, spend_by
from revline.reports.tables import ReportError

SPEND = [
    {"date": "2024-01-01", "channel": "paid_search", "campaign_id": "c1", "spend": 300, "currency": "USD"},
    {"date": "2024-01-20", "channel": "email", "campaign_id": "c2", "spend": 100, "currency": "EUR"},
    {"date": "2024-02-03", "channel": "webinar", "campaign_id": "c3", "spend": 50, "currency": "USD"},
    {"date": "2024-05-03", "channel": "tv", "campaign_id": "", "spend": 999, "currency": "USD"},
]


@pytest.fixture(scope="module")
def store():
    con = make_store({
        **W5,
        "spend": SPEND,
        "campaigns": [{"campaign_id": "c1", "name": "Brand", "channel": "paid_search"}],
    })
    con.execute("UPDATE opportunities SET campaign_id = 'c1' WHERE opportunity_id = 'O1'")
    run_models(con, ["w_shaped", "first_touch", "linear"], ["won", "opportunity"], ["new_business"])
    yield con
    con.close()


def test_roi_by_channel_by_hand(store):
    df = roi_table(store, "w_shaped", end="2024-03-31").set_index("channel")
    ps = df.loc["paid_search"]
    assert ps.spend == 300 and ps.revenue == pytest.approx(300) and ps.pipeline == pytest.approx(300)
    assert ps.roas == pytest.approx(1.0) and ps.roi == pytest.approx(0.0)
    assert ps.customers == pytest.approx(0.3) and ps.cac == pytest.approx(1000.0)
    assert ps.opportunities == pytest.approx(0.3) and ps.cost_per_opportunity == pytest.approx(1000.0)
    assert ps.pipeline_per_dollar == pytest.approx(1.0)
    # CAC 1000 / (ACV 1000 / 12 months x 0.8 margin) = 15 months
    assert ps.payback_months == pytest.approx(15.0)
    em = df.loc["email"]
    assert em.spend == pytest.approx(108.0)  # EUR spend at the fixed rate
    assert em.roi == pytest.approx((300 - 108) / 108)
    # no spend: cost ratios undefined, not zero
    assert df.loc["direct"].revenue == pytest.approx(50.0)
    assert df.loc["direct"].cac != df.loc["direct"].cac  # NaN
    assert "tv" not in df.index  # spend outside the window
    assert roi_table(store, "w_shaped", gross_margin=0.5).set_index("channel").loc["paid_search"].payback_months == pytest.approx(24.0)


def test_roi_by_campaign_and_month(store):
    camp = roi_table(store, "linear", by="campaign").set_index("campaign")
    assert camp.loc["c1"].spend == 300 and camp.loc["c1"].revenue == pytest.approx(200.0)
    assert camp.loc["(none)"].spend == 999  # the tv spend without a campaign
    month = roi_table(store, "linear", by="month").set_index("month")
    jan = month.loc[month.index.astype(str).str.startswith("2024-01")].iloc[0]
    assert jan.spend == pytest.approx(408.0)
    assert jan.revenue == pytest.approx(800.0)  # t1..t4 happened in January


def test_spend_by_and_errors(store):
    s = spend_by(store, "channel", "2024-01-01", "2024-01-31").set_index("channel")
    assert s.spend.to_dict() == {"paid_search": 300.0, "email": pytest.approx(108.0)}
    with pytest.raises(ReportError, match="revline attribute --model u_shaped --milestone won"):
        roi_table(store, "u_shaped")
    with pytest.raises(ReportError, match="gross_margin"):
        roi_table(store, "linear", gross_margin=0)
    with pytest.raises(ReportError, match="by must be"):
        roi_table(store, "linear", by="region")


def test_sourced_vs_influenced(store):
    df = sourced_vs_influenced(store).set_index("channel")
    assert df.loc["paid_search"].sourced_pipeline == pytest.approx(1000.0)
    assert df.loc["email"].sourced_pipeline == 0
    for ch in ("paid_search", "email", "webinar", "events"):
        assert df.loc[ch].influenced_pipeline == pytest.approx(1000.0)
        assert df.loc[ch].influenced_opportunities == 1
    assert "direct" not in df.index or df.loc["direct"].influenced_pipeline == 0  # t5 came after creation
    by_campaign = sourced_vs_influenced(store, sourced_by="campaign").set_index("channel")
    assert by_campaign.loc["paid_search"].sourced_pipeline == pytest.approx(1000.0)
    assert by_campaign.loc["(no campaign)"].sourced_pipeline == pytest.approx(540.0)


def test_influence_window_reaching_the_last_day(store):
    """end=9999-12-31 is every deal, not an OverflowError (the CLI's --end is not bounded like the API's)."""
    from revline.reports.influence import influenced

    far, n_far = influenced(store, start="0001-01-01", end="9999-12-31")
    whole, n = influenced(store)
    assert n_far == n == 2 and far.equals(whole)
