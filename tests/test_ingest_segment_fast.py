"""The fast Segment path (one streaming json_transform pass, files batched) against the generic
validator, plus the batch bookkeeping (per-file line numbers and counts) and store migration 3."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.ingest import load_files, segment
from revline.ingest.channels import load_rules
from revline.ingest.context import Ctx
from revline.ingest.readers import stage_lines
from revline.ingest.report import IngestReport
from revline.ingest.validate import QUARANTINE_BATCH, ensure_batch_quarantine, quarantine_broken
from revline.store import connect
from revline.store.migrations import migrate

TABLES = {
    "events": "*",
    "touchpoints": "*",
    "identity_links": "*",
    "quarantine": "* EXCLUDE (ingested_at)",
}


def _slow_ingest(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Every line through the generic validator (the path the fast pass must agree with)."""
    ctx = Ctx(con, IngestReport(), load_rules(), {}, path, "segment", "events")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("BEGIN TRANSACTION")
    ensure_batch_quarantine(con)
    staged = stage_lines(con, path)
    quarantine_broken(con, str(path), "events", staged.broken)
    segment.load_events(ctx, staged)
    con.execute(f"INSERT INTO quarantine SELECT *, now()::TIMESTAMP FROM {QUARANTINE_BATCH}")
    con.execute(f"DROP TABLE {QUARANTINE_BATCH}")
    con.execute("COMMIT")


def _rows(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    return {t: sorted(map(repr, con.execute(f"SELECT {cols} FROM {t}").fetchall())) for t, cols in TABLES.items()}


def _event(i: int, kind: str) -> str:
    base = {"messageId": f"m{i}", "type": "page", "anonymousId": f"a{i % 3}", "timestamp": "2025-03-01T10:00:00Z"}
    if kind == "track":
        base.update(type="track", event=" Form Submitted ", userId=f"u{i % 2}",
                    context={"traits": {"email": f"U{i}@X.com"}, "campaign": {"source": "google", "medium": "cpc"}})
    elif kind == "identify":
        base.update(type="identify", userId=f"u{i % 2}", traits={"email": f" U{i}@x.com "})
    elif kind == "alias":
        base.update(type="alias", previousId=f"a{i}", userId=f"u{i}")
    elif kind == "utm":
        base.update(context={"page": {"url": f"https://x.io/?utm_source=news&utm_medium=email&utm_campaign=c{i}",
                                      "referrer": "https://www.linkedin.com/feed"}})
    elif kind == "bad_ts":
        base.update(timestamp="yesterday")
    elif kind == "bad_received":
        base.update(receivedAt="not a time")
    elif kind == "blank_received":
        base.update(receivedAt="  ")
    elif kind == "no_id":
        del base["messageId"]
    elif kind == "blank_id":
        base.update(messageId="   ")
    elif kind == "no_identity":
        del base["anonymousId"]
    elif kind == "alias_no_prev":
        base.update(type="alias", userId="u9")
    elif kind == "unknown_type":
        base.update(type="flush")
    elif kind == "number_id":
        base.update(messageId=1000 + i)
    elif kind == "padded":
        base.update(anonymousId=f"  a{i}  ", originalTimestamp=base.pop("timestamp"))
    elif kind == "epoch_ms":
        base.update(timestamp="1740823200000")
    elif kind == "dup":
        base.update(messageId="m0")
    elif kind == "string_context":
        base.update(context="plain text")
    elif kind == "blank":
        return "   "
    elif kind == "broken":
        return json.dumps(base)[:-9]
    elif kind == "array":
        return "[1, 2]"
    return json.dumps(base)


KINDS = ["page", "track", "identify", "alias", "utm", "bad_ts", "bad_received", "blank_received", "no_id", "blank_id",
         "no_identity", "alias_no_prev", "unknown_type", "number_id", "padded", "epoch_ms", "dup", "string_context",
         "blank", "broken", "array"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=30))
def test_fast_path_agrees_with_generic_validator(tmp_path_factory, kinds):
    """Same events, touchpoints, identity links and quarantine (rows, fields, reasons, raw lines)."""
    path = tmp_path_factory.mktemp("seg") / "events.jsonl"
    kinds = ["page", *kinds]  # detection reads the first line; the rest is anything
    path.write_text("\n".join(_event(i, k) for i, k in enumerate(kinds)) + "\n")
    fast, slow = connect(":memory:"), connect(":memory:")
    load_files(fast, [path], fmt="segment")
    _slow_ingest(slow, path)
    assert _rows(fast) == _rows(slow)


