"""Issue #23: deals without a type, extra columns kept, owner/product dimensions, lead from Create Date.

Every expected figure is computed from the rows the test writes."""

from __future__ import annotations

import json

import pytest

from crm_exports import write
from revline.ingest import load_files
from revline.ingest.extras import parse_dimensions
from revline.store import connect
from revline.store.dimensions import available_dimensions, check_name, dimension_sql

# Deal ID, Deal Name, Deal Stage, Amount, Create Date, Close Date, Deal owner, Product, Region
DEALS = [
    ("101", "A", "closedwon", "1000", "2018-01-02 10:30", "2018-01-02", "Ann", "Basic", "North"),
    ("102", "B", "closedwon", "2500", "2018-01-05 09:00", "2018-02-01", "Bob", "Pro", "South"),
    ("103", "C", "closedlost", "700", "2018-01-06 09:00", "2018-02-03", "Ann", "Pro", ""),
    ("104", "D", "closedwon", "400", "2018-02-06 09:00", "2018-03-03", "Ann", "", "North"),
    ("105", "E", "appointmentscheduled", "900", "2018-02-07 09:00", "", "", "Basic", "West"),
]
HEADER = ["Deal ID", "Deal Name", "Deal Stage", "Amount", "Create Date", "Close Date", "Deal owner", "Product", "Region"]


@pytest.fixture
def deals_file(tmp_path):
    return write(tmp_path / "hubspot-deals.csv", HEADER, DEALS)


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "s.duckdb")
    yield c
    c.close()


def test_deals_without_type_default_to_new_business_and_are_counted(con, deals_file):
    report = load_files(con, [deals_file], fmt="hubspot")
    assert report.missing_types == len(DEALS)
    rows = con.execute("SELECT revenue_type, type_defaulted, count(*) FROM opportunities GROUP BY ALL").fetchall()
    assert rows == [("new_business", True, len(DEALS))]
    text = " ".join(report.notes) + _render(report)
    assert f"{len(DEALS)} opportunities without a deal type" in text


def test_unknown_type_defaults_but_a_type_mapped_to_none_stays_none(con, tmp_path):
    f = write(tmp_path / "deals.csv", ["Deal ID", "Deal Stage", "Amount", "Create Date", "Deal Type"],
              [("1", "closedwon", "10", "2018-01-01", "Partner Resale"), ("2", "closedwon", "20", "2018-01-01", "Internal"),
               ("3", "closedwon", "30", "2018-01-01", "Renewal")])
    report = load_files(con, [f], fmt="hubspot", type_map={"Internal": None})
    assert report.unmapped_types == {"Partner Resale": 1}
    got = dict(con.execute("SELECT opportunity_id, revenue_type FROM opportunities").fetchall())
    assert got == {"1": "new_business", "2": None, "3": "renewal"}


def test_extra_columns_kept_and_owner_product_promoted(con, deals_file):
    report = load_files(con, [deals_file], fmt="hubspot")
    extras = report.extra_columns[str(deals_file)]
    assert set(extras) == {"Deal owner", "Product", "Region"}
    assert report.dimensions[str(deals_file)] == {"owner": "Deal owner", "product": "Product"}
    stored = {r[0]: (json.loads(r[1]) if r[1] else None, json.loads(r[2]) if r[2] else None)
              for r in con.execute("SELECT opportunity_id, attributes, dimensions FROM opportunities").fetchall()}
    for deal in DEALS:
        attrs, dims = stored[deal[0]]
        expect = {h: v for h, v in zip(HEADER[6:], deal[6:]) if v}
        assert (attrs or {}) == expect
        assert (dims or {}) == {k: v for k, v in (("owner", deal[6]), ("product", deal[7])) if v}
    assert available_dimensions(con) == ["owner", "product"]
    by_owner = dict(con.execute(
        f"SELECT {dimension_sql('owner', label_missing=True)}, sum(amount) FROM opportunities o GROUP BY 1").fetchall())
    expect: dict[str, float] = {}
    for d in DEALS:
        expect[d[6] or "(none)"] = expect.get(d[6] or "(none)", 0) + float(d[3])
    assert {k: float(v) for k, v in by_owner.items()} == expect


