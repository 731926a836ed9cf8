"""Changed channel rules re-derive the channels of files already ingested, without --force:
each file remembers the rules it was read with, and a file read with other rules is read again."""

from __future__ import annotations

import json

from revline.ingest import load_files
from revline.store import connect

EVENTS = [
    {"messageId": "m1", "type": "page", "anonymousId": "a1", "timestamp": "2025-03-01T10:00:00Z",
     "context": {"campaign": {"source": "carrier_pigeon", "medium": "bird"}, "page": {"url": "https://x.com/"}}},
    {"messageId": "m2", "type": "page", "anonymousId": "a2", "timestamp": "2025-03-02T10:00:00Z",
     "context": {"campaign": {"source": "google", "medium": "cpc"}, "page": {"url": "https://x.com/"}}},
]


def _files(tmp_path):
    seg = tmp_path / "events.jsonl"
    seg.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    spend = tmp_path / "spend.csv"
    spend.write_text("date,channel,campaign,spend\n2025-03-01,carrier pigeon,c1,10\n2025-03-01,Google Ads,c2,5\n")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nchannel = "direct_mail"\nsource = ["carrier_pigeon"]\n')
    return seg, spend, rules


def _channels(con) -> tuple[dict, dict]:
    touches = dict(con.execute("SELECT source, channel FROM touchpoints").fetchall())
    spend = dict(con.execute("SELECT campaign_id, channel FROM spend").fetchall())
    return touches, spend


def test_new_channel_rules_re_derive_without_force(tmp_path):
    seg, spend, rules = _files(tmp_path)
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [seg, spend])
    assert _channels(con) == ({"carrier_pigeon": "other", "google": "paid_search"}, {"c1": "other", "c2": "paid_search"})
    again = load_files(con, [seg, spend])  # same rules: skipped, as before
    assert len(again.skipped) == 2
    changed = load_files(con, [seg, spend], channel_rules=rules)
    assert not changed.skipped
    assert _channels(con) == ({"carrier_pigeon": "direct_mail", "google": "paid_search"},
                              {"c1": "direct_mail", "c2": "paid_search"})
    assert any("channel rules changed" in n and "revline attribute" in n for n in changed.notes)
    assert con.execute("SELECT count(*) FROM touchpoints").fetchone()[0] == 2  # re-read, not duplicated
    assert con.execute("SELECT sum(spend) FROM spend").fetchone()[0] == 15
    same = load_files(con, [seg, spend], channel_rules=rules)  # the same rules again: skipped
    assert len(same.skipped) == 2
    back = load_files(con, [seg, spend])  # back to the defaults: re-derived again
    assert not back.skipped and _channels(con)[1]["c1"] == "other"
    con.close()


def test_crm_campaigns_and_their_members_follow_new_rules(tmp_path):
    import shutil
    from pathlib import Path

    src = Path(__file__).parent / "fixtures" / "messy" / "salesforce"
    crm = tmp_path / "crm"
    crm.mkdir()
    for name in ("Campaign.csv", "CampaignMember.csv"):
        shutil.copy(src / name, crm / name)
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nchannel = "events"\ncampaign_type = ["webinar"]\n')
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [crm])
    before = dict(con.execute("SELECT campaign_id, channel FROM campaigns").fetchall())
    assert before["701A"] == "webinar"
    report = load_files(con, [crm], channel_rules=rules)
    assert not report.skipped
    after = dict(con.execute("SELECT campaign_id, channel FROM campaigns").fetchall())
    assert after == {**before, "701A": "events"}
    members = con.execute("SELECT DISTINCT channel FROM touchpoints WHERE campaign_id = '701A'").fetchall()
    assert members == [("events",)]
    con.close()
