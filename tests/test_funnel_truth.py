"""The funnel against the simulator's truth, on two companies with different sales cycles.

The expected figures come from ground_truth.json and from the raw Opportunity.csv read here with
pandas (good rows only: the file's deliberately broken rows are listed in the truth), never from
the code under test or its SQL.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from revline.models.funnel import funnel_report

pytestmark = pytest.mark.slow


def _raw_opportunities(files, truth) -> pd.DataFrame:
    """Opportunity.csv without its broken rows (row numbers 1-based over data rows)."""
    raw = pd.read_csv(files / "salesforce" / "Opportunity.csv", dtype=str, keep_default_na=False)
    bad = {b["row_number"] for b in truth["bad_rows"] if b["file"] == "salesforce/Opportunity.csv"}
    return raw[[i + 1 not in bad for i in range(len(raw))]]


@pytest.mark.parametrize("config", ["default", "long_cycle"])
def test_funnel_counts_and_win_rate_match_the_simulator(simulated_company, config):
    db, files, truth = simulated_company(config=config)
    counts = truth["counts"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        lead = funnel_report(con, "lead")
        opp = funnel_report(con, "opportunity")
        every = funnel_report(con, "opportunity", revenue_type="all")
        account = funnel_report(con, "account")
    finally:
        con.close()
    stages = dict(zip(lead.stages["stage"], lead.stages["count"]))
    # every identified person became a lead (form fill, download, referral, or a customer's contact)
    assert stages["lead"] == counts["identified_people"]
    assert stages["mql"] == counts["mqls"]
    assert stages["sql"] == counts["sqls"]
    assert stages["opportunity"] == counts["opportunities_by_type"]["new_business"]
    assert stages["won"] == counts["opportunities_won"]["new_business"]
    acc = dict(zip(account.stages["stage"], account.stages["count"]))
    assert acc["opportunity"] == counts["opportunities_by_type"]["new_business"]  # one new deal per account
    assert acc["won"] == counts["opportunities_won"]["new_business"]

    raw = _raw_opportunities(files, truth)
    new = raw[raw["Type"] == "New Customer"]  # the demo org's picklist value for new business
    won, closed = (new["IsWon"] == "true").sum(), (new["IsClosed"] == "true").sum()
    assert len(new) == counts["opportunities_by_type"]["new_business"]
    w = opp.win_rate.iloc[0]
    assert (w["won"], w["closed"], w["deals"]) == (won, closed, len(new))
    assert w["win_rate"] == pytest.approx(won / closed)
    assert w["win_rate_low"] < won / closed < w["win_rate_high"]
    # every revenue type: won / (all deals - open ones), from the truth's counts alone
    all_won = sum(counts["opportunities_won"].values())
    e = every.win_rate.iloc[0]
    assert (e["won"], e["open"]) == (all_won, counts["opportunities_open"])
    assert e["win_rate"] == pytest.approx(all_won / (counts["opportunities"] - counts["opportunities_open"]))
    for report in (lead, opp, account):
        days = report.stages[["days_p25", "days_median", "days_p75", "days_p90"]].stack().dropna()
        assert (days >= 0).all()
        assert (report.stages.groupby("key")["count"].diff().dropna() <= 0).all()


def test_sales_cycle_length_shows_in_velocity(simulated_company):
    """long_cycle's deals take longer from creation to close than the default company's."""
    medians = {}
    for config in ("default", "long_cycle"):
        db, _, truth = simulated_company(config=config)
        con = duckdb.connect(str(db), read_only=True)
        try:
            stages = funnel_report(con, "lead").stages.set_index("stage")
        finally:
            con.close()
        medians[config] = stages.loc["opportunity", "days_median"]
        assert truth["parameters"]["cycle_days_median"] > 0
    assert medians["long_cycle"] > medians["default"]
