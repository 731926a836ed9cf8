"""Guard rails: commands on a store that changed since its last stitch stitch first (or refuse
with --no-stitch), and a command that finds nothing to attribute says why and what to run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from crm_exports import salesforce_crm_only, with_campaign_members, write
from revline.cli import app
from revline.ingest import load_files
from revline.journeys.freshness import StaleStoreError, ensure_stitched, restitch
from revline.store import connect
from revline.store.state import staleness

runner = CliRunner()


@pytest.fixture
def crm(tmp_path) -> Path:
    return with_campaign_members(salesforce_crm_only(tmp_path / "crm"))


def _ingest(db: Path, *paths: Path) -> None:
    con = connect(db)
    try:
        load_files(con, list(paths))
    finally:
        con.close()


def test_staleness_follows_ingest_stitch_and_direct_writes(tmp_path, crm):
    db = tmp_path / "s.duckdb"
    con = connect(db)
    assert not staleness(con).stale  # empty: nothing to stitch
    load_files(con, [crm])
    assert staleness(con).reasons == ("the store was never stitched",)
    restitch(con)
    assert not staleness(con).stale
    assert ensure_stitched(con) is None  # fresh: no second stitch
    # a writer that does not bump the counter (the collector appends touches) is caught by counts
    con.execute("INSERT INTO touchpoints (touchpoint_id, occurred_at, channel) VALUES ('x', now()::TIMESTAMP, 'direct')")
    assert any("touchpoints: +1" in r for r in staleness(con).reasons)
    with pytest.raises(StaleStoreError, match="revline stitch"):
        ensure_stitched(con, allow=False)
    assert ensure_stitched(con) is not None and not staleness(con).stale
    # spend is no stitch input: loading it leaves the store fresh
    write(tmp_path / "spend.csv", ["date", "channel", "spend"], [("2025-01-01", "email", "5")])
    load_files(con, [tmp_path / "spend.csv"])
    assert not staleness(con).stale
    write(tmp_path / "more.csv", ["Id", "AccountId", "Email", "CreatedDate"],
          [("003Z9", "001A", "zed@acme.com", "2025-03-01T00:00:00.000+0000")])
    load_files(con, [tmp_path / "more.csv"], fmt="salesforce")
    assert any("ingest" in r for r in staleness(con).reasons)
    con.close()


def test_attribute_on_an_unstitched_store_stitches_first_or_refuses(tmp_path, crm):
    db = tmp_path / "s.duckdb"
    _ingest(db, crm)
    res = runner.invoke(app, ["attribute", "--db", str(db), "--model", "linear", "--milestone", "won",
                              "--revenue-type", "new_business", "--no-stitch"])
    assert res.exit_code == 1
    assert f"revlinestitch--db{db}" in "".join(res.output.split())  # Rich may wrap inside the path
    con = connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] == 0
    con.close()
    res = runner.invoke(app, ["attribute", "--db", str(db), "--model", "linear", "--milestone", "won",
                              "--revenue-type", "new_business"])
    assert res.exit_code == 0, res.output
    assert "stitching first" in res.output
    con = connect(db, read_only=True)
    assert not staleness(con).stale
    attributed = con.execute("SELECT count(DISTINCT conversion_id) FROM credit_ledger WHERE touchpoint_id IS NOT NULL").fetchone()[0]
    con.close()
    assert attributed >= 2  # the webinar members' accounts (Acme, Globex) are credited
    res = runner.invoke(app, ["report", "--db", str(db), "--models", "linear", "--no-stitch"])
    assert res.exit_code == 0, res.output
    assert "webinar" in res.output


def test_report_and_paths_stitch_a_store_that_changed_through_read_only_commands(tmp_path, crm):
    db = tmp_path / "s.duckdb"
    _ingest(db, crm)
    assert runner.invoke(app, ["stitch", "--db", str(db)]).exit_code == 0
    assert runner.invoke(app, ["attribute", "--db", str(db), "--model", "linear", "--milestone", "won"]).exit_code == 0
    write(tmp_path / "CampaignMember2.csv", ["Id", "CampaignId", "ContactId", "LeadId", "Status", "CreatedDate"],
          [("00vC", "701W", "003C1", "", "Attended", "2025-01-25T00:00:00.000+0000")])
    _ingest(db, tmp_path / "CampaignMember2.csv")
    res = runner.invoke(app, ["report", "--db", str(db), "--models", "linear"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "stitching first" in out and "run `revline attribute` to refresh it" in out
    con = connect(db, read_only=True)
    assert not staleness(con).stale
    con.close()
    res = runner.invoke(app, ["paths", "export", str(tmp_path / "p.csv"), "--db", str(db), "--no-stitch"])
    assert res.exit_code == 0, res.output


def test_nothing_to_attribute_says_why_and_what_to_run(tmp_path):
    folder = tmp_path / "crm"
    salesforce_crm_only(folder)
    for name in ("Lead.csv",):
        (folder / name).unlink()
    db = tmp_path / "s.duckdb"
    # opportunities but no touchpoints at all (no Lead Source column is read before item 4, none after)
    for f in ("Contact.csv", "Opportunity.csv"):
        text = (folder / f).read_text().splitlines()
        cols = text[0].split(",")
        i = cols.index("LeadSource")
        (folder / f).write_text("\n".join(",".join(c for j, c in enumerate(line.split(",")) if j != i) for line in text) + "\n")
    _ingest(db, folder)
    res = runner.invoke(app, ["attribute", "--db", str(db)])
    assert res.exit_code == 1
    msg = " ".join(res.output.split())
    assert "nothing to attribute" in msg and "no touchpoints" in msg and "revline ingest" in msg
    res = runner.invoke(app, ["report", "--db", str(db)])
    assert res.exit_code == 1 and "no touchpoints" in " ".join(res.output.split())
    res = runner.invoke(app, ["paths", "export", str(tmp_path / "p.csv"), "--db", str(db)])
    assert res.exit_code == 1 and "no touchpoints" in " ".join(res.output.split())
    # touches that no stitch can tie to an account
    write(tmp_path / "touchpoints.csv", ["touchpoint_id", "occurred_at", "channel", "identity_type", "identity_value"],
          [("t1", "2025-01-01 00:00:00", "email", "anonymous_id", "anon-1")])
    _ingest(db, tmp_path / "touchpoints.csv")
    res = runner.invoke(app, ["attribute", "--db", str(db)])
    assert res.exit_code == 1 and "linked to an account" in " ".join(res.output.split())
    # a milestone nobody reached
    res = runner.invoke(app, ["report", "--db", str(db), "--revenue-type", "renewal"])
    assert res.exit_code == 1


def test_attribute_notes_empty_milestones_instead_of_rows_of_zeros(tmp_path, crm):
    db = tmp_path / "s.duckdb"
    _ingest(db, crm)
    res = runner.invoke(app, ["attribute", "--db", str(db), "--model", "linear", "--milestone", "won",
                              "--revenue-type", "new_business", "--revenue-type", "renewal"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "empty runs:" in out and "revenue type 'renewal'" in out


def test_one_staleness_rule_for_the_store_and_an_export_folder():
    """`stale_reasons` is the rule `staleness` (a store) and `folder_staleness` (an export
    folder's manifest) both apply: empty, never stitched, counters moved, events owed."""
    from revline.store.state import STITCHED_VERSION, stale_reasons

    at_stitch = {STITCHED_VERSION: 3, "data_version": 3, "stitched:touchpoints": 10, "stitched:events": 4}
    assert not stale_reasons({"touchpoints": 0}, 0, {}, 0).stale  # empty: nothing to stitch
    assert stale_reasons({"touchpoints": 1}, 0, {}, 0).reasons == ("the store was never stitched",)
    assert stale_reasons({}, 2, {"data_version": 1}, 0).reasons == ("the store was never stitched",)
    assert not stale_reasons({"touchpoints": 10, "events": 4}, 5, at_stitch, 0).stale
    moved = stale_reasons({"touchpoints": 12, "events": 4}, 5, {**at_stitch, "data_version": 4}, 7).reasons
    assert moved == ("7 collected event(s) not yet derived into touchpoints", "1 ingest(s) since the last stitch",
                     "touchpoints: +2 rows since the last stitch")
