"""Every row a reader hands to the shared write (`ingest.upsert.upsert`) is counted once, as loaded,
merged or updated, and the table ends as the rules say: the newest row of a key wins (update=True),
or the first observation stays (update=False). The ingest summary's read = loaded + merged +
updated + quarantined rests on this; the end-to-end check on the tiny demo is below."""

from __future__ import annotations

import io

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from crm_exports import salesforce_crm_only, write
from revline.ingest import load_files
from revline.ingest.upsert import Written, upsert
from revline.journeys.freshness import restitch
from revline.store import connect
from revline.store.state import DATA_VERSION, get_value, staleness

KEYS = st.integers(0, 6)
VALUES = st.tuples(st.integers(0, 2), st.sampled_from(["a", "b", None]))  # few values: identical rows are common
STORED = st.dictionaries(KEYS, VALUES, max_size=6)
BATCH = st.lists(st.tuples(KEYS, VALUES), max_size=14)  # repeated keys: within-batch restatements


def _table(con: duckdb.DuckDBPyConnection, stored: dict, *, primary_key: bool) -> None:
    con.execute(f"CREATE TABLE t (k INTEGER {'PRIMARY KEY' if primary_key else 'NOT NULL'}, v INTEGER, w VARCHAR, "
                f"src VARCHAR)")  # src: provenance (the row a value was read from), as lift tests and FX rates keep
    for k, (v, w) in stored.items():
        con.execute("INSERT INTO t VALUES (?, ?, ?, 'stored')", [k, v, w])
    con.execute("CREATE TEMP TABLE batch (k INTEGER, v INTEGER, w VARCHAR, src VARCHAR, _ord INTEGER)")
    # _ord is the file's row order (the later the newer); the batch is stored out of order


def _expected_update(stored: dict, batch: list) -> tuple[dict, Written]:
    """The rule, stated row by row: the last row of a key wins; it is loaded (new key), merged
    (same values as stored) or updated; each earlier row of the key is merged when it says what the
    winner says or the winner says what is stored (the key ends unchanged), else updated. Values are
    (v, w): provenance is not compared (see `_provenance`)."""
    state, loaded, merged, updated = dict(stored), 0, 0, 0
    last = {k: vw for k, vw in batch}
    for i, (k, vw) in enumerate(batch):
        if any(k2 == k for k2, _ in batch[i + 1:]):  # restated later in the batch
            unchanged = vw == last[k] or stored.get(k) == last[k]
            merged += unchanged
            updated += not unchanged
        elif k not in stored:
            loaded += 1
        elif stored[k] == vw:
            merged += 1
        else:
            updated += 1
    state.update(last)
    return state, Written(loaded, merged, updated)


def _expected_first(stored: dict, batch: list) -> tuple[dict, Written]:
    """update=False: a key already stored or seen earlier in the batch is merged, the first one stays."""
    state, loaded = dict(stored), 0
    for k, vw in batch:
        if k not in state:
            state[k] = vw
            loaded += 1
    return state, Written(loaded, len(batch) - loaded, 0)


def _provenance(stored: dict, batch: list) -> dict:
    """Per key, the provenance stored after an upsert with ignore=("src",): the winning row's
    (row i of the batch: f"row{i}") where the key is new or its values change, else the stored one."""
    out = {k: "stored" for k in stored}
    for i, (k, vw) in enumerate(batch):
        if not any(k2 == k for k2, _ in batch[i + 1:]) and stored.get(k) != vw:
            out[k] = f"row{i}"
    return out


def _run(stored: dict, batch: list, *, primary_key: bool, update: bool) -> tuple[dict, Written]:
    con = duckdb.connect()
    _table(con, stored, primary_key=primary_key)
    rows = [(k, v, w, f"row{i}", i) for i, (k, (v, w)) in enumerate(batch)]
    for row in reversed(rows):
        con.execute("INSERT INTO batch VALUES (?, ?, ?, ?, ?)", list(row))
    written = upsert(con, "t", "SELECT * FROM batch", ["k"], update=update, ignore=("src",))
    state = {k: (v, w) for k, v, w in con.execute("SELECT k, v, w FROM t").fetchall()}
    if update:
        assert dict(con.execute("SELECT k, src FROM t").fetchall()) == _provenance(stored, batch)
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == len(state), "a key stored twice"
    leftover = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name <> 'batch'").fetchone()[0]
    assert leftover == 0, "upsert left a temp table behind"
    con.close()
    return state, written


