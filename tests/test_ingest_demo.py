"""The demo simulator's files through the real readers: quarantine equals its documented bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

simulate = pytest.importorskip("revline.demo.simulate")

from revline.ingest import load_files  # noqa: E402
from revline.store import connect  # noqa: E402


@pytest.mark.slow
def test_tiny_demo_quarantine_matches_ground_truth(tmp_path):
    out = tmp_path / "demo"
    simulate.generate(out, size="tiny", seed=11)
    truth = json.loads((out / "ground_truth.json").read_text())
    expected = {(b["file"], b["row_number"], b["field"]) for b in truth["bad_rows"]}
    con = connect(tmp_path / "s.duckdb")
    report = load_files(con, [out])
    assert report.unrecognised == []
    got = {(Path(s).relative_to(out).as_posix(), n, f)
           for s, n, f in con.execute("SELECT source, row_number, field FROM quarantine").fetchall()}
    assert got == expected
    # every row of every file is accounted for (no silent loss): read = loaded + merged + updated + quarantined
    for e in report.entries:
        if e.read:
            assert e.read == e.loaded + e.merged + e.updated + e.quarantined, e
    assert report.unmapped_types == {}
