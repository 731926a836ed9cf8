"""`revline report --html PATH` writes the HTML report for any store, not only the demo's."""

from __future__ import annotations

import os
import subprocess
import sys

from revline.store import connect


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "revline", "report", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})


def test_report_html_of_an_attributed_store(api_store, tmp_path):
    out = tmp_path / "sub" / "report.html"
    res = _run("--html", str(out), "--db", str(api_store))
    assert res.returncode == 0, res.stderr
    assert f"HTML report written to {out}" in res.stdout
    text = out.read_text()
    assert text.startswith("<!doctype html>") and "Revenue by channel" in text
    con = connect(api_store, read_only=True)
    channels = {r[0] for r in con.execute("SELECT DISTINCT channel FROM touchpoints").fetchall()}
    con.close()
    assert all(ch in text for ch in channels)


def test_report_html_of_a_store_without_attribution(tmp_path):
    db = tmp_path / "empty.duckdb"
    connect(db).close()
    out = tmp_path / "empty.html"
    res = _run("--html", str(out), "--db", str(db))
    assert res.returncode == 0, res.stderr + res.stdout
    assert out.read_text().startswith("<!doctype html>")


def test_report_html_to_an_unwritable_place_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    db = tmp_path / "s.duckdb"
    connect(db).close()
    res = _run("--html", str(blocker / "r.html"), "--db", str(db))
    assert res.returncode == 1 and "Traceback" not in res.stderr and "not written" in res.stderr
