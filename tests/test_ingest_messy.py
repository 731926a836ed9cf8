"""The hand-made messy export set: exact counts, exact quarantine, idempotence, updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from revline.ingest import load_files
from revline.store import connect

MESSY = Path(__file__).parent / "fixtures" / "messy"

# (file name, row, field) of every deliberate defect in tests/fixtures/messy
EXPECTED_QUARANTINE = {
    ("Account.csv", 1, "Id"),                     # 001A again in row 4 (which loads), issue #20 D7
    ("Account.csv", 2, "NumberOfEmployees"),      # 'many'
    ("Account.csv", 5, "Id"),                     # missing id
    ("Contact.csv", 2, "AccountId"),              # unknown account 001Z
    ("Contact.csv", 3, "MQL_Date__c"),            # 'not a date'
    ("Lead.csv", 2, "Email"),                     # not an email
    ("Opportunity.csv", 3, "Amount"),             # negative
    ("Opportunity.csv", 4, "AccountId"),          # unknown account
    ("Opportunity.csv", 5, "CurrencyIsoCode"),    # XYZ
    ("Opportunity.csv", 7, "(line)"),             # cut mid-line at end of file
    ("OpportunityHistory.csv", 5, "CreatedDate"), # 31/02/2025
    ("CampaignMember.csv", 1, "Id"),              # 00vA again in row 4 (which loads)
    ("CampaignMember.csv", 3, "ContactId"),       # neither contact nor lead
    ("Task.csv", 3, "ActivityDate"),              # no date
    ("events-2025-03.jsonl", 5, "timestamp"),     # 'yesterday'
    ("events-2025-03.jsonl", 7, "(line)"),        # truncated JSON
    ("events-2025-03.jsonl", 10, "anonymousId"),  # no identity at all
    ("events-2025-03.jsonl", 11, "messageId"),    # no messageId
    ("ad_spend.csv", 3, "spend"),                 # negative
    ("ad_spend.csv", 5, "spend"),                 # 'abc'
    ("targets.csv", 4, "period"),                 # 2025-Q5
}
EXPECTED_ROWS = {
    # touchpoints: 7 campaign members and activities + 2 Lead.LeadSource touches (00QA, 00QC; 00QB is quarantined)
    "accounts": 2, "campaigns": 3, "people": 4, "opportunities": 3, "stage_events": 16, "touchpoints": 9,
    # spend: ad_spend.csv's last row repeats its first; rows of a file add up (ingest/spend.py), so 4
    "identity_links": 8, "events": 6, "spend": 4, "targets": 3, "opportunity_contacts": 0,
}


def _counts(con) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in EXPECTED_ROWS}


def _snapshot(con) -> dict[str, list]:
    tables = [*EXPECTED_ROWS, "quarantine"]
    cols = {"quarantine": "source, table_name, row_number, field, reason, raw"}
    return {t: sorted(map(repr, con.execute(f"SELECT {cols.get(t, '*')} FROM {t}").fetchall())) for t in tables}


@pytest.fixture
def loaded(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    report = load_files(con, [MESSY])
    yield con, report
    con.close()


def test_messy_set_loads_exactly_the_expected_rows(loaded):
    con, report = loaded
    assert _counts(con) == EXPECTED_ROWS
    got = {(Path(s).name, r, f) for s, r, f in con.execute("SELECT source, row_number, field FROM quarantine").fetchall()}
    assert got == EXPECTED_QUARANTINE
    assert report.quarantined == len({(f, r) for f, r, _ in EXPECTED_QUARANTINE})
    assert report.unmapped_types == {"Partner Resale": 1}
    assert report.other_channel["campaigns"] == 1  # Campaign.Type 'Telepathy'


def test_quarantine_keeps_reason_and_raw_row(loaded):
    con, _ = loaded
    reason, raw = con.execute(
        "SELECT reason, raw FROM quarantine WHERE source LIKE '%Opportunity.csv' AND field = 'CurrencyIsoCode'"
    ).fetchone()
    assert reason == "unknown currency: XYZ"
    assert '"Id":"006E"' in raw
    reason, raw = con.execute(
        "SELECT reason, raw FROM quarantine WHERE source LIKE '%events-2025-03.jsonl' AND row_number = 7"
    ).fetchone()
    assert reason == "broken line: invalid JSON" and raw.startswith('{"messageId":"m6"')


def test_values_are_normalised(loaded):
    con, _ = loaded
    opp = dict(zip(["revenue_type", "amount", "currency", "probability", "closed_at", "is_won"], con.execute(
        "SELECT revenue_type, amount, currency, probability, closed_at, is_won FROM opportunities WHERE opportunity_id = '006B'"
    ).fetchone()))
    assert opp["revenue_type"] == "expansion" and float(opp["amount"]) == 12500.0 and opp["currency"] == "EUR"
    assert opp["probability"] == pytest.approx(0.6) and opp["closed_at"] is None and opp["is_won"] is False
    # an unknown type ('Partner Resale') counts as new_business, flagged as defaulted (issue #23.1)
    assert con.execute("SELECT revenue_type, type_defaulted FROM opportunities WHERE opportunity_id = '006F'").fetchone() == ("new_business", True)
    # Salesforce '+0000', HubSpot US dates, zoned ISO and epoch ms all land as naive UTC
    assert str(con.execute("SELECT created_at FROM accounts WHERE account_id = '001C'").fetchone()[0]) == "2025-01-17 09:30:00"
    assert str(con.execute("SELECT occurred_at FROM events WHERE message_id = 'm2'").fetchone()[0]) == "2025-03-01 09:05:00.123000"
    assert str(con.execute("SELECT created_at FROM people WHERE person_id = '00QC'").fetchone()[0]) == "2025-01-21 08:00:00"
    assert con.execute("SELECT domain FROM accounts WHERE account_id = '001A'").fetchone() == ("acme.com",)
    stages = con.execute(
        "SELECT stage FROM stage_events WHERE object_id = '006A' AND source_system = 'salesforce:history' ORDER BY entered_at"
    ).fetchall()
    assert [s for (s,) in stages] == ["prospecting", "negotiation_review", "won"]


def test_reingest_changes_nothing(loaded, tmp_path):
    con, _ = loaded
    before = _snapshot(con)
    again = load_files(con, [MESSY])
    assert len(again.skipped) == 11 and again.loaded == 0
    forced = load_files(con, [MESSY], force=True)
    assert forced.loaded == 0 and sum(e.updated for e in forced.entries) == 0
    assert _snapshot(con) == before


def test_newer_export_updates_records(loaded, tmp_path):
    con, _ = loaded
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "Opportunity.csv").write_text(
        "Id,AccountId,Name,Type,StageName,Amount,CurrencyIsoCode,Probability,CreatedDate,CloseDate,IsClosed,IsWon\n"
        "006B,001A,Acme upsell,Existing Customer - Upgrade,Closed Won,15000,EUR,100,2025-03-05T10:00:00.000+0000,2025-05-02,true,true\n"
        "006F,001C,Mystery,Partner Resale,Closed Lost,3000,USD,0,2025-03-08,2025-05-01,true,false\n"
    )
    report = load_files(con, [newer], type_map={"Partner Resale": "new_business"})
    opp = report.by_table()["opportunities"]
    assert (opp["loaded"], opp["updated"]) == (0, 2)
    assert con.execute("SELECT stage, amount, is_won FROM opportunities WHERE opportunity_id = '006B'").fetchone() == (
        "Closed Won", 15000, True)
    assert con.execute("SELECT revenue_type FROM opportunities WHERE opportunity_id = '006F'").fetchone() == ("new_business",)
    won = con.execute("SELECT count(*) FROM stage_events WHERE object_id = '006B' AND stage = 'won'").fetchone()[0]
    assert won == 1
    # a later export moving the close date moves the event instead of adding a second one
    (newer / "Opportunity.csv").write_text(
        "Id,AccountId,Name,Type,StageName,Amount,CurrencyIsoCode,Probability,CreatedDate,CloseDate,IsClosed,IsWon\n"
        "006B,001A,Acme upsell,Existing Customer - Upgrade,Closed Won,15000,EUR,100,2025-03-05T10:00:00.000+0000,2025-05-09,true,true\n"
    )
    load_files(con, [newer / "Opportunity.csv"])
    rows = con.execute("SELECT entered_at FROM stage_events WHERE object_id = '006B' AND stage IN ('won', 'lost')").fetchall()
    assert [str(r[0]) for r in rows] == ["2025-05-09 00:00:00"]


def test_failure_rolls_back_everything(tmp_path, monkeypatch):
    con = connect(tmp_path / "s.duckdb")
    import revline.ingest.tabular as tabular

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tabular, "load_targets", boom)
    with pytest.raises(RuntimeError):
        load_files(con, [MESSY])
    assert all(v == 0 for v in _counts(con).values())
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 0


def test_unrecognised_named_file_fails_before_writing(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    odd = tmp_path / "mystery.csv"
    odd.write_text("foo,bar\n1,2\n")
    from revline.ingest import DetectionError

    with pytest.raises(DetectionError, match="mystery.csv"):
        load_files(con, [MESSY / "salesforce", odd])
    assert con.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0