@settings(max_examples=80, deadline=None)
@given(stored=STORED, batch=BATCH, primary_key=st.booleans())
@example(stored={0: (1, "a")}, batch=[(0, (2, "b")), (0, (1, "a"))], primary_key=True)  # restated back to the stored row
@example(stored={0: (1, "a")}, batch=[(0, (2, "b")), (0, (1, "a"))], primary_key=False)
def test_upsert_counts_every_row_once_and_the_newest_row_wins(stored, batch, primary_key):
    """New, changed, identical and within-batch repeated rows, on a table with a key constraint
    (ON CONFLICT) and without one (UPDATE ... FROM, as touchpoints); every row has its own
    provenance, left out of the comparison (ignore=)."""
    state, written = _run(stored, batch, primary_key=primary_key, update=True)
    expected_state, expected = _expected_update(stored, batch)
    assert written.loaded + written.merged + written.updated == len(batch) == written.rows
    assert written == expected
    assert state == expected_state
    assert bool(written.loaded or written.updated) == (state != stored)  # counts say when the table changed


@settings(max_examples=60, deadline=None)
@given(stored=STORED, batch=BATCH)
def test_upsert_without_update_keeps_the_first_observation_and_merges_the_rest(stored, batch):
    state, written = _run(stored, batch, primary_key=True, update=False)
    expected_state, expected = _expected_first(stored, batch)
    assert written.loaded + written.merged + written.updated == len(batch)
    assert written == expected
    assert state == expected_state


# ------------------------------------------------------------------ the tiny demo, re-ingested

CANONICAL = ("accounts", "people", "opportunities", "opportunity_contacts", "campaigns", "stage_events",
             "touchpoints", "identity_links", "events", "spend", "targets", "lift_tests", "fx_rates")


def _contents(con) -> dict[str, int]:
    """Per table: rows and a hash of every row (the table's content, order aside)."""
    return {t: con.execute(f"SELECT count(*), coalesce(sum(hash(x)), 0) FROM {t} x").fetchone() for t in CANONICAL}  # noqa: S608 - fixed table names


