"""The demo company simulator: determinism, counts vs files, bad rows, counterfactual truth."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.demo.params import CHANNELS, FX_TO_USD, WEB_CHANNELS, params_for
from revline.demo.simulate import generate
from revline.demo.simulation import Draws, first_passage, simulate

SEED = 11

EXPECTED_COLUMNS = {
    "salesforce/Account.csv": ["Id", "Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue", "BillingCountry",
                               "BillingCountryCode", "Type", "CurrencyIsoCode", "CreatedDate"],
    "salesforce/Contact.csv": ["Id", "AccountId", "FirstName", "LastName", "Email", "Title", "LeadSource", "CreatedDate",
                               "MQL_Date__c", "SQL_Date__c"],
    "salesforce/Lead.csv": ["Id", "FirstName", "LastName", "Email", "Title", "Company", "Industry", "NumberOfEmployees",
                            "Country", "Status", "LeadSource", "CreatedDate", "MQL_Date__c", "SQL_Date__c", "IsConverted",
                            "ConvertedDate", "ConvertedContactId", "ConvertedAccountId", "ConvertedOpportunityId"],
    "salesforce/Opportunity.csv": ["Id", "AccountId", "Name", "Type", "StageName", "Amount", "CurrencyIsoCode",
                                   "Probability", "CreatedDate", "CloseDate", "IsClosed", "IsWon", "CampaignId"],
    "salesforce/OpportunityHistory.csv": ["Id", "OpportunityId", "StageName", "Amount", "CloseDate", "Probability",
                                          "CreatedDate"],
    "salesforce/OpportunityContactRole.csv": ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary", "CreatedDate"],
    "salesforce/Campaign.csv": ["Id", "Name", "Type", "Status", "ParentId", "StartDate", "EndDate", "BudgetedCost",
                                "ActualCost", "IsActive", "CreatedDate"],
    "salesforce/CampaignMember.csv": ["Id", "CampaignId", "LeadId", "ContactId", "Status", "HasResponded",
                                      "FirstRespondedDate", "CreatedDate"],
    "salesforce/Task.csv": ["Id", "WhoId", "WhatId", "AccountId", "ActivityDate", "Type", "TaskSubtype", "Subject",
                            "Status", "CreatedDate"],
    "salesforce/Event.csv": ["Id", "WhoId", "WhatId", "AccountId", "StartDateTime", "EndDateTime", "ActivityDate", "Type",
                             "EventSubtype", "Subject", "DurationInMinutes", "CreatedDate"],
    "spend/ad_spend.csv": ["date", "channel", "campaign", "spend", "impressions", "clicks", "currency"],
    "targets/targets.csv": ["period", "segment", "revenue_target", "pipeline_target"],
    "experiments/lift_tests.csv": ["channel", "start", "end", "lift", "sd", "design"],
}


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_a")
    manifest = generate(out, size="tiny", seed=SEED)
    truth = json.loads((out / "ground_truth.json").read_text())
    return out, manifest, truth


def _csv(root: Path, rel: str) -> pd.DataFrame:
    return pd.read_csv(root / rel, dtype=str, keep_default_na=False)


def _good(root: Path, rel: str, truth: dict) -> pd.DataFrame:
    df = _csv(root, rel)
    bad = {b["row_number"] for b in truth["bad_rows"] if b["file"] == rel}
    return df[~np.isin(np.arange(1, len(df) + 1), list(bad))]


def _segment_lines(root: Path) -> list[tuple[str, int, str]]:
    out = []
    for p in sorted((root / "segment").glob("events-*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                out.append((f"segment/{p.name}", i, line.rstrip("\n")))
    return out


def test_same_seed_gives_identical_bytes_and_another_seed_differs(demo, tmp_path):
    out, _, _ = demo
    again = generate(tmp_path / "b", size="tiny", seed=SEED)
    assert again["rows"] == demo[1]["rows"]
    assert _hashes(out) == _hashes(tmp_path / "b")
    generate(tmp_path / "c", size="tiny", seed=SEED + 1)
    h_other = _hashes(tmp_path / "c")
    differing = [f for f, h in _hashes(out).items() if f != "GROUND_TRUTH.md" and h_other.get(f) != h]
    assert "salesforce/Opportunity.csv" in differing and "ground_truth.json" in differing
    assert len(differing) >= 30  # every Salesforce, Segment and spend file changes


def test_layout_and_exact_column_names(demo):
    out, manifest, _ = demo
    for rel, cols in EXPECTED_COLUMNS.items():
        assert list(_csv(out, rel).columns) == cols, rel
    segs = sorted(p.name for p in (out / "segment").glob("*.jsonl.gz"))
    assert len(segs) == 24 and segs[0] == "events-2024-10.jsonl.gz" and segs[-1] == "events-2026-09.jsonl.gz"
    assert (out / "GROUND_TRUTH.md").read_text().startswith("# Ground truth")
    for rel, path in manifest["files"].items():
        assert Path(path).exists(), rel


def test_ground_truth_has_the_contract_keys(demo):
    _, _, t = demo
    assert {"seed", "size", "period", "parameters", "counts", "bad_rows", "totals", "channels", "weekly"} <= set(t)
    assert t["period"] == {"start": "2024-10-01", "end": "2026-09-30"}
    assert set(t["channels"]) == set(CHANNELS) and len(CHANNELS) >= 12
    for ch, v in t["channels"].items():
        assert {"spend", "tracked", "incremental_pipeline", "incremental_revenue", "incremental_opportunities",
                "incremental_won", "incremental_pipeline_by_type", "incremental_revenue_by_type",
                "share_of_incremental_revenue"} <= set(v), ch
    w = t["weekly"]
    n = len(w["week_start"])
    assert pd.Timestamp(w["week_start"][0]).dayofweek == 0 and n == 105
    assert len(w["pipeline_new_business"]) == n and all(len(v) == n for v in w["spend"].values())
    assert all(len(v) == n for v in w["incremental_pipeline"].values())
    assert sum(w["pipeline_new_business"]) == pytest.approx(t["totals"]["pipeline"]["new_business"], rel=1e-9)
    assert sum(w["revenue_new_business"]) == pytest.approx(t["totals"]["revenue"]["new_business"], rel=1e-9)
    shares = [v["share_of_incremental_revenue"] for v in t["channels"].values()]
    assert sum(shares) == pytest.approx(1.0, abs=1e-4)


def test_lift_tests_measure_the_counterfactual_truth(demo):
    """experiments/lift_tests.csv: one test per planned channel, a window of whole weeks inside the
    period, its true value the channel's incremental new-business pipeline times the window's share
    of its spend (ground_truth.json `lift_tests`), the measured lift within 4 standard errors of it."""
    out, _, t = demo
    tests = _csv(out, "experiments/lift_tests.csv")
    recorded = pd.DataFrame(t["lift_tests"])
    assert list(tests["channel"]) == list(recorded["channel"]) and len(tests) >= 3 and "tv" in set(tests["channel"])
    weeks = pd.to_datetime(pd.Series(t["weekly"]["week_start"]))
    for r, rec in zip(tests.itertuples(index=False), recorded.itertuples(index=False)):
        start, end = pd.Timestamp(r.start), pd.Timestamp(r.end)
        assert start.dayofweek == 0 and (end - start).days % 7 == 6 and weeks.iloc[0] <= start and end <= pd.Timestamp("2026-09-30")
        spend = pd.Series(t["weekly"]["spend"][r.channel])
        share = spend[((weeks >= start) & (weeks <= end)).to_numpy()].sum() / spend.sum()
        total = t["channels"][r.channel]["incremental_pipeline_by_type"]["new_business"]
        assert rec.true_lift == pytest.approx(total * share, abs=0.01)
        assert float(r.sd) > 0 and abs(float(r.lift) - rec.true_lift) <= 4 * float(r.sd)


def test_counts_match_the_rows_written(demo):
    out, _, t = demo
    c = t["counts"]
    accounts = _good(out, "salesforce/Account.csv", t)
    assert len(accounts) == c["accounts"] == 300
    assert accounts["Id"].str.len().eq(18).all() and accounts["Id"].str.startswith("001").all()
    assert accounts["Website"].is_unique
    assert len(_good(out, "salesforce/Lead.csv", t)) == c["leads"]
    contacts = _good(out, "salesforce/Contact.csv", t)
    assert len(contacts) == c["contacts"]
    assert set(contacts["AccountId"]) <= set(accounts["Id"])
    opps = _good(out, "salesforce/Opportunity.csv", t)
    assert len(opps) == c["opportunities"]
    assert opps["Type"].value_counts().to_dict() == {
        {"new_business": "New Customer", "renewal": "Renewal", "expansion": "Existing Customer - Upgrade"}[k]: v
        for k, v in c["opportunities_by_type"].items() if v}
    assert (opps["IsClosed"] == "false").sum() == c["opportunities_open"]
    cm = _good(out, "salesforce/CampaignMember.csv", t)
    tasks = _good(out, "salesforce/Task.csv", t)
    events = _good(out, "salesforce/Event.csv", t)
    src = c["touchpoints_by_source"]
    assert (len(cm), len(tasks), len(events)) == (src["campaign_member"], src["task"], src["event"])
    bad_lines = {(b["file"], b["row_number"]) for b in t["bad_rows"] if b["file"].startswith("segment/")}
    seg = [json.loads(line) for f, i, line in _segment_lines(out) if (f, i) not in bad_lines]
    by_type = pd.Series([e["type"] for e in seg]).value_counts().to_dict()
    assert by_type == {k: v for k, v in c["segment_events_by_type"].items() if v}
    assert by_type["page"] + by_type["track"] == src["segment"]
    assert c["touchpoints"] == sum(src.values()) == sum(c["touchpoints_by_channel"].values())
    for rel, f in c["files"].items():
        n = sum(1 for fl, _, _ in _segment_lines(out) if fl == rel) if rel.startswith("segment/") else len(_csv(out, rel))
        assert n == f["rows"] and f["good_rows"] == n - f["bad_rows"], rel

    # Per-channel touchpoints, recomputed from the files with a plain channel grouping.
    campaigns = _good(out, "salesforce/Campaign.csv", t).set_index("Id")["Type"]
    cm_channel = campaigns.map({"Webinar": "webinar", "Trade Show": "events", "Conference": "events",
                                "Direct Mail": "direct_mail", "Partners": "partner"})
    got = pd.Series(0, index=list(CHANNELS))
    got += cm["CampaignId"].map(cm_channel).value_counts().reindex(got.index, fill_value=0)
    got["sales_outreach"] += len(tasks) + len(events)
    medium = {"cpc": "paid_search", "paid_social": "paid_social", "display": "display", "email": "email",
              "content_syndication": "content", "webinar": "webinar", "referral": "partner"}
    for e in seg:
        if e["type"] not in ("page", "track"):
            continue
        utm = e["context"].get("campaign")
        ref = e["context"]["page"]["referrer"]
        if utm:
            ch = medium[utm["medium"]]
        elif not ref:
            ch = "direct"
        elif any(s in ref for s in ("google.", "bing.", "duckduckgo.")):
            ch = "organic_search"
        elif any(s in ref for s in ("linkedin.", "//t.co/", "reddit.")):
            ch = "organic_social"
        else:
            ch = "referral"
        got[ch] += 1
    assert got.to_dict() == c["touchpoints_by_channel"]


def _is_bad(df: pd.DataFrame, b: dict, account_ids: set[str]) -> bool:
    row = df.iloc[b["row_number"] - 1]
    value = row[b["field"]]
    reason = b["reason"]
    if reason.startswith("missing"):
        return value == ""
    if reason == "unparsable date":
        return pd.isna(pd.to_datetime(value, errors="coerce", format="ISO8601"))
    if reason.startswith("negative"):
        return float(value) < 0
    if reason == "unknown AccountId":
        return value not in account_ids
    if reason == "unknown currency":
        return value not in FX_TO_USD
    raise AssertionError(f"unexpected reason {reason}")


def test_every_listed_bad_row_is_really_bad(demo):
    out, _, t = demo
    reasons = {b["reason"] for b in t["bad_rows"]}
    assert {"missing Id", "unparsable date", "negative amount", "unknown AccountId", "unknown currency",
            "line is not valid JSON", "event has no timestamp"} <= reasons
    account_ids = set(_good(out, "salesforce/Account.csv", t)["Id"])
    lines = {(f, i): line for f, i, line in _segment_lines(out)}
    for b in t["bad_rows"]:
        if b["file"].startswith("segment/"):
            line = lines[(b["file"], b["row_number"])]
            if b["reason"] == "line is not valid JSON":
                with pytest.raises(json.JSONDecodeError):
                    json.loads(line)
            else:
                assert "timestamp" not in json.loads(line)
        else:
            assert _is_bad(_csv(out, b["file"]), b, account_ids), b
    # ...and nothing else in those columns is bad (the readers can trust the list)
    opps = _good(out, "salesforce/Opportunity.csv", t)
    assert (opps["Amount"].astype(float) > 0).all() and set(opps["CurrencyIsoCode"]) <= set(FX_TO_USD)
    assert set(opps["AccountId"]) <= account_ids and opps["Id"].ne("").all()
    assert pd.to_datetime(opps["CloseDate"], format="%Y-%m-%d").notna().all()


def test_spend_covers_every_paid_channel_and_tv_only_in_flights(demo):
    out, _, t = demo
    spend = _good(out, "spend/ad_spend.csv", t)
    spend["spend"] = spend["spend"].astype(float)
    by_channel = spend.groupby("channel")["spend"].sum()
    for ch in ("paid_search", "paid_social", "display", "content", "events", "webinar", "direct_mail", "partner", "tv", "email"):
        assert by_channel[ch] > 0, ch
        assert by_channel[ch] == pytest.approx(t["channels"][ch]["spend"], rel=1e-6)
    campaign_ids = set(_good(out, "salesforce/Campaign.csv", t)["Id"])
    assert set(spend["campaign"]) <= campaign_ids
    tv_days = pd.to_datetime(spend.loc[spend["channel"] == "tv", "date"])
    assert 60 < tv_days.nunique() < 200  # bursts, not always on
    weekly = pd.Series(t["weekly"]["spend"]["paid_search"])
    assert weekly.std() / weekly.mean() > 0.1  # spend varies, so a mix model can identify effects


def test_tv_leaves_no_per_person_touch(demo):
    out, _, t = demo
    assert t["channels"]["tv"]["tracked"] is False and t["channels"]["tv"]["spend"] > 0
    assert t["counts"]["touches_by_channel"]["tv"] == 0 == t["counts"]["touchpoints_by_channel"]["tv"]
    text = "".join(line for _, _, line in _segment_lines(out)).lower()
    assert "television" not in text and '"tv"' not in text
    cm = _good(out, "salesforce/CampaignMember.csv", t)
    camps = _good(out, "salesforce/Campaign.csv", t).set_index("Id")["Type"]
    assert not (cm["CampaignId"].map(camps) == "Television").any()


def test_counterfactual_channels_are_really_off_and_incrementals_nonnegative(demo):
    _, _, t = demo
    for ch, v in t["channels"].items():
        assert v["touches_when_off"] == 0, ch
        if t["parameters"]["effect"][ch] > 0 and v["touches"] > 0:
            assert v["incremental_opportunities"] >= 0, ch
            assert v["incremental_pipeline"] >= 0, ch
    assert t["channels"]["tv"]["incremental_pipeline"] >= 0
    big = sorted(CHANNELS, key=lambda c: -t["channels"][c]["incremental_pipeline"])[:5]
    for ch in big:
        assert t["channels"][ch]["incremental_pipeline"] > 0 and t["channels"][ch]["incremental_revenue"] > 0


@pytest.fixture(scope="module")
def tiny_draws():
    params = params_for("tiny", 5)
    draws = Draws(params)
    return params, draws, simulate(params, draws)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ch=st.sampled_from([c for c in CHANNELS if c != "tv"]))
def test_switching_a_channel_off_removes_only_its_touches(tiny_draws, ch):
    params, draws, base = tiny_draws
    cf = simulate(params, draws, frozenset({ch}))
    assert cf.touches_by_channel()[ch] == 0
    # Common random numbers: touches that do not depend on identity are drawn identically.
    exogenous = set(WEB_CHANNELS) | {"content", "partner"}
    for other in exogenous - {ch}:
        i = CHANNELS.index(other)
        b = np.flatnonzero((base.t_channel == i) & (base.t_kind == 0) | (base.t_channel == i) & (other in ("content", "partner")))
        c = np.flatnonzero((cf.t_channel == i) & (cf.t_kind == 0) | (cf.t_channel == i) & (other in ("content", "partner")))
        assert np.array_equal(base.t_person[b], cf.t_person[c]) and np.array_equal(base.t_day[b], cf.t_day[c])
    # Funnel steps only get later without a positive-effect channel's touches before the lead.
    if ch in exogenous:
        assert (cf.lead_day >= base.lead_day).all()


def test_tv_off_removes_only_lifted_visits(tiny_draws):
    params, draws, base = tiny_draws
    cf = simulate(params, draws, frozenset({"tv"}))
    def visits(r):  # page views only: form fills follow the (shifted) lead moment
        return np.bincount(r.t_channel[r.t_kind == 0], minlength=len(CHANNELS))

    b = dict(zip(CHANNELS, visits(base)))
    c = dict(zip(CHANNELS, visits(cf)))
    for ch in ("direct", "organic_search"):
        assert c[ch] < b[ch]
    for ch in ("paid_search", "paid_social", "display", "referral", "organic_social"):
        assert c[ch] == b[ch]
    assert (cf.lead_day >= base.lead_day).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.integers(0, 20))
def test_first_passage_is_monotone_in_hazard_and_start(seed, shift):
    rng = np.random.default_rng(seed)
    h = rng.exponential(0.02, size=(20, 60))
    clock = rng.exponential(1.0, 20)
    start = rng.integers(0, 60, 20)
    t = first_passage(h, clock, start)
    t_low = first_passage(h * rng.uniform(0, 1, h.shape), clock, np.minimum(start + shift, 60))
    assert (t_low >= t).all()
    fired = t < 60
    assert (t[fired] >= start[fired]).all()
    H = np.cumsum(np.where(np.arange(60)[None, :] >= start[:, None], h, 0), axis=1)
    assert (H[fired, t[fired]] >= clock[fired]).all()


def test_unknown_size_and_channel_are_clear_errors(tmp_path, tiny_draws):
    with pytest.raises(ValueError, match="unknown demo size 'huge'"):
        generate(tmp_path, size="huge")
    params, draws, _ = tiny_draws
    with pytest.raises(ValueError, match="unknown channel"):
        simulate(params, draws, frozenset({"radio"}))


def test_references_between_files_resolve(demo):
    out, _, t = demo
    acc = set(_good(out, "salesforce/Account.csv", t)["Id"])
    leads = _good(out, "salesforce/Lead.csv", t)
    contacts = _good(out, "salesforce/Contact.csv", t)
    opps = _good(out, "salesforce/Opportunity.csv", t)
    camps = set(_good(out, "salesforce/Campaign.csv", t)["Id"])
    lead_ids, contact_ids, opp_ids = set(leads["Id"]), set(contacts["Id"]), set(opps["Id"])
    conv = leads[leads["IsConverted"] == "true"]
    assert len(conv) > 0
    assert set(conv["ConvertedContactId"]) <= contact_ids and set(conv["ConvertedAccountId"]) <= acc
    assert set(conv["ConvertedOpportunityId"]) - {""} <= opp_ids
    assert (pd.to_datetime(conv["ConvertedDate"]) >= pd.to_datetime(conv["CreatedDate"]).dt.tz_localize(None).dt.normalize()).all()
    assert set(opps["CampaignId"]) - {""} <= camps
    roles = _good(out, "salesforce/OpportunityContactRole.csv", t)
    assert set(roles["OpportunityId"]) <= opp_ids and set(roles["ContactId"]) <= contact_ids
    assert roles.groupby("OpportunityId")["IsPrimary"].apply(lambda s: (s == "true").sum()).eq(1).all()
    hist = _good(out, "salesforce/OpportunityHistory.csv", t)
    assert set(hist["OpportunityId"]) == opp_ids
    last = hist.groupby("OpportunityId").tail(1).set_index("OpportunityId")["StageName"]
    assert (last.reindex(opps["Id"]).to_numpy() == opps["StageName"].to_numpy()).all()
    cm = _good(out, "salesforce/CampaignMember.csv", t)
    assert set(cm["CampaignId"]) <= camps
    assert ((cm["LeadId"] != "") | (cm["ContactId"] != "")).all()
    assert set(cm["LeadId"]) - {""} <= lead_ids and set(cm["ContactId"]) - {""} <= contact_ids
    assert not cm.duplicated(["CampaignId", "LeadId", "ContactId"]).any()
    for rel in ("salesforce/Task.csv", "salesforce/Event.csv"):
        act = _good(out, rel, t)
        assert set(act["WhoId"]) <= lead_ids | contact_ids
        assert set(act["WhatId"]) - {""} <= opp_ids | acc
    # Segment: identify carries an email of a known lead/contact; group ids are Account ids
    emails = set(leads["Email"]) | set(contacts["Email"])
    bad_lines = {(b["file"], b["row_number"]) for b in t["bad_rows"] if b["file"].startswith("segment/")}
    seg = [json.loads(line) for f, i, line in _segment_lines(out) if (f, i) not in bad_lines]
    idents = [e for e in seg if e["type"] == "identify"]
    assert idents and {e["traits"]["email"] for e in idents} <= emails
    assert {e["groupId"] for e in seg if e["type"] == "group"} <= acc
    assert all(e["timestamp"].endswith("Z") and "2024-10-01" <= e["timestamp"][:10] <= "2026-09-30" for e in seg)


def test_second_devices_are_linked_only_by_identify(demo):
    out, _, t = demo
    bad_lines = {(b["file"], b["row_number"]) for b in t["bad_rows"] if b["file"].startswith("segment/")}
    seg = [json.loads(line) for f, i, line in _segment_lines(out) if (f, i) not in bad_lines]
    anon_by_user: dict[str, set[str]] = {}
    identified_anon = set()
    for e in seg:  # events are in time order: an anonymousId carries a userId only after its identify
        if e["type"] == "identify":
            identified_anon.add(e["anonymousId"])
        if "userId" in e:
            assert e["anonymousId"] in identified_anon
            anon_by_user.setdefault(e["userId"], set()).add(e["anonymousId"])
    two = sum(len(v) == 2 for v in anon_by_user.values())
    assert 0 < two <= t["counts"]["people_with_two_devices"]
    assert max(len(v) for v in anon_by_user.values()) == 2
