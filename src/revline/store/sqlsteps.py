"""Named SQL steps that run where the data is: DuckDB temp tables, or Spark views over an export folder.

Why: identity stitching is a chain of set-based SQL steps (a dozen scratch tables, `_stitch_*`),
written once in DuckDB's dialect. On DuckDB a step is a temp table, exactly as before; on Spark the
same text is transpiled by sqlglot (the SQL compiler Ibis itself uses), its table names mapped to
the engine's session views, and the result checkpointed as a temp view, so later steps start from
those rows and not from the whole lineage. A construct only one side knows is rewritten once, in
SQL both run (see identity/stitch.py); nothing is written twice.

A step's text is the caller's own SQL (fixed fragments and quoted literals), never user input.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from revline.store.sql import ident


class Steps(Protocol):
    """What a chain of SQL steps needs from where it runs."""

    name: str

    def create(self, name: str, sql: str) -> None:
        """Scratch table `name` := the rows of `sql` (DuckDB dialect; names canonical tables and
        earlier scratch tables)."""

    def rows(self, sql: str) -> list[tuple]:
        """The rows of `sql` (small answers: counts, a report) on the driver."""

    def register(self, name: str, table: pa.Table) -> None:
        """Scratch table `name` := a small table computed on the driver."""

    def table(self, name: str) -> Any:
        """A scratch or canonical table as an Ibis table of this engine."""

    def create_expr(self, name: str, expr: Any) -> None:
        """Scratch table `name` := the rows of an Ibis expression of this engine."""

    def insert_new(self, table: str, source: str, columns: list[str], key: list[str]) -> None:
        """Add the rows of scratch table `source` whose `key` `table` does not hold yet; later
        steps read `table` with them."""

    def drop_all(self) -> None:
        """Drop every scratch table these steps made."""


def scalar(steps: Steps, sql: str) -> Any:
    """The one value of a one-row, one-column query."""
    return steps.rows(sql)[0][0]


class DuckSteps:
    """Steps on one DuckDB connection: temp tables, as `revline stitch` always made them."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._made: list[str] = []
        self._be: Any = None  # the connection's Ibis backend, made once (making one sets session options)

    def _backend(self) -> Any:
        if self._be is None:
            from revline.store.connection import ibis_backend

            self._be = ibis_backend(self.con)
        return self._be

    def create(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS {sql}")
        self._made.append(name)

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def numpy(self, sql: str) -> dict[str, Any]:
        """The columns of `sql` as numpy arrays (the scipy components, in this process)."""
        return self.con.execute(sql).fetchnumpy()

    def register(self, name: str, table: pa.Table) -> None:
        view = f"_rl_steps_{uuid.uuid4().hex[:8]}"
        self.con.register(view, table)
        try:
            self.create(name, f"SELECT * FROM {ident(view)}")  # noqa: S608 - a name of this function
        finally:
            self.con.unregister(view)

    def table(self, name: str) -> Any:
        return self._backend().table(name)

    def create_expr(self, name: str, expr: Any) -> None:
        from revline.store.connection import compiled_sql

        self.create(name, compiled_sql(self._backend(), expr))

    def insert_new(self, table: str, source: str, columns: list[str], key: list[str]) -> None:
        del key  # the table's primary key decides
        names = ", ".join(ident(c) for c in columns)
        self.con.execute(f"INSERT OR IGNORE INTO {ident(table)} ({names}) SELECT {names} FROM {ident(source)}")  # noqa: S608 - quoted by ident

    def drop_all(self) -> None:
        for name in dict.fromkeys(self._made):
            self.con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        self._made.clear()


class SparkSteps:
    """Steps on a SparkEngine (store.engine): each a checkpointed temp view of the engine's session.

    `pending` names, per canonical table `insert_new` added rows to, the view holding the table as
    it now stands; the caller writes it back (the folder itself is untouched until then)."""

    name = "spark"

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.session = engine.session
        self._views: dict[str, str] = {}  # scratch or overridden canonical name -> session view
        self._frames: list[Any] = []
        self.pending: dict[str, str] = {}

    def _view(self, name: str) -> str | None:
        return self._views.get(name) or self.engine._views.get(name)

    def spark_sql(self, sql: str) -> str:
        """`sql` (DuckDB dialect) in Spark's, each table it names mapped to this engine's view."""
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read="duckdb")
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.db or table.name in ctes:
                continue
            view = self._view(table.name)
            if view is not None:
                table.set("this", exp.to_identifier(view))
        return tree.sql(dialect="spark")

    def _keep(self, name: str, df: Any, checkpoint: bool = True) -> None:
        # a checkpoint, not cache(): it cuts the lineage (the steps' plans stay small)
        if checkpoint:
            df = df.localCheckpoint(eager=True)
        view = f"{self.engine._prefix}{name.strip('_')}_{uuid.uuid4().hex[:6]}"
        df.createOrReplaceTempView(view)
        old = self._views.get(name)
        if old is not None and old not in self.pending.values():
            self.session.catalog.dropTempView(old)
        self._views[name] = view
        self._frames.append(df)

    def create(self, name: str, sql: str) -> None:
        self._keep(name, self.session.sql(self.spark_sql(sql)))

    def view(self, name: str, sql: str) -> None:
        """Like `create`, without the checkpoint: a step read once (a table to write), over steps
        already checkpointed, needs no copy of its own."""
        self._keep(name, self.session.sql(self.spark_sql(sql)), checkpoint=False)

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.session.sql(self.spark_sql(sql)).collect()]

    def register(self, name: str, table: pa.Table) -> None:
        from revline.store.engine import spark_type

        ddl = ", ".join(f"`{f.name}` {spark_type(_duck_name(f.type))}" for f in table.schema)
        rows = [tuple(r.values()) for r in table.to_pylist()]
        self._keep(name, self.session.createDataFrame(rows, ddl))

    def table(self, name: str) -> Any:
        view = self._view(name)
        if view is None:
            raise KeyError(name)
        return self.engine._ibis.table(view)

    def create_expr(self, name: str, expr: Any) -> None:
        from revline.store.connection import compiled_sql

        self._keep(name, self.session.sql(compiled_sql(self.engine._ibis, expr)))

    def insert_new(self, table: str, source: str, columns: list[str], key: list[str]) -> None:
        names = ", ".join(columns)
        match = " AND ".join(f"t.{k} = n.{k}" for k in key)
        rest = [c for c in columns if c not in key] or key
        # one row per new key, as DuckDB's INSERT OR IGNORE keeps one (the table's key stays a key)
        new = (f"SELECT {names} FROM (SELECT {', '.join('n.' + c for c in columns)}, row_number() OVER "  # noqa: S608 - the caller's column names
               f"(PARTITION BY {', '.join('n.' + k for k in key)} ORDER BY {', '.join('n.' + c for c in rest)}) AS _rl_rn "
               f"FROM {source} n WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})) AS d WHERE _rl_rn = 1")
        self.create(table, f"SELECT {names} FROM {table} UNION ALL {new}")  # noqa: S608 - the caller's column names
        self.pending[table] = self._views[table]

    def drop_all(self) -> None:
        for view in self._views.values():
            self.session.catalog.dropTempView(view)
        for df in self._frames:
            df.unpersist()
        self._views.clear()
        self._frames.clear()
        self.pending.clear()


def _duck_name(t: pa.DataType) -> str:
    """The DuckDB type name of a small driver-side column (strings, integers, timestamps)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    raise TypeError(f"no Spark column for {t}")


__all__ = ["DuckSteps", "SparkSteps", "Steps", "scalar"]
