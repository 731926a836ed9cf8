"""The shared screen (issue 22 items 2-4): one default and one definition on every surface, the
revenue-type and region filters, campaigns by name with a parent/child rollup, and sourced vs
influenced counted per opportunity within a window.

The store is built for it: four accounts in three regions and one without a country, deals in
USD, EUR, GBP and JPY of three revenue types, campaign programs with spend on the parent and
touches on the children (email) and the reverse (webinar), and a touch outside the influence
window. Every expected figure is computed here from these rows (linear credit by hand: each of an
account's touches up to the close date gets an equal share), never copied from an output.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from attribution_data import make_store
from typer.testing import CliRunner

from conftest import API_READ_KEY, API_WRITE_KEY
from revline.attribution import run_models
from revline.vocabulary import DEFAULT_INFLUENCE_WINDOW_DAYS, DEFAULT_REVENUE_TYPE, REGION_OF_COUNTRY, USD_RATES

H = {"Authorization": f"Bearer {API_READ_KEY}"}
COUNTRY = {"A1": "United States", "A2": "DE", "A3": "Japan", "A4": None}
REGION = {a: (REGION_OF_COUNTRY[c.upper()] if c else "unknown") for a, c in COUNTRY.items()}
DEALS = [  # id, account, revenue type, amount, currency, created, closed
    ("O1", "A1", "new_business", 100_000, "USD", "2024-02-01", "2024-03-01"),
    ("O2", "A2", "new_business", 50_000, "EUR", "2024-02-05", "2024-03-10"),
    ("O3", "A3", "expansion", 2_000_000, "JPY", "2024-02-01", "2024-03-15"),
    ("O4", "A4", "renewal", 30_000, "GBP", "2024-02-10", "2024-03-20"),
    ("O5", "A1", "renewal", 20_000, "USD", "2024-02-15", "2024-03-25"),
]
CAMPAIGNS = [  # id, name, channel, parent
    ("EM", "Email nurture program", "email", None),
    ("EM1", "Nurture email 1", "email", "EM"),
    ("EM2", "Nurture email 2", "email", "EM"),
    ("WB", "Webinar series", "webinar", None),
    ("WB1", "Webinar: pricing", "webinar", "WB"),
    ("PS", "Brand search", "paid_search", None),
]
PARENT = {c: p for c, _, _, p in CAMPAIGNS}
NAME = {c: n for c, n, _, _ in CAMPAIGNS}
TOUCHES = [  # id, date, account, channel, campaign
    ("t1", "2024-01-05", "A1", "paid_search", "PS"),
    ("t2", "2024-01-10", "A1", "email", "EM1"),
    ("t3", "2024-01-20", "A1", "webinar", "WB"),  # touches on the webinar parent, spend on its child
    ("t4", "2024-01-08", "A2", "email", "EM2"),
    ("t5", "2024-01-25", "A2", "paid_search", "PS"),
    ("t6", "2024-01-03", "A3", "webinar", "WB"),
    ("t7", "2023-06-01", "A3", "email", "EM1"),  # 245 days before O3 was created: outside the window
    ("t8", "2024-01-15", "A4", "email", "EM2"),
]
SPEND = [  # date, channel, campaign, amount, currency
    ("2024-01-10", "email", "EM", 10_000, "USD"),  # on the email program (parent) only
    ("2024-01-10", "webinar", "WB1", 4_000, "EUR"),  # on the webinar child only
    ("2024-01-10", "paid_search", "PS", 5_000, "GBP"),
]
USD = {d[0]: d[3] * USD_RATES[d[4]] for d in DEALS}
TABLES = {
    "accounts": [{"account_id": a, "name": f"Account {a}"} for a in COUNTRY],
    "people": [{"person_id": f"P{a}", "account_id": a} for a in COUNTRY],
    "touchpoints": [{"touchpoint_id": t, "occurred_at": d, "person_id": f"P{a}", "account_id": a, "channel": ch,
                     "campaign_id": c, "touch_type": "page_view"} for t, d, a, ch, c in TOUCHES],
    "milestones": [{"object_type": "person", "object_id": f"P{a}", "person_id": f"P{a}", "account_id": a,
                    "milestone": "lead", "occurred_at": "2024-01-26"} for a in COUNTRY],
    "opportunities": [{"opportunity_id": o, "account_id": a, "revenue_type": rt, "amount": amt, "currency": cur,
                       "created_at": cr, "closed_at": cl, "is_closed": True, "is_won": True, "probability": 1.0}
                      for o, a, rt, amt, cur, cr, cl in DEALS],
    "spend": [{"date": d, "channel": ch, "campaign_id": c, "spend": s, "currency": cur} for d, ch, c, s, cur in SPEND],
    "campaigns": [{"campaign_id": c, "name": n, "channel": ch} for c, n, ch, _ in CAMPAIGNS],
    "targets": [
        {"period_start": "2024-01-01", "period_end": "2024-03-31", "segment": "all", "revenue_target": 400_000,
         "pipeline_target": 800_000},
        {"period_start": "2024-01-01", "period_end": "2024-03-31", "segment": "EMEA", "revenue_target": 100_000,
         "pipeline_target": 200_000},
    ],
}
MODELS = ["linear", "w_shaped", "first_touch"]


def _keep(deal, revenue_type="all", segment="all") -> bool:
    return (revenue_type == "all" or deal[2] == revenue_type) and (segment == "all" or REGION[deal[1]] == segment)


def linear_credit(key, revenue_type="all", segment="all") -> dict[str, float]:
    """Won revenue (USD) per key(touch) by hand: each touch of the deal's account up to the close
    date gets an equal share of the deal."""
    out: dict[str, float] = defaultdict(float)
    for deal in DEALS:
        if not _keep(deal, revenue_type, segment):
            continue
        touches = [t for t in TOUCHES if t[2] == deal[1] and t[1] <= deal[6]]
        for t in touches:
            out[key(t)] += USD[deal[0]] / len(touches)
    return dict(out)


def program(campaign: str) -> str:
    while PARENT.get(campaign):
        campaign = PARENT[campaign]
    return campaign


def build_store(db) -> None:
    """Write the store of this module's rows, attributed, to `db` (the dashboard's browser tests use it too)."""
    con = make_store(TABLES, str(db))
    for a, c in COUNTRY.items():
        con.execute("UPDATE accounts SET country = ? WHERE account_id = ?", [c, a])
    for c, p in PARENT.items():
        con.execute("UPDATE campaigns SET parent_id = ? WHERE campaign_id = ?", [p, c])
    run_models(con, MODELS, ["won", "opportunity"])
    con.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("shared-screen") / "store.duckdb"
    build_store(db)
    return db


@pytest.fixture(scope="module")
def con(store):
    import revline

    c = revline.connect(store, read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def client(store, tmp_path_factory):
    import shutil

    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    copy = tmp_path_factory.mktemp("shared-screen-api") / "store.duckdb"
    shutil.copy(store, copy)
    app = create_app(copy, write_key=API_WRITE_KEY, read_key=API_READ_KEY, warm=False, derive=False)
    with TestClient(app) as c:
        yield c
    close_app(app)


def cli(store, tmp_path, *args: str) -> tuple[pd.DataFrame, str]:
    """`revline <args> --out x.json` as a user runs it: the saved table and the printed text."""
    from revline.cli import app

    out = tmp_path / "out.json"
    res = CliRunner().invoke(app, [*args, "--db", str(store), "--out", str(out)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    return pd.DataFrame(json.loads(out.read_text())), " ".join(res.output.split())


# ------------------------------------------------------------------ item 2: one default, one definition
def test_the_default_revenue_type_is_one_on_every_surface(store, con, client, tmp_path):
    """W-shaped ROAS per channel: the CLI's default, the API's default and the dashboard's tiles
    read one basis (all revenue types), and each says so."""
    from revline.reports.roi import roi_table

    table, text = cli(store, tmp_path, "report", "--roi", "--raw", "--models", "w_shaped")
    api = client.get("/api/roi", params={"model": "w_shaped"}, headers=H).json()
    assert api["revenue_type"] == DEFAULT_REVENUE_TYPE == "all"
    want = roi_table(con, "w_shaped", revenue_type="all").set_index("channel")
    cli_roas = table.set_index("channel")["roas"]
    for r in api["rows"]:
        assert r["roas"] == pytest.approx(want.loc[r["key"], "roas"], nan_ok=True)
        assert r["roas"] == pytest.approx(cli_roas[r["key"]], nan_ok=True) if r["roas"] is not None \
            else pd.isna(cli_roas[r["key"]])
    nb = roi_table(con, "w_shaped", revenue_type="new_business").set_index("channel")
    assert nb.loc["paid_search", "roas"] != pytest.approx(want.loc["paid_search", "roas"])  # the basis matters
    stated = "all revenue types (new business, renewal, expansion)"
    assert stated in text and stated in api["definition"]["text"] and "USD" in api["definition"]["text"]
    kpis = client.get("/api/kpis", params={"model": "w_shaped"}, headers=H).json()
    assert all(stated in d["text"] for d in kpis["definitions"].values())


@pytest.mark.parametrize("revenue_type", ["all", "new_business", "renewal"])
@pytest.mark.parametrize("segment", ["all", "NA", "EMEA"])
def test_revenue_won_and_attributed_share_one_basis(client, revenue_type, segment):
    k = client.get("/api/kpis", params={"model": "linear", "revenue_type": revenue_type, "segment": segment},
                   headers=H).json()
    won = sum(USD[d[0]] for d in DEALS if _keep(d, revenue_type, segment))
    assert k["revenue"] == pytest.approx(won)
    assert k["attributed_revenue"] + k["unattributed_revenue"] == pytest.approx(won)
    assert k["attributed_revenue"] == pytest.approx(sum(linear_credit(lambda t: t[3], revenue_type, segment).values()))
    for d in (k["definitions"]["revenue"], k["definitions"]["attributed"]):
        assert d["revenue_type"] == revenue_type and d["segment"] == segment and d["currency"] == "USD"
        assert ("all regions" if segment == "all" else f"region {segment}") in d["text"]


@pytest.mark.parametrize("revenue_type", ["all", "new_business", "expansion"])
@pytest.mark.parametrize("segment", ["all", "NA", "EMEA", "APAC", "unknown"])
def test_attribution_filters_on_every_surface_equal_the_hand_computation(store, client, tmp_path, revenue_type, segment):
    want = linear_credit(lambda t: t[3], revenue_type, segment)
    api = client.get("/api/attribution", params={"model": "linear", "revenue_type": revenue_type,
                                                 "segment": segment.lower()}, headers=H).json()
    assert {r["key"]: r["revenue_credit"] for r in api["rows"]} == pytest.approx(want)
    table, text = cli(store, tmp_path, "report", "--models", "linear", "--revenue-type", revenue_type,
                      "--segment", segment) if want else (pd.DataFrame({"channel": [], "linear": []}), "")
    assert dict(zip(table["channel"], table["linear"])) == pytest.approx(want)
    if want:
        assert api["definition"]["text"] in text  # the same words on both screens


def test_regional_target_against_its_regions_deals(client, con):
    from revline.reports.revenue import target_periods

    emea = client.get("/api/revenue-vs-target", params={"segment": "emea"}, headers=H).json()
    won = sum(USD[d[0]] for d in DEALS if REGION[d[1]] == "EMEA")
    assert [r["revenue"] for r in emea["rows"]] == pytest.approx([won])
    assert emea["rows"][0]["revenue_attainment"] == pytest.approx(won / 100_000)
    assert target_periods(con, "EMEA")["revenue"].tolist() == pytest.approx([won])
    assert "region EMEA" in emea["definition"]["text"]


def test_an_unknown_segment_is_refused_naming_the_regions(store, client, tmp_path):
    from revline.cli import app

    assert client.get("/api/kpis", params={"segment": "mars"}, headers=H).status_code == 422
    res = CliRunner().invoke(app, ["report", "--db", str(store), "--segment", "mars"])
    assert res.exit_code == 1 and "EMEA" in res.output and "Traceback" not in res.output


# ------------------------------------------------------------------ item 3: campaigns by name, rolled up
def _spend_usd(level_key) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for _, _, c, s, cur in SPEND:
        out[level_key(c)] += s * USD_RATES[cur]
    return dict(out)


def test_roi_by_program_rolls_children_up(store, client, con, tmp_path):
    revenue = linear_credit(lambda t: program(t[4]))
    spend = _spend_usd(program)
    api = client.get("/api/roi", params={"model": "linear", "by": "campaign"}, headers=H).json()
    assert api["campaign_level"] == "program"
    rows = {r["key"]: r for r in api["rows"]}
    assert set(rows) == {"EM", "WB", "PS"}
    for key, r in rows.items():
        assert r["name"] == NAME[key]
        assert r["spend"] == pytest.approx(spend[key]) and r["attributed_revenue"] == pytest.approx(revenue[key])
        assert r["roi"] == pytest.approx((revenue[key] - spend[key]) / spend[key])
    assert rows["EM"]["roi"] > 0  # was -100 %: spend on the program, revenue on its children
    table, text = cli(store, tmp_path, "report", "--roi", "--by", "campaign", "--models", "linear")
    assert dict(zip(table["campaign"], table["campaign_name"])) == {k: NAME[k] for k in rows}
    assert dict(zip(table["campaign"], table["roi"])) == pytest.approx({k: r["roi"] for k, r in rows.items()})
    assert "campaigns at program level" in text


def test_roi_at_campaign_level_is_over_each_campaign_and_its_children(client):
    own_revenue = linear_credit(lambda t: t[4])
    own_spend = _spend_usd(lambda c: c)
    api = client.get("/api/roi", params={"model": "linear", "by": "campaign", "campaign_level": "campaign"},
                     headers=H).json()
    rows = {r["key"]: r for r in api["rows"]}
    for key, r in rows.items():
        assert r["spend"] == pytest.approx(own_spend.get(key, 0.0))
        assert r["attributed_revenue"] == pytest.approx(own_revenue.get(key, 0.0))
        family = [c for c in NAME if c == key or PARENT.get(c) == key]
        h_spend, h_rev = sum(own_spend.get(c, 0) for c in family), sum(own_revenue.get(c, 0) for c in family)
        assert r["roi"] == (pytest.approx((h_rev - h_spend) / h_spend) if h_spend else None), key
    assert rows["EM"]["roi"] > 0 and rows["EM1"]["roi"] is None  # the program is judged with its children
    assert rows["WB"]["roi"] > 0 and rows["WB1"]["roi"] == pytest.approx(-1.0)  # the reverse: a child alone


def test_attribution_by_campaign_shows_names_and_keeps_ids(client, store, tmp_path):
    for level, key in (("program", lambda t: program(t[4])), ("campaign", lambda t: t[4])):
        api = client.get("/api/attribution", params={"model": "linear", "by": "campaign", "campaign_level": level},
                         headers=H).json()
        assert {r["key"]: r["revenue_credit"] for r in api["rows"]} == pytest.approx(linear_credit(key))
        assert {r["key"]: r["name"] for r in api["rows"]} == {k: NAME[k] for k in linear_credit(key)}
        table, _ = cli(store, tmp_path, "report", "--by", "campaign", "--models", "linear", "--campaign-level", level)
        assert dict(zip(table["campaign"], table["campaign_name"])) == {k: NAME[k] for k in linear_credit(key)}


def test_html_report_states_definitions_and_campaign_names(con):
    from revline.reports.html import build_sections

    sections = {t: (n, b) for t, n, b in build_sections(con)}
    note, body = next(v for t, v in sections.items() if t.startswith("ROI by campaign program"))
    assert all(NAME[p] in body for p in ("EM", "WB", "PS")) and "Nurture email 1" not in body
    assert "campaigns at program level" in note
    for title, (note, _) in sections.items():
        if title.startswith(("Revenue by channel", "Pipeline by channel", "ROI, CAC")):
            assert "all revenue types" in note and "USD" in note and "all regions" in note, title


# ------------------------------------------------------------------ item 4: sourced vs influenced
def influenced_by_hand(window_days: int, revenue_type="all") -> dict[str, set[str]]:
    """Opportunities per channel with a touch of it in the window before creation (by hand)."""
    out: dict[str, set[str]] = defaultdict(set)
    for o, a, rt, _, _, created, _ in DEALS:
        if revenue_type != "all" and rt != revenue_type:
            continue
        for _, d, acc, ch, _ in TOUCHES:
            days = (pd.Timestamp(created) - pd.Timestamp(d)).days
            if acc == a and 0 <= days <= window_days:
                out[ch].add(o)
    return dict(out)


@pytest.mark.parametrize("window", [DEFAULT_INFLUENCE_WINDOW_DAYS, 365, 0])
def test_influence_counts_opportunities_in_the_window(store, client, tmp_path, window):
    want = influenced_by_hand(window)
    table, text = cli(store, tmp_path, "influence", "--influence-window-days", str(window))
    got = {r["channel"]: r["influenced_opportunities"] for _, r in table.iterrows() if r["influenced_opportunities"]}
    assert got == {ch: len(opps) for ch, opps in want.items()}
    pipeline = {ch: sum(USD[o] for o in opps) for ch, opps in want.items()}
    api = client.get("/api/influence", params={"window_days": window}, headers=H).json()
    assert {r["key"]: r["influenced_pipeline"] for r in api["rows"] if r["influenced_opportunities"]} \
        == pytest.approx(pipeline)
    assert {r["key"]: r["influenced_share"] for r in api["rows"] if r["influenced_opportunities"]} \
        == pytest.approx({ch: len(o) / len(DEALS) for ch, o in want.items()})
    assert f"in the {window} days before creation" in text and f"in the {window} days" in api["definition"]["text"]


def test_the_default_window_leaves_out_the_old_touch():
    default, year = influenced_by_hand(DEFAULT_INFLUENCE_WINDOW_DAYS), influenced_by_hand(365)
    assert "O3" not in default["email"] and "O3" in year["email"]  # t7: 245 days before O3 was created
    assert default["email"] == {"O1", "O2", "O4", "O5"}  # A1's one email touch counts for both its deals


def test_influence_by_campaign_program_shows_names(client):
    api = client.get("/api/influence", params={"by": "campaign"}, headers=H).json()
    rows = {r["key"]: r for r in api["rows"] if r["influenced_opportunities"]}
    assert {k: r["name"] for k, r in rows.items()} == {k: NAME[k] for k in rows}
    assert rows["EM"]["influenced_opportunities"] == len(influenced_by_hand(DEFAULT_INFLUENCE_WINDOW_DAYS)["email"])


def test_one_place_defines_the_defaults():
    """The CLI, the operations, the API and the reports take their defaults from the vocabulary."""
    import inspect
    from typing import get_args

    from revline.api.read_api import filters
    from revline.api.responses import Segment
    from revline.ops.influence import influence
    from revline.ops.report import report
    from revline.reports.influence import sourced_vs_influenced
    from revline.reports.roi import roi_table
    from revline.reports.segments import SEGMENTS
    from revline.vocabulary import DEFAULT_CAMPAIGN_LEVEL, DEFAULT_SEGMENT

    for fn in (report, influence, roi_table, sourced_vs_influenced):
        assert inspect.signature(fn).parameters["revenue_type"].default == DEFAULT_REVENUE_TYPE, fn
    assert inspect.signature(influence).parameters["window_days"].default == DEFAULT_INFLUENCE_WINDOW_DAYS
    assert filters(campaign_level=None) == {"revenue_type": DEFAULT_REVENUE_TYPE, "segment": DEFAULT_SEGMENT,
                                            "campaign_level": DEFAULT_CAMPAIGN_LEVEL}
    assert {s.lower() for s in get_args(Segment)} == {s.lower() for s in SEGMENTS}


def test_journeys_name_their_campaigns(store, client):
    from revline.cli import app

    events = client.get("/api/accounts/A1/journey", headers=H).json()["events"]
    touches = {e["ref"]: e for e in events if e["kind"] == "touch"}
    want = {t: c for t, _, a, _, c in TOUCHES if a == "A1"}
    assert {r: (e["campaign_id"], e["campaign_name"]) for r, e in touches.items()} == {t: (c, NAME[c]) for t, c in want.items()}
    res = CliRunner().invoke(app, ["journey", "A1", "--db", str(store)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert all(NAME[c] in res.output for c in want.values())


def test_html_campaign_figures_equal_the_hand_computation(con):
    from revline.reports.html import _money, build_sections
    from revline.reports.roi import roi_table

    body = next(b for t, _, b in build_sections(con) if t.startswith("ROI by campaign program"))
    cells = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    table = {c[1]: c for c in cells if c}  # columns: name, id, spend, pipeline, revenue, roas, roi
    spend = _spend_usd(program)
    revenue = roi_table(con, "w_shaped", by="campaign").set_index("campaign")["revenue"]
    assert revenue.sum() == pytest.approx(sum(USD.values()))  # every won dollar sits on a program or '(none)'
    for key in ("EM", "WB", "PS"):
        assert table[key][0] == NAME[key]
        assert table[key][2] == _money(spend[key]) and table[key][4] == _money(revenue[key])


def test_a_targets_segment_that_is_no_region_keeps_its_targets_without_actuals(store, tmp_path):
    import shutil

    import revline
    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    db = tmp_path / "s.duckdb"
    shutil.copy(store, db)
    con = revline.connect(db)
    con.execute("INSERT INTO targets VALUES ('2024-01-01', '2024-03-31', 'enterprise', 250000, 500000)")
    con.close()
    app = create_app(db, write_key=API_WRITE_KEY, read_key=API_READ_KEY, warm=False, derive=False)
    with TestClient(app) as c:
        res = c.get("/api/revenue-vs-target", params={"segment": "enterprise"}, headers=H).json()
    close_app(app)
    assert [(r["revenue_target"], r["revenue"], r["revenue_attainment"]) for r in res["rows"]] == [(250_000, None, None)]
    assert "targets only" in res["definition"]["text"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.integers(0, 400), b=st.integers(0, 400))
def test_influence_grows_with_the_window_and_counts_each_opportunity_once(con, a, b):
    from revline.reports.influence import influenced

    small, large = sorted((a, b))
    lo, total = influenced(con, window_days=small)
    hi, _ = influenced(con, window_days=large)
    lo, hi = lo.set_index("channel"), hi.set_index("channel")
    assert set(lo.index) <= set(hi.index)
    for ch in lo.index:
        assert lo.loc[ch, "influenced_opportunities"] <= hi.loc[ch, "influenced_opportunities"] <= total == len(DEALS)
    want = influenced_by_hand(large)
    assert hi["influenced_opportunities"].to_dict() == {ch: len(o) for ch, o in want.items()}
