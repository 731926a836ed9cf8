"""Live stitching of new touches: person and account from the identity graph already stitched.

Why this is enough for most live events: a page view by a visitor the graph knows (its userId or
anonymousId is in `identities`) belongs to that identity's person and the person's account, the
same answer a full `stitch` gives while the graph itself does not change. Only new graph edges
(identify/alias calls, new CRM records) can move people between persons; those need the full
stitch, which the server queues as a job (revline.api.live).
"""

from __future__ import annotations

import duckdb

from revline.identity.stitch import _norm
from revline.store.rows import scalar


def assign_known(con: duckdb.DuckDBPyConnection, ids_table: str) -> int:
    """Set person_id/account_id of the unassigned touchpoints listed in `ids_table` (a table or
    view with a `message_id` column, a trusted name) whose identity the graph knows; returns how
    many touches were assigned. The caller holds the transaction."""
    found = con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _live_assign AS
        SELECT t.touchpoint_id, any_value(coalesce(i1.person_id, i2.person_id)) AS person_id,
               any_value(p.account_id) AS account_id
        FROM touchpoints t
        LEFT JOIN identities i1 ON i1.identity_type = t.identity_type
                               AND i1.identity_value = {_norm('t.identity_type', 't.identity_value')}
        LEFT JOIN identities i2 ON i2.identity_type = 'anonymous_id' AND i2.identity_value = trim(t.anonymous_id)
        LEFT JOIN people p ON p.person_id = coalesce(i1.person_id, i2.person_id)
        WHERE t.touchpoint_id IN (SELECT message_id FROM {ids_table}) AND t.person_id IS NULL
          AND coalesce(i1.person_id, i2.person_id) IS NOT NULL
        GROUP BY t.touchpoint_id
        """  # noqa: S608 - ids_table is a caller's temp-table name; _norm is a fixed fragment
    )
    del found
    n = scalar(con, "SELECT count(*) FROM _live_assign")
    if n:
        con.execute(
            """
            UPDATE touchpoints SET person_id = s.person_id, account_id = coalesce(s.account_id, touchpoints.account_id)
            FROM _live_assign s WHERE touchpoints.touchpoint_id = s.touchpoint_id
            """
        )
    con.execute("DROP TABLE _live_assign")
    return int(n)
