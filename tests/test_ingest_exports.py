"""Real-shaped exports of one opportunity set (issue 12 items 1-3, 7): API names, a Salesforce
report export (title, totals and footer lines, "$1,054.00", m/d/yyyy), the same as .xlsx, a
European ';' export ("1.054,00 €", d.m.yyyy) and the Maven CRM shape. Every shape must load
with the won count and won revenue of the source."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from revline.ingest import DetectionError, detect, load_files
from revline.ingest.validate import ColumnsError
from revline.store import connect

# the accounts the API export knows; the report names some of them differently
ACCOUNTS = [("001A", "Acme Inc"), ("001B", "Globex"), ("001C", "Initech LLC"), ("001D", "Umbrella Corporation")]
# name as the report writes it -> how it must be matched
REPORT_NAMES = {
    "Acme Inc": ("001A", "exact"), "Globex": ("001B", "exact"),
    "INITECH": ("001C", "normalised"), "Umbrella Corp.": ("001D", "normalised"),
    "Hooli GmbH": (None, "created"), "Stark Industries": (None, "created"),
}
STAGES = ["Closed Won", "Closed Lost", "Prospecting", "Negotiation/Review"]
TITLE = [["Opportunity Pipeline"], ["Filtered By:"], ["  Close Date equals THIS FISCAL YEAR"], []]
FOOTER = [[], ["Grand Totals (60 records)"], ["Confidential Information - Do Not Distribute"],
          ["Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."]]
LABELS = ["Opportunity ID", "Opportunity Name", "Account Name", "Stage", "Amount", "Close Date", "Created Date",
          "Type", "Lead Source", "Probability (%)", "Opportunity Owner", "Fiscal Period"]


@dataclass
class Opp:
    id: str
    name: str
    account: str  # as the report writes it
    stage: str
    amount: Decimal
    close: date
    created: datetime


def opportunities(n: int = 60) -> list[Opp]:
    rng = random.Random(12)
    out = []
    for i in range(n):
        close = date(2017, 1, 1) + timedelta(days=rng.randrange(700))
        if i == 0:
            close = date(2017, 3, 25)  # a day over 12: the column's order is visible
        created = datetime.combine(close, datetime.min.time()) - timedelta(days=rng.randrange(20, 200),
                                                                          minutes=rng.randrange(1440))
        amount = Decimal(rng.randrange(100, 25_000_000)) / 100
        out.append(Opp(f"006{i:015d}", f"Deal {i}", list(REPORT_NAMES)[i % len(REPORT_NAMES)],
                       STAGES[rng.randrange(len(STAGES))], amount, close, created))
    return out


def won(opps: list[Opp]) -> tuple[int, Decimal]:
    w = [o for o in opps if o.stage == "Closed Won"]
    return len(w), sum((o.amount for o in w), Decimal(0))


def us_money(x: Decimal) -> str:
    return f"${x:,.2f}"


def de_money(x: Decimal) -> str:
    return f"{x:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") + " €"


def us_datetime(t: datetime) -> str:
    return f"{t.month}/{t.day}/{t.year} {int(t.strftime('%I'))}:{t:%M} {t:%p}"


def _write(path: Path, rows: list[list], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=delimiter, quoting=csv.QUOTE_ALL).writerows(rows)
    return path


def _report_row(o: Opp) -> list:
    return [o.id, o.name, o.account, o.stage, us_money(o.amount), f"{o.close.month}/{o.close.day}/{o.close.year}",
            us_datetime(o.created), "New Business", "Web", "100%" if o.stage == "Closed Won" else "20%", "Ann Lee",
            f"Q{(o.close.month - 1) // 3 + 1}-{o.close.year}"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """The fixture folder: one opportunity set in every shape, plus the accounts."""
    d = tmp_path_factory.mktemp("exports")
    opps = opportunities()
    files = {"opps": opps}
    files["accounts"] = _write(d / "Account.csv", [["Id", "Name", "Website"], *[[i, n, ""] for i, n in ACCOUNTS]])
    acct_id = {name: i for name, (i, _) in REPORT_NAMES.items()}
    files["api"] = _write(d / "Opportunity.csv", [
        ["Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "CreatedDate", "IsWon", "IsClosed"],
        *[[o.id, acct_id[o.account] or "001A", o.name, o.stage, str(o.amount), o.close.isoformat(),
           o.created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), str(o.stage == "Closed Won").lower(),
           str(o.stage.startswith("Closed")).lower()] for o in opps]])
    # what Salesforce names a report export: report<epoch ms>.csv
    files["report"] = _write(d / "report1712345678901.csv",
                             [*TITLE, LABELS, *[_report_row(o) for o in opps], *FOOTER])
    files["european"] = _write(d / "opportunites_export.csv", [
        ["Opportunity ID", "Opportunity Name", "Account Name", "Stage", "Amount", "Close Date", "Created Date"],
        *[[o.id, o.name, o.account, o.stage, de_money(o.amount), f"{o.close:%d.%m.%Y}", f"{o.created:%d.%m.%Y %H:%M}"]
          for o in opps]], delimiter=";")
    files["xlsx"] = _xlsx(d / "Opportunity Pipeline-2025-06-01-10-00-00.xlsx", opps)
    return files


def _xlsx(path: Path, opps: list[Opp]) -> Path:
    """A formatted report as Excel: title rows, an empty first column, typed cells with number
    formats, totals and footer rows below, and a second sheet that is no table."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Opportunity Pipeline"
    for row in TITLE:
        ws.append([None, *row])
    ws.append([None, *LABELS[:7]])
    for o in opps:
        ws.append([None, o.id, o.name, o.account, o.stage, float(o.amount), o.close, o.created])
        ws.cell(ws.max_row, 6).number_format = '"$"#,##0.00'
        ws.cell(ws.max_row, 7).number_format = "m/d/yyyy"
    ws.append([])
    ws.append([None, "Grand Totals (60 records)", None, None, None, float(sum(o.amount for o in opps))])
    ws.append([None, "Confidential Information - Do Not Distribute"])
    notes = wb.create_sheet("Report Notes")
    notes.append(["Generated for the board"])
    wb.save(path)
    return path