def test_dimension_option_promotes_a_column_also_on_stored_rows(con, deals_file):
    load_files(con, [deals_file], fmt="hubspot")
    report = load_files(con, [deals_file], fmt="hubspot", dimensions=["region=Region"])
    assert report.skipped  # same file: not read again, the region still comes from the kept attributes
    got = dict(con.execute(f"SELECT opportunity_id, {dimension_sql('region')} FROM opportunities o").fetchall())
    assert got == {d[0]: (d[8] or None) for d in DEALS}


def test_newer_export_merges_attributes(con, deals_file, tmp_path):
    load_files(con, [deals_file], fmt="hubspot")
    f2 = write(tmp_path / "deals2.csv", ["Deal ID", "Deal Stage", "Amount", "Create Date", "Forecast category"],
               [("101", "closedwon", "1000", "2018-01-02 10:30", "Commit")])
    load_files(con, [f2], fmt="hubspot")
    attrs = json.loads(con.execute("SELECT attributes FROM opportunities WHERE opportunity_id = '101'").fetchone()[0])
    assert attrs == {"Deal owner": "Ann", "Product": "Basic", "Region": "North", "Forecast category": "Commit"}


def test_dimension_names_are_checked():
    with pytest.raises(ValueError, match="dimension name"):
        check_name("owner'); DROP TABLE x; --")
    with pytest.raises(ValueError, match="name=Header"):
        parse_dimensions(["owner"])
    assert parse_dimensions(["owner=OwnerId"])["owner"] == ["OwnerId"]


def test_hubspot_contacts_lead_stage_from_create_date(con, tmp_path):
    f = write(tmp_path / "hubspot-contacts.csv", ["Record ID", "Email", "Create Date", "Became a Lead Date", "Contact owner"],
              [("1", "a@x.com", "2018-01-01 10:00", "2018-01-03 10:00", "Ann"), ("2", "b@x.com", "2018-01-02 11:00", "", "Bob")])
    report = load_files(con, [f], fmt="hubspot")
    got = dict(con.execute("SELECT object_id, entered_at::VARCHAR FROM stage_events WHERE stage = 'lead'").fetchall())
    assert got == {"1": "2018-01-03 10:00:00", "2": "2018-01-02 11:00:00"}
    assert any("1 contact(s) without a lead date" in n and "Create Date" in n for n in report.notes)
    assert con.execute(f"SELECT {dimension_sql('owner', 'p')} FROM people p WHERE person_id = '2'").fetchone() == ("Bob",)


def test_migrated_store_has_the_columns(tmp_path):
    con = connect(tmp_path / "m.duckdb")
    cols = {r[0] for r in con.execute("DESCRIBE opportunities").fetchall()}
    assert {"attributes", "dimensions", "type_defaulted"} <= cols
    assert con.execute("SELECT count(*) FROM fx_rates").fetchone() == (0,)
    con.close()


def _render(report) -> str:
    from rich.console import Console

    c = Console(width=300, record=True, file=open("/dev/null", "w"))
    c.print(report)
    return c.export_text()




def _hubspot_company(folder):
    """Companies, contacts with an original source, and the DEALS (no Deal Type) tied to companies."""
    folder.mkdir()
    write(folder / "hubspot-companies.csv", ["Record ID", "Company name", "Company Domain Name", "Create Date"],
          [("C1", "Acme", "acme.com", "2017-12-01"), ("C2", "Globex", "globex.com", "2017-12-01")])
    write(folder / "hubspot-contacts.csv", ["Record ID", "Email", "Associated Company ID", "Create Date", "Original Source"],
          [("P1", "a@acme.com", "C1", "2017-12-20 10:00", "Organic Search"),
           ("P2", "b@globex.com", "C2", "2017-12-21 10:00", "Paid Search")])
    write(folder / "hubspot-deals.csv", [*HEADER, "Associated Company ID"],
          [(*d, "C1" if i % 2 == 0 else "C2") for i, d in enumerate(DEALS)])
    return folder


