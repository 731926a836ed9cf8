"""Each reader on its own: Fivetran seeds, HubSpot labels and internal names, Segment, canonical dumps."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from revline.ingest import detect, load_files
from revline.store import connect

SEEDS = Path("/work/shared/data/fivetran_salesforce_seeds")
needs_seeds = pytest.mark.skipif(not SEEDS.exists(), reason="Fivetran seed sample not present")


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "s.duckdb")
    yield c
    c.close()


@needs_seeds
def test_fivetran_seeds_detect_and_load(con):
    assert detect(SEEDS / "sf_opportunity_data.csv").obj == "Opportunity"
    assert detect(SEEDS / "sf_opportunity_history_data.csv").obj == "OpportunityHistory"
    assert detect(SEEDS / "sf_task_data.csv").convention == "fivetran"
    report = load_files(con, [SEEDS])
    assert {Path(p.split(":")[0]).name for p in report.unrecognised} >= {"sf_user_data.csv", "sf_order_data.csv"}
    t = report.by_table()
    assert t["accounts"]["loaded"] == 10
    assert t["touchpoints"]["loaded"] == 20  # 10 tasks + 10 events
    # the sample's opportunities point at hashed account ids that are not in sf_account_data
    reasons = con.execute(
        "SELECT DISTINCT split_part(reason, ':', 1) FROM quarantine WHERE source LIKE '%sf_opportunity_data.csv'"
    ).fetchall()
    assert {r for (r,) in reasons} == {"unknown account", "probability out of range"}
    lead = con.execute("SELECT email FROM people WHERE person_id = '00Q1G00000nDnM5UAK'").fetchone()
    assert lead == ("h@gmail.com",)
    assert con.execute(
        "SELECT count(*) FROM identity_links WHERE left_value = '00Q1G00000nDnM5UAK' AND right_type = 'crm_contact_id'"
    ).fetchone()[0] == 1
    # history-mode rows: one stage event per stage visit, entered at _fivetran_start
    assert t["stage_events"]["loaded"] >= 10
    kinds = dict(con.execute("SELECT touch_type, count(*) FROM touchpoints GROUP BY 1").fetchall())
    assert set(kinds) <= {"call", "email", "meeting", "task"}


@needs_seeds
def test_fivetran_opportunities_load_when_accounts_are_known(con, tmp_path):
    ids = [r[0] for r in __import__("duckdb").sql(
        f"SELECT DISTINCT account_id FROM read_csv('{SEEDS / 'sf_opportunity_data.csv'}', all_varchar=true)").fetchall()]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,name\n" + "".join(f"{i},acct {n}\n" for n, i in enumerate(ids)))
    report = load_files(con, [accounts, SEEDS / "sf_opportunity_data.csv"])
    assert report.by_table()["opportunities"] == {"read": 10, "loaded": 9, "merged": 0, "updated": 0, "quarantined": 1}
    won = con.execute("SELECT count(*) FROM opportunities WHERE is_won").fetchone()[0]
    assert won == con.execute("SELECT count(*) FROM stage_events WHERE stage = 'won'").fetchone()[0]


HS_COMPANIES = "Record ID,Company name,Company Domain Name,Industry,Number of Employees,Create Date\n" \
               "9001,Acme,acme.com,SOFTWARE,120,01/05/2025 10:00\n"
HS_CONTACTS_LABELS = (
    "Record ID,First Name,Last Name,Email,Associated Company ID,Lifecycle Stage,Create Date,"
    "Became a Lead Date,Became a Marketing Qualified Lead Date,Became a Sales Qualified Lead Date\n"
    "501,Ann,Lee,ANN@acme.com,9001,salesqualifiedlead,01/06/2025 09:00,01/06/2025 09:00,01/10/2025 12:30,01/20/2025 08:15\n"
    "502,Bob,Roe,bob@x.com,9999,lead,01/07/2025 09:00,01/07/2025 09:00,,\n"
)
HS_DEALS_INTERNAL = (
    "hs_object_id,dealname,dealstage,amount,closedate,createdate,dealtype,associatedcompanyid,deal_currency_code\n"
    "7001,Acme deal,closedwon,25000,1738368000000,1736150400000,newbusiness,9001,USD\n"
    "7002,Acme more,appointmentscheduled,5000,,1736150400000,existingbusiness,9001,USD\n"
)
HS_DEALS_PROPERTY_PREFIX = (
    "hs_object_id,property_dealname,property_dealstage,property_amount,property_createdate,property_dealtype\n"
    "7003,Lone deal,closedlost,100,2025-02-01T00:00:00Z,newbusiness\n"
)


def test_hubspot_labels_and_internal_names(con, tmp_path):
    (tmp_path / "companies.csv").write_text(HS_COMPANIES)
    (tmp_path / "hubspot-contacts-export.csv").write_text(HS_CONTACTS_LABELS)
    (tmp_path / "deals.csv").write_text(HS_DEALS_INTERNAL)
    (tmp_path / "deals_api.csv").write_text(HS_DEALS_PROPERTY_PREFIX)
    assert detect(tmp_path / "hubspot-contacts-export.csv").obj == "contacts"
    # every UI date here has day and month <= 12: the order must be said (issue 12)
    report = load_files(con, [tmp_path], date_order="mdy")
    t = report.by_table()
    assert t["accounts"]["loaded"] == 1 and t["opportunities"]["loaded"] == 3
    assert t["people"] == {"read": 2, "loaded": 1, "merged": 0, "updated": 0, "quarantined": 1}  # 502: unknown company
    assert con.execute("SELECT email, account_id FROM people").fetchall() == [("ann@acme.com", "9001")]
    stages = con.execute(
        "SELECT stage, entered_at::VARCHAR FROM stage_events WHERE object_type = 'person' ORDER BY entered_at"
    ).fetchall()
    assert stages == [("lead", "2025-01-06 09:00:00"), ("mql", "2025-01-10 12:30:00"), ("sql", "2025-01-20 08:15:00")]
    deals = con.execute(
        "SELECT opportunity_id, revenue_type, is_closed, is_won, closed_at::VARCHAR FROM opportunities ORDER BY 1"
    ).fetchall()
    assert deals == [
        ("7001", "new_business", True, True, "2025-02-01 00:00:00"),
        ("7002", "renewal", False, False, None),  # existingbusiness, a name that does not tell: assumed renewal
        ("7003", "new_business", True, False, None),  # closed lost, no close date given
    ]
    assert con.execute("SELECT source_system FROM accounts").fetchone() == ("hubspot",)


def _segment_lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        out.append(json.dumps({
            "messageId": f"m{i}", "type": "page", "anonymousId": f"a{i % 7}", "timestamp": "2025-03-01T10:00:00Z",
            "context": {"page": {"url": f"https://x.com/?utm_source=newsletter&utm_medium=email&utm_campaign=c{i % 3}"}},
        }))
    return out


def test_segment_gzip_dedupes_message_ids_and_reads_utm_from_url(con, tmp_path):
    lines = _segment_lines(50)
    path = tmp_path / "events-2025-03.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines + lines[:10]) + "\n")
    report = load_files(con, [path])
    assert report.by_table()["events"] == {"read": 60, "loaded": 50, "merged": 10, "updated": 0, "quarantined": 0}  # the 10 repeats merged
    assert con.execute("SELECT count(*), count(DISTINCT campaign_id) FROM touchpoints WHERE channel = 'email'").fetchone() == (50, 3)


def test_derive_from_events_for_the_collector(con):
    from revline.ingest.segment import derive_from_events

    con.execute(
        "INSERT INTO events (message_id, type, anonymous_id, user_id, occurred_at, traits, context) VALUES "
        "('e1', 'page', 'a1', NULL, '2025-01-01', NULL, '{\"campaign\": {\"source\": \"linkedin\", \"medium\": \"paid_social\"}}'),"
        "('e2', 'identify', 'a1', 'u1', '2025-01-02', '{\"email\": \"X@Y.com\"}', NULL),"
        "('e3', 'group', NULL, 'u1', '2025-01-02', NULL, NULL)"
    )
    con.execute("CREATE TEMP TABLE batch AS SELECT 'e1' AS message_id")
    derive_from_events(con, "batch")
    assert con.execute("SELECT touchpoint_id, channel, identity_type FROM touchpoints").fetchall() == [
        ("e1", "paid_social", "anonymous_id")]
    assert con.execute("SELECT count(*) FROM identity_links").fetchone()[0] == 0
    derive_from_events(con)
    derive_from_events(con)  # idempotent
    links = con.execute("SELECT left_type, right_type, right_value FROM identity_links ORDER BY 1, 2").fetchall()
    assert links == [("anonymous_id", "user_id", "u1"), ("user_id", "email", "x@y.com")]
    assert con.execute("SELECT count(*) FROM touchpoints").fetchone()[0] == 1


def test_canonical_dump_and_parquet_roundtrip(con, tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id,name,employees,created_at\nA1,Acme,10,2025-01-01\nA2,Beta,x,2025-01-02\n")
    report = load_files(con, [tmp_path / "accounts.csv"])
    assert report.by_table()["accounts"]["quarantined"] == 1
    out = tmp_path / "dump"
    out.mkdir()
    con.execute(f"COPY accounts TO '{out / 'accounts.parquet'}' (FORMAT parquet)")
    other = connect(tmp_path / "t.duckdb")
    load_files(other, [out])
    assert other.execute("SELECT account_id, name, employees FROM accounts").fetchall() == [("A1", "Acme", 10)]


def test_spend_and_targets_formats(con, tmp_path):
    (tmp_path / "spend.csv").write_text("date,channel,campaign,spend,currency\n2025-01-01,Google Ads CPC,,10,USD\n")
    (tmp_path / "goals.csv").write_text("period,revenue_target\n2025,100\n2025-02-01/2025-02-28,5\n")
    report = load_files(con, [tmp_path])
    assert report.by_table()["targets"]["loaded"] == 2
    assert con.execute("SELECT period_start::VARCHAR, period_end::VARCHAR FROM targets ORDER BY 1").fetchall() == [
        ("2025-01-01", "2025-12-31"), ("2025-02-01", "2025-02-28")]
    assert con.execute("SELECT channel FROM spend").fetchone() == ("other",)
    assert report.other_channel["spend"] == 1
