"""Retention through every interface: the operation, `revline retention`, GET /api/retention and the
HTML report section show the same numbers as the Python functions."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest

from conftest import API_READ_KEY, API_WRITE_KEY
from revline.models.retention import renewals_due
from revline.models.retention.metrics import retention_table
from revline.models.retention.report import due_window, html_section, summarize
from revline.ops.retention import retention
from revline.store import connect
from test_retention_due import _store

AS_OF = "2025-12-01"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("retention-ui") / "store.duckdb"
    _store(db).close()
    return db


def test_operation_matches_the_model_functions(store):
    con = connect(store, read_only=True)
    s = retention(con, by="segment", as_of=AS_OF)
    assert set(s.tables) == {"industry", "size_band", "region"}
    assert s.tables["region"].equals(retention_table(con, date(2025, 12, 1), by="region"))
    w0, w1 = s.due_window
    assert (w0, w1) == (date(2026, 1, 1), date(2026, 3, 31)) == due_window(__import__("pandas").Timestamp(AS_OF))
    assert sorted(s.due.account_id) == sorted(renewals_due(con, date(2025, 12, 1), w0, w1).account_id)
    assert s.bookings["p10"] <= s.bookings["mean"] <= s.bookings["p90"] or len(s.due) == 0
    assert list(s.outlook["quarter"]) == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert s.outlook["expected_usd"].iloc[0] == pytest.approx(s.bookings["mean"])
    assert s.outlook["contracts"].iloc[0] == len(s.due)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        retention(con, as_of="1st of May")
    with pytest.raises(ValueError, match="choose one of"):
        retention(con, by="galaxy")
    con.close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "revline", "retention", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_prints_the_cohort_table_and_the_renewals_due(store):
    con = connect(store, read_only=True)
    t = retention_table(con, date(2025, 12, 1)).set_index("cohort")
    due = renewals_due(con, date(2025, 12, 1), date(2026, 1, 1), date(2026, 3, 31))
    con.close()
    out = _cli("--db", str(store), "--as-of", AS_OF)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if "2024-Q1" in ln)
    assert f"{t.loc['2024-Q1', 'grr']:.1%}" in line and f"{t.loc['2024-Q1', 'nrr']:.1%}" in line
    assert f"Renewals due 2026-01-01 .. 2026-03-31: {len(due)} contracts" in out.stdout
    seg = _cli("--db", str(store), "--as-of", AS_OF, "--by", "segment")
    assert seg.returncode == 0 and "Retention by industry" in seg.stdout and "Retention by region" in seg.stdout


def test_cli_user_errors_are_one_line(store):
    for args, needle in ((["--by", "planet"], "--by"), (["--as-of", "yesterday"], "YYYY-MM-DD")):
        out = _cli("--db", str(store), *args)
        assert out.returncode != 0 and "Traceback" not in out.stdout + out.stderr
        assert needle in out.stdout + out.stderr


def test_api_serves_the_same_numbers(store, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    db = tmp_path / "api.duckdb"
    shutil.copy(store, db)
    app = create_app(db, write_key=API_WRITE_KEY, read_key=API_READ_KEY, derive=False)
    with TestClient(app) as client:
        assert client.get("/api/retention").status_code == 401
        h = {"Authorization": f"Bearer {API_READ_KEY}"}
        r = client.get("/api/retention", params={"as_of": AS_OF}, headers=h)
        assert r.status_code == 200, r.text
        d = r.json()
        con = app.state.con.cursor()
        s = summarize(con, date(2025, 12, 1))
        cohort = {row["cohort"]: row for row in d["tables"]["cohort"]}
        for row in s.tables["cohort"].itertuples(index=False):
            assert cohort[row.cohort]["grr"] == pytest.approx(row.grr)
            assert cohort[row.cohort]["nrr"] == pytest.approx(row.nrr)
        assert [x["account_id"] for x in d["due"]] == list(s.due.account_id)
        assert [x["p_renew"] for x in d["due"]] == pytest.approx(list(s.due.p_renew))
        assert d["due_window"] == ["2026-01-01", "2026-03-31"]
        assert [q["expected_usd"] for q in d["outlook"]] == pytest.approx(list(s.outlook["expected_usd"]))
        assert client.get("/api/retention", params={"by": "planet"}, headers=h).status_code == 422
        assert client.get("/api/retention", params={"as_of": "0"}, headers=h).status_code == 422
        seg = client.get("/api/retention", params={"by": "segment", "as_of": AS_OF}, headers=h).json()
        assert set(seg["tables"]) == {"industry", "size_band", "region"}
        con.close()
    close_app(app)


def test_html_section(store):
    con = connect(store, read_only=True)
    sid, title, body = html_section(con)
    assert sid == "retention" and "Retention" in title
    assert "GRR" in body and "Renewals due" in body and "2024-Q1" in body
    con.close()
    empty = connect(store.parent / "empty.duckdb")
    assert html_section(empty) is None
    empty.close()


def test_result_crosses_the_admin_api_intact(store):
    """The server runs the operation as a job and sends its result back through the codec."""
    import json

    from revline.ops.codec import decode, encode
    from revline.ops.registry import get_operation

    con = connect(store, read_only=True)
    op = get_operation("retention")
    assert not op.may_write
    s = op.run(con, {"by": "segment", "as_of": AS_OF}, lambda *a: None)
    back = decode(json.loads(json.dumps(encode(s))))
    assert back.due.equals(s.due) and back.due_window == s.due_window and back.bookings == s.bookings
    assert all(back.tables[k].equals(s.tables[k]) for k in s.tables)
    con.close()