def test_default_report_shows_full_won_revenue_of_untyped_deals(con, tmp_path):
    """#23.1 done-when: a HubSpot export without "Deal Type" -> the default report shows all won revenue."""
    from revline.ops.attribute import attribute
    from revline.ops.report import report

    load_files(con, [_hubspot_company(tmp_path / "hs")])
    attribute(con, models=["linear"], milestones=["won"])
    result = report(con, models=["linear"])
    assert result.problem is None
    won = sum(float(d[3]) for d in DEALS if d[2] == "closedwon")
    assert result.frame.select_dtypes("number").iloc[:, 0].sum() == pytest.approx(won)
    n_won = sum(d[2] == "closedwon" for d in DEALS)
    assert result.notes == (f"includes {n_won} won deals without a known deal type, counted as new_business "
                            "(map types with `revline ingest --type-map`)",)


def test_empty_report_names_the_filter_that_removed_the_rows(con, tmp_path):
    from revline.ops.attribute import attribute
    from revline.ops.report import report

    load_files(con, [_hubspot_company(tmp_path / "hs")])
    attribute(con, models=["linear"], milestones=["won"], revenue_types=["new_business"])
    r = report(con, models=["linear"], revenue_type="renewal")
    assert r.problem and "renewal" in r.problem  # the store holds no renewal deal: said so
    r = report(con, models=["linear"], start="2030-01-01")
    assert r.problem and "2030-01-01" in r.problem and "removed every row" in r.problem
    r = report(con, models=["first_touch"])
    assert r.problem and "--model first_touch removed every row" in r.problem


def _expected_by(col: int) -> dict[str, dict[str, float]]:
    """Per value of DEALS column `col`: won revenue, pipeline, closed and won deals, from the rows."""
    out: dict[str, dict[str, float]] = {}
    for d in DEALS:
        e = out.setdefault(d[col] or "(none)", {"won_revenue": 0.0, "pipeline_created": 0.0, "closed_deals": 0, "won_deals": 0})
        e["pipeline_created"] += float(d[3])
        if d[2] in ("closedwon", "closedlost"):
            e["closed_deals"] += 1
        if d[2] == "closedwon":
            e["won_deals"] += 1
            e["won_revenue"] += float(d[3])
    return out


@pytest.mark.parametrize("dimension,col", [("owner", 6), ("product", 7)])
def test_report_by_owner_and_product(con, deals_file, dimension, col):
    from revline.ops.report import report

    load_files(con, [deals_file], fmt="hubspot")
    result = report(con, by=dimension, revenue_type="all", no_stitch=True)
    assert result.problem is None
    got = result.frame.set_index(dimension)
    for value, e in _expected_by(col).items():
        for k, v in e.items():
            assert got.loc[value, k] == pytest.approx(v), (value, k)
        rate = got.loc[value, "win_rate"]
        assert (rate != rate) if not e["closed_deals"] else rate == pytest.approx(e["won_deals"] / e["closed_deals"])
    assert result.notes and "without a known deal type" in result.notes[0]


def test_report_by_an_unpromoted_dimension_says_how_to_promote(con, deals_file):
    from revline.ops.report import report

    load_files(con, [deals_file], fmt="hubspot")
    with pytest.raises(ValueError, match=r"--dimension region=Header"):
        report(con, by="region", no_stitch=True)


