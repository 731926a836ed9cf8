"""Events stored but not yet derived: the `events_to_derive` queue (store schema version 6).

Why a durable queue: the collector stores events and derives touchpoints and identity links from
them in separate transactions (derivation costs a fixed few hundred milliseconds, so it runs for
many segments at once, every few seconds). A kill -9 between the two used to leave events that
no later run would ever derive. Now the ids enter the queue in the transaction that stores the
events and leave it in the transaction that derives them, so whatever is still owed after a crash
is derived at the next start of `revline serve`, or by `revline stitch`.
"""

from __future__ import annotations

import duckdb

from revline.ingest.segment import derive_from_events
from revline.store.rows import scalar
from revline.store.transaction import transaction

TABLE = "events_to_derive"


def enqueue(con: duckdb.DuckDBPyConnection, message_ids: list[str]) -> None:
    """Queue stored events for derivation; call it inside the transaction that stored them."""
    if message_ids:
        con.execute(f"INSERT INTO {TABLE} SELECT unnest(?::VARCHAR[])", [message_ids])


def enqueue_table(con: duckdb.DuckDBPyConnection, ids) -> None:
    """`enqueue` for ids in an Arrow table (or anything DuckDB scans) whose first column is the
    messageId: no Python strings on the way (a bound list of 20,000 ids took DuckDB 0.1-1 s)."""
    if len(ids):
        con.register("_rl_enqueue", ids)
        try:
            con.execute(f"INSERT INTO {TABLE} SELECT #1 FROM _rl_enqueue")  # noqa: S608 - TABLE is a constant
        finally:
            con.unregister("_rl_enqueue")


def owed(con: duckdb.DuckDBPyConnection) -> int:
    """How many queued events wait for derivation."""
    return int(scalar(con, f"SELECT count(*) FROM {TABLE}"))  # noqa: S608 - TABLE is this module's constant


def derive_owed(con: duckdb.DuckDBPyConnection, *, channel_rules=None) -> int:
    """Derive touchpoints and identity links of every queued event and empty the queue, in one
    transaction (all or nothing: a failure leaves the queue for the next call). Returns the number
    of events derived. Idempotent: an event whose touchpoint exists already gets no second one."""
    with transaction(con):
        n = owed(con)
        if n:
            derive_from_events(con, TABLE, channel_rules=channel_rules, transaction=False)
            # snapshot isolation: deletes only the rows this transaction saw, never newer ones
            con.execute(f"DELETE FROM {TABLE}")  # noqa: S608 - TABLE is this module's constant
    return n


__all__ = ["TABLE", "derive_owed", "enqueue", "enqueue_table", "owed"]