def _store(tmp_path, name="s.duckdb"):
    return connect(tmp_path / name)


def _won_in_store(con) -> tuple[int, Decimal]:
    n, s = con.execute("SELECT count(*), coalesce(sum(amount), 0) FROM opportunities WHERE is_won").fetchone()
    return n, Decimal(s)


def test_api_and_report_shapes_load_the_source_won_count_and_revenue(exports, tmp_path):
    source = won(exports["opps"])
    assert source[0] > 5
    for shape, kw in [("api", {}), ("report", {"fmt": "salesforce"}), ("european", {"fmt": "salesforce"})]:
        con = _store(tmp_path, f"{shape}.duckdb")
        report = load_files(con, [exports["accounts"], exports[shape]], **kw)
        t = report.by_table()["opportunities"]
        assert t == {"read": 60, "loaded": 60, "merged": 0, "updated": 0, "quarantined": 0}, shape
        assert _won_in_store(con) == source, shape
        # the amounts' own currency when there is no currency column ('1.054,00 €')
        assert con.execute("SELECT list(DISTINCT currency) FROM opportunities").fetchone()[0] == (
            ["EUR"] if shape == "european" else ["USD"]), shape
        assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
        con.close()


def test_report_export_values_title_footer_and_accounts_by_name(exports, tmp_path):
    con = _store(tmp_path)
    report = load_files(con, [exports["accounts"], exports["report"]], fmt="salesforce")
    # title lines (the blank one too) above the header; below it, the footer's text lines (the
    # reader skips blank lines there, as everywhere)
    assert report.non_data_lines[str(exports["report"])] == len(TITLE) + len(FOOTER) - 1
    # each distinct name once: 2 exact, 2 normalised, 2 new accounts
    assert dict(report.account_names) == {"exact": 2, "normalised": 2, "created": 2}
    assert con.execute("SELECT count(*) FROM accounts").fetchone()[0] == len(ACCOUNTS) + 2
    opps = {o.id: o for o in exports["opps"]}
    rows = con.execute("SELECT opportunity_id, account_id, amount, created_at, closed_at, probability, is_closed "
                       "FROM opportunities").fetchall()
    for oid, acct, amount, created, closed_at, prob, is_closed in rows:
        o = opps[oid]
        want = REPORT_NAMES[o.account][0]
        if want:
            assert acct == want
        else:
            assert acct.startswith("name:")
        assert amount == o.amount
        assert created == o.created.replace(second=0)
        assert closed_at == (datetime.combine(o.close, datetime.min.time()) if is_closed else None)
        assert prob == (1.0 if o.stage == "Closed Won" else 0.2)
    # the same names in a later export land on the same accounts
    again = load_files(con, [exports["report"]], fmt="salesforce", force=True)
    assert dict(again.account_names) == {"exact": 4, "normalised": 2}


