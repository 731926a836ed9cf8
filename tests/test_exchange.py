"""`revline export --to PATH` then `revline import PATH` (or `revline ingest PATH`) gives back the same store.

The demo's tiny company (stitched, journeys built) goes out as Parquet and into a fresh store; every
exported table must then hold exactly the same multiset of rows, compared row by row across both
files (not only through the manifest's own checksums), and the manifest must describe the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from revline import __version__
from revline.store import SCHEMA_VERSION, connect
from revline.store.exchange import EXCLUDED, MANIFEST, ExchangeError, export_store, exchange_tables, import_store


@pytest.fixture(scope="module")
def tiny(simulated_company) -> Path:
    return simulated_company(config="default", size="tiny", seed=11)[0]


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "lake"
    con = connect(tiny, read_only=True)
    try:
        export_store(con, out, revline_version=__version__)
    finally:
        con.close()
    return out


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "revline", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


def _differences(a: Path, b: Path, table: str) -> int:
    """Rows in one store's table and not the other's, counting duplicates (EXCEPT ALL both ways)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        one = con.execute(f"SELECT count(*) FROM (SELECT * FROM a.{table} EXCEPT ALL SELECT * FROM b.{table})").fetchone()
        two = con.execute(f"SELECT count(*) FROM (SELECT * FROM b.{table} EXCEPT ALL SELECT * FROM a.{table})").fetchone()
        return int(one[0]) + int(two[0])  # type: ignore[index]
    finally:
        con.close()


def test_export_then_import_through_the_cli_gives_every_table_back(tiny, tmp_path):
    lake, fresh = tmp_path / "lake", tmp_path / "fresh.duckdb"
    done = _cli("export", "--to", str(lake), "--db", str(tiny))
    assert done.returncode == 0, done.stderr
    done = _cli("ingest", str(lake), "--db", str(fresh))  # an export folder is imported, not parsed as exports
    assert done.returncode == 0, done.stderr
    assert "verified against the manifest" in done.stdout
    manifest = json.loads((lake / MANIFEST).read_text())
    src, dst = connect(tiny, read_only=True), connect(fresh, read_only=True)
    try:
        tables = exchange_tables(src)
        assert {"touchpoints", "events", "people", "identities", "opportunities", "credit_ledger", "milestones"} <= set(tables)
        assert not EXCLUDED & set(tables)
        assert set(manifest["tables"]) == set(tables)
        for t in tables:
            n = src.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            assert dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == n == manifest["tables"][t]["rows"], t  # type: ignore[index]
    finally:
        src.close()
        dst.close()
    for t in tables:
        assert _differences(tiny, fresh, t) == 0, t
    assert sum(manifest["tables"][t]["rows"] for t in ("touchpoints", "events", "people")) > 1000


def test_manifest_and_month_partitions(exported, tiny):
    manifest = json.loads((exported / MANIFEST).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["revline_version"] == __version__
    con = duckdb.connect(str(tiny), read_only=True)
    try:
        for table in ("touchpoints", "events"):
            entry = manifest["tables"][table]
            assert entry["partition_by"] == "occurred_month"
            months = dict(con.execute(
                f"SELECT coalesce(strftime(occurred_at, '%Y-%m'), 'NULL'), count(*) FROM {table} GROUP BY 1").fetchall())
            assert len(months) > 3
            dirs = {p.name.split("=", 1)[1]: p for p in (exported / entry["path"]).iterdir()}
            assert set(dirs) == set(months)
            for month, folder in dirs.items():  # each month's folder holds exactly that month's rows
                got = con.execute("SELECT count(*), count(*) FILTER (WHERE coalesce(strftime(occurred_at, '%Y-%m'), "
                                  "'NULL') <> ?) FROM read_parquet(?)", [month, str(folder / "*.parquet")]).fetchone()
                assert got == (months[month], 0)
        assert manifest["tables"]["accounts"]["partition_by"] is None
    finally:
        con.close()


def test_import_refuses_a_filled_store_and_replace_replaces(exported, tiny, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(tiny, db)
    con = connect(db)
    try:
        con.execute("DELETE FROM accounts WHERE account_id IN (SELECT account_id FROM accounts LIMIT 5)")
        with pytest.raises(ExchangeError, match="already holds rows"):
            import_store(con, exported)
        loaded = import_store(con, exported, replace=True)
        assert loaded["accounts"] == con.execute("SELECT count(*) FROM accounts").fetchone()[0] > 5  # type: ignore[index]
    finally:
        con.close()
    assert _differences(tiny, db, "accounts") == 0


def test_an_altered_folder_leaves_the_store_unchanged(exported, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(exported, lake)
    month = sorted((lake / "touchpoints").iterdir())[-1]
    shutil.rmtree(month)  # one month of touches lost on the way
    con = connect(tmp_path / "fresh.duckdb")
    try:
        with pytest.raises(ExchangeError, match="touchpoints read back"):
            import_store(con, lake)
        assert con.execute("SELECT count(*) FROM people").fetchone()[0] == 0  # type: ignore[index]
    finally:
        con.close()


def test_one_line_errors(exported, tmp_path):
    not_empty = tmp_path / "full"
    not_empty.mkdir()
    (not_empty / "x.txt").write_text("x")
    done = _cli("import", str(not_empty), "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 1 and "has no manifest.json" in done.stderr and "Traceback" not in done.stderr
    con = connect(tmp_path / "s.duckdb")
    try:
        with pytest.raises(ExchangeError, match="not an empty folder"):
            export_store(con, not_empty, revline_version=__version__)
    finally:
        con.close()