def _restating_exports(folder):
    """Exports that state a key twice in one file, in the demo's shapes: a contact role changed
    between two rows, a target restated, an FX rate restated and one repeated, a lift test restated
    and one repeated word for word. Their keys are not in the demo's files."""
    for sub in ("salesforce", "targets", "experiments"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    write(folder / "salesforce" / "OpportunityContactRole.csv",
          ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary", "CreatedDate"],
          [("00KRv0000000009001", "006Rv0000000000001", "003Rv0000000000001", "Decision Maker", "false",
            "2024-10-01T10:45:15.000Z"),
           ("00KRv0000000009001", "006Rv0000000000001", "003Rv0000000000001", "Influencer", "false",
            "2024-10-01T10:45:15.000Z")])
    write(folder / "targets" / "targets.csv", ["period", "segment", "revenue_target", "pipeline_target"],
          [("2025-Q1", "LATAM", "10000.00", "30000.00"), ("2025-Q1", "LATAM", "12000.00", "30000.00"),
           ("2025-Q2", "LATAM", "11000.00", "31000.00"), ("2025-Q2", "LATAM", "11000.00", "31000.00")])
    write(folder / "fx_rates.csv", ["date", "currency", "rate"],
          [("2025-01-01", "EUR", "1.10"), ("2025-01-01", "EUR", "1.12"), ("2025-01-02", "EUR", "1.12"),
           ("2025-01-02", "EUR", "1.12")])
    write(folder / "experiments" / "lift_tests.csv", ["channel", "start", "end", "lift", "sd", "design"],
          [("tv", "2026-01-05", "2026-02-01", "500", "50", "geo holdout"),
           ("tv", "2026-01-05", "2026-02-01", "600", "50", "geo holdout, restated"),
           ("email", "2026-03-02", "2026-04-26", "1000", "100", "holdout group"),
           ("email", "2026-03-02", "2026-04-26", "1000", "100", "holdout group")])
    return folder


@pytest.fixture(scope="module")
def ingested_twice(simulated_company, tmp_path_factory):
    """The tiny demo's files (every format it writes: Salesforce CSVs, Segment events, ad spend,
    targets, lift tests) and exports restating keys within a file (`_restating_exports`) into a
    new store, then again with --force, then again without. The data version after each."""
    _, files, _ = simulated_company(config="default", size="tiny", seed=11)
    restating = _restating_exports(tmp_path_factory.mktemp("restating"))
    db = tmp_path_factory.mktemp("reingest") / "s.duckdb"
    con = connect(db)
    first = load_files(con, [files, restating])
    before, version = _contents(con), get_value(con, DATA_VERSION)
    forced = load_files(con, [files, restating], force=True)
    after, forced_version = _contents(con), get_value(con, DATA_VERSION)
    again = load_files(con, [files, restating])
    con.close()
    return first, forced, again, before, after, (version, forced_version)


def test_every_line_of_every_ingest_adds_up(ingested_twice):
    first, forced, *_ = ingested_twice
    formats = set()
    for report in (first, forced):
        for e in report.entries:
            assert e.adds_up, e
            if e.read:
                formats.add(e.format)
                assert e.read == e.loaded + e.merged + e.updated + e.quarantined, e
    assert formats >= {"salesforce", "segment", "spend", "targets", "lift_tests", "fx"}


def test_the_restating_exports_count_their_restatements(ingested_twice):
    """On the first ingest an earlier row a later one restates with other values is updated (its
    key is loaded), one the later row repeats is merged."""
    first, *_ = ingested_twice
    counts = {(e.format, e.table): (e.read, e.loaded, e.merged, e.updated)
              for e in first.entries if "restating" in e.file}
    assert counts == {("salesforce", "opportunity_contacts"): (2, 1, 0, 1), ("targets", "targets"): (4, 2, 1, 1),
                      ("fx", "fx_rates"): (4, 2, 1, 1), ("lift_tests", "lift_tests"): (4, 2, 1, 1)}


def test_a_forced_reingest_merges_every_row_and_changes_nothing(ingested_twice):
    first, forced, _, before, after, (version, forced_version) = ingested_twice
    assert after == before
    assert version == 1 and forced_version == version  # nothing changed: no stitch is due
    read = [e for e in forced.entries if e.read]
    assert read and all(e.loaded == 0 and e.updated == 0 for e in read), [e for e in read if e.loaded or e.updated]
    assert all(e.merged == e.read - e.quarantined for e in read)
    quarantined = {(e.file, e.table): e.quarantined for e in first.entries}
    assert all(e.quarantined == quarantined[(e.file, e.table)] for e in read)  # the same rows, the same reasons
    text = _rendered(forced)
    assert "merged" in text and f"merged: {forced.merged:,} row(s)" in text


def test_a_file_ingested_before_is_skipped_and_the_summary_says_how_to_read_it_again(ingested_twice):
    first, _, again, *_ = ingested_twice
    assert again.entries == []
    assert sorted(again.skipped) == sorted({e.file for e in first.entries})
    text = _rendered(again)
    assert "skipped (already ingested, same sha256)" in text and "revline ingest --force" in text


def test_the_report_round_trips_the_merged_counts_through_the_job_codec(ingested_twice):
    """The server's ingest job returns the report through ops.codec: merged survives it."""
    from revline.ops.codec import decode, encode

    _, forced, *_ = ingested_twice
    back = decode(encode(forced))
    assert back.by_table() == forced.by_table() and back.merged == forced.merged > 0


def test_a_forced_reingest_of_a_file_restating_a_contact_role_leaves_the_store_stitched(tmp_path):
    """OpportunityContactRole.csv names (006A, 003A1) twice, "Decision Maker" then "Influencer":
    the earlier row counted as updated on every --force run, which bumped the data version
    (1 -> 2 -> 3) and made the store stale ("1 ingest(s) since the last stitch") with nothing changed."""
    crm = salesforce_crm_only(tmp_path / "crm")
    write(crm / "OpportunityContactRole.csv", ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary"],
          [("00K1", "006A", "003A1", "Decision Maker", "true"), ("00K1", "006A", "003A1", "Influencer", "true")])
    con = connect(tmp_path / "s.duckdb")
    first = load_files(con, [crm]).by_table()["opportunity_contacts"]
    assert (first["loaded"], first["merged"], first["updated"]) == (1, 0, 1)
    restitch(con)
    version = get_value(con, DATA_VERSION)
    for _ in range(2):
        forced = load_files(con, [crm / "OpportunityContactRole.csv"], force=True)
        assert forced.by_table()["opportunity_contacts"] == {
            "read": 2, "loaded": 0, "merged": 2, "updated": 0, "quarantined": 0}
        assert get_value(con, DATA_VERSION) == version
        assert not staleness(con).stale, staleness(con)
    assert con.execute("SELECT role FROM opportunity_contacts WHERE opportunity_id = '006A'").fetchall() == [
        ("Influencer",)]
    # an export that really changes the role is a change: updated, and a stitch is due again
    write(crm / "OpportunityContactRole.csv", ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary"],
          [("00K1", "006A", "003A1", "Influencer", "true"), ("00K1", "006A", "003A1", "Economic Buyer", "true")])
    changed = load_files(con, [crm / "OpportunityContactRole.csv"]).by_table()["opportunity_contacts"]
    assert (changed["loaded"], changed["merged"], changed["updated"]) == (0, 0, 2)
    assert get_value(con, DATA_VERSION) == version + 1
    assert staleness(con).reasons == ("1 ingest(s) since the last stitch",)
    con.close()


def _rendered(report) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(report)
    return out.getvalue()



# ------------------------------------------------------------------ FX rates files through ingest

def _write_lines(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_fx_file_with_a_broken_line_adds_up_and_its_later_row_wins(tmp_path):
    """`read` counts the broken line the loader quarantines (it was count(*) of the staged good rows:
    read 3 against loaded 2 + merged 1 + quarantined 1); rows are ordered by their line in the file."""
    con = connect(tmp_path / "s.duckdb")
    rates = _write_lines(tmp_path / "fx_rates.csv", [
        "date,currency,rate",
        "2025-01-01,EUR,1.10",
        "2025-01-02,EUR,1.20,oops",  # too many columns: quarantined
        "2025-01-03,GBP,1.25",
        "2025-01-03,GBP,1.25",  # the same rate again: merged
        "2025-01-01,EUR,1.11",  # restates row 1: the later row wins
    ])
    report = load_files(con, [rates])
    (e,) = [e for e in report.entries if e.table == "fx_rates"]
    assert (e.read, e.loaded, e.merged, e.updated, e.quarantined) == (5, 2, 1, 1, 1)
    assert e.adds_up
    assert con.execute("SELECT currency, CAST(date AS VARCHAR), rate FROM fx_rates ORDER BY 1").fetchall() == [
        ("EUR", "2025-01-01", 1.11), ("GBP", "2025-01-03", 1.25)]
    assert con.execute("SELECT row_number FROM quarantine WHERE table_name = 'fx_rates'").fetchall() == [(2,)]
    con.close()


def test_an_fx_file_names_a_bad_row_by_its_line_after_a_broken_one(tmp_path):
    """The row an error names is the staged file row, not the position among the good rows."""
    con = connect(tmp_path / "s.duckdb")
    rates = _write_lines(tmp_path / "fx_rates.csv", [
        "date,currency,rate",
        "2025-01-01,EUR,1.10,oops",
        "2025-01-02,EUR,-1",
    ])
    with pytest.raises(ValueError, match=r"fx_rates.csv: row 2, field rate"):
        load_files(con, [rates])
    con.close()


def test_an_fx_rate_another_file_repeats_is_merged_and_keeps_its_source(tmp_path):
    """The file a rate came from (fx_rates.source) is provenance, left out of upsert's comparison."""
    con = connect(tmp_path / "s.duckdb")
    first = _write_lines(tmp_path / "fx_rates.csv", ["date,currency,rate", "2025-01-01,EUR,1.10"])
    load_files(con, [first])
    other = _write_lines(tmp_path / "fx_rates_2025.csv", ["date,currency,rate", "2025-01-01,EUR,1.10",
                                                           "2025-01-02,EUR,1.12"])
    counts = load_files(con, [other]).by_table()["fx_rates"]
    assert counts == {"read": 2, "loaded": 1, "merged": 1, "updated": 0, "quarantined": 0}
    assert con.execute("SELECT CAST(date AS VARCHAR), source FROM fx_rates ORDER BY date").fetchall() == [
        ("2025-01-01", str(first)), ("2025-01-02", str(other))]
    con.close()
