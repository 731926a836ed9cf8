"""`revline funnel`, /api/funnel?level= and the dashboard panel show the same figures as
revline.models.funnel, on the hand store of test_funnel_model (figures worked out there)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import API_READ_KEY, API_WRITE_KEY
from test_funnel_model import _hand_store

from revline.journeys import funnel as journeys_funnel
from revline.models.funnel import funnel_report
from revline.store import connect
from revline.store.state import record_stitch
from revline.vocabulary import FUNNEL_REVENUE_TYPE

H = {"Authorization": f"Bearer {API_READ_KEY}"}


@pytest.fixture(scope="module")
def hand_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("funnel") / "hand.duckdb"
    con = _hand_store(str(path))
    record_stitch(con)
    con.close()
    return path


def _revline(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "revline", "funnel", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_shows_the_win_rate_and_stages(hand_db, tmp_path):
    out = tmp_path / "stages.csv"
    done = _revline("--level", "opportunity", "--db", str(hand_db), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "deals (opportunity level), new_business" in text
    assert "66.7 %" in text  # win rate 2 won / 3 closed
    for stage in ("qualification", "proposal", "negotiation", "won"):
        assert stage in text
    assert "Leakage" in text and "Pipeline coverage" in text
    import pandas as pd

    saved = pd.read_csv(out)
    assert list(saved["count"]) == [4, 4, 3, 2, 2] and set(saved["level"]) == {"opportunity"}
    split = _revline("--level", "lead", "--by", "region", "--section", "win-rate", "--db", str(hand_db))
    assert split.returncode == 0, split.stderr
    assert "NA" in split.stdout and "APAC" in split.stdout and "Funnel:" not in split.stdout


@pytest.mark.parametrize("args,message", [
    (["--level", "person"], "level must be one of"),
    (["--by", "colour"], "--by must be one of"),
    (["--section", "everything"], "--section"),
    (["--start", "soon"], "start must be a date"),
])
def test_cli_errors_are_one_line(hand_db, args, message):
    done = _revline(*args, "--db", str(hand_db))
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr + done.stdout


@pytest.fixture(scope="module")
def client(hand_db, tmp_path_factory):
    import shutil

    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    path = tmp_path_factory.mktemp("funnel-api") / "hand.duckdb"
    shutil.copy(hand_db, path)
    app = create_app(path, write_key=API_WRITE_KEY, read_key=API_READ_KEY, derive=False)
    with TestClient(app) as c:
        yield c, path
    close_app(app)


def test_api_default_answer_is_unchanged(client):
    """No level: the account funnel of revline.journeys, same fields as before."""
    c, _ = client
    body = c.get("/api/funnel", headers=H).json()
    assert {"revenue_type", "start", "end", "stages"} <= set(body) and "level" not in body
    stages = [(s["stage"], s["count"]) for s in body["stages"]]
    assert stages[-2:] == [("opportunity", 4), ("won", 2)]
    every = c.get("/api/funnel?revenue_type=all", headers=H).json()  # no account funnel of "all" before: the level one
    assert (every["level"], every["revenue_type"], every["stages"][-1]["count"]) == ("account", "all", 2)


def test_api_level_matches_the_model(client, hand_db):
    c, _ = client
    body = c.get("/api/funnel?level=opportunity&by=size_band", headers=H).json()
    assert (body["level"], body["unit"], body["revenue_type"], body["by"]) == ("opportunity", "deals", "new_business",
                                                                             "size_band")
    con = connect(hand_db, read_only=True)
    try:
        model = funnel_report(con, "opportunity", by="size_band")
        account = journeys_funnel(con)
    finally:
        con.close()
    assert [(s["key"], s["stage"], s["count"]) for s in body["stages"]] == \
        list(model.stages[["key", "stage", "count"]].itertuples(index=False, name=None))
    total = next(w for w in body["win_rate"] if w["key"] == "all")
    assert total["win_rate"] == pytest.approx(2 / 3) and total["closed"] == 3
    assert {w["key"] for w in body["win_rate"]} == {"all", "1-49", "50-199", "1000-4999", "(unknown)"}
    assert body["coverage"] and body["leakage"]
    assert body["definition"]["text"].startswith("deals (opportunity level) · new business")
    acc = c.get("/api/funnel?level=account", headers=H).json()
    assert [s["count"] for s in acc["stages"]] == list(account["count"])
    far = c.get("/api/funnel?as_of=8135-11-27&level=account&end=0164-05-06&by=channel&revenue_type=expansion",
                headers=H)
    assert far.status_code == 200 and far.json()["stages"][0]["count"] == 0  # nobody entered before year 164
    assert c.get("/api/funnel?level=lead&by=colour", headers=H).status_code == 422
    owners = {w["key"]: w for w in c.get("/api/funnel?level=opportunity&by=owner", headers=H).json()["win_rate"]}
    assert owners["Ana"]["win_rate"] == 1.0 and owners["Ben"]["win_rate"] == 0.0
    na = c.get("/api/funnel?level=lead&segment=NA", headers=H).json()
    assert na["segment"] == "NA" and [s["count"] for s in na["stages"]] == [2, 1, 1, 1, 1]
    assert "region NA" in na["definition"]["text"]
    early = c.get("/api/funnel?level=opportunity&as_of=2024-06-10", headers=H).json()
    assert early["as_of"].startswith("2024-06-10") and early["win_rate"][0]["deals"] == 3


def test_every_funnel_screen_reads_the_vocabulary_default(client, hand_db, tmp_path):
    """No revenue type named: `revline funnel`, /api/funnel (with and without level) and
    funnel_report read vocabulary.FUNNEL_REVENUE_TYPE, as both dashboard funnels do under the
    page's "all" (they send no type), so one funnel shows one number everywhere; `all` is one flag away."""
    import pandas as pd

    c, _ = client
    con = connect(hand_db, read_only=True)
    try:
        for level in ("lead", "opportunity", "account"):
            model = funnel_report(con, level)
            assert model.definition.revenue_type == FUNNEL_REVENUE_TYPE
            body = c.get(f"/api/funnel?level={level}", headers=H).json()
            assert body["revenue_type"] == FUNNEL_REVENUE_TYPE
            assert [s["count"] for s in body["stages"]] == list(model.stages["count"])
        default = funnel_report(con, "opportunity").stages
        every = funnel_report(con, "opportunity", revenue_type="all").stages
        account = journeys_funnel(con)
    finally:
        con.close()
    assert list(default["count"]) != list(every["count"])  # the hand store's other deal types: the default matters
    bare = c.get("/api/funnel", headers=H).json()
    assert bare["revenue_type"] == FUNNEL_REVENUE_TYPE and [s["count"] for s in bare["stages"]] == list(account["count"])
    out = tmp_path / "default.csv"
    done = _revline("--level", "opportunity", "--db", str(hand_db), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"deals (opportunity level), {FUNNEL_REVENUE_TYPE}" in done.stdout
    assert list(pd.read_csv(out)["count"]) == list(default["count"])
    done = _revline("--level", "opportunity", "--revenue-type", "all", "--db", str(hand_db), "--out", str(out))
    assert done.returncode == 0 and list(pd.read_csv(out)["count"]) == list(every["count"])


def test_dashboard_has_the_funnel_panel(client):
    c, _ = client
    c.cookies.set("rl_read_key", API_READ_KEY)
    page = c.get("/dashboard").text
    for element in ('id="funnel-level"', 'id="funnel-by"', 'id="funnel-win-rate"', 'id="funnel-levels-table"',
                    'id="funnel-leakage-table"', "/static/panels/funnel-levels.js"):
        assert element in page
    script = c.get("/static/panels/funnel-levels.js").text
    assert 'r.api("funnel", params)' in script and "r.register(load)" in script


def test_lead_funnel_of_an_mql_export_without_contact_roles(tmp_path):
    """Issue 23's case: an export of MQLs, two converted into deals (one won), no contact roles. The
    lead level shows MQL -> won (8 -> 1), not the same count at every stage."""
    from crm_exports import write

    from revline.identity import stitch
    from revline.ingest import load_files
    from revline.journeys import build

    folder = tmp_path / "sf"
    folder.mkdir()
    write(folder / "Account.csv", ["Id", "Name", "Website", "CreatedDate"],
          [("001A", "Acme", "acme.com", "2025-01-01T00:00:00.000+0000"), ("001B", "Beta", "beta.com", "2025-01-01T00:00:00.000+0000")])
    leads = [("00Q1", "a@acme.com", "001A", "006A"), ("00Q2", "b@beta.com", "001B", "006B")] + \
        [(f"00Q{i}", f"p{i}@x{i}.com", "", "") for i in range(3, 9)]
    write(folder / "Lead.csv", ["Id", "Email", "FirstName", "LastName", "Company", "Status", "CreatedDate", "MQL_Date__c",
                                "IsConverted", "ConvertedAccountId", "ConvertedOpportunityId"],
          [(i, e, "L", "X", "Co", "Open", "2025-01-10T09:00:00.000+0000", "2025-01-11", "true" if a else "false", a, o)
           for i, e, a, o in leads])
    write(folder / "Opportunity.csv", ["Id", "AccountId", "Name", "StageName", "Amount", "CreatedDate", "CloseDate",
                                       "IsClosed", "IsWon"],
          [("006A", "001A", "A", "Closed Won", "100", "2025-02-01T10:00:00.000+0000", "2025-02-01", "true", "true"),
           ("006B", "001B", "B", "Closed Lost", "100", "2025-02-01T10:00:00.000+0000", "2025-03-01", "true", "false")])
    con = connect(tmp_path / "s.duckdb")
    load_files(con, [folder])
    stitch(con)
    build(con)
    r = funnel_report(con, "lead")
    con.close()
    counts = dict(zip(r.stages["stage"], r.stages["count"]))
    assert (counts["mql"], counts["opportunity"], counts["won"]) == (8, 2, 1)
    w = r.win_rate.iloc[0]
    assert (w["won"], w["lost"], w["win_rate"]) == (1, 1, 0.5)
    # 006A closes on its creation day with a date-only close (midnight, before 10:00): 0 days, not negative
    assert (r.stages[["days_p25", "days_median", "days_p75"]].stack().dropna() >= 0).all()
