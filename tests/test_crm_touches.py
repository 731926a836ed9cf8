"""CRM-native touchpoints: LeadSource, HubSpot Original/Latest Source and campaign membership
become touches, once per source event, and a CRM-only company is attributed like any other."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from crm_exports import CONTACTS, LEADS, OPPORTUNITIES, salesforce_crm_only, with_campaign_members, write
from revline.attribution import run_models
from revline.ingest import load_files
from revline.ingest.channels import channel_case
from revline.journeys.freshness import restitch
from revline.store import connect

# the documented mapping (channel_rules.toml, README): one case per picklist value / HubSpot category
MAPPING = {
    "Web": "direct", "Phone Inquiry": "direct", "Partner Referral": "partner", "Purchased List": "sales_outreach",
    "Trade Show": "events", "Webinar": "webinar", "Advertisement": "display", "Employee Referral": "referral",
    "External Referral": "referral", "Other": "other", "Google AdWords": "paid_search", "Word of mouth": "referral",
    "ORGANIC_SEARCH": "organic_search", "PAID_SEARCH": "paid_search", "EMAIL_MARKETING": "email",
    "SOCIAL_MEDIA": "organic_social", "PAID_SOCIAL": "paid_social", "REFERRALS": "referral",
    "DIRECT_TRAFFIC": "direct", "OTHER_CAMPAIGNS": "other", "OFFLINE": "other", "Paid Search": "paid_search",
    "Offline Sources": "other",
}


@pytest.mark.parametrize("value,channel", sorted(MAPPING.items()))
def test_source_values_map_to_their_documented_channel(value, channel):
    import duckdb

    assert duckdb.sql(f"SELECT {channel_case(lead_source='$v$' + value + '$v$')}").fetchone()[0] == channel


def expected_touches() -> dict[str, tuple[str, str]]:
    """The dedupe rule computed independently from the fixture rows: touch id -> (value, time)."""
    out: dict[str, tuple[str, str]] = {}
    converted = {c for *_, c, _a, _o in LEADS if c}
    for cid, acc, _e, created, src in CONTACTS:
        if src and cid not in converted:
            out[f"crm_lead_source:{cid}"] = (src, created)
    for lid, _e, created, src, contact, _a, _o in LEADS:
        if src:
            out[f"crm_lead_source:{contact or lid}"] = (src, created)
    person_sources = {}  # account -> [(value, time)]
    contact_account = {c: a for c, a, *_ in CONTACTS}
    for tid, (src, t) in out.items():
        acc = contact_account.get(tid.split(":")[1]) or next((a for lid, *_, a, _o in LEADS if lid == tid.split(":")[1]), None)
        person_sources.setdefault(acc, []).append((src.lower(), t[:10]))
    for oid, acc, _st, _amt, created, _cl, src in OPPORTUNITIES:
        if src and not any(v == src.lower() and t <= created[:10] for v, t in person_sources.get(acc, [])):
            out[f"crm_lead_source:{oid}"] = (src, created)
    return out


def _touches(con) -> dict[str, tuple[str, str]]:
    rows = con.execute(
        "SELECT touchpoint_id, source, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.000+0000'), channel FROM touchpoints "
        "WHERE touch_type = 'crm_lead_source'").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_salesforce_lead_sources_become_one_touch_per_source_event(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    report = load_files(con, [salesforce_crm_only(tmp_path / "crm")])
    assert _touches(con) == expected_touches()
    assert any("merged" in n or "same source" in n for n in report.notes)
    channels = dict(con.execute("SELECT source, any_value(channel) FROM touchpoints GROUP BY 1").fetchall())
    assert channels == {v: MAPPING[v] for v in channels}
    con.close()


@pytest.mark.parametrize("order", list(itertools.permutations(["Contact.csv", "Lead.csv", "Opportunity.csv"])))
def test_the_same_touches_whatever_order_the_files_arrive_in(tmp_path, order):
    folder = salesforce_crm_only(tmp_path / "crm")
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [folder / "Account.csv"])
    for name in order:
        load_files(con, [folder / name])
    assert _touches(con) == expected_touches()
    con.close()


def test_a_crm_only_company_leaves_only_its_sourceless_deals_unattributed(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [with_campaign_members(salesforce_crm_only(tmp_path / "crm"))])
    restitch(con)
    run_models(con, models=["linear", "first_touch"], milestones=["won"], revenue_types=["all"])
    # genuinely sourceless: no LeadSource on the deal, nor on any person or membership of its account
    contacts_by_account = {a: c for c, a, *_ in CONTACTS}
    sourced_accounts = {a for _c, a, _e, _t, s in CONTACTS if s} | {a for *_, s, _c, a, _o in LEADS if s and a}
    members = {"003A1", "003B1"}
    sourced_accounts |= {a for a, c in contacts_by_account.items() if c in members}
    sourceless = {o for o, a, *_, s in OPPORTUNITIES if not s and a not in sourced_accounts}
    for model in ("linear", "first_touch"):
        unattributed = {r[0] for r in con.execute(
            "SELECT DISTINCT l.conversion_id FROM credit_ledger l JOIN attribution_runs r USING (run_id) "
            "WHERE r.model = ? AND l.touchpoint_id IS NULL", [model]).fetchall()}
        assert unattributed == sourceless == {"006C"}
    credited = dict(con.execute(
        "SELECT l.conversion_id, string_agg(DISTINCT l.channel, ',' ORDER BY l.channel) FROM credit_ledger l "
        "JOIN attribution_runs r USING (run_id) WHERE r.model = 'first_touch' GROUP BY 1").fetchall())
    assert credited["006E"] == "paid_search"   # the opportunity's own LeadSource, account-level
    assert credited["006D"] == "partner"       # the lead's Partner Referral, not counted twice
    assert set(con.execute("SELECT DISTINCT touch_type FROM touchpoints").fetchall()) == {
        ("crm_lead_source",), ("campaign_member",)}
    con.close()


HS_COMPANIES = [("9001", "Acme", "acme.com"), ("9002", "Globex", "globex.com"), ("9003", "Initech", "initech.com")]
HS_CONTACTS = [
    # id, email, company, create, original source, drill 1, drill 2, first seen, latest, latest time
    ("501", "ann@acme.com", "9001", "2025-01-06 09:00", "PAID_SEARCH", "google", "crm software",
     "2025-01-05 08:00", "EMAIL_MARKETING", "2025-01-20 10:00"),
    ("502", "bob@globex.com", "9002", "2025-01-07 09:00", "ORGANIC_SEARCH", "google", "", "", "ORGANIC_SEARCH",
     "2025-01-07 09:00"),                     # latest = original (same time): one event, one touch
    ("503", "cat@initech.com", "9003", "2025-01-08 09:00", "", "", "", "", "", ""),  # no source at all
]
HS_DEALS = [("7001", "9001", "closedwon", "1000", "2025-02-01", "2025-03-01"),
            ("7002", "9002", "closedwon", "2000", "2025-02-02", "2025-03-02"),
            ("7003", "9003", "closedwon", "4000", "2025-02-03", "2025-03-03")]


def hubspot_exports(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "hubspot-companies.csv", ["Record ID", "Company name", "Company Domain Name"], HS_COMPANIES)
    write(folder / "hubspot-contacts.csv",
          ["Record ID", "Email", "Associated Company ID", "Create Date", "Original Source", "Original Source Drill-Down 1",
           "Original Source Drill-Down 2", "Time First Seen", "Latest Source", "Latest Source Timestamp"], HS_CONTACTS)
    write(folder / "hubspot-deals.csv", ["Record ID", "Associated Company ID", "Deal Stage", "Amount", "Create Date",
                                         "Close Date"], HS_DEALS)
    return folder


def test_hubspot_original_and_latest_source_become_touches(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [hubspot_exports(tmp_path / "hs")])
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT touchpoint_id, channel, source, medium, strftime(occurred_at, '%Y-%m-%d %H:%M') FROM touchpoints").fetchall()}
    want = {}
    for cid, _e, _co, created, orig, d1, d2, first, latest, latest_at in HS_CONTACTS:
        if orig:
            t0 = first or created
            want[f"hubspot_original_source:{cid}"] = (MAPPING[orig], d1 or None, d2 or None, t0)
            if latest and latest_at > t0:
                want[f"hubspot_latest_source:{cid}"] = (MAPPING[latest], None, None, latest_at)
    assert got == want
    restitch(con)
    run_models(con, models=["linear"], milestones=["won"], revenue_types=["all"])
    unattributed = {r[0] for r in con.execute(
        "SELECT DISTINCT conversion_id FROM credit_ledger WHERE touchpoint_id IS NULL").fetchall()}
    sourceless_companies = {co for _c, _e, co, _t, orig, *_ in HS_CONTACTS if not orig}
    assert unattributed == {d for d, co, *_ in HS_DEALS if co in sourceless_companies}
    con.close()


def test_fivetran_lead_source_columns_make_the_same_touches(tmp_path):
    """A Fivetran warehouse copy (snake_case lead_source) gives the touches the API-name export gives."""
    folder = tmp_path / "ft"
    folder.mkdir()
    write(folder / "sf_account_data.csv", ["id", "name", "website", "created_date"],
          [(a, n, d, "2024-12-01T00:00:00Z") for a, n, d in [("001A", "Acme", "acme.com"), ("001B", "Globex", "globex.com")]])
    contacts = [c for c in CONTACTS if c[1] in ("001A", "001B")]
    write(folder / "sf_contact_data.csv", ["id", "account_id", "email", "first_name", "last_name", "created_date", "lead_source"],
          [(c, a, e, "F", "L", t, s) for c, a, e, t, s in contacts])
    leads = [ld for ld in LEADS if ld[4] in ("003A1", "")]
    write(folder / "sf_lead_data.csv", ["id", "email", "first_name", "last_name", "company", "created_date", "lead_source",
                                        "is_converted", "converted_contact_id", "converted_account_id"],
          [(i, e, "F", "L", "Co", t, s, "true" if c else "false", c, a) for i, e, t, s, c, a, _o in leads])
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [folder])
    got = dict(con.execute("SELECT touchpoint_id, source FROM touchpoints WHERE touch_type = 'crm_lead_source'").fetchall())
    converted = {ld[4] for ld in leads if ld[4]}
    want = {f"crm_lead_source:{c}": s for c, _a, _e, _t, s in contacts if s and c not in converted}
    want |= {f"crm_lead_source:{c or i}": s for i, _e, _t, s, c, _a, _o in leads if s}
    assert got == want
    con.close()


def test_a_lead_source_that_an_observed_touch_explains_is_not_counted_twice(tmp_path):
    """LeadSource names the tracked session that created the lead: after the stitch only the
    observed touch remains; a LeadSource no observed touch explains stays."""
    folder = salesforce_crm_only(tmp_path / "crm")
    (folder / "Lead.csv").write_text((folder / "Lead.csv").read_text().replace(",Web,", ",Google AdWords,"))
    ann = next(ld for ld in LEADS if ld[0] == "00QA1")
    write(tmp_path / "touchpoints.csv",
          ["touchpoint_id", "occurred_at", "channel", "source", "medium", "touch_type", "identity_type", "identity_value"],
          [("web-1", ann[2][:10] + " 08:30:00", "paid_search", "google", "cpc", "form_fill", "email", ann[1]),
           ("web-2", "2025-01-01 08:00:00", "organic_search", "google", "organic", "page_view", "email", "dan@umbrella.com")])
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [folder, tmp_path / "touchpoints.csv"])
    before = _touches(con)
    result = restitch(con)
    after = _touches(con)
    assert result.stitch.source_touches_superseded == 1
    assert set(before) - set(after) == {"crm_lead_source:003A1"}  # Ann's paid search session, once
    assert "crm_lead_source:003D1" in after  # Dan's Partner Referral: his organic visit does not explain it
    con.close()
