"""Materialising milestones into the store.

Why compile-then-insert: the transform is an Ibis expression (portable to Spark), but on the
embedded store it is cheapest to let DuckDB run the compiled SQL straight into `milestones`,
inside one transaction, so readers see either the old or the new table, never half of it.
"""

from __future__ import annotations

from typing import Any

import duckdb
import ibis

from revline.journeys.milestones import MILESTONE_COLUMNS, TABLES_READ, milestones_expr
from revline.store import ibis_backend, transaction


def milestones_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The DuckDB SQL of the milestones expression over this store's tables."""
    backend = ibis_backend(con)
    expr = milestones_expr({name: backend.table(name) for name in TABLES_READ})
    return str(ibis.to_sql(expr, dialect="duckdb"))


def build(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """Rebuild `milestones`; returns row counts per (object_type, milestone)."""
    sql = milestones_sql(con)
    cols = ", ".join(MILESTONE_COLUMNS)
    with transaction(con):
        con.execute("DELETE FROM milestones")
        con.execute(f"INSERT INTO milestones ({cols}) SELECT {cols} FROM ({sql})")  # noqa: S608 - column names from MILESTONE_COLUMNS, the body compiled by Ibis
    rows = con.execute(
        "SELECT object_type, milestone, count(*) FROM milestones GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    return {(o, m): int(n) for o, m, n in rows}


def build_on(engine: Any) -> dict[tuple[str, str], int]:
    """Rebuild `milestones` on any engine (store.engine: DuckDB, or Spark over an export folder)
    from the same portable expression; returns row counts per (object_type, milestone)."""
    expr = milestones_expr({name: engine.read(name) for name in TABLES_READ})
    engine.write("milestones", expr)
    ms = engine.read("milestones")
    counts = ms.group_by(["object_type", "milestone"]).agg(n=ms.count()).execute()
    return {(str(o), str(m)): int(n) for o, m, n in sorted(counts.itertuples(index=False, name=None))}
