"""Store-level counters: has the data changed since the last stitch?

Why counters and not timestamps of rows: the question must be answered in constant time on a
store of millions of touches. Every ingest that writes a row bumps `data_version` inside its own
transaction (so a rolled-back ingest bumps nothing); a stitch records the version it saw plus
the row counts of the tables it reads. Writers that do not bump (the collector appends events
and touches directly) are still caught by the counts, which DuckDB answers from metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from revline.store.rows import scalar

DATA_VERSION = "data_version"
STITCHED_VERSION = "stitched_version"
# tables whose rows a stitch reads (events: touches are derived from them); compared by count
WATCHED_TABLES: tuple[str, ...] = ("touchpoints", "identity_links", "events", "opportunity_contacts")


def _has_state(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(scalar(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'store_state' AND schema_name = 'main' "
        "AND database_name = current_database()",
    ))


def _get(con: duckdb.DuckDBPyConnection, key: str) -> int | None:
    row = con.execute("SELECT value FROM store_state WHERE key = ?", [key]).fetchone()
    return None if row is None else int(row[0])


def _set(con: duckdb.DuckDBPyConnection, key: str, value: int) -> None:
    con.execute(
        "INSERT INTO store_state VALUES (?, ?, now()::TIMESTAMP) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
        [key, int(value)],
    )


def get_value(con: duckdb.DuckDBPyConnection, key: str) -> int | None:
    """One counter of store_state (None when never set)."""
    return _get(con, key)


def set_value(con: duckdb.DuckDBPyConnection, key: str, value: int) -> None:
    """Set one counter of store_state; call inside the writer's transaction."""
    _set(con, key, value)


def bump_data_version(con: duckdb.DuckDBPyConnection) -> int:
    """Record that stitch inputs changed; call inside the writer's transaction. Returns the new version."""
    version = (_get(con, DATA_VERSION) or 0) + 1
    _set(con, DATA_VERSION, version)
    return version


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: int(scalar(con, f"SELECT count(*) FROM {t}")) for t in WATCHED_TABLES}  # noqa: S608 - table names from WATCHED_TABLES


def stitch_record(counts: Mapping[str, int], state: Mapping[str, int]) -> dict[str, int]:
    """The counters a stitch sets, given the watched tables' row counts now and the state's
    counters: the data version it saw and each count (a store's, or an export folder's manifest)."""
    return {STITCHED_VERSION: int(state.get(DATA_VERSION) or 0), **{f"stitched:{t}": int(n) for t, n in counts.items()}}


def record_stitch(con: duckdb.DuckDBPyConnection) -> None:
    """After a stitch (and journey build): the version and counts the store now stands at."""
    for key, value in stitch_record(_counts(con), {DATA_VERSION: _get(con, DATA_VERSION) or 0}).items():
        _set(con, key, value)


@dataclass(frozen=True)
class Staleness:
    """Why the store needs a stitch (empty `reasons`: it does not)."""

    reasons: tuple[str, ...]

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    def __str__(self) -> str:
        return "; ".join(self.reasons)


def _owed_events(con: duckdb.DuckDBPyConnection) -> int:
    """Events the collector stored but has not derived yet (`events_to_derive`, schema v6)."""
    exists = scalar(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events_to_derive' AND schema_name = 'main' "
        "AND database_name = current_database()",
    )
    return int(scalar(con, "SELECT count(*) FROM events_to_derive")) if exists else 0


def stale_reasons(counts: Mapping[str, int], people: int, state: Mapping[str, int], owed: int) -> Staleness:
    """The one rule of staleness, pure so the store (`staleness`) and an export folder
    (`ops.engine_flow.folder_staleness`, from its manifest) apply it alike.

    counts: rows now in each watched table; people: rows in people; state: the store_state
    counters (empty when the table is missing); owed: collected events not derived yet.
    """
    if not any(counts.values()) and not people:
        return Staleness(())  # an empty store: nothing to stitch (commands say what is missing)
    if state.get(STITCHED_VERSION) is None:
        return Staleness(("the store was never stitched",))
    reasons = []
    if owed:
        reasons.append(f"{owed:,} collected event(s) not yet derived into touchpoints")
    data, stitched = state.get(DATA_VERSION) or 0, state[STITCHED_VERSION]
    if data != stitched:
        reasons.append(f"{data - stitched} ingest(s) since the last stitch")
    for table, n in counts.items():
        before = state.get(f"stitched:{table}")
        if before is not None and before != n:
            reasons.append(f"{table}: {n - before:+,} rows since the last stitch")
    return Staleness(tuple(reasons))


def staleness(con: duckdb.DuckDBPyConnection) -> Staleness:
    """Whether touchpoints, identities or CRM records changed since the last stitch (read-only)."""
    counts = _counts(con)
    state = ({str(k): int(v) for k, v in con.execute("SELECT key, value FROM store_state").fetchall()}
             if _has_state(con) else {})
    return stale_reasons(counts, int(scalar(con, "SELECT count(*) FROM people")), state, _owed_events(con))
