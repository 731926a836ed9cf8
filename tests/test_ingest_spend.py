"""Spend from revline's spend file and the ad platforms' own exports: rows add up, files replace
their period, re-ingest changes nothing. Every export is written by the test itself."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.ingest import detect, load_files
from revline.store import connect


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "s.duckdb")
    yield c
    c.close()


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _money(x: Decimal) -> str:
    return f"{x:,.2f}"


def google_ads_export(path: Path, rows: list[tuple[str, str, str, Decimal, int, int]], account: str = "123-456-7890") -> Decimal:
    """A Google Ads UI download: title, date range, header, ad-group rows, "Total:" footers."""
    days = sorted(r[2] for r in rows)
    body = [["Campaign report"], [f"{days[0]} - {days[-1]}"],
            ["Campaign", "Ad group", "Campaign type", "Day", "Customer ID", "Currency code", "Cost", "Impr.", "Clicks"]]
    total = Decimal(0)
    for i, (campaign, ctype, day, cost, impr, clicks) in enumerate(rows):
        body.append([campaign, f"ad group {i}", ctype, day, account, "USD", _money(cost), f"{impr:,}", clicks])
        total += cost
    body.append(["Total: Account", "", "", "", "", "USD", _money(total), "", ""])
    body.append(["Total: Search", "", "", "", "", "USD", _money(total), "", ""])
    path.write_text(_csv(body))
    return total


def spend_total(con, where: str = "true") -> Decimal:
    return con.execute(f"SELECT coalesce(sum(spend), 0) FROM spend WHERE {where}").fetchone()[0]


def test_google_ads_export_skips_title_and_total_lines_and_adds_ad_group_rows(con, tmp_path):
    rows = [("Brand", "Search", "2025-01-01", Decimal("1234.50"), 1200, 30),
            ("Brand", "Search", "2025-01-01", Decimal("10.25"), 100, 3),       # same day and campaign: adds up
            ("Retarget", "Display", "2025-01-01", Decimal("99.99"), 5000, 12),
            ("Launch", "Video", "2025-01-02", Decimal("40.00"), 900, 2)]
    f = tmp_path / "Campaign report.csv"
    total = google_ads_export(f, rows)
    d = detect(f)
    assert (d.fmt, d.convention) == ("spend", "google_ads")
    report = load_files(con, [f])
    assert report.by_table()["spend"] == {"read": 4, "loaded": 4, "merged": 0, "updated": 0, "quarantined": 0}
    assert spend_total(con) == total
    by = dict(con.execute("SELECT channel, sum(spend) FROM spend GROUP BY 1").fetchall())
    assert by == {"paid_search": Decimal("1244.75"), "display": Decimal("139.99")}
    assert con.execute("SELECT sum(impressions) FROM spend").fetchone()[0] == sum(r[4] for r in rows)
    assert any("2 total line" in n for n in report.notes)


def test_meta_and_linkedin_exports_map_to_paid_social_with_their_currency(con, tmp_path):
    meta = tmp_path / "meta.csv"
    meta.write_text(_csv([
        ["Reporting starts", "Reporting ends", "Campaign name", "Ad set name", "Amount spent (USD)", "Impressions", "Link clicks"],
        ["2025-02-01", "2025-02-01", "Webinar promo", "set A", "100.10", "1000", "10"],
        ["2025-02-01", "2025-02-01", "Webinar promo", "set B", "50.05", "500", "5"],   # same key: adds up
        ["2025-02-01", "2025-02-03", "Retargeting", "set C", "100.00", "301", "7"],    # three days: spread
    ]))
    li = tmp_path / "linkedin.csv"
    li.write_text(_csv([
        ["Start Date (in UTC)", "Campaign Name", "Campaign Group Name", "Total Spent", "Impressions", "Clicks", "Currency"],
        ["2/1/2025", "ABM Q1", "ABM", "1,000.00", "20000", "90", "EUR"],
        ["2/1/2025", "ABM Q1", "ABM", "500.00", "10000", "40", "EUR"],
    ]))
    assert detect(meta).convention == "meta_ads" and detect(li).convention == "linkedin_ads"
    load_files(con, [meta, li])
    got = {tuple(r) for r in con.execute(
        "SELECT platform, channel, currency, sum(spend), sum(impressions), count(DISTINCT date) FROM spend GROUP BY ALL").fetchall()}
    assert got == {("meta_ads", "paid_social", "USD", Decimal("250.15"), 1801, 3),
                   ("linkedin_ads", "paid_social", "EUR", Decimal("1500.00"), 30000, 1)}
    spread = con.execute("SELECT date::VARCHAR, spend, impressions FROM spend WHERE campaign_id = 'Retargeting' ORDER BY 1").fetchall()
    assert spread == [("2025-02-01", Decimal("33.34"), 101), ("2025-02-02", Decimal("33.33"), 100),
                      ("2025-02-03", Decimal("33.33"), 100)]


def test_108_rows_sharing_keys_keep_all_money_and_reingest_changes_nothing(con, tmp_path):
    rows = [["date", "channel", "campaign", "ad_group", "spend"]]
    total = Decimal(0)
    for i in range(108):  # 90 distinct (date, channel, campaign) keys, 18 repeated
        k = i % 90
        amount = Decimal(i * 7 % 311) + Decimal("0.37")
        rows.append([f"2025-03-{k % 28 + 1:02d}", ["paid_search", "linkedin", "display"][k % 3], f"c{k // 28}", f"g{i}", amount])
        total += amount
    f = tmp_path / "spend.csv"
    f.write_text(_csv(rows))
    report = load_files(con, [f])
    assert report.by_table()["spend"]["loaded"] == 108
    assert con.execute("SELECT count(*) FROM spend").fetchone()[0] == 108
    assert spend_total(con) == total
    before = con.execute("SELECT * FROM spend ORDER BY ALL").fetchall()
    again = load_files(con, [f], force=True)
    assert again.by_table()["spend"]["loaded"] == 0
    assert con.execute("SELECT * FROM spend ORDER BY ALL").fetchall() == before


def test_linkedin_named_as_spend_channel_is_paid_social(con, tmp_path):
    f = tmp_path / "spend.csv"
    f.write_text("date,channel,campaign,spend\n2025-01-01,linkedin,c1,10\n2025-01-01,Google Ads,c2,5\n"
                 "2025-01-01,Meta,c3,4\n2025-01-01,Bing Ads,c4,3\n")
    load_files(con, [f])
    got = dict(con.execute("SELECT campaign_id, channel FROM spend").fetchall())
    assert got == {"c1": "paid_social", "c2": "paid_search", "c3": "paid_social", "c4": "paid_search"}


SPEND_NAMES = {
    "linkedin": "paid_social", "LinkedIn Ads": "paid_social", "LinkedIn Campaign Manager": "paid_social",
    "facebook": "paid_social", "Facebook Ads": "paid_social", "Meta": "paid_social", "Meta Ads": "paid_social",
    "Instagram": "paid_social", "Google": "paid_search", "Google Ads": "paid_search", "AdWords": "paid_search",
    "bing": "paid_search", "Bing Ads": "paid_search", "Microsoft": "paid_search", "Microsoft Advertising": "paid_search",
    "Microsoft Ads": "paid_search", "twitter": "paid_social", "X": "paid_social", "X Ads": "paid_social",
    "reddit": "paid_social", "Reddit Ads": "paid_social", "TikTok": "paid_social", "TikTok Ads": "paid_social",
    "Capterra": "paid_search", "G2": "paid_search", "G2 Crowd": "paid_search", "GetApp": "paid_search",
    "paid_social": "paid_social", "organic_social": "organic_social",  # a channel named as such stays itself
}


@pytest.mark.parametrize("name", list(SPEND_NAMES))
def test_ad_platform_name_as_spend_channel(con, tmp_path, name):
    f = tmp_path / "spend.csv"
    f.write_text(_csv([["date", "channel", "campaign", "spend"], ["2025-01-01", name, "c1", "10"]]))
    report = load_files(con, [f])
    assert con.execute("SELECT channel FROM spend").fetchall() == [(SPEND_NAMES[name],)]
    assert not report.other_channel


def test_a_later_export_replaces_its_period_of_the_same_platform_and_account(con, tmp_path):
    jan = tmp_path / "jan.csv"
    google_ads_export(jan, [("Brand", "Search", f"2025-01-{d:02d}", Decimal("10.00"), 10, 1) for d in range(1, 32)])
    other = tmp_path / "other_account.csv"
    google_ads_export(other, [("Brand", "Search", "2025-01-20", Decimal("7.00"), 1, 1)], account="999-999-9999")
    load_files(con, [jan, other])
    assert spend_total(con) == Decimal("317.00")
    # a re-export of 15..31 January with corrected figures: replaces those days of the first file only
    late = tmp_path / "late.csv"
    fixed = google_ads_export(late, [("Brand", "Search", f"2025-01-{d:02d}", Decimal("12.00"), 10, 1) for d in range(15, 32)])
    report = load_files(con, [late])
    assert spend_total(con, "ad_account = '123-456-7890'") == Decimal("140.00") + fixed
    assert spend_total(con, "ad_account = '999-999-9999'") == Decimal("7.00")
    assert any("replaced 17 spend row" in n for n in report.notes)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 5), st.sampled_from(["paid_search", "display", "email"]),
                          st.sampled_from(["a", "b", ""]), st.integers(0, 10**7)), min_size=1, max_size=40),
       st.integers(1, 3))
def test_spend_total_equals_the_file_total_for_any_rows(tmp_path_factory, rows, days):
    """Whatever keys repeat and however many days a row covers, the store holds the file's money."""
    tmp = tmp_path_factory.mktemp("p")
    f = tmp / "meta.csv"
    body = [["Reporting starts", "Reporting ends", "Campaign name", "Amount spent (USD)", "Impressions", "Link clicks"]]
    total = Decimal(0)
    for day, _, campaign, cents in rows:
        amount = Decimal(cents) / 100
        body.append([f"2025-04-{day:02d}", f"2025-04-{day + days - 1:02d}", campaign, f"{amount:.2f}", cents % 997, cents % 13])
        total += amount
    f.write_text(_csv(body))
    c = connect(tmp / "s.duckdb")
    try:
        load_files(c, [f])
        assert spend_total(c) == total
        assert c.execute("SELECT sum(impressions), sum(clicks) FROM spend").fetchone() == (
            sum(r[3] % 997 for r in rows), sum(r[3] % 13 for r in rows))
    finally:
        c.close()


