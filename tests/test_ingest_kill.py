"""A process killed mid-ingest leaves the store exactly as before (one transaction per load_files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from revline.ingest import load_files
from revline.store import connect

MESSY = Path(__file__).parent / "fixtures" / "messy"
TABLES = ["accounts", "people", "touchpoints", "events", "identity_links", "stage_events", "opportunities",
          "quarantine", "ingest_log", "spend", "targets", "campaigns"]

CHILD = r"""
import sys, time
from pathlib import Path
from revline.ingest import load_files
from revline.store import connect
import revline.ingest.upsert as up

con = connect(sys.argv[1])
real = up.upsert
def announcing(con_, target, *a, **k):
    out = real(con_, target, *a, **k)
    if target == "events":               # rows are now written inside the open transaction
        print("WRITING", flush=True)
        time.sleep(30)                   # wait to be killed
    return out
up.upsert = announcing
import revline.ingest.segment as seg
seg.upsert = announcing
load_files(con, [Path(sys.argv[2])])
print("DONE", flush=True)
"""


def _fingerprint(db: Path) -> dict[str, tuple]:
    con = connect(db, read_only=True)
    out = {t: con.execute(f"SELECT count(*), coalesce(sum(hash(COLUMNS(*))::HUGEINT), 0) FROM {t}").fetchone()
           for t in TABLES}
    con.close()
    return out


@pytest.mark.slow
def test_sigkill_mid_ingest_leaves_store_unchanged(tmp_path):
    db = tmp_path / "s.duckdb"
    con = connect(db)
    load_files(con, [MESSY / "salesforce"])  # some committed data to protect
    con.close()
    before = _fingerprint(db)
    big = tmp_path / "events.jsonl.gz"
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_ingest import generate_events

    generate_events(big, 60_000)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(big)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        line = ""
        while time.time() < deadline and "WRITING" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "WRITING" in line, "child never reached the write phase"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert _fingerprint(db) == before
    # and the store is still usable: the same ingest now completes
    con = connect(db)
    report = load_files(con, [big])
    assert report.by_table()["events"]["loaded"] == 60_000 - 6  # 6 generated bad timestamps
    con.close()
