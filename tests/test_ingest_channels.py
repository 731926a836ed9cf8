"""Channel grouping (rules -> SQL CASE) and the SQL value parsers, incl. property tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.ingest.channels import CHANNELS, ChannelRuleError, channel_case, load_rules
from revline.ingest.sqlfrag import parse_timestamp


_CON = duckdb.connect()
_CON.execute("SET TimeZone = 'UTC'")


def _channel(source=None, medium=None, referrer=None, campaign_type=None, rules=None) -> str:
    sql = channel_case("s", "m", "r", "t", rules=rules)
    return _CON.execute(f"SELECT {sql} FROM (SELECT $1::VARCHAR s, $2::VARCHAR m, $3::VARCHAR r, $4::VARCHAR t)",
                          [source, medium, referrer, campaign_type]).fetchone()[0]


@pytest.mark.parametrize("kw, expected", [
    ({"source": "google", "medium": "cpc"}, "paid_search"),
    ({"source": "linkedin", "medium": "cpc"}, "paid_social"),
    ({"source": "LinkedIn", "medium": "Paid Social"}, "paid_social"),
    ({"source": "newsletter", "medium": "email"}, "email"),
    ({"medium": "display"}, "display"),
    ({"referrer": "https://www.google.de/search?q=x"}, "organic_search"),
    ({"referrer": "https://lnkd.in/abc"}, "organic_social"),
    ({"referrer": "https://blog.partner.io/post"}, "referral"),
    ({}, "direct"),
    ({"campaign_type": "Webinar"}, "webinar"),
    ({"campaign_type": "Trade Show"}, "events"),
    ({"campaign_type": "Direct Mail"}, "direct_mail"),
    ({"campaign_type": "Paid Search"}, "paid_search"),
    ({"campaign_type": "Telepathy"}, "other"),
    ({"source": "carrier-pigeon", "medium": "bird"}, "other"),
])
def test_default_grouping(kw, expected):
    assert _channel(**kw) == expected


# The ad platforms by their own names (issue 22.5): (utm_source, channel when paid, channel when
# the source alone is given). A platform's ad product named in the source is paid on its own.
AD_PLATFORMS = [
    ("linkedin", "paid_social", "organic_social"), ("LinkedIn Ads", "paid_social", "paid_social"),
    ("facebook", "paid_social", "organic_social"), ("fb", "paid_social", "organic_social"),
    ("Facebook Ads", "paid_social", "paid_social"), ("meta", "paid_social", "other"),
    ("Meta Ads", "paid_social", "paid_social"), ("instagram", "paid_social", "organic_social"),
    ("ig", "paid_social", "organic_social"), ("google", "paid_search", "other"),
    ("Google Ads", "paid_search", "paid_search"), ("adwords", "paid_search", "paid_search"),
    ("Google AdWords", "paid_search", "paid_search"), ("bing", "paid_search", "other"),
    ("Bing Ads", "paid_search", "paid_search"), ("microsoft", "paid_search", "other"),
    ("Microsoft Advertising", "paid_search", "paid_search"), ("twitter", "paid_social", "organic_social"),
    ("x", "paid_social", "organic_social"), ("X Ads", "paid_social", "paid_social"),
    ("reddit", "paid_social", "organic_social"), ("Reddit Ads", "paid_social", "paid_social"),
    ("tiktok", "paid_social", "organic_social"), ("TikTok Ads", "paid_social", "paid_social"),
    ("capterra", "paid_search", "referral"), ("g2", "paid_search", "referral"), ("G2 Crowd", "paid_search", "referral"),
    ("getapp", "paid_search", "referral"), ("Software Advice", "paid_search", "referral"),
]


@pytest.mark.parametrize("source, paid, alone", AD_PLATFORMS, ids=[a[0] for a in AD_PLATFORMS])
@pytest.mark.parametrize("medium", ["cpc", "paid", "ppc"])
def test_ad_platform_names_in_utm_source(source, paid, alone, medium):
    assert _channel(source=source, medium=medium) == paid
    assert _channel(source=source) == alone


def test_user_rules_override_and_extend(tmp_path):
    toml = tmp_path / "rules.toml"
    toml.write_text('[[rule]]\nchannel = "partner"\nsource = ["g2"]\n\n[[rule]]\nchannel = "paid_social"\nsource = ["carrier_pigeon"]\n')
    rules = load_rules(toml)
    assert _channel(source="g2", medium="cpc", rules=rules) == "partner"      # user rule wins over default cpc
    assert _channel(source="carrier-pigeon", rules=rules) == "paid_social"    # extension
    assert _channel(source="google", medium="cpc", rules=rules) == "paid_search"  # defaults still apply
    yaml_file = tmp_path / "rules.yaml"
    yaml_file.write_text("replace_defaults: true\nrule:\n  - channel: tv\n    medium_regex: '^tv'\n")
    only = load_rules(yaml_file)
    assert _channel(medium="tv_spot", rules=only) == "tv"
    assert _channel(source="google", medium="cpc", rules=only) == "other"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nchannel = "tv"\n')
    with pytest.raises(ChannelRuleError, match="bad.toml: rule 1"):
        load_rules(bad)


def test_user_rules_in_load_files(tmp_path):
    from revline.ingest import load_files
    from revline.store import connect

    (tmp_path / "Campaign.csv").write_text("Id,Name,Type\n701X,Psychic fair,Telepathy\n")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nchannel = "events"\ncampaign_type = ["telepathy"]\n')
    con = connect(":memory:")
    report = load_files(con, [tmp_path / "Campaign.csv"], channel_rules=rules)
    assert con.execute("SELECT channel FROM campaigns").fetchone() == ("events",)
    assert not report.other_channel


text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["google", "cpc", "email", "LinkedIn", "https://t.co/x"]))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(text, text, text, text), min_size=1, max_size=60))
def test_every_row_gets_exactly_one_known_channel(rows):
    # one query per example: the CASE is compiled once and applied to the whole batch, as in ingest
    _CON.execute("CREATE OR REPLACE TEMP TABLE hyp (s VARCHAR, m VARCHAR, r VARCHAR, t VARCHAR)")
    _CON.executemany("INSERT INTO hyp VALUES (?, ?, ?, ?)", rows)
    got = _CON.execute(f"SELECT {channel_case('s', 'm', 'r', 't')} FROM hyp").fetchall()
    assert len(got) == len(rows) and all(c in CHANNELS for (c,) in got)


@settings(max_examples=40, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
       st.integers(min_value=-12 * 60, max_value=14 * 60))
def test_timestamps_normalise_to_utc_in_every_supported_form(dt, offset_min):
    dt = dt.replace(microsecond=(dt.microsecond // 1000) * 1000)
    tz = timezone(timedelta(minutes=offset_min))
    local = dt.replace(tzinfo=timezone.utc).astimezone(tz)
    sf = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")
    forms = [local.isoformat(), sf, str((dt - datetime(1970, 1, 1)) // timedelta(milliseconds=1))]  # exact: float ms can round down
    con = _CON
    for v in forms:
        assert con.execute(f"SELECT {parse_timestamp('$1')}", [v]).fetchone()[0] == dt, v
    us = dt.strftime("%m/%d/%Y %H:%M")
    assert con.execute(f"SELECT {parse_timestamp('$1')}", [us]).fetchone()[0] == dt.replace(second=0, microsecond=0)
    assert con.execute(f"SELECT {parse_timestamp('$1')}", ["2025-13-45"]).fetchone()[0] is None
