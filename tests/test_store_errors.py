"""Issue #20 D9/D10 (store side): a store that cannot be used is one line naming the file and the
next step, exit 1, in every command: a lock held by another process, a newer schema, an older
schema under a read-only command, a file cut short, a file that is not a DuckDB store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from revline.cli import app
from revline.store import SCHEMA_VERSION, StoreError, connect
from revline.store.errors import (
    SchemaTooNewError,
    SchemaTooOldError,
    StoreDamagedError,
    StoreLockedError,
    StoreReadOnlyError,
    open_error,
)

# every command that opens the store, with the arguments it needs besides --db
STORE_COMMANDS = [
    ["init"], ["quarantine"], ["report"], ["report", "--roi"], ["stitch"], ["journey", "001A"],
    ["attribute"], ["paths", "export", "never-written.csv"], ["mmm", "fit"],
]


def _store_with_rows(path: Path, rows: int = 300_000) -> None:
    """A store big enough to span many blocks, checkpointed so every block is in the file."""
    con = connect(path)
    con.execute(
        "INSERT INTO accounts (account_id, name) SELECT 'a' || i, md5(i::VARCHAR) FROM range(?) t(i)", [rows]
    )
    con.execute("CHECKPOINT")
    con.close()


def _cli(args: list[str], tmp_path: Path):
    res = CliRunner().invoke(app, args, catch_exceptions=True)
    return res


def _one_line_error(res, *needles: str) -> str:
    assert res.exit_code == 1, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def _half_store_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("half") / "half.duckdb"
    _store_with_rows(path)
    size = path.stat().st_size
    assert size > 1 << 20
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    return path


@pytest.fixture
def half_store(_half_store_file, tmp_path) -> Path:
    """A store truncated to half its size (the issue's repro), a fresh copy per test."""
    path = tmp_path / "half.duckdb"
    shutil.copyfile(_half_store_file, path)
    return path


def test_truncated_store_is_detected_on_open(half_store):
    with pytest.raises(StoreDamagedError, match="cut short"):
        connect(half_store)
    with pytest.raises(StoreDamagedError, match="cut short"):
        connect(half_store, read_only=True)


@pytest.mark.parametrize("args", STORE_COMMANDS + [["ingest", "ACCOUNTS"]], ids=lambda a: " ".join(a))
def test_every_command_names_a_truncated_store(half_store, tmp_path, args):
    if args == ["ingest", "ACCOUNTS"]:
        f = tmp_path / "Account.csv"
        f.write_text("Id,Name\n001A,Acme\n")
        args = ["ingest", str(f)]
    res = _cli([*args, "--db", str(half_store)], tmp_path)
    _one_line_error(res, str(half_store), "damaged", "cut short", "backup")


def test_not_a_duckdb_file(tmp_path):
    path = tmp_path / "junk.duckdb"
    path.write_bytes(os.urandom(50_000))
    for args in (["report"], ["quarantine"], ["init"]):
        _one_line_error(_cli([*args, "--db", str(path)], tmp_path), str(path), "not a valid DuckDB database file")


def test_a_store_healthy_after_a_checkpoint_passes_the_check(tmp_path):
    path = tmp_path / "ok.duckdb"
    _store_with_rows(path, 50_000)
    con = connect(path, read_only=True)
    assert con.execute("SELECT count(*) FROM accounts").fetchone() == (50_000,)
    con.close()


def _set_version(path: Path, version: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("UPDATE schema_meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    con.close()


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=lambda a: " ".join(a))
def test_newer_schema_refused_by_every_command(tmp_path, args):
    path = tmp_path / "new.duckdb"
    connect(path).close()
    _set_version(path, SCHEMA_VERSION + 1)
    _one_line_error(_cli([*args, "--db", str(path)], tmp_path), str(path), f"schema version {SCHEMA_VERSION + 1}",
                    "upgrade revline")


def test_older_schema_read_only_says_to_migrate(tmp_path):
    path = tmp_path / "old.duckdb"
    connect(path).close()
    _set_version(path, SCHEMA_VERSION - 1)
    with pytest.raises(SchemaTooOldError, match="revline init"):
        connect(path, read_only=True)
    for args in (["report"], ["quarantine"]):
        _one_line_error(_cli([*args, "--db", str(path)], tmp_path), str(path), "revline init")


def test_lock_held_by_another_process(tmp_path):
    path = tmp_path / "locked.duckdb"
    connect(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
                               "time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError, match=f"process {holder.pid}"):
            connect(path)
        for args in (["report"], ["quarantine"], ["stitch"]):
            line = _one_line_error(_cli([*args, "--db", str(path)], tmp_path), str(path), f"process {holder.pid}",
                                   "revline serve", "run the command again")
            assert "duckdb.org" not in line
    finally:
        holder.kill()
        holder.wait()


def test_read_only_disk_message():
    # root ignores file permissions, so the translation is checked on DuckDB's own message
    err = open_error(Path("/ro/s.duckdb"), duckdb.IOException(
        'IO Error: Cannot open file "/ro/s.duckdb": Read-only file system'))
    assert isinstance(err, StoreReadOnlyError) and "/ro/s.duckdb" in str(err) and "--db" in str(err)
    assert isinstance(err, StoreError)


def test_serve_refuses_a_damaged_store_in_one_line(half_store, tmp_path):
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "revline", "serve", "--db", str(half_store), "--port", "0"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert [x for x in res.stderr.splitlines() if x.strip()] == [
        next(x for x in res.stderr.splitlines() if "damaged" in x)
    ]
    assert time.monotonic() - started < 120


def test_schema_errors_are_store_errors():
    assert issubclass(SchemaTooNewError, StoreError) and issubclass(SchemaTooOldError, StoreError)


def test_overwritten_blocks_are_one_line_when_a_query_meets_them(tmp_path):
    path = tmp_path / "scribbled.duckdb"
    _store_with_rows(path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        for off in range(1 << 20, size - (1 << 18), 1 << 20):
            fh.seek(off)
            fh.write(b"\xff" * 4096)
    # the file is whole, so it opens; the first query that reads a scribbled block fails in one line
    res = _cli(["journey", "a1", "--db", str(path)], tmp_path)
    _one_line_error(res, str(path), "damaged", "checksum", "backup")


@pytest.mark.slow
def test_demo_store_truncated_to_half_every_command_says_so(tmp_path):
    """The issue's repro on a real demo store (generated, ingested, stitched, journeys built)."""
    from revline.demo.simulate import generate
    from revline.identity import stitch
    from revline.ingest import load_files
    from revline.journeys import build as build_journeys

    generate(tmp_path / "src", size="small", seed=7)
    db = tmp_path / "demo.duckdb"
    con = connect(db)
    load_files(con, [tmp_path / "src"])
    stitch(con)
    build_journeys(con)
    con.execute("CHECKPOINT")
    con.close()
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)
    account = tmp_path / "Account.csv"
    account.write_text("Id,Name\n001A,Acme\n")
    for args in [*STORE_COMMANDS, ["ingest", str(account)]]:
        _one_line_error(_cli([*args, "--db", str(db)], tmp_path), str(db), "damaged", "cut short")