def test_google_ads_xlsx_download_loads_the_same_money(con, tmp_path):
    """Google Ads' "Excel .xlsx" download: the same title rows and "Total:" rows, typed cells."""
    import datetime as dt

    import openpyxl

    rows = [("Brand", "Search", dt.date(2025, 5, d), Decimal(f"{d * 13}.{d:02d}"), 100 * d, d) for d in range(1, 11)]
    rows += [("Brand", "Search", dt.date(2025, 5, 1), Decimal("5.55"), 10, 1)]  # a second ad group, same key
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Campaign report"])
    ws.append(["May 1, 2025 - May 10, 2025"])
    ws.append(["Campaign", "Campaign type", "Day", "Currency code", "Cost", "Impr.", "Clicks"])
    for campaign, ctype, day, cost, impr, clicks in rows:
        ws.append([campaign, ctype, day, "USD", float(cost), impr, clicks])
    total = sum(r[3] for r in rows)
    ws.append(["Total: Account", None, None, "USD", float(total), None, None])
    f = tmp_path / "Campaign report.xlsx"
    wb.save(f)
    report = load_files(con, [f])
    assert report.by_table()["spend"]["loaded"] == len(rows)
    assert spend_total(con) == total
    assert con.execute("SELECT DISTINCT platform, channel FROM spend").fetchall() == [("google_ads", "paid_search")]


def test_a_later_revline_spend_file_replaces_only_the_channels_it_names(con, tmp_path):
    first = tmp_path / "spend_jan.csv"
    first.write_text(_csv([["date", "channel", "campaign", "spend"],
                           *[[f"2025-01-{d:02d}", ch, "c", "10"] for d in range(1, 32) for ch in ("paid_search", "email")]]))
    load_files(con, [first])
    fix = tmp_path / "spend_fix.csv"
    fix.write_text(_csv([["date", "channel", "campaign", "spend"], *[[f"2025-01-{d:02d}", "paid_search", "c", "3"] for d in (15, 31)]]))
    report = load_files(con, [fix])
    assert spend_total(con, "channel = 'email'") == Decimal(310)
    assert spend_total(con, "channel = 'paid_search'") == Decimal(10 * 14 + 3 * 2)
    assert any("replaced 17 spend row" in n for n in report.notes)
