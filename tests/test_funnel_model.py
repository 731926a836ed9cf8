"""revline.models.funnel on a hand-made store whose every figure is worked out below, plus property
tests of the measures on random units (counts, rates and durations stay consistent)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.identity import stitch
from revline.journeys import build
from revline.journeys import funnel as journeys_funnel
from revline.models.funnel import Units, funnel_report, leakage, stage_table, time_in_stage, units, win_rate
from revline.journeys.stats import wilson
from revline.models.funnel.units import stage_order
from revline.store import connect


def _hand_store(path=":memory:"):
    """Four accounts, six people, five deals (see the expected figures in each test).

    A (Software, 120 staff, US): p1 (primary contact) and p2 on o1, won; renewal o2 won later.
    B (Retail, 20 staff, France): p3, the only (non-primary) contact of o4, lost at proposal.
    C (Energy, 3000 staff, Japan): p4 (MQL, no SQL); o6 has no contact and is still open.
    D (no firmographics): p6, primary contact of o7, created 15:00 and won the same day with a
    date-only close (midnight): 0 days, never negative.  p5 has no account and stays a lead."""
    con = connect(path)
    con.execute("""INSERT INTO accounts (account_id, name, industry, employees, country) VALUES
        ('A', 'Acme', 'Software', 120, 'United States'), ('B', 'Beta', 'Retail', 20, 'France'),
        ('C', 'Cato', 'Energy', 3000, 'JP'), ('D', 'Delta', NULL, NULL, NULL)""")
    con.execute("""INSERT INTO people (person_id, account_id, email, source_system) VALUES
        ('p1', 'A', 'p1@acme.com', 'salesforce'), ('p2', 'A', 'p2@acme.com', 'salesforce'),
        ('p3', 'B', 'p3@beta.fr', 'salesforce'), ('p4', 'C', 'p4@cato.jp', 'salesforce'),
        ('p5', NULL, 'p5@gmail.com', 'salesforce'), ('p6', 'D', 'p6@delta.io', 'salesforce')""")
    con.execute("""INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, source, touch_type, identity_type,
                                            identity_value) VALUES
        ('t1', '2024-01-01', 'paid_search', 'google', 'page_view', 'crm_contact_id', 'p1'),
        ('t3', '2024-01-01', 'email', 'marketo', 'email_click', 'crm_contact_id', 'p3'),
        ('t4', '2024-02-20', 'direct', NULL, 'page_view', 'crm_contact_id', 'p4')""")
    con.execute("""INSERT INTO stage_events VALUES
        ('person', 'p1', 'lead', '2024-01-05', 'sf'), ('person', 'p1', 'mql', '2024-01-10', 'sf'),
        ('person', 'p1', 'sql', '2024-02-01', 'sf'), ('person', 'p2', 'lead', '2024-01-06', 'sf'),
        ('person', 'p3', 'lead', '2024-01-02', 'sf'), ('person', 'p3', 'mql', '2024-01-20', 'sf'),
        ('person', 'p3', 'sql', '2024-02-10', 'sf'), ('person', 'p4', 'lead', '2024-03-01', 'sf'),
        ('person', 'p4', 'mql', '2024-03-05', 'sf'), ('person', 'p5', 'lead', '2024-04-01', 'sf'),
        ('person', 'p6', 'lead', '2024-06-20', 'sf'),
        ('opportunity', 'o1', 'qualification', '2024-02-15', 'h'), ('opportunity', 'o1', 'proposal', '2024-03-01', 'h'),
        ('opportunity', 'o1', 'negotiation', '2024-03-15', 'h'), ('opportunity', 'o1', 'won', '2024-04-01', 'h'),
        ('opportunity', 'o4', 'qualification', '2024-03-01', 'h'), ('opportunity', 'o4', 'proposal', '2024-03-20', 'h'),
        ('opportunity', 'o4', 'lost', '2024-05-01', 'h'), ('opportunity', 'o6', 'qualification', '2024-06-01', 'h'),
        ('opportunity', 'o2', 'proposal', '2025-03-01', 'h'), ('opportunity', 'o2', 'negotiation', '2025-03-10', 'h')""")
    con.execute("""INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, currency, created_at,
                                              closed_at, is_closed, is_won) VALUES
        ('o1', 'A', 'new_business', 1000, 'USD', '2024-02-15', '2024-04-01', true, true),
        ('o4', 'B', 'new_business', 500, 'USD', '2024-03-01', '2024-05-01', true, false),
        ('o6', 'C', 'new_business', 700, 'USD', '2024-06-01', NULL, false, false),
        ('o7', 'D', 'new_business', 200, 'USD', '2024-07-01 15:00', '2024-07-01', true, true),
        ('o2', 'A', 'renewal', 1100, 'USD', '2025-03-01', '2025-04-01', true, true)""")
    con.execute("""INSERT INTO opportunity_contacts VALUES ('o1', 'p1', 'Decision Maker', true),
        ('o1', 'p2', 'Evaluator', false), ('o4', 'p3', 'Evaluator', false), ('o7', 'p6', 'Decision Maker', true)""")
    con.execute("""INSERT INTO targets VALUES ('2024-04-01', '2024-06-30', 'all', 2000, NULL),
        ('2024-04-01', '2024-06-30', 'NA', 1500, NULL), ('2024-04-01', '2024-06-30', 'EMEA', 800, NULL),
        ('2024-07-01', '2024-09-30', 'NA', 1000, NULL), ('2024-07-01', '2024-09-30', 'EMEA', 500, NULL),
        ('2024-10-01', '2024-12-31', 'all', 900, NULL)""")
    # promoted dimensions (ingest keeps owner and product there): deal owners, one lead owner, one product
    con.execute("""UPDATE opportunities SET dimensions = CASE opportunity_id
        WHEN 'o1' THEN '{"owner": "Ana", "product": "Core"}' WHEN 'o4' THEN '{"owner": "Ben"}'
        WHEN 'o7' THEN '{"owner": "Ana"}' END""")
    stitch(con)
    build(con)
    con.execute("""UPDATE people SET dimensions = '{"owner": "Cleo"}' WHERE person_id = 'p3'""")
    return con


@pytest.fixture(scope="module")
def hand():
    con = _hand_store()
    yield con
    con.close()


def _counts(df: pd.DataFrame, key: str = "all") -> dict[str, int]:
    return dict(zip(df[df["key"] == key]["stage"], df[df["key"] == key]["count"]))


def test_lead_funnel_counts_people_and_the_deals_they_sourced(hand):
    r = funnel_report(hand, "lead")
    # six people with a stage; p6 (primary contact of o7) skipped MQL and SQL; p4 sourced o6 (no contacts:
    # the account's earliest-staged person); p2 is a contact but not o1's primary, so o1 counts once (p1)
    assert _counts(r.stages) == {"lead": 6, "mql": 4, "sql": 4, "opportunity": 4, "won": 2}
    rows = r.stages.set_index("stage")
    assert rows.loc["mql", "recorded"] == 3 and rows.loc["sql", "recorded"] == 2
    assert rows.loc["sql", "conversion_to_next"] == pytest.approx(1.0)
    assert rows.loc["lead", "conversion_to_next"] == pytest.approx(4 / 6)
    lo, hi = wilson([4], [6])
    assert (rows.loc["lead", "conversion_low"], rows.loc["lead", "conversion_high"]) == pytest.approx((lo[0], hi[0]))
    # p1: lead 01-05 -> mql 01-10 (5 days); p3: 01-02 -> 01-20 (18); p4: 03-01 -> 03-05 (4); p6 lead 06-20 -> opp 07-01 15:00
    assert rows.loc["lead", "days_n"] == 4
    assert rows.loc["lead", "days_median"] == pytest.approx(np.median([5, 18, 4, 11 + 15 / 24]))
    w = r.win_rate.iloc[0]
    assert (w["won"], w["lost"], w["open"], w["closed"]) == (2, 1, 1, 3)
    assert w["win_rate"] == pytest.approx(2 / 3)
    for frame in (r.stages, r.win_rate, r.leakage):  # every output says what it counts
        assert set(frame["level"]) == {"lead"} and set(frame["revenue_type"]) == {"new_business"}
        assert set(frame["by"]) == {"all"} and {"start", "end"} <= set(frame.columns)


def test_opportunity_funnel_orders_crm_stages_and_measures_win_rate(hand):
    r = funnel_report(hand, "opportunity")
    assert list(r.stages["stage"]) == ["opportunity", "qualification", "proposal", "negotiation", "won"]
    # o7 has no history but was won: it passed every stage (cumulative); o4 reached proposal; o6 qualification
    assert _counts(r.stages) == {"opportunity": 4, "qualification": 4, "proposal": 3, "negotiation": 2, "won": 2}
    q = r.stages.set_index("stage").loc["qualification"]
    assert q["days_median"] == pytest.approx((15 + 19) / 2)  # o1 02-15 -> 03-01, o4 03-01 -> 03-20
    w = r.win_rate.iloc[0]
    assert (w["deals"], w["won"], w["lost"], w["open"]) == (4, 2, 1, 1)
    assert w["win_rate"] == pytest.approx(2 / 3)
    assert w["won_amount_usd"] == pytest.approx(1200.0)
    # the same-day, date-only close of o7 is 0 days, never negative; o7's created -> won is its only span
    days, bad = time_in_stage(units(hand, "opportunity"))
    assert days.loc["o7", "opportunity"] == 0.0 and not bad.to_numpy().any()
    assert (days.stack().dropna() >= 0).all()
    every = funnel_report(hand, "opportunity", revenue_type="all")
    assert every.win_rate.iloc[0]["deals"] == 5 and every.win_rate.iloc[0]["won"] == 3
    assert set(every.stages["revenue_type"]) == {"all"}


def test_leakage_stalls_and_deaths(hand):
    r = funnel_report(hand, "opportunity")
    leak = r.leakage.set_index("stage")
    # as of the latest date (o7's creation, 2024-07-01 15:00) o6 has been in qualification 30 days, above that
    # stage's p90 (of o1's 15 and o4's 19 days); o4 died at proposal
    assert r.definition.as_of == pd.Timestamp("2024-07-01 15:00")
    assert leak.loc["qualification", "open"] == 1 and leak.loc["qualification", "stalled"] == 1
    assert leak.loc["qualification", "p90_days"] == pytest.approx(np.quantile([15, 19], 0.9))
    assert leak.loc["qualification", "stalled_amount_usd"] == pytest.approx(700.0)
    assert leak.loc["proposal", "died"] == 1 and leak.loc["proposal", "died_share"] == pytest.approx(1 / 3)
    assert leak["died"].sum() == 1
    # as of 2024-06-10, o6 has been in qualification 9 days: not stalled; o7 does not exist yet
    early = funnel_report(hand, "opportunity", as_of="2024-06-10")
    e = early.leakage.set_index("stage")
    assert e.loc["qualification", "open"] == 1 and e.loc["qualification", "stalled"] == 0
    assert early.win_rate.iloc[0]["deals"] == 3


def test_splits_by_segment_channel_source_and_cohort(hand):
    by_region = funnel_report(hand, "lead", by="region").stages
    assert _counts(by_region, "NA") == {"lead": 2, "mql": 1, "sql": 1, "opportunity": 1, "won": 1}  # p1, p2
    assert _counts(by_region, "APAC")["opportunity"] == 1  # p4 of C (JP)
    assert _counts(by_region, "unknown")["lead"] == 2  # p5 (no account), p6 (D, no country)
    na = funnel_report(hand, "lead", segment="na")  # a region filter, any case, as every screen's segment
    assert _counts(na.stages) == _counts(by_region, "NA") and set(na.stages["segment"]) == {"NA"}
    with pytest.raises(ValueError, match="segment must be all or one of"):
        funnel_report(hand, "lead", segment="Mars")
    for by in ("channel", "source", "segment", "size_band", "cohort"):
        df = funnel_report(hand, "lead", by=by).stages
        total = _counts(df)
        keys = [k for k in df["key"].unique() if k != "all"]
        assert sum(_counts(df, k)["lead"] for k in keys) == total["lead"]  # the split partitions the units
        assert set(df["by"]) == {"industry" if by == "segment" else by}
    ch = funnel_report(hand, "lead", by="channel").stages
    assert _counts(ch, "paid_search")["won"] == 1 and _counts(ch, "(no touch)")["lead"] == 3
    src = funnel_report(hand, "opportunity", by="size_band").win_rate.set_index("key")
    assert src.loc["50-199", "won"] == 1 and src.loc["1-49", "lost"] == 1
    cohort = funnel_report(hand, "lead", start="2024-03-01", end="2024-06-30")
    assert _counts(cohort.stages)["lead"] == 3  # p4 (03-01), p5 (04-01), p6 (06-20)
    assert cohort.stages["start"].iloc[0] == date(2024, 3, 1)
    with pytest.raises(ValueError, match="--by must be one of"):
        funnel_report(hand, "lead", by="colour")
    with pytest.raises(ValueError, match="level must be one of"):
        funnel_report(hand, "person")
    with pytest.raises(ValueError, match="start must be a date"):
        funnel_report(hand, "lead", start="soon")
    # dates beyond what pandas holds are read at its edge, not refused
    far = funnel_report(hand, "lead", start="0164-05-06", end="8135-11-27", as_of="9999-12-31")
    assert _counts(far.stages) == _counts(funnel_report(hand, "lead").stages)
    assert far.definition.start == date(164, 5, 6)


def test_account_level_over_every_revenue_type(hand):
    # A (o1 won, renewal o2 won), B (o4 lost), C (o6 open), D (o7 won): first deal of any type, first win
    r = funnel_report(hand, "account", revenue_type="all")
    assert _counts(r.stages) == {"opportunity": 4, "won": 2}
    w = r.win_rate.iloc[0]
    assert (w["won"], w["lost"], w["open"]) == (2, 1, 1)


def test_owner_and_product_splits(hand):
    opp = funnel_report(hand, "opportunity", by="owner").win_rate.set_index("key")
    assert (opp.loc["Ana", "won"], opp.loc["Ana", "closed"]) == (2, 2) and opp.loc["Ana", "win_rate"] == 1.0
    assert (opp.loc["Ben", "lost"], opp.loc["Ben", "win_rate"]) == (1, 0.0)
    assert opp.loc["(none)", "open"] == 1  # o6 has no owner: shown, never dropped
    # people: their own owner (p3: Cleo, not o4's Ben), else the owner of the deal they sourced (p1, p6: Ana)
    lead = funnel_report(hand, "lead", by="owner").stages
    assert _counts(lead, "Ana") == {"lead": 2, "mql": 2, "sql": 2, "opportunity": 2, "won": 2}
    assert _counts(lead, "Cleo")["opportunity"] == 1 and _counts(lead, "(none)")["lead"] == 3
    product = funnel_report(hand, "opportunity", by="product").win_rate.set_index("key")
    assert product.loc["Core", "won"] == 1 and product.loc["(none)", "deals"] == 3
    account = funnel_report(hand, "account", by="owner").stages  # an account: its first deal's owner
    assert _counts(account, "Ana")["won"] == 2 and _counts(account, "Ben")["opportunity"] == 1


def test_html_report_section(hand):
    from revline.models.funnel.report import html_section

    section_id, title, body = html_section(hand)
    assert section_id == "funnel-levels" and "win rate" in title
    assert "win rate 66.7 %" in body and "<td>Ana</td>" in body  # 2 won / 3 closed; the owner table
    assert 'data-value="6"' in body  # six people at the lead stage
    assert html_section(connect(":memory:")) is None  # nothing to show: no section


def test_account_level_is_the_journeys_funnel(hand):
    for rt in ("new_business", "renewal"):
        ours = funnel_report(hand, "account", revenue_type=rt).stages
        theirs = journeys_funnel(hand, revenue_type=rt)
        assert list(ours["stage"]) == list(theirs["stage"])
        assert list(ours["count"]) == list(theirs["count"])
        np.testing.assert_allclose(ours["conversion_to_next"], theirs["conversion_to_next"], equal_nan=True)


def test_pipeline_coverage_per_target_period(hand):
    cov = funnel_report(hand, "lead", as_of="2024-07-15").coverage.set_index("period_start")
    assert list(cov.index) == [date(2024, 4, 1), date(2024, 7, 1)]  # Q4 starts after the as-of day
    q2 = cov.loc[date(2024, 4, 1)]
    # measured at its start: o1 (closes 04-01, not before) and o4 are open; target is the 'all' row
    assert q2["measured_at"] == pd.Timestamp("2024-04-01")
    assert (q2["revenue_target"], q2["won_to_date"], q2["open_pipeline"], q2["open_deals"]) == (2000, 0, 1500, 2)
    assert q2["coverage"] == pytest.approx(0.75)
    q3 = cov.loc[date(2024, 7, 1)]
    # no 'all' row: the regions add up (1500); o7 won 200 on 07-01; o6 (700) is open
    assert (q3["revenue_target"], q3["won_to_date"], q3["remaining_target"], q3["open_pipeline"]) == (1500, 200, 1300, 700)
    assert q3["coverage"] == pytest.approx(700 / 1300)
    assert set(funnel_report(hand, "lead").coverage["revenue_type"]) == {"all"}
    # a region: its own target rows against its accounts' deals (NA: account A, o1 open at 04-01)
    na = funnel_report(hand, "lead", as_of="2024-07-15", segment="NA").coverage.set_index("period_start")
    assert (na.loc[date(2024, 4, 1), "revenue_target"], na.loc[date(2024, 4, 1), "open_pipeline"]) == (1500, 1000)
    assert (na.loc[date(2024, 7, 1), "revenue_target"], na.loc[date(2024, 7, 1), "won_to_date"],
            na.loc[date(2024, 7, 1), "open_pipeline"]) == (1000, 0, 0)
    assert set(na["segment"]) == {"NA"}


def test_stage_order_is_pairwise_not_positional():
    # renewals start at proposal: by mean position proposal would come before qualification's successors
    rows = []
    for i in range(5):
        for j, s in enumerate(["prospecting", "qualification", "needs", "proposal", "negotiation"]):
            rows.append((f"n{i}", s, pd.Timestamp("2024-01-01") + pd.Timedelta(days=10 * j)))
    for i in range(20):
        for j, s in enumerate(["proposal", "negotiation"]):
            rows.append((f"r{i}", s, pd.Timestamp("2024-01-01") + pd.Timedelta(days=10 * j)))
    events = pd.DataFrame(rows, columns=["unit_id", "stage", "at"])
    assert stage_order(events) == ["prospecting", "qualification", "needs", "proposal", "negotiation"]


# ------------------------------------------------------------------ properties on random units
STAGES = ("s0", "s1", "s2", "s3")


@st.composite
def random_units(draw) -> Units:
    n = draw(st.integers(0, 25))
    k = draw(st.integers(2, len(STAGES)))
    stages = STAGES[:k]
    base = pd.Timestamp("2024-01-01")
    offsets = st.one_of(st.none(), st.integers(0, 400 * 24).map(lambda h: base + pd.Timedelta(hours=h)),
                        st.integers(0, 400).map(lambda d: base + pd.Timedelta(days=d)))  # date-only values too
    cells = [[draw(offsets) for _ in stages] for _ in range(n)]
    lost = [draw(offsets) for _ in range(n)]
    idx = pd.Index([f"u{i}" for i in range(n)], name="unit_id")
    dates = pd.DataFrame(cells, index=idx, columns=list(stages), dtype="datetime64[ns]")
    keep = dates.notna().any(axis=1)
    dates = dates[keep]
    lost_at = pd.Series(lost, index=idx, dtype="datetime64[ns]")[keep]
    splits = pd.DataFrame({"channel": [draw(st.sampled_from(["a", "b", "c"])) for _ in range(len(dates))]},
                          index=dates.index, dtype=object)
    amount = pd.Series([float(draw(st.integers(0, 1000))) for _ in range(len(dates))], index=dates.index)
    return Units("opportunity", ("new_business",), stages, dates, lost_at, splits, amount)


@settings(max_examples=40, deadline=None)
@given(random_units(), st.sampled_from([None, "channel"]))
def test_funnel_measures_stay_consistent(u, by):
    table = stage_table(u, by)
    for _, g in table.groupby("key"):
        counts = g["count"].to_numpy()
        assert (np.diff(counts) <= 0).all()  # a stage never holds more units than the one before
        assert (g["recorded"] <= g["count"]).all()
        conv = g["conversion_to_next"].dropna()
        assert ((conv >= 0) & (conv <= 1)).all()
        for c, lo, hi in g[["conversion_to_next", "conversion_low", "conversion_high"]].dropna().itertuples(index=False):
            assert 0 <= lo <= c + 1e-12 and c - 1e-12 <= hi <= 1
        nxt = np.append(counts[1:], 0)[:-1]
        expected = np.divide(nxt, counts[:-1], out=np.full(len(nxt), np.nan), where=counts[:-1] > 0)
        np.testing.assert_allclose(g["conversion_to_next"].to_numpy()[:-1], expected, equal_nan=True)
        for col in ("days_p25", "days_median", "days_p75", "days_p90"):
            assert (g[col].dropna() >= 0).all()
    if by:
        total = table[table["key"] == "all"]["count"].to_numpy()
        parts = table[table["key"] != "all"].groupby("stage", sort=False)["count"].sum()
        assert list(parts.reindex(list(u.stages)).fillna(0).astype(int)) == list(total)
    days, _ = time_in_stage(u)
    assert (days.stack().dropna() >= 0).all()  # no duration is ever negative
    w = win_rate(u, by)
    assert ((w["won"] + w["lost"] + w["open"]) == w["deals"]).all()
    rates = w["win_rate"].dropna()
    assert ((rates >= 0) & (rates <= 1)).all()
    leak = leakage(u, by)
    assert (leak["stalled"] <= leak["open"]).all() and (leak["died"] <= leak["reached"]).all()
    assert (leak["open"] + leak["died"] <= leak["reached"]).all()
    for share in ("stalled_share", "died_share"):
        s = leak[share].dropna()
        assert ((s >= 0) & (s <= 1)).all()


@given(st.integers(0, 500), st.integers(0, 500))
def test_wilson_interval_contains_the_rate(k, extra):
    n = k + extra
    lo, hi = wilson([k], [n])
    if n == 0:
        assert math.isnan(lo[0]) and math.isnan(hi[0])
    else:
        assert 0 <= lo[0] <= k / n <= hi[0] <= 1
