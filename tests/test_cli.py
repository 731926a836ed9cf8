"""The CLI through a real subprocess, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

REVLINE = [sys.executable, "-m", "revline"]
COMMANDS = ("init", "demo", "ingest", "quarantine", "journey", "stitch", "attribute", "report", "influence",
            "paths", "truth", "serve", "mmm")


def _run(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(REVLINE + args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def test_help_documents_every_command(tmp_path):
    res = _run(["--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    for cmd in COMMANDS:
        assert cmd in res.stdout, f"`revline --help` does not list {cmd}"
    for cmd in COMMANDS:
        sub = _run([cmd, "--help"], tmp_path)
        assert sub.returncode == 0, (cmd, sub.stderr)
        assert "Usage" in sub.stdout


def test_init_honours_flag_and_env(tmp_path):
    res = _run(["init", "--db", str(tmp_path / "flag.duckdb")], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "flag.duckdb").exists()
    res = _run(["init"], tmp_path, env={"REVLINE_DB": str(tmp_path / "env.duckdb")})
    assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(tmp_path / "env.duckdb"), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"accounts", "touchpoints", "credit_ledger", "quarantine"} <= tables
    res = _run(["init"], tmp_path)
    assert res.returncode == 0 and (tmp_path / "revline.duckdb").exists()