def test_batch_numbers_lines_per_file_and_counts_per_file(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text("\n".join([_event(0, "page"), "", _event(1, "bad_ts"), _event(2, "identify")]) + "\n")
    b = tmp_path / "b.jsonl.gz"
    with gzip.open(b, "wt") as fh:  # m0 again: the earlier file keeps it
        fh.write("\n".join([_event(0, "track"), _event(3, "broken"), _event(4, "page")]) + "\n")
    con = connect(":memory:")
    report = load_files(con, [tmp_path])
    got = {(Path(e.file).name, e.table): (e.read, e.loaded, e.quarantined) for e in report.entries}
    assert got == {
        ("a.jsonl", "events"): (3, 2, 1), ("a.jsonl", "touchpoints"): (0, 1, 0), ("a.jsonl", "identity_links"): (0, 2, 0),
        ("b.jsonl.gz", "events"): (3, 1, 1), ("b.jsonl.gz", "touchpoints"): (0, 1, 0),
        ("b.jsonl.gz", "identity_links"): (0, 0, 0),
    }
    q = con.execute("SELECT source, row_number, field FROM quarantine ORDER BY source").fetchall()
    assert [(Path(s).name, r, f) for s, r, f in q] == [("a.jsonl", 3, "timestamp"), ("b.jsonl.gz", 2, "(line)")]
    assert con.execute("SELECT type, source FROM events WHERE message_id = 'm0'").fetchone() == ("page", "a.jsonl")
    logged = con.execute("SELECT count(DISTINCT source), count(*) FROM ingest_log").fetchone()
    assert logged == (2, 6)
    # a second call with both files changes nothing (skipped by sha256)
    again = load_files(con, [tmp_path])
    assert len(again.skipped) == 2 and con.execute("SELECT count(*) FROM events").fetchone()[0] == 3


def test_migration_3_keeps_touchpoints_and_drops_their_index(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, target=2)
    con.execute("INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, touch_type, identity_type, identity_value) "
                "VALUES ('t1', '2025-01-01', 'email', 'email_click', 'email', 'a@x.com'), ('t2', '2025-01-02', 'direct', NULL, NULL, NULL)")
    result = con.execute("SELECT * FROM touchpoints ORDER BY 1")
    before, columns = result.fetchall(), ", ".join(d[0] for d in result.description)
    con.close()
    con = connect(db)  # later versions may add columns: the ones of version 2 keep their values
    assert con.execute(f"SELECT {columns} FROM touchpoints ORDER BY 1").fetchall() == before
    kinds = {r[0] for r in con.execute(
        "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'touchpoints'").fetchall()}
    assert kinds == {"NOT NULL"}
    # ingest still keeps touchpoint_id unique: deriving the same events twice adds nothing
    path = tmp_path / "e.jsonl"
    path.write_text(_event(1, "page") + "\n" + _event(2, "track") + "\n")
    load_files(con, [path])
    n = con.execute("SELECT count(*) FROM touchpoints").fetchone()[0]
    segment.derive_from_events(con)
    assert con.execute("SELECT count(*), count(DISTINCT touchpoint_id) FROM touchpoints").fetchone() == (n, n)


def test_migration_4_keeps_events_and_drops_their_index(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, target=3)
    con.execute("INSERT INTO events (message_id, type, anonymous_id, occurred_at, context) "
                "VALUES ('m1', 'page', 'a1', '2025-01-01', '{\"page\": {\"url\": \"https://x.io/\"}}'), "
                "('m2', 'identify', 'a1', '2025-01-02', NULL)")
    before = con.execute("SELECT * FROM events ORDER BY 1").fetchall()
    con.close()
    con = connect(db)
    assert con.execute("SELECT * FROM events ORDER BY 1").fetchall() == before
    kinds = {r[0] for r in con.execute(
        "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'events'").fetchall()}
    assert kinds == {"NOT NULL"}
    # messageId stays unique without the index: a file repeating m1 and a new m3 adds only m3
    path = tmp_path / "e.jsonl"
    path.write_text(_event(1, "page") + "\n" + _event(3, "page") + "\n" + _event(3, "track") + "\n")
    report = load_files(con, [path])
    assert report.by_table()["events"]["loaded"] == 1
    assert con.execute("SELECT count(*), count(DISTINCT message_id) FROM events").fetchone() == (3, 3)


def test_line_endings_encoding_and_cut_files(tmp_path):
    """CRLF lines, a last line without newline, a line that is not UTF-8 (quarantined with its
    number, the rest loads) and a gzip file cut short (a clear error, nothing written)."""
    path = tmp_path / "crlf.jsonl"
    lines = [_event(0, "page").encode(), _event(1, "page").encode(), b'{"messageId": "m2", "type": "page", "x": "\xff"}',
             _event(3, "track").encode()]
    path.write_bytes(b"\r\n".join(lines))  # no newline after the last line
    con = connect(":memory:")
    report = load_files(con, [path])
    assert report.by_table()["events"] == {**report.by_table()["events"], "read": 4, "loaded": 3, "quarantined": 1}
    q = con.execute("SELECT row_number, field, reason, raw FROM quarantine").fetchall()
    assert q == [(3, "(line)", "broken line: not valid UTF-8", '{"messageId": "m2", "type": "page", "x": "\ufffd"}')]
    assert sorted(r[0] for r in con.execute("SELECT message_id FROM events").fetchall()) == ["m0", "m1", "m3"]

    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(("\n".join(_event(i, "page") for i in range(2000)) + "\n").encode())[:-200])
    con = connect(":memory:")
    try:
        load_files(con, [cut])
    except ValueError as exc:
        assert "cut.jsonl.gz" in str(exc) and "ends early" in str(exc)
    else:
        raise AssertionError("a cut gzip file must not load silently")
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def _compression(con, table: str) -> dict[str, set[str]]:
    con.execute("CHECKPOINT")
    out: dict[str, set[str]] = {}
    for col, kind in con.execute(f"SELECT column_name, compression FROM pragma_storage_info('{table}') "
                                 "WHERE segment_type <> 'VALIDITY'").fetchall():
        out.setdefault(col, set()).add(kind)
    return out


