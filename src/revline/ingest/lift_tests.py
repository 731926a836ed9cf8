"""Lift tests: what a company's experiments measured, read into the store's `lift_tests` table.

A row is one experiment (geo holdout, conversion-lift study, holdout group): the channel, the
window (start and end, or a `period` such as 2025-Q2 or 2025-04-07..2025-06-01), the measured
incremental outcome `lift` (USD of pipeline by default, or of revenue with an `outcome` column)
and its standard error `sd`. `revline mmm fit` uses the stored tests of its outcome by default.

Rules (the ingest rules every reader keeps):
  * a row with no channel, an unreadable window or number, an end before its start, an `sd` that
    is not > 0 or an unknown outcome is quarantined with file, row, field and reason;
  * channel names go through the same vocabulary as spend (`spend.named_channel_sql`): a revline
    channel as it is, a platform or other name ("Google Ads", "LinkedIn") through the channel rules;
  * a test is identified by (channel, start, end, outcome) and written by the shared
    `upsert.upsert`: a new test is loaded; a row changing a stored test updates it, and so does a
    later row of the same file naming a test again with other values (the last row wins, the
    earlier counts as updated when the test is loaded or updated); a row saying what the stored
    test says or what the later row restating it says, or restated by a later row the store
    already holds (a `--force` re-ingest), changes nothing and is merged, so read = loaded + merged + updated +
    quarantined. Where a test was read from (`source_file`, the file's sha256, and `source_row`)
    is kept but not compared: a line repeated word for word is merged, the later line's row is
    stored, and a stored test another file restates keeps the file it came from.
"""

from __future__ import annotations

from revline.ingest.context import Ctx
from revline.ingest.readers import Staged, _new_name
from revline.ingest.sqlfrag import lit
from revline.ingest.spend import named_channel_sql
from revline.ingest.tabular import period_bounds
from revline.ingest.upsert import upsert
from revline.ingest.validate import Check, Field, typed_rows
from revline.store.rows import scalar

OUTCOMES = ("pipeline", "revenue")
KEY = ("channel", "start_date", "end_date", "outcome")
PROVENANCE = ("source_file", "source_row")  # where a test was read from: not part of what it says

ALIASES: dict[str, list[str]] = {
    "channel": ["channel"],
    "start_date": ["start", "start_date", "period_start", "window_start", "test_start"],
    "end_date": ["end", "end_date", "period_end", "window_end", "test_end"],
    "period": ["period", "window"],
    "lift": ["lift", "measured_lift", "incremental", "incremental_outcome", "incremental_pipeline",
             "incremental_revenue", "lift_usd"],
    "sd": ["sd", "lift_sd", "se", "standard_error", "std_error", "stderr"],
    "outcome": ["outcome", "metric"],
    "design": ["design", "test_type", "method"],
}
SPEC = {
    "channel": Field(required=True), "start_date": Field("date"), "end_date": Field("date"), "period": Field(),
    "lift": Field("double", True), "sd": Field("double", True), "outcome": Field(), "design": Field(),
}

# headers (normalised: lower case, letters and digits) that make a file a lift-test file
LIFT_HEADERS = frozenset(n.replace("_", "") for n in ALIASES["lift"])
SD_HEADERS = frozenset(n.replace("_", "") for n in ALIASES["sd"])


def is_lift_test_file(normalised_headers: set[str]) -> bool:
    """A channel, a measured lift and its standard error: what only a lift-test file carries."""
    return "channel" in normalised_headers and bool(LIFT_HEADERS & normalised_headers) and bool(SD_HEADERS & normalised_headers)


def load_lift_tests(ctx: Ctx, staged: Staged) -> None:
    """Read one lift-test file into `lift_tests` by the rules of this module."""
    con = ctx.con
    ps, pe = period_bounds("period")
    start, end = f"coalesce(start_date, {ps})", f"coalesce(end_date, {pe})"
    outcome = "lower(trim(coalesce(outcome, 'pipeline')))"
    checks = [
        Check("start_date", f"{start} IS NULL",
              "CASE WHEN period IS NULL THEN 'missing start (or period)' ELSE 'cannot parse period: ' || period END"),
        Check("end_date", f"{end} IS NULL", "'missing end (or period)'"),
        Check("end_date", f"{end} < {start}", "'window ends before it starts'"),
        Check("sd", "sd <= 0 OR isnan(sd) OR isinf(sd)", "'standard error must be > 0, got ' || CAST(sd AS VARCHAR)"),
        Check("lift", "isnan(lift) OR isinf(lift)", "'not a finite number'"),
        Check("outcome", f"{outcome} NOT IN ({', '.join(lit(o) for o in OUTCOMES)})",
              f"'unknown outcome ' || outcome || '; use {' or '.join(OUTCOMES)}'"),
    ]
    t = typed_rows(con, staged, SPEC, ALIASES, table_name="lift_tests", checks=checks)
    ctx.record("lift_tests", read=staged.rows_read, quarantined=t.quarantined_rows)
    rows = _new_name("lift")
    con.execute(
        f"CREATE TEMP TABLE {rows} AS SELECT {named_channel_sql(ctx)} AS channel, CAST({start} AS DATE) AS start_date, "  # noqa: S608 - this module's expressions over a temp table from _new_name; the digest through lit
        f"CAST({end} AS DATE) AS end_date, {outcome} AS outcome, lift, sd, design, "
        f"{lit(ctx.digest)} AS source_file, _row AS source_row FROM {t.table}"
    )
    other = scalar(con, f"SELECT count(*) FROM {rows} WHERE channel = 'other'")  # noqa: S608 - temp table from _new_name
    if other:
        ctx.report.other_channel["lift_tests"] += other
    cols = f"{', '.join(KEY)}, lift, sd, design, source_file, source_row"
    ctx.record("lift_tests", written=upsert(con, "lift_tests", f"SELECT {cols}, source_row AS _ord FROM {rows}", list(KEY),  # noqa: S608 - fixed column names over a temp table
                                            ignore=PROVENANCE))
    for table in (rows, t.table):
        con.execute(f"DROP TABLE IF EXISTS {table}")


__all__ = ["ALIASES", "KEY", "OUTCOMES", "PROVENANCE", "is_lift_test_file", "load_lift_tests"]