def test_api_deals_by_owner_equals_the_report(tmp_path, deals_file):
    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    db = tmp_path / "api.duckdb"
    c = connect(db)
    load_files(c, [deals_file], fmt="hubspot")
    c.close()
    app = create_app(db, read_key="read-key-0123456789", write_key="write-key-0123456789", warm=False)
    try:
        client = TestClient(app)
        h = {"Authorization": "Bearer read-key-0123456789"}
        body = client.get("/api/deals/by/owner?revenue_type=all", headers=h).json()
        assert body["currency"] == "USD"
        rows = {r["value"]: r for r in body["rows"]}
        for value, e in _expected_by(6).items():
            assert rows[value]["won_revenue"] == pytest.approx(e["won_revenue"])
            assert rows[value]["won_deals"] == e["won_deals"]
        won = sum(float(d[3]) for d in DEALS if d[2] == "closedwon")
        assert body["total"]["won_revenue"] == pytest.approx(won)
        closed = sum(d[2] in ("closedwon", "closedlost") for d in DEALS)
        assert body["total"]["win_rate"] == pytest.approx(sum(d[2] == "closedwon" for d in DEALS) / closed)
        assert client.get("/api/deals/by/region", headers=h).status_code == 404
        assert client.get("/api/dimensions", headers=h).json()["opportunity"] == ["owner", "product"]
        assert client.get("/api/deals/by/owner").status_code == 401
    finally:
        close_app(app)


def test_salesforce_line_items_give_the_product(con, tmp_path):
    """OpportunityLineItem: the product of the deal's largest line becomes its product dimension."""
    from revline.ingest.detect import detect

    folder = tmp_path / "sf"
    folder.mkdir()
    write(folder / "Account.csv", ["Id", "Name", "Website"], [("001A", "Acme", "acme.com")])
    write(folder / "Opportunity.csv", ["Id", "AccountId", "StageName", "Amount", "CreatedDate", "CloseDate", "OwnerId"],
          [("006A", "001A", "Closed Won", "900", "2018-01-01", "2018-02-01", "005X"),
           ("006B", "001A", "Closed Won", "100", "2018-01-01", "2018-02-01", "005Y")])
    lines = [("00kA1", "006A", "GTX Basic", "2", "200"), ("00kA2", "006A", "GTX Pro", "1", "700"),
             ("00kB1", "006B", "MG Special", "1", "100"), ("00kZ1", "006Z", "Ghost", "1", "5")]
    write(folder / "line-items-2018.csv", ["Id", "OpportunityId", "Product2.Name", "Quantity", "TotalPrice"], lines)
    assert detect(folder / "line-items-2018.csv").obj == "OpportunityLineItem"
    report = load_files(con, [folder])
    got = dict(con.execute(f"SELECT opportunity_id, {dimension_sql('product')} FROM opportunities o").fetchall())
    assert got == {"006A": "GTX Pro", "006B": "MG Special"}
    owners = dict(con.execute(f"SELECT opportunity_id, {dimension_sql('owner')} FROM opportunities o").fetchall())
    assert owners == {"006A": "005X", "006B": "005Y"}
    assert con.execute("SELECT count(*) FROM quarantine WHERE reason = 'unknown opportunity: 006Z'").fetchone() == (1,)
    line_entry = [e for e in report.entries if e.file.endswith("line-items-2018.csv")][0]
    assert line_entry.read == line_entry.loaded + line_entry.updated + line_entry.quarantined == len(lines)


def test_api_definitions_state_the_defaulted_deals(tmp_path):
    """#23.1: the attribution and KPI figures of the API say how many deals had no known type."""
    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app
    from revline.ops.attribute import attribute

    db = tmp_path / "api.duckdb"
    c = connect(db)
    load_files(c, [_hubspot_company(tmp_path / "hs")])
    attribute(c, models=["linear"], milestones=["won"])
    c.close()
    app = create_app(db, read_key="read-key-0123456789", write_key="write-key-0123456789", warm=False)
    try:
        client = TestClient(app)
        h = {"Authorization": "Bearer read-key-0123456789"}
        n_won = sum(d[2] == "closedwon" for d in DEALS)
        said = f"includes {n_won} won deals without a known deal type"
        assert said in client.get("/api/attribution?model=linear", headers=h).json()["definition"]["text"]
        k = client.get("/api/kpis?model=linear", headers=h).json()
        assert said in k["definitions"]["revenue"]["text"]
        assert k["revenue"] == pytest.approx(sum(float(d[3]) for d in DEALS if d[2] == "closedwon"))
    finally:
        close_app(app)