_MANY_EVENTS = ("INSERT INTO events (message_id, type, anonymous_id, occurred_at, properties, traits, context) "
                "SELECT 'm' || i, 'page', 'a' || (i % 50), TIMESTAMP '2025-01-01' + to_seconds(i), "
                "'{\"path\": \"/p/' || (i % 9) || '\"}', '{\"plan\": \"pro\"}', "
                "'{\"userAgent\": \"Mozilla/5.0 ' || (i % 7) || '\", \"page\": {\"url\": \"https://x.io/' || (i % 11) || '\"}}' "
                "FROM range(5000) t(i)")


def test_migration_5_compresses_event_json_with_zstd_only_where_the_format_has_it(tmp_path):
    from revline.store import SCHEMA_VERSION, current_version
    from revline.store.connection import STORAGE_VERSION

    new = tmp_path / "new.duckdb"
    con = duckdb.connect(str(new), config={"storage_compatibility_version": STORAGE_VERSION})
    migrate(con, target=4)
    con.execute(_MANY_EVENTS)
    before = con.execute("SELECT * FROM events ORDER BY occurred_at").fetchall()
    con.close()
    con = connect(new)
    assert current_version(con) == SCHEMA_VERSION >= 5
    assert con.execute("SELECT * FROM events ORDER BY occurred_at").fetchall() == before
    kinds = _compression(con, "events")
    assert all(kinds[c] == {"ZSTD"} for c in ("properties", "traits", "context")), kinds
    assert "ZSTD" not in kinds["message_id"]
    con.close()
    # a store in DuckDB's 1.0 format has no ZSTD (a named one would store the column
    # uncompressed): the step only records the version and DuckDB keeps choosing
    old = tmp_path / "old.duckdb"
    duckdb.connect(str(old)).close()
    con = connect(old)
    assert current_version(con) == SCHEMA_VERSION
    con.execute(_MANY_EVENTS)
    kinds = _compression(con, "events")
    assert not kinds["context"] & {"ZSTD", "Uncompressed"}, kinds
