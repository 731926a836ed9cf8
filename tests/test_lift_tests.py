"""Lift tests as data (issue #16 item 6): `revline ingest` recognises a lift-test file by its headers
(or `--format lift_tests`) and loads it into the store's `lift_tests` table by the ingest rules
(every row loaded, updated or quarantined with file, row, field and reason; the summary adds up;
channel names through the spend vocabulary); `revline mmm fit` uses the store's tests by default,
says so, and `--no-lift-tests` leaves them out."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.ingest import load_files
from revline.ingest.detect import detect
from revline.store import connect

HEADER = ["channel", "start", "end", "lift", "sd", "design"]


def _write(path: Path, rows: list[list], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _stored(con) -> pd.DataFrame:
    return con.execute("SELECT channel, CAST(start_date AS VARCHAR) AS start, CAST(end_date AS VARCHAR) AS \"end\", "
                       "outcome, lift, sd, design FROM lift_tests ORDER BY channel, start_date").df()


def _quarantine(con) -> list[tuple]:
    return [tuple(r) for r in con.execute(
        "SELECT source, row_number, field, reason FROM quarantine ORDER BY row_number, field").fetchall()]


def test_a_lift_test_file_is_recognised_by_its_headers_or_forced(tmp_path):
    named = _write(tmp_path / "experiments.csv", [["tv", "2025-01-06", "2025-02-02", "1000", "100", ""]])
    assert detect(named).fmt == "lift_tests"
    other = _write(tmp_path / "q.csv", [["Paid Search", "2025-Q1", "1000", "250"]],
                   header=["Channel", "Period", "Incremental Pipeline", "Standard Error"])
    assert (detect(other).fmt, detect(other).obj) == ("lift_tests", "lift_tests")
    odd = _write(tmp_path / "odd.csv", [["tv", "2025-01-06", "2025-02-02", "1000", "100"]],
                 header=["channel", "start", "end", "uplift_usd", "noise"])
    assert detect(odd, fmt="lift_tests").fmt == "lift_tests"  # --format lift_tests whatever the headers say
    spend = _write(tmp_path / "spend.csv", [["2025-01-01", "tv", "c1", "10"]], header=["date", "channel", "campaign", "spend"])
    assert detect(spend).fmt == "spend"  # a spend file is not a lift-test file


def test_rows_are_loaded_updated_or_quarantined_and_the_summary_adds_up(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    first = _write(tmp_path / "lift_a.csv", [
        ["tv", "2025-10-06", "2025-11-30", "105904.32", "14512.01", "geo holdout"],          # 1 loaded
        ["Google Ads", "2025-04-07", "2025-06-01", "99621.98", "17735.29", "geo holdout"],   # 2 loaded as paid_search
        ["paid_social", "2025-09-01", "2025-10-26", "41676.3", "0", "conversion lift"],       # 3 sd must be > 0
        ["display", "2026-03-08", "2026-01-12", "71670.76", "10962.37", "geo holdout"],       # 4 ends before it starts
        ["", "2025-06-02", "2025-07-27", "100671.18", "14232.02", "holdout group"],           # 5 no channel
        ["email", "2025-06-02", "2025-07-27", "abc", "14232.02", "holdout group"],            # 6 lift not a number
        ["email", "someday", "2025-07-27", "5000", "100", "holdout group"],                   # 7 start unreadable
        ["tv", "2025-10-06", "2025-11-30", "105000", "14512.01", "geo holdout, restated"],    # 8 same test as row 1
    ])
    report = load_files(con, [first])
    counts = report.by_table()["lift_tests"]
    assert counts == {"read": 8, "loaded": 2, "merged": 0, "updated": 1, "quarantined": 5}
    assert counts["read"] == counts["loaded"] + counts["updated"] + counts["quarantined"]
    q = _quarantine(con)
    assert {(row, field) for _, row, field, _ in q} == {(3, "sd"), (4, "end"), (5, "channel"), (6, "lift"), (7, "start")}
    assert all(src == str(first) for src, *_ in q)
    reasons = {row: reason for _, row, _, reason in q}
    assert "must be > 0" in reasons[3] and "ends before it starts" in reasons[4] and "missing" in reasons[5]
    stored = _stored(con)
    assert list(stored["channel"]) == ["paid_search", "tv"]  # "Google Ads" through the spend vocabulary
    assert stored.set_index("channel").loc["tv", "lift"] == 105000.0  # the later row of the same test wins
    assert set(stored["outcome"]) == {"pipeline"}

    # another export restating the tv test and adding one (by period, of revenue): updated and loaded
    second = _write(tmp_path / "lift_b.csv", [["tv", "", "2025-10-06", "2025-11-30", "", "110000", "15000"],
                                              ["paid_search", "2025-Q3", "", "", "revenue", "50000", "9000"]],
                    header=["channel", "period", "start", "end", "outcome", "lift", "sd"])
    report = load_files(con, [second])
    assert report.by_table()["lift_tests"] == {"read": 2, "loaded": 1, "merged": 0, "updated": 1, "quarantined": 0}
    stored = _stored(con).set_index(["channel", "outcome"])
    assert stored.loc[("tv", "pipeline"), "lift"] == 110000.0 and len(stored) == 3
    assert stored.loc[("paid_search", "revenue"), ["start", "end"]].tolist() == ["2025-07-01", "2025-09-30"]
    assert load_files(con, [second]).skipped  # the same file again: nothing changes
    assert len(_stored(con)) == 3
    con.close()


def test_a_forced_reingest_merges_unchanged_tests_as_the_shared_upsert_counts_them(tmp_path):
    """The write is `ingest.upsert.upsert`'s: a row identical to the stored test changes nothing and is
    merged (the report's merged column), so read = loaded + merged + updated + quarantined; a restated
    row of the same file is updated when it is read first, merged on --force (the test stays as stored)."""
    con = connect(tmp_path / "s.duckdb")
    path = _write(tmp_path / "lift.csv", [["tv", "2025-10-06", "2025-11-30", "1000", "100", "geo"],
                                          ["email", "2025-06-02", "2025-07-27", "500", "50", "holdout"],
                                          ["email", "2025-06-02", "2025-07-27", "600", "50", "holdout"],
                                          ["", "2025-06-02", "2025-07-27", "600", "50", "holdout"]])
    first = load_files(con, [path]).by_table()["lift_tests"]
    assert first == {"read": 4, "loaded": 2, "merged": 0, "updated": 1, "quarantined": 1}
    before = _stored(con)
    assert before.set_index("channel").loc["email", "lift"] == 600.0
    again = load_files(con, [path], force=True)
    counts = again.by_table()["lift_tests"]
    # the restated email row changes nothing now: merged with the two stored tests
    assert counts == {"read": 4, "loaded": 0, "merged": 3, "updated": 0, "quarantined": 1}
    assert all(e.adds_up for e in again.entries)
    pd.testing.assert_frame_equal(_stored(con), before)
    con.close()


def test_a_line_repeated_word_for_word_is_merged_and_keeps_the_later_lines_row(tmp_path):
    """Where a test was read from (source_file, source_row) is not what it says: two identical lines
    were never equal to upsert (their rows differ), so the first counted as updated on every ingest."""
    con = connect(tmp_path / "s.duckdb")
    line = ["tv", "2025-10-06", "2025-11-30", "1000", "100", "geo"]
    path = _write(tmp_path / "lift_tests.csv", [line, line])
    assert load_files(con, [path]).by_table()["lift_tests"] == {
        "read": 2, "loaded": 1, "merged": 1, "updated": 0, "quarantined": 0}
    stored = "SELECT source_file, source_row FROM lift_tests"
    digest, row = con.execute(stored).fetchone()
    assert row == 2  # the later line's row
    assert load_files(con, [path], force=True).by_table()["lift_tests"] == {
        "read": 2, "loaded": 0, "merged": 2, "updated": 0, "quarantined": 0}
    # another export saying the same test: merged, the stored test keeps the file it came from
    other = _write(tmp_path / "experiments_q4.csv", [["tv", "2025-10-06", "2025-11-30", "1000", "100", "geo"],
                                                     ["email", "2025-06-02", "2025-07-27", "500", "50", "holdout"]])
    assert load_files(con, [other]).by_table()["lift_tests"] == {
        "read": 2, "loaded": 1, "merged": 1, "updated": 0, "quarantined": 0}
    assert con.execute(stored + " WHERE channel = 'tv'").fetchone() == (digest, 2)
    con.close()


_row = st.tuples(
    st.sampled_from(["tv", "paid_search", "Google Ads", "", "email"]),
    st.sampled_from(["2025-01-06", "2025-02-03", "bad"]),
    st.sampled_from(["2025-03-02", "2025-01-01", ""]),
    st.sampled_from(["1000", "-50.5", "x", ""]),
    st.sampled_from(["100", "0", "-1", "25.5", ""]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_row, min_size=1, max_size=12), st.lists(_row, min_size=1, max_size=6))
def test_every_row_is_accounted_for_and_keys_stay_unique(tmp_path, rows_a, rows_b):
    """Whatever the rows: read = loaded + merged + updated + quarantined per file, one stored row per test,
    and the stored tests are the distinct tests of the good rows."""
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    con = connect(":memory:")
    good_keys: set[tuple] = set()
    for name, rows in (("a.csv", rows_a), ("b.csv", rows_b)):
        path = _write(d / name, [list(r) + [name] for r in rows])  # design differs: never the same file twice
        counts = load_files(con, [path]).by_table()["lift_tests"]
        assert counts["read"] == len(rows) == counts["loaded"] + counts["merged"] + counts["updated"] + counts["quarantined"]
        for ch, start, end, lift, sd in rows:
            ok = ch and start != "bad" and end and lift not in ("x", "") and sd not in ("", "0", "-1") and end >= start
            if ok:
                good_keys.add(("paid_search" if ch == "Google Ads" else ch, start, end))
    stored = _stored(con)
    assert set(zip(stored["channel"], stored["start"], stored["end"])) == good_keys
    assert not stored.duplicated(["channel", "start", "end", "outcome"]).any()
    con.close()


def test_store_tests_a_fit_can_use_and_why_others_are_left_out(tmp_path):
    from revline.models.mmm.calibration import store_lift_tests, usable_lift_tests

    con = connect(tmp_path / "s.duckdb")
    assert store_lift_tests(con).empty
    load_files(con, [_write(tmp_path / "l.csv", [["tv", "2024-01-08", "2024-02-04", "900", "90", ""],
                                                 ["radio", "2024-01-08", "2024-02-04", "100", "10", ""],
                                                 ["tv", "2030-01-07", "2030-02-03", "100", "10", ""]])])
    tests = store_lift_tests(con)
    # 'radio' is no channel of the vocabulary: grouped as 'other', as spend rows would be
    assert list(tests["channel"]) == ["other", "tv", "tv"] and store_lift_tests(con, "revenue").empty
    weeks = pd.Series(pd.date_range("2024-01-01", periods=20, freq="W-MON"))
    kept, why = usable_lift_tests(tests, weeks, ["tv", "paid_search"])
    assert list(kept["channel"]) == ["tv"] and kept["lift"].tolist() == [900.0]
    assert len(why) == 2 and "other" in why[0] and "not a modelled channel" in why[0] and "outside the fitted weeks" in why[1]
    con.close()


def _store_with_weekly_data(db: Path) -> pd.DataFrame:
    """A store whose spend and new-business opportunities are the synthetic weekly frame of
    test_mmm (two channels, known contributions): what `weekly_from_store` reads back."""
    rng = np.random.default_rng(3)
    n = 80
    dates = pd.date_range("2022-01-03", periods=n, freq="W-MON")
    tv = rng.gamma(2.0, 5000, n) * (rng.random(n) > 0.3)
    search = rng.gamma(3.0, 2000, n)
    y = 40_000 + 0.8 * tv + 1.5 * search + rng.normal(0, 2000, n)
    con = connect(db)
    spend = pd.DataFrame({"date": list(dates) * 2, "channel": ["tv"] * n + ["paid_search"] * n, "spend": np.r_[tv, search]})
    con.register("sp", spend)
    con.execute("INSERT INTO spend (date, channel, campaign_id, spend, source_row) "
                "SELECT CAST(date AS DATE), channel, '', spend, row_number() OVER () FROM sp")
    opps = pd.DataFrame({"id": [f"o{i}" for i in range(n)], "created": dates + pd.Timedelta(hours=10), "amount": y.round(2)})
    con.register("op", opps)
    con.execute("INSERT INTO opportunities (opportunity_id, revenue_type, amount, created_at, is_closed, is_won) "
                "SELECT id, 'new_business', amount, created, FALSE, FALSE FROM op")
    con.close()
    return pd.DataFrame({"week": dates, "tv": tv})


@pytest.mark.slow  # three short SVI fits (~1 min on a shared 2-core machine)
def test_mmm_fit_uses_the_store_lift_tests_by_default(tmp_path):
    pytest.importorskip("numpyro")
    from revline.ops.mmm import fit

    db = tmp_path / "s.duckdb"
    _store_with_weekly_data(db)
    con = connect(db)
    load_files(con, [_write(tmp_path / "lift.csv", [["tv", "2022-06-06", "2022-08-28", "1000", "500", "geo holdout"],
                                                    ["radio", "2022-06-06", "2022-08-28", "1000", "500", ""]])])
    kw = dict(fast=True, svi_steps=300, draws=100, yearly_seasonality=1)
    used = fit(con, out=str(tmp_path / "with"), **kw)
    assert any("using 1 lift test from the store (tv)" in n for n in used.notes), used.notes
    assert any("lift test of other" in n and "left out" in n for n in used.notes)
    assert used.run_info["lift_tests"] == {"count": 1, "source": "store"}
    assert pd.read_csv(tmp_path / "with" / "lift_tests.csv")["channel"].tolist() == ["tv"]
    ignored = fit(con, out=str(tmp_path / "without"), no_lift_tests=True, **kw)
    assert any("ignoring the store's 2 lift tests" in n for n in ignored.notes) and "lift_tests" not in ignored.run_info
    assert not (tmp_path / "without" / "lift_tests.csv").exists()
    # the test says tv did almost nothing in its window: the fit that used it credits tv less
    tv = lambda r: float(r.contributions.set_index("channel").loc["tv", "contribution"])  # noqa: E731
    assert tv(used) < tv(ignored)
    f = _write(tmp_path / "file.csv", [["paid_search", "2022-06-06", "2022-08-28", "5000", "800", ""]])
    explicit = fit(con, out=str(tmp_path / "file"), lift_tests=str(f), **kw)  # --lift-tests FILE still works
    assert any(f"using 1 lift test from {f}" in n for n in explicit.notes)
    assert explicit.run_info["lift_tests"]["source"] == str(f)
    con.close()


@pytest.mark.slow  # two CLI processes, each importing JAX and fitting
def test_cli_mmm_fit_says_it_uses_the_store_tests(tmp_path):
    pytest.importorskip("numpyro")
    import os
    import subprocess
    import sys

    db = tmp_path / "s.duckdb"
    _store_with_weekly_data(db)
    lift = _write(tmp_path / "lift.csv", [["tv", "2022-06-06", "2022-08-28", "20000", "4000", "geo holdout"]])
    env = {**os.environ, "COLUMNS": "250"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "revline", *a, "--db", str(db)],  # noqa: E731
                                    capture_output=True, text=True, env=env, timeout=600)
    res = run("ingest", str(lift))
    assert res.returncode == 0, res.stdout + res.stderr
    res = run("mmm", "fit", "--fast", "--svi-steps", "200", "--draws", "50", "--yearly-seasonality", "1", "--no-lift-tests")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ignoring the store's 1 lift test" in " ".join(res.stdout.split())
    res = run("mmm", "fit", "--fast", "--svi-steps", "200", "--draws", "50", "--yearly-seasonality", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "using 1 lift test from the store (tv)" in " ".join(res.stdout.split())
