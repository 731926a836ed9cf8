"""Issue #20 D9 (ingest side): a file no reader can take is one line naming it and what to do,
exit 1, store unchanged; a JSON array of records loads like JSON lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revline.cli import app
from revline.ingest import load_files
from revline.ingest.readers import UnreadableFile
from revline.store import connect

ACCOUNTS_CSV = "Id,Name,BillingCountry\n" + "".join(f"001{i:05d},Acme {i},DE\n" for i in range(50_000))


def _ingest(tmp_path: Path, *files: Path):
    db = tmp_path / "s.duckdb"
    res = CliRunner().invoke(app, ["ingest", *map(str, files), "--db", str(db)])
    return res, db


def _counts(db: Path) -> tuple[int, int, int]:
    con = connect(db, read_only=True)
    try:
        return tuple(con.execute(
            "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM quarantine), (SELECT count(*) FROM ingest_log)"
        ).fetchone())
    finally:
        con.close()


def _bad(path: Path, kind: str) -> None:
    if kind == "empty.csv.gz":
        path.write_bytes(b"")
    elif kind == "plain.csv.gz":
        path.write_text(ACCOUNTS_CSV)
    elif kind == "cut.csv.gz":
        data = gzip.compress(ACCOUNTS_CSV.encode())
        path.write_bytes(data[: len(data) // 2])
    elif kind == "fake.parquet":
        path.write_text(ACCOUNTS_CSV)
    elif kind == "empty.jsonl.gz":
        path.write_bytes(b"")
    elif kind == "cut.jsonl.gz":
        data = gzip.compress(b"".join(json.dumps({"type": "page", "messageId": f"m{i}", "anonymousId": "a",
                                                  "timestamp": "2026-01-01T00:00:00Z"}).encode() + b"\n"
                                      for i in range(20_000)))
        path.write_bytes(data[: len(data) // 2])
    elif kind == "broken.json":
        path.write_text('[{"Id": "001A", "Name": "Acme", "BillingCountry": "DE"}, {"Id": ')


EXPECT = {
    "empty.csv.gz": "empty (0 bytes)",
    "plain.csv.gz": "not a gzip file",
    "cut.csv.gz": "ends early",
    "fake.parquet": "not a Parquet file",
    "empty.jsonl.gz": "empty (0 bytes)",
    "cut.jsonl.gz": "ends early",
    "broken.json": "not a valid JSON array",
}


@pytest.mark.parametrize("kind", list(EXPECT))
def test_unreadable_file_is_one_line_and_store_unchanged(tmp_path, kind):
    good = tmp_path / "Account.csv"
    good.write_text("Id,Name,BillingCountry\n001X,Kept,FR\n")
    _, db = _ingest(tmp_path, good)
    before = _counts(db)
    bad = tmp_path / f"Account_{kind}"
    _bad(bad, kind)
    res, _ = _ingest(tmp_path, bad)
    assert res.exit_code == 1, res.output
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and EXPECT[kind] in lines[0], res.stderr
    assert "Traceback" not in res.output
    assert _counts(db) == before


def test_cut_csv_gz_is_not_half_loaded_inside_a_directory(tmp_path):
    """Walking a directory, a cut file fails the whole call by name: DuckDB's CSV reader would
    have loaded the first half quietly."""
    d = tmp_path / "exports"
    d.mkdir()
    (d / "Campaign.csv").write_text("Id,Name,Type\n701A,Spring,Webinar\n")
    _bad(d / "Account.csv.gz", "cut.csv.gz")
    con = connect(tmp_path / "s.duckdb")
    try:
        with pytest.raises(UnreadableFile, match="Account.csv.gz: the gzip stream ends early"):
            load_files(con, [d])
        assert con.execute("SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM campaigns)").fetchone() == (0, 0)
    finally:
        con.close()


def test_json_array_of_records_loads_like_json_lines(tmp_path):
    records = [{"Id": "001A", "Name": "Acme", "BillingCountry": "DE"},
               {"Id": "001B", "Name": "Globex", "BillingCountry": "FR"},
               "not an object",
               {"Id": "", "Name": "no id", "BillingCountry": "US"}]
    arr = tmp_path / "accounts_export.json"
    arr.write_text(json.dumps(records, indent=2))
    lines = tmp_path / "accounts_lines.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = {}
    for f in (arr, lines):
        con = connect(tmp_path / f"{f.stem}.duckdb")
        try:
            report = load_files(con, [f])
            out[f.suffix] = (
                report.by_table()["accounts"],
                con.execute("SELECT account_id, name, country FROM accounts ORDER BY 1").fetchall(),
                con.execute("SELECT row_number, field, reason FROM quarantine ORDER BY 1").fetchall(),
            )
        finally:
            con.close()
    assert out[".json"] == out[".jsonl"]
    counts, rows, quarantined = out[".json"]
    assert counts == {"read": 4, "loaded": 2, "merged": 0, "updated": 0, "quarantined": 2}
    assert rows == [("001A", "Acme", "DE"), ("001B", "Globex", "FR")]
    assert [r[0] for r in quarantined] == [3, 4]


def test_json_array_of_segment_events_is_refused_with_the_fix(tmp_path):
    events = [{"type": "page", "messageId": "m1", "anonymousId": "a1", "timestamp": "2026-01-01T00:00:00Z"}]
    f = tmp_path / "events.json"
    f.write_text(json.dumps(events))
    con = connect(tmp_path / "s.duckdb")
    try:
        with pytest.raises(UnreadableFile, match="JSON lines"):
            load_files(con, [f])
    finally:
        con.close()
