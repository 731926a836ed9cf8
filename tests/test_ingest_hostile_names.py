"""Issue #20 D3: file names and headers are data, never SQL.

A Parquet file named `a'); COPY (SELECT 'x') TO 'PWNED.csv'; --.parquet` used to write PWNED.csv
when ingested. Every reader now binds the path as a parameter (and reads a name holding glob
characters through a plain-named link), and every header reaches SQL through `ident`.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revline.ingest import load_files
from revline.store import connect

HOSTILE_STEMS = [
    "a'); COPY (SELECT 'x') TO 'PWNED.csv'; --",
    'double "quoted" name',
    "semi;colon; DROP TABLE accounts;",
    "new\nline",
    "back\\slash\\'",
    "glob[1]*?{x}",
]
# headers that are not identifiers; the ones the Account reader does not know are ignored but
# still reach SQL (the raw JSON of quarantined rows names every column)
HOSTILE_HEADER = 'x"); DROP TABLE accounts; --'
ACCOUNTS = [
    {"Id": "001A", "Name": "Acme 'quoted'", "BillingCountry": "DE", HOSTILE_HEADER: "1"},
    {"Id": "001B", "Name": 'Globex "dq"', "BillingCountry": "FR", HOSTILE_HEADER: "2"},
    {"Id": "", "Name": "no id", "BillingCountry": "US", HOSTILE_HEADER: "3"},  # quarantined
]


def _quote(v: str) -> str:
    return '"' + v.replace('"', '""') + '"'


def _csv_text() -> str:
    cols = list(ACCOUNTS[0])
    return "\n".join([",".join(_quote(c) for c in cols)] + [",".join(_quote(r[c]) for c in cols) for r in ACCOUNTS]) + "\n"


def _write(path: Path, kind: str) -> None:
    if kind == "csv":
        path.write_text(_csv_text())
    elif kind == "csv.gz":
        path.write_bytes(gzip.compress(_csv_text().encode()))
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ACCOUNTS))
    elif kind == "jsonl.gz":
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in ACCOUNTS).encode()))
    elif kind == "parquet":
        pq.write_table(pa.table({c: [r[c] for r in ACCOUNTS] for c in ACCOUNTS[0]}), path)


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"])
@pytest.mark.parametrize("stem", HOSTILE_STEMS, ids=range(len(HOSTILE_STEMS)))
def test_hostile_file_names_load_and_run_nothing(tmp_path, monkeypatch, stem, kind):
    data = tmp_path / "data"
    data.mkdir()
    path = data / f"{stem}.{kind}"
    _write(path, kind)
    # a sibling a glob would also match: it must not be read instead of (or with) the file
    (data / f"decoy.{kind}").write_bytes(b"not this file")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    con = connect(tmp_path / "store.duckdb")
    try:
        report = load_files(con, [path])
        accounts = con.execute("SELECT account_id, name, country FROM accounts ORDER BY 1").fetchall()
        quarantine = con.execute("SELECT source, row_number, field, raw FROM quarantine").fetchall()
    finally:
        con.close()
    assert accounts == [("001A", "Acme 'quoted'", "DE"), ("001B", 'Globex "dq"', "FR")]
    assert report.by_table()["accounts"] == {"read": 3, "loaded": 2, "merged": 0, "updated": 0, "quarantined": 1}
    [(source, row, field, raw)] = quarantine
    assert (source, row, field) == (str(path), 3, "Id")
    assert json.loads(raw)[HOSTILE_HEADER] == "3"
    assert os.listdir(work) == [], "ingest wrote a file in the working directory"
    assert sorted(os.listdir(tmp_path)) == ["cwd", "data", "store.duckdb"]
    assert not list(tmp_path.rglob("PWNED*"))


def test_hostile_segment_file_name(tmp_path, monkeypatch):
    """Segment lines are read by Python, but the path still reaches the quarantine and ingest log."""
    path = tmp_path / "e'); COPY (SELECT 1) TO 'PWNED.csv'; --.jsonl.gz"
    lines = [
        {"type": "page", "messageId": "m1", "anonymousId": "a1", "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "page", "messageId": "m2", "anonymousId": "a1", "timestamp": "not a time"},
    ]
    path.write_bytes(gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode()))
    monkeypatch.chdir(tmp_path)
    con = connect(tmp_path / "store.duckdb")
    try:
        load_files(con, [path])
        assert con.execute("SELECT message_id FROM events").fetchall() == [("m1",)]
        assert con.execute("SELECT source, row_number FROM quarantine").fetchall() == [(str(path), 2)]
        assert con.execute("SELECT DISTINCT source FROM ingest_log").fetchall() == [(str(path),)]
    finally:
        con.close()
    assert not list(tmp_path.rglob("PWNED*"))


def test_hostile_option_values_are_literals(tmp_path, monkeypatch):
    """--channel-rules and --type-map values reach SQL through lit: quotes and semicolons are data."""
    monkeypatch.chdir(tmp_path)
    evil = "x'); COPY (SELECT 1) TO 'PWNED.csv'; --"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rule": [{"channel": "partner", "campaign_type": [evil]}]}))
    type_map = tmp_path / "types.json"
    type_map.write_text(json.dumps({evil: "renewal"}))
    (tmp_path / "Account.csv").write_text("Id,Name,BillingCountry\n001A,Acme,DE\n")
    (tmp_path / "Campaign.csv").write_text(f'Id,Name,Type\n701A,Spring,"{evil}"\n')
    (tmp_path / "Opportunity.csv").write_text(
        "Id,AccountId,Name,Type,StageName,Amount,CreatedDate\n"
        f'006A,001A,Deal,"{evil}",Prospecting,10,2026-01-01\n'
    )
    con = connect(tmp_path / "store.duckdb")
    try:
        load_files(con, [tmp_path / "Account.csv", tmp_path / "Campaign.csv", tmp_path / "Opportunity.csv"],
                   channel_rules=rules, type_map=type_map)
        assert con.execute("SELECT channel FROM campaigns").fetchone() == ("partner",)
        assert con.execute("SELECT revenue_type, type_raw FROM opportunities").fetchone() == ("renewal", evil)
    finally:
        con.close()
    assert not list(tmp_path.rglob("PWNED*"))