def test_report_export_loads_whatever_its_name_and_object_can_be_forced(exports, tmp_path):
    assert detect(exports["report"], "salesforce").obj == "Opportunity"
    assert detect(exports["report"]).obj == "Opportunity"
    odd = _write(tmp_path / "data.csv", [["Opportunity ID", "Stage", "Created Date"], ["006X", "Closed Won", "2025-01-02"]])
    assert detect(odd, "salesforce").obj == "OpportunityHistory"
    assert detect(odd, "salesforce", obj="Opportunity").obj == "Opportunity"
    con = _store(tmp_path)
    # forced or not, an Opportunity file needs its Amount and account columns (issue #20 D7)
    with pytest.raises(ColumnsError, match=r"AccountId \(account_id\) or Account Name \(account_name\), Amount"):
        load_files(con, [odd], fmt="salesforce", obj="opportunity")
    odd = _write(tmp_path / "data2.csv", [["Opportunity ID", "Stage", "Created Date", "Amount", "Account ID"],
                                          ["006X", "Closed Won", "2025-01-02", "10", ""]])
    load_files(con, [odd], fmt="salesforce", obj="opportunity")
    assert con.execute("SELECT opportunity_id, is_won FROM opportunities").fetchall() == [("006X", True)]
    unknown = _write(tmp_path / "thing.csv", [["Foo", "Bar", "Baz"], ["1", "2", "3"]])
    with pytest.raises(DetectionError, match=r"pass --object NAME\. Headers that decide it: Opportunity: StageName, or Stage with "):
        detect(unknown, "salesforce")
    with pytest.raises(DetectionError, match="unknown --object 'Widget'"):
        detect(unknown, "salesforce", obj="Widget")


def test_xlsx_report_loads_every_sheet_it_recognises(exports, tmp_path):
    con = _store(tmp_path)
    report = load_files(con, [exports["accounts"], exports["xlsx"]])
    assert _won_in_store(con) == won(exports["opps"])
    assert report.by_table()["opportunities"] == {"read": 60, "loaded": 60, "merged": 0, "updated": 0, "quarantined": 0}
    shown = f"{exports['xlsx']}[Opportunity Pipeline]"
    assert report.non_data_lines[shown] == len(TITLE) + 2  # title rows; totals and footer rows
    assert any("[Report Notes]" in u for u in report.unrecognised)
    assert con.execute("SELECT count(*) FROM ingest_log WHERE source = ?", [shown]).fetchone()[0] >= 1
    # --sheet: only that sheet; one that is not there is named with the sheets there are
    con2 = _store(tmp_path, "t.duckdb")
    load_files(con2, [exports["accounts"], exports["xlsx"]], sheet="Opportunity Pipeline")
    assert _won_in_store(con2) == won(exports["opps"])
    with pytest.raises(ValueError, match=r"no sheet 'Deals'.*Opportunity Pipeline"):
        load_files(con2, [exports["xlsx"]], sheet="Deals")


MAVEN = [
    ["opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date", "close_value"],
    ["1C1I7A6R", "Moses Frase", "GTX Plus Basic", "Cancity", "Won", "2016-10-20", "2017-03-01", "1054"],
    ["Z063OYW0", "Darcel Schlecht", "GTXPro", "Isdom", "Won", "2016-10-25", "2017-03-11", "4514"],
    ["EC4QE1BX", "Darcel Schlecht", "MG Special", "Cancity", "Won", "2016-10-25", "2017-03-07", "50"],
    ["MV1LWRNH", "Moses Frase", "GTX Basic", "Codehow", "Lost", "2016-10-25", "2017-03-09", "0"],
    ["PE84CX4O", "Zane Levy", "GTX Basic", "Hatfan", "Engaging", "2016-10-25", "", ""],
    ["ZNBS69V1", "Anna Snelling", "MG Special", "Ron-tech", "Prospecting", "", "", ""],
]


def test_maven_crm_shape_loads_through_the_alias_map(tmp_path):
    """The public Maven CRM data set's sales_pipeline.csv: loads as opportunities; a deal never
    engaged has no creation date and is quarantined saying which column is missing."""
    f = _write(tmp_path / "sales_pipeline.csv", MAVEN)
    assert detect(f).obj == "Opportunity"
    con = _store(tmp_path)
    report = load_files(con, [f])
    assert report.by_table()["opportunities"] == {"read": 6, "loaded": 5, "merged": 0, "updated": 0, "quarantined": 1}
    assert _won_in_store(con) == (3, Decimal("5618"))
    assert con.execute("SELECT field, reason FROM quarantine").fetchall() == [("engage_date", "missing required field")]
    assert dict(report.account_names) == {"created": 4}


