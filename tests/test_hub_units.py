"""The hub's parts in one process: result codec, job table, admin key, atomic operations, adverts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.ops import codec
from revline.store import atomic, connect, transaction
from revline.store.errors import StoreLockedError
from revline.store.hub import Advert, advert_path, read_advert, snapshot_path, write_advert


# ------------------------------------------------------------------ codec
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=20),
                      st.floats(allow_nan=False), st.sampled_from([float("inf"), float("-inf")]))
values = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=8).filter(lambda k: not k.startswith("__")), inner, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(values)
def test_codec_round_trips_plain_values(value):
    assert codec.decode(json.loads(json.dumps(codec.encode(value)))) == value


def test_codec_keeps_reports_frames_and_dtypes():
    from revline.identity.stitch import StitchReport
    from revline.ingest.report import IngestReport, TableCount
    from revline.ops.stitch import StitchResult

    frame = pd.DataFrame({"channel": ["email", "paid_search"], "revenue": [1.5, 2.25], "n": [1, 2],
                          "day": pd.to_datetime(["2026-01-01", "2026-02-01"])})
    report = IngestReport(entries=[TableCount("f.csv", "salesforce", "Account", "accounts")],
                          unmapped_types=Counter({"Upsell": 3}))
    result = StitchResult(StitchReport(1, 2, 3, 4, 5, 6, 7, 8, {"crm": 8}), [("person", "lead", 3)])
    back = codec.decode(json.loads(json.dumps(codec.encode(
        {"frame": frame, "report": report, "stitch": result, "when": datetime(2026, 1, 2, 3), "d": date(2026, 1, 2),
         "path": Path("/x/y"), (1, "a"): "tuple key"}))))
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert back["report"] == report and back["stitch"] == result
    assert back["when"] == datetime(2026, 1, 2, 3) and back["d"] == date(2026, 1, 2) and back["path"] == Path("/x/y")
    assert back[(1, "a")] == "tuple key"


def test_codec_rebuilds_only_revline_dataclasses():
    with pytest.raises(ValueError, match="not a revline type"):
        codec.decode({"__dc__": "subprocess:Popen", "fields": {}})
    with pytest.raises(ValueError, match="not a dataclass"):
        codec.decode({"__dc__": "revline.store.errors:StoreLockedError", "fields": {}})


# ------------------------------------------------------------------ atomic operations
def test_atomic_makes_inner_transactions_all_or_nothing(tmp_path):
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE t (x INT)")
    with pytest.raises(RuntimeError):
        with atomic(con):
            with transaction(con):
                con.execute("INSERT INTO t VALUES (1)")
            with transaction(con):  # committed on its own outside `atomic`; here it joins
                con.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("the operation fails after two inner commits")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    with atomic(con):
        with transaction(con):
            con.execute("INSERT INTO t VALUES (3)")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    with transaction(con):  # outside, transaction() commits by itself again
        con.execute("INSERT INTO t VALUES (4)")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 2


# ------------------------------------------------------------------ adverts and busy stores
def test_stale_advert_is_removed_and_a_live_one_kept(tmp_path):
    db = tmp_path / "s.duckdb"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    write_advert(db, Advert("http://127.0.0.1:1", dead.pid, "k", str(snapshot_path(db)), "now"))
    assert read_advert(db) is None and not advert_path(db).exists()
    write_advert(db, Advert("http://127.0.0.1:1", os.getpid(), "k", str(snapshot_path(db)), "now"))
    assert read_advert(db).pid == os.getpid()


def test_a_store_locked_by_another_process_is_one_line_not_duckdbs_error(tmp_path):
    db = tmp_path / "locked.duckdb"
    connect(db).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
                               "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for read_only in (False, True):
            with pytest.raises(StoreLockedError, match=str(holder.pid)) as exc:
                connect(db, read_only=read_only)
            assert "Conflicting lock" not in str(exc.value)
    finally:
        holder.kill()
        holder.wait(timeout=30)


# ------------------------------------------------------------------ the admin API in process
@pytest.fixture()
def app_client(tmp_path):
    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    db = tmp_path / "a.duckdb"
    connect(db).close()
    app = create_app(db, "hub-unit-write-key-0", "hub-unit-read-key-00", admin_key="hub-unit-admin-key-0", fsync=False, warm=False, snapshot_seconds=None)
    with TestClient(app) as client:
        yield client, db
    close_app(app)


def _wait(client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/admin/jobs/{job_id}", headers={"Authorization": "Bearer hub-unit-admin-key-0"}).json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not end")


def test_admin_api_needs_its_own_key(app_client):
    client, db = app_client
    for key in (None, "hub-unit-read-key-00", "hub-unit-write-key-0"):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        assert client.get("/admin/queue", headers=headers).status_code == 401
    assert client.get("/admin/queue", headers={"Authorization": "Bearer hub-unit-admin-key-0"}).status_code == 200
    key_file = db.with_name(db.name + ".admin-key")
    assert key_file.read_text().strip() == "hub-unit-admin-key-0"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_admin_errors_are_one_line_as_documented(app_client):
    """A body FastAPI cannot read gets the admin router's documented ErrorResponse (detail: a
    string): 400 when it is not JSON, 422 naming the bad field otherwise; the read API keeps its list."""
    client, _ = app_client
    auth = {"Authorization": "Bearer hub-unit-admin-key-0"}
    schema = client.app.openapi()["paths"]["/admin/jobs"]["post"]["responses"]
    assert {schema[c]["content"]["application/json"]["schema"]["$ref"] for c in ("400", "422")} == {
        "#/components/schemas/ErrorResponse"}
    for body in (b"\x00", b"not json", b'{"op": '):
        r = client.post("/admin/jobs", content=body, headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 400 and isinstance(r.json()["detail"], str) and "not JSON" in r.json()["detail"]
    r = client.post("/admin/jobs", json={"params": {}}, headers=auth)
    assert r.status_code == 422 and isinstance(r.json()["detail"], str) and "op" in r.json()["detail"]
    r = client.post("/admin/jobs", json={"op": "stitch", "params": [1]}, headers=auth)
    assert r.status_code == 422 and "params" in r.json()["detail"]
    r = client.get("/admin/queue?limit=0", headers=auth)
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    r = client.get("/api/attribution?start=yesterday", headers={"Authorization": "Bearer hub-unit-read-key-00"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "start"]


def test_jobs_validate_run_in_order_and_report_results_and_errors(app_client, tmp_path):
    client, db = app_client
    auth = {"Authorization": "Bearer hub-unit-admin-key-0"}
    bad = client.post("/admin/jobs", json={"op": "drop_everything", "params": {}}, headers=auth)
    assert bad.status_code == 422 and "unknown operation" in bad.json()["detail"]
    bad = client.post("/admin/jobs", json={"op": "stitch", "params": {"nope": 1}}, headers=auth)
    assert bad.status_code == 422 and "'nope'" in bad.json()["detail"]
    spend = b"date,channel,campaign,spend,impressions,clicks,currency\n2026-01-05,paid_search,C1,100.5,10,1,USD\n"
    up = client.put("/admin/uploads/ad_spend.csv", content=spend, headers=auth).json()
    assert Path(up["path"]).read_bytes() == spend
    ids = [client.post("/admin/jobs", json={"op": "ingest", "params": {"paths": [up["path"]]}}, headers=auth).json()["id"],
           client.post("/admin/jobs", json={"op": "attribute", "params": {"models": ["nope"]}}, headers=auth).json()["id"]]
    first, second = (_wait(client, i) for i in ids)
    assert first["status"] == "done" and second["status"] == "failed"
    assert first["finished_at"] <= second["started_at"], "writer jobs overlapped"
    assert second["error_type"] == "ValueError" and second["error"]
    result = codec.decode(client.get(f"/admin/jobs/{ids[0]}/result", headers=auth).json()["result"])
    assert result.by_table()["spend"]["loaded"] == 1
    assert client.get(f"/admin/jobs/{ids[1]}/result", headers=auth).status_code == 409
    assert client.get("/admin/jobs/999", headers=auth).status_code == 404
    cur = client.app.state.con.cursor()
    assert cur.execute("SELECT sum(spend) FROM spend").fetchone()[0] == pytest.approx(100.5)


def test_a_writer_job_failing_midway_leaves_the_store_as_before(tmp_path, monkeypatch):
    """`attribute` writes one ledger run per transaction; as a job (like the CLI now) it is one
    transaction, so a failure after some runs were written leaves none of them."""
    from fastapi.testclient import TestClient

    from conftest import fill_api_store
    from revline.api.app import close_app, create_app

    db = tmp_path / "f.duckdb"
    fill_api_store(db)
    app = create_app(db, "hub-unit-write-key-0", "hub-unit-read-key-00", admin_key="hub-unit-admin-key-0", fsync=False, warm=False, snapshot_seconds=None)
    try:
        with TestClient(app) as client:
            auth = {"Authorization": "Bearer hub-unit-admin-key-0"}
            cur = app.state.con.cursor()
            before = cur.execute("SELECT (SELECT count(*) FROM attribution_runs), "
                                 "(SELECT count(*) FROM credit_ledger)").fetchone()

            def fail_after_writing(con):
                assert con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] > before[0]
                raise RuntimeError("failed after the runs were written")

            monkeypatch.setattr("revline.ops.attribute.unattributed", fail_after_writing)
            job = _wait(client, client.post("/admin/jobs", json={"op": "attribute", "params": {
                "models": ["linear", "first_touch"], "milestones": ["won"]}}, headers=auth).json()["id"])
            assert job["status"] == "failed" and "after the runs were written" in job["error"]
            assert cur.execute("SELECT (SELECT count(*) FROM attribution_runs), "
                               "(SELECT count(*) FROM credit_ledger)").fetchone() == before
            monkeypatch.undo()
            job = _wait(client, client.post("/admin/jobs", json={"op": "attribute", "params": {
                "models": ["linear"], "milestones": ["won"]}}, headers=auth).json()["id"])
            assert job["status"] == "done"
            assert cur.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] > before[0]
    finally:
        close_app(app)


def test_job_table_marks_jobs_of_a_dead_process_failed(tmp_path):
    from revline.api.jobs import JobManager

    db = tmp_path / "j.duckdb"
    rows = [{"id": "1", "op": "ingest", "params": {}, "writes": True, "status": "done"},
            {"id": "2", "op": "attribute", "params": {}, "writes": True, "status": "running"},
            {"id": "3", "op": "stitch", "params": {}, "writes": True, "status": "queued"}]
    db.with_name(db.name + ".jobs.json").write_text(json.dumps(rows))
    con = duckdb.connect(":memory:")
    manager = JobManager(con, db, threading.RLock())
    try:
        assert manager.interrupted == 2
        assert [manager.get(i).status for i in "123"] == ["done", "failed", "failed"]
        assert manager.get("2").error_type == "Interrupted"
        saved = json.loads(db.with_name(db.name + ".jobs.json").read_text())
        assert [r["status"] for r in saved] == ["done", "failed", "failed"]
        assert manager.submit("report", {}).id == "4"  # ids go on after the kept ones
    finally:
        manager.close()


@pytest.mark.parametrize("fast", [True, False], ids=["checkpoint-copy", "copy-from-database"])
def test_snapshot_is_the_store_as_of_one_instant(tmp_path, fast):
    from revline.store.snapshot import write_snapshot

    from conftest import fill_api_store

    db = tmp_path / "snap.duckdb"
    fill_api_store(db)
    con = connect(db)
    target = snapshot_path(db)
    info = write_snapshot(con, target, db if fast else None)
    con.execute("DELETE FROM touchpoints WHERE touchpoint_id = 'T1'")  # after the snapshot: not in it
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                                        "ORDER BY 1").fetchall()]
    live = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    con.close()
    snap = duckdb.connect(str(target), read_only=True)
    try:
        copied = {t: snap.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        assert copied == {**live, "touchpoints": live["touchpoints"] + 1}
        assert str(snap.execute("SELECT as_of FROM snapshot_info").fetchone()[0]) == info.as_of
    finally:
        snap.close()
    assert info.bytes == target.stat().st_size > 0


# ------------------------------------------------------------------ schedules
def test_schedule_file_is_checked_in_one_line(tmp_path):
    from revline.api.schedules import ScheduleError, load_schedule

    bad = tmp_path / "s.toml"
    bad.write_text('[[run]]\nop = "drop_tables"\nevery = 5\n')
    with pytest.raises(ScheduleError, match="unknown operation 'drop_tables'"):
        load_schedule(bad)
    bad.write_text('[[watch]]\npath = "nowhere"\n')
    with pytest.raises(ScheduleError, match="does not exist"):
        load_schedule(bad)
    bad.write_text('[[run]]\nop = "attribute"\nevery = 5\nparams = { colour = "red" }\n')
    with pytest.raises(ScheduleError, match="'colour'"):
        load_schedule(bad)


def test_scheduler_ingests_a_watched_folder_on_change_and_runs_ops_on_time(tmp_path):
    from revline.api.jobs import JobManager
    from revline.api.schedules import Scheduler, load_schedule

    exports = tmp_path / "exports"
    exports.mkdir()
    spend = exports / "ad_spend.csv"
    header = "date,channel,campaign,spend,impressions,clicks,currency\n"
    spend.write_text(header + "2026-01-05,paid_search,C1,100.0,10,1,USD\n")
    config = tmp_path / "schedule.toml"
    config.write_text('[[watch]]\npath = "exports"\nevery = 10\n\n'
                      '[[run]]\nop = "report"\nevery = 30\nparams = { roi = true, models = ["linear"] }\n')
    db = tmp_path / "sched.duckdb"
    con = connect(db)
    manager = JobManager(con, db, threading.RLock())
    scheduler = Scheduler(manager, *load_schedule(config))

    def settle(ids):
        deadline = time.monotonic() + 60
        while any(manager.get(i).status not in ("done", "failed", "cancelled") for i in ids):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return [manager.get(i) for i in ids]

    def total_spend():
        cur = con.cursor()
        try:
            return cur.execute("SELECT coalesce(sum(spend), 0) FROM spend").fetchone()[0]
        finally:
            cur.close()

    try:
        first = settle(scheduler.step(now=0.0))
        assert [j.op for j in first] == ["ingest", "report"] and first[0].status == "done"
        assert total_spend() == pytest.approx(100.0)
        assert scheduler.step(now=5.0) == []  # nothing due
        assert scheduler.step(now=11.0) == []  # due, but no file changed
        spend.write_text(header + "2026-01-05,paid_search,C1,100.0,10,1,USD\n2026-01-06,email,C2,50.0,5,1,USD\n")
        os.utime(spend, ns=(time.time_ns(), time.time_ns() + 10**9))
        second = settle(scheduler.step(now=22.0))
        assert [j.op for j in second] == ["ingest"] and second[0].status == "done"
        assert total_spend() == pytest.approx(150.0)
        third = settle(scheduler.step(now=31.0))
        assert [j.op for j in third] == ["report"]
    finally:
        manager.close()
        con.close()
