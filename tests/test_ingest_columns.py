"""Issue #20 D7: a file's columns are checked against its object's one declaration (the field
specs): a missing required column fails the file by name, a missing optional one is named in
the summary, duplicate headers and the same Id twice are reported, never silently resolved."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from revline.cli import app
from revline.ingest import load_files
from revline.ingest.validate import ColumnsError
from revline.store import connect

ACCOUNTS = "Id,Name,BillingCountry\n001A,Acme,DE\n001B,Globex,FR\n"
OPP_COLS = ["Id", "AccountId", "Name", "StageName", "Amount", "CurrencyIsoCode", "Probability", "CreatedDate", "CloseDate"]
OPP_ROWS = [
    ["006A", "001A", "Deal A", "Closed Won", "1000.00", "USD", "100", "2026-01-05", "2026-02-01"],
    ["006B", "001B", "Deal B", "Prospecting", "", "USD", "10", "2026-01-06", ""],
]


def _opps(drop: tuple[str, ...] = (), rows=OPP_ROWS, cols=OPP_COLS) -> str:
    keep = [i for i, c in enumerate(cols) if c not in drop]
    return "\n".join(",".join(r[i] for i in keep) for r in [cols, *rows]) + "\n"


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.duckdb"
    con = connect(path)
    (tmp_path / "Account.csv").write_text(ACCOUNTS)
    load_files(con, [tmp_path / "Account.csv"])
    yield path, con
    con.close()


def _state(con) -> tuple:
    return con.execute(
        "SELECT (SELECT count(*) FROM opportunities), (SELECT count(*) FROM stage_events), "
        "(SELECT count(*) FROM quarantine), (SELECT count(*) FROM ingest_log)"
    ).fetchone()


@pytest.mark.parametrize("missing", [("Amount",), ("AccountId",), ("Amount", "AccountId"), ("StageName",)])
def test_missing_required_column_fails_the_file_by_name(store, tmp_path, missing):
    path, con = store
    before = _state(con)
    f = tmp_path / "Opportunity.csv"
    f.write_text(_opps(drop=missing))
    with pytest.raises(ColumnsError) as err:
        load_files(con, [f])
    for col in missing:
        assert col in str(err.value)
    assert str(f) in str(err.value)
    assert _state(con) == before  # nothing half-loaded


def test_missing_required_column_cli_exit_1_one_line(store, tmp_path):
    path, con = store
    con.close()
    f = tmp_path / "Opportunity.csv"
    f.write_text(_opps(drop=("Amount",)))
    res = CliRunner().invoke(app, ["ingest", str(f), "--db", str(path)])
    assert res.exit_code == 1
    [line] = [x for x in res.stderr.splitlines() if x.strip()]
    assert "required column missing: Amount (amount)" in line and str(f) in line


def test_missing_required_column_fails_the_whole_call_with_other_files(store, tmp_path):
    path, con = store
    before = _state(con)
    d = tmp_path / "exports"
    d.mkdir()
    (d / "Campaign.csv").write_text("Id,Name,Type\n701A,Spring,Webinar\n")
    (d / "Opportunity.csv").write_text(_opps(drop=("AccountId",)))
    with pytest.raises(ColumnsError, match="AccountId"):
        load_files(con, [d])
    assert _state(con) == before
    assert con.execute("SELECT count(*) FROM campaigns").fetchone() == (0,)


def test_missing_optional_column_is_named_in_the_summary(store, tmp_path):
    path, con = store
    f = tmp_path / "Opportunity.csv"
    f.write_text(_opps(drop=("Probability", "CurrencyIsoCode")))
    report = load_files(con, [f])
    assert report.by_table()["opportunities"]["loaded"] == 2
    [note] = [n for n in report.notes if "optional column" in n]
    assert str(f) in note and "Probability (probability)" in note and "CurrencyIsoCode (currency)" in note
    assert "Amount" not in note


def test_hubspot_deals_without_company_column_load_and_say_so(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    f = tmp_path / "deals.csv"
    f.write_text("hs_object_id,dealname,dealstage,amount,createdate\n7001,A,closedwon,100,2026-01-01T00:00:00Z\n")
    try:
        report = load_files(con, [f])
        assert report.by_table()["opportunities"]["loaded"] == 1
        assert any("(account_id)" in n for n in report.notes)
    finally:
        con.close()


def test_same_id_twice_in_one_file_is_quarantined_with_the_row_loaded(store, tmp_path):
    path, con = store
    rows = [*OPP_ROWS, ["006A", "001A", "Deal A again", "Closed Won", "2000.00", "USD", "100", "2026-01-05", "2026-02-01"]]
    f = tmp_path / "Opportunity.csv"
    f.write_text(_opps(rows=rows))
    report = load_files(con, [f])
    c = report.by_table()["opportunities"]
    assert c == {"read": 3, "loaded": 2, "merged": 0, "updated": 0, "quarantined": 1}
    assert c["read"] == c["loaded"] + c["updated"] + c["quarantined"]
    [(row, field, reason)] = con.execute(
        "SELECT row_number, field, reason FROM quarantine WHERE table_name = 'opportunities'"
    ).fetchall()
    assert (row, field) == (1, "Id") and "duplicate Id 006A" in reason and "row 3" in reason
    assert con.execute("SELECT name, amount FROM opportunities WHERE opportunity_id = '006A'").fetchone() == (
        "Deal A again", 2000)


def test_same_id_three_times_reports_every_earlier_row(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    f = tmp_path / "Account.csv"
    f.write_text("Id,Name,BillingCountry\n001A,one,DE\n001B,b,FR\n001A,two,DE\n001A,three,DE\n")
    try:
        load_files(con, [f])
        rows = con.execute("SELECT row_number FROM quarantine ORDER BY 1").fetchall()
        assert rows == [(1,), (3,)]
        assert con.execute("SELECT name FROM accounts WHERE account_id = '001A'").fetchone() == ("three",)
    finally:
        con.close()


def test_duplicate_header_of_a_read_column_fails_the_file(store, tmp_path):
    path, con = store
    before = _state(con)
    cols = [*OPP_COLS, "amount"]  # DuckDB compares names case-blind: a second Amount
    rows = [[*r, "9"] for r in OPP_ROWS]
    f = tmp_path / "Opportunity.csv"
    f.write_text(_opps(rows=rows, cols=cols))
    with pytest.raises(ColumnsError, match=r"header named twice: Amount \(columns Amount, amount_1\)"):
        load_files(con, [f])
    assert _state(con) == before


def test_duplicate_header_of_an_unread_column_is_a_summary_line(store, tmp_path):
    path, con = store
    cols = [*OPP_COLS, "Notes", "Notes"]
    rows = [[*r, "x", "y"] for r in OPP_ROWS]
    f = tmp_path / "Opportunity.csv"
    f.write_text(_opps(rows=rows, cols=cols))
    report = load_files(con, [f])
    assert report.by_table()["opportunities"]["loaded"] == 2
    [note] = [n for n in report.notes if "named twice" in n]
    assert note.startswith(f"{f}: row 1 (header), field Notes: header named twice")


def test_json_lines_duplicate_keys(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    f = tmp_path / "accounts_dump.jsonl"
    f.write_text(
        json.dumps({"Id": "001A", "Name": "Acme", "BillingCountry": "DE"}) + "\n"
        + '{"Id": "001B", "Id": "001C", "Name": "two ids", "BillingCountry": "FR"}\n'
    )
    twins = tmp_path / "accounts_twins.jsonl"
    twins.write_text(json.dumps({"Id": "001D", "Name": "Initech", "BillingCountry": "US", "name": "twin"}) + "\n")
    try:
        report = load_files(con, [f])
        assert report.by_table()["accounts"] == {"read": 2, "loaded": 1, "merged": 0, "updated": 0, "quarantined": 1}
        assert con.execute("SELECT row_number, reason FROM quarantine").fetchall() == [
            (2, "broken line: a key appears twice in the JSON object")]
        # Name and name: DuckDB's columns are case-blind, and which one is the name is a guess
        with pytest.raises(ColumnsError, match=r"header named twice: Name \(columns Name, Name_1\)"):
            load_files(con, [twins])
    finally:
        con.close()


def test_xlsx_duplicate_header_is_reported_like_a_csv(store, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    path, con = store
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Opps"
    ws.append([*OPP_COLS, "Amount"])
    for r in OPP_ROWS:
        ws.append([*r, "9"])
    f = tmp_path / "Opportunity.xlsx"
    wb.save(f)
    with pytest.raises(ColumnsError, match=r"header named twice: Amount \(columns Amount, Amount_2\)"):
        load_files(con, [f])