def test_workbook_sheets_named_after_their_objects(tmp_path):
    """Data Loader-style sheets whose headers alone do not say the object (Id, Name): the sheet
    name does; accounts load before the opportunities that name them."""
    import openpyxl

    wb = openpyxl.Workbook()
    opp = wb.active
    opp.title = "Opportunity"
    opp.append(["Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "CreatedDate"])
    opp.append(["006A", "001A", "Deal", "Closed Won", 1054.5, date(2025, 3, 1), datetime(2025, 1, 2, 10, 0)])
    acc = wb.create_sheet("Account")
    acc.append(["Id", "Name", "Website"])
    acc.append(["001A", "Acme Inc", "acme.com"])
    path = tmp_path / "crm.xlsx"
    wb.save(path)
    con = _store(tmp_path)
    report = load_files(con, [path])
    t = report.by_table()
    assert t["accounts"]["loaded"] == 1 and t["opportunities"]["loaded"] == 1
    assert con.execute("SELECT account_id, amount, closed_at FROM opportunities").fetchall() == [
        ("001A", Decimal("1054.50"), datetime(2025, 3, 1))]


def test_hubspot_export_with_any_name_csv_and_xlsx(tmp_path):
    """--format hubspot tells the object from the headers, whatever the file is called."""
    import openpyxl

    rows = [["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Create Date"],
            ["7001", "Acme deal", "Closed Won", "$25,000.50", "2025-02-13 10:00", "2025-01-06 09:00"],
            ["7002", "Lone deal", "Closed Lost", "$1,000.00", "2025-02-14 10:00", "2025-01-07 09:00"]]
    f = _write(tmp_path / "export-8812.csv", rows)
    assert detect(f, "hubspot").obj == "deals"
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    book = tmp_path / "export-8812.xlsx"
    wb.save(book)
    for path in (f, book):
        con = _store(tmp_path, f"{path.suffix[1:]}.duckdb")
        load_files(con, [path], fmt="hubspot")
        assert _won_in_store(con) == (1, Decimal("25000.50")), path
        con.close()


@pytest.mark.parametrize("headers, obj", [
    (["Lead ID", "First Name", "Last Name", "Email", "Company / Account", "Lead Status", "Lead Source", "Created Date"], "Lead"),
    (["Contact ID", "Account Name", "Email", "First Name", "Last Name", "Created Date"], "Contact"),
    (["Account ID", "Account Name", "Billing Country", "Industry", "Employees", "Created Date"], "Account"),
    (["Campaign ID", "Campaign Name", "Type", "Start Date", "Budgeted Cost in Campaign"], "Campaign"),
    (["Campaign Member ID", "Campaign ID", "Lead ID", "Contact ID", "Member Status", "Responded", "Created Date"],
     "CampaignMember"),
    (["Id", "CampaignId", "ContactId", "LeadId", "Email", "Status", "HasResponded", "CreatedDate"], "CampaignMember"),
    (["Activity ID", "Subject", "Name ID", "Related To ID", "Due Date", "Task Subtype"], "Task"),
    (["Event ID", "Subject", "Name ID", "Start Date Time", "Event Subtype"], "Event"),
    (["Opportunity ID", "From Stage", "To Stage", "Edit Date"], "OpportunityHistory"),
])
def test_report_labels_tell_every_object(tmp_path, headers, obj):
    assert detect(tmp_path / "report1712345678901.csv", "salesforce", headers=headers).obj == obj


def test_lead_and_contact_report_exports_load(tmp_path):
    accounts = _write(tmp_path / "Account.csv", [["Id", "Name", "Website"], ["001A", "Acme Inc", "acme.com"]])
    leads = _write(tmp_path / "leads_report.csv", [
        ["Lead ID", "First Name", "Last Name", "Email", "Company / Account", "Lead Status", "Lead Source",
         "Converted", "Created Date"],
        ["00Q1", "Ann", "Lee", "ann@acme.com", "Acme", "Open", "Web", "0", "3/14/2025 9:05 AM"],
        ["00Q2", "Bob", "Roe", "bob@x.com", "X", "Open", "Partner", "1", "3/2/2025 1:00 PM"],
    ])
    contacts = _write(tmp_path / "contacts_report.csv", [
        ["Contact ID", "Account Name", "Email", "First Name", "Last Name", "Created Date"],
        ["0031", "ACME, Inc.", "cy@acme.com", "Cy", "Dee", "14.03.2025"],
    ])
    con = _store(tmp_path)
    report = load_files(con, [accounts, leads, contacts], fmt="salesforce")
    t = report.by_table()["people"]
    assert t == {"read": 3, "loaded": 3, "merged": 0, "updated": 0, "quarantined": 0}
    assert con.execute("SELECT person_id, account_id, created_at FROM people ORDER BY 1").fetchall() == [
        ("0031", "001A", datetime(2025, 3, 14)), ("00Q1", None, datetime(2025, 3, 14, 9, 5)),
        ("00Q2", None, datetime(2025, 3, 2, 13, 0))]
