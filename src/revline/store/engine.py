"""Where the batch flow's Ibis expressions run: the DuckDB store, or Spark over a folder of Parquet.

Why a layer this thin: the transforms (milestones, the rule models' credit, label propagation)
are already Ibis expressions over canonical tables by name, so an engine only has to say how a
table is read (`read`, and `backend.table` for the transforms that ask by name), how a result is
kept for the next step without recomputing it (`materialize`), and how a table is written back
(`write`). The operations (ops/) open an engine and hand it down; the transforms never learn
which one it is.

- DuckDB: the store file; writes replace a table's rows in one transaction.
- Spark: a folder `revline export` wrote (canonical tables as Parquet plus manifest.json). Each
  table is read from its Parquet files into a session view; a write goes to a new folder first
  (the old files may be read by the very expression being written) and replaces the table's entry
  in the manifest, with its row count and checksum computed by DuckDB over the files Spark wrote,
  so `revline import FOLDER` still verifies every row of what Spark produced.

The engine is chosen by `revline --engine`, else $REVLINE_ENGINE, else `engine = "..."` in
./revline.toml (`[spark]` there may set `master` and `shuffle_partitions`), else DuckDB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb

from revline.store.connection import compiled_sql
from revline.store.exchange import MANIFEST, ExchangeError, read_manifest, table_checksum
from revline.store.sql import ident, lit
from revline.store.transaction import transaction

ENGINES: tuple[str, ...] = ("duckdb", "spark")
CONFIG_FILE = "revline.toml"
ENV = "REVLINE_ENGINE"


class EngineError(ValueError):
    """An engine that cannot be opened or a command it cannot run; the message is one line that
    names the thing and the next step."""


# ------------------------------------------------------------------ choosing
@dataclass(frozen=True)
class EngineConfig:
    """The engine to run on and its Spark settings (only read when it is Spark)."""

    name: str = "duckdb"
    master: str = "local[2]"
    shuffle_partitions: int = 2
    source: str = "default"  # where the choice came from: option, $REVLINE_ENGINE, revline.toml, default


def _read_config(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EngineError(f"{path}: not a readable TOML file ({exc}); fix it or remove it") from None


def resolve_engine(option: str | None = None, *, cwd: Path | None = None) -> EngineConfig:
    """The engine of this run: the option, else $REVLINE_ENGINE, else ./revline.toml, else duckdb."""
    path = (cwd or Path.cwd()) / CONFIG_FILE
    data = _read_config(path) if path.is_file() else {}
    name, source = option, "--engine"
    if not name:
        name, source = os.environ.get(ENV) or None, f"${ENV}"
    if not name:
        name, source = data.get("engine"), str(path)
    if not name:
        name, source = "duckdb", "default"
    name = str(name).strip().lower()
    if name not in ENGINES:
        raise EngineError(f"engine {name!r} (from {source}) is not one of {', '.join(ENGINES)}")
    spark = data.get("spark", {}) if isinstance(data.get("spark", {}), dict) else {}
    try:
        partitions = int(spark.get("shuffle_partitions", 2))
    except (TypeError, ValueError):
        raise EngineError(f"{path}: [spark] shuffle_partitions must be an integer") from None
    return EngineConfig(name, str(spark.get("master", "local[2]")), max(1, partitions), source)


# ------------------------------------------------------------------ the interface
class Engine(Protocol):
    """What an operation needs from where it runs."""

    name: str

    @property
    def backend(self) -> Any:
        """Something with `.table(name)` giving the canonical tables as Ibis tables (what the
        portable transforms take)."""

    def read(self, table: str) -> Any:
        """One canonical table as an Ibis table."""

    def materialize(self, expr: Any) -> Any:
        """`expr` computed once and kept for the steps after it (an Ibis table over the result)."""

    def write(self, table: str, expr: Any) -> int:
        """Replace `table`'s rows by `expr`'s (columns by name); returns the rows written."""

    def close(self) -> None:
        """Drop what this engine kept (scratch tables, session views)."""


# ------------------------------------------------------------------ DuckDB
class DuckDBEngine:
    """The DuckDB store behind one connection."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        from revline.store.connection import ibis_backend

        self.con = con
        self._be = ibis_backend(con)
        self._scratch: list[str] = []

    @property
    def backend(self) -> Any:
        return self._be

    def read(self, table: str) -> Any:
        return self._be.table(table)

    def materialize(self, expr: Any) -> Any:
        name = f"_rl_engine_{uuid.uuid4().hex[:12]}"
        self.con.execute(f"CREATE TEMP TABLE {ident(name)} AS {compiled_sql(self._be, expr)}")
        self._scratch.append(name)
        return self._be.table(name)

    def write(self, table: str, expr: Any) -> int:
        cols = [c for (c,) in self.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ? ORDER BY column_index", [table]).fetchall()]
        names = ", ".join(ident(c) for c in cols)
        staged = f"_rl_engine_write_{uuid.uuid4().hex[:12]}"
        # computed before the DELETE: the expression may read the table it replaces
        self.con.execute(f"CREATE TEMP TABLE {ident(staged)} AS SELECT {names} FROM ({compiled_sql(self._be, expr)})")  # noqa: S608 - names quoted by ident, the body compiled by Ibis
        try:
            with transaction(self.con):
                self.con.execute(f"DELETE FROM {ident(table)}")  # noqa: S608 - quoted by ident
                self.con.execute(f"INSERT INTO {ident(table)} ({names}) SELECT {names} FROM {ident(staged)}")  # noqa: S608 - quoted by ident
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {ident(staged)}")
        return int(self.con.execute(f"SELECT count(*) FROM {ident(table)}").fetchone()[0])  # type: ignore[index]  # noqa: S608 - quoted by ident

    def close(self) -> None:
        for name in self._scratch:
            self.con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        self._scratch.clear()


# ------------------------------------------------------------------ Spark over an export folder
_SPARK_TYPES = {"VARCHAR": "string", "TIMESTAMP": "timestamp_ntz", "DOUBLE": "double", "BOOLEAN": "boolean",
                "INTEGER": "int", "BIGINT": "bigint", "DATE": "date", "JSON": "string", "FLOAT": "float",
                "SMALLINT": "smallint", "TINYINT": "tinyint", "HUGEINT": "decimal(38,0)", "UBIGINT": "decimal(20,0)",
                "UINTEGER": "bigint", "TIMESTAMP WITH TIME ZONE": "timestamp"}


def spark_type(duck_type: str) -> str:
    """The Spark SQL type a column of this DuckDB type is read as (the manifest records DuckDB's)."""
    t = duck_type.upper()
    if t.startswith("DECIMAL"):
        return t.lower()
    if t.endswith("[]"):
        return f"array<{spark_type(t[:-2])}>"
    try:
        return _SPARK_TYPES[t]
    except KeyError:
        raise EngineError(f"column type {duck_type} has no Spark counterpart in revline yet") from None


_LOG4J2 = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


def local_builder(app: str, master: str, warehouse: str | os.PathLike[str], shuffle_partitions: int,
                  java_options: str = "") -> Any:
    """A SparkSession builder with the settings every revline session needs, whoever starts it (the
    CLI, the test suite, the scale benchmark): UTC (timestamps then equal DuckDB's), the warehouse and
    Derby's home in `warehouse` (never ./spark-warehouse), `shuffle_partitions`, no console progress."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master).appName(app)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse} {java_options}".strip())
    )


def spark_session(config: EngineConfig) -> Any:
    """A Spark session for the CLI: `config.master` (local[2] by default), few shuffle partitions
    (the canonical tables of one company are small per partition), UTC, no UI, warnings and errors
    only, and a scratch warehouse in a temporary folder (never ./spark-warehouse)."""
    try:
        import pyspark  # noqa: F401 - only to say what is missing before anything starts
    except ImportError:
        raise EngineError("the Spark engine needs PySpark: pip install 'revline[spark]' (and a Java 17+ runtime)") from None
    import atexit
    import tempfile

    scratch = tempfile.mkdtemp(prefix="revline-spark-")
    atexit.register(shutil.rmtree, scratch, True)
    log_config = Path(scratch) / "log4j2.properties"  # errors only, from the JVM's first line on
    log_config.write_text(_LOG4J2, encoding="utf-8")
    try:
        session = (
            local_builder("revline", config.master, scratch, config.shuffle_partitions,
                          f"-Dlog4j2.configurationFile=file:{log_config}")
            .config("spark.ui.enabled", "false")
            .config("spark.log.level", "ERROR")
            .getOrCreate()
        )
    except Exception as exc:  # noqa: BLE001 - no JVM, or one that will not start: say so in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EngineError(f"Spark did not start ({first}); it needs a Java 17+ runtime (JAVA_HOME or java on PATH)") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


class _Tables:
    """The Ibis PySpark backend as the transforms see it: `table(name)` is this engine's view of
    the canonical table `name` (views are prefixed, so two engines can share one session)."""

    def __init__(self, backend: Any, views: dict[str, str]) -> None:
        self._backend = backend
        self._views = views

    def table(self, name: str, **kwargs: Any) -> Any:
        try:
            return self._backend.table(self._views[name], **kwargs)
        except KeyError:
            raise EngineError(f"the folder has no table {name!r}; export it again with this revline") from None

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._backend, attr)


@dataclass
class SparkEngine:
    """A folder `revline export` wrote, read and written by a Spark session through Ibis."""

    folder: Path
    session: Any
    name: str = "spark"
    manifest: dict = field(init=False)
    _views: dict[str, str] = field(init=False, default_factory=dict)
    _scratch: list[Any] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        import ibis

        self.folder = Path(self.folder)
        if not self.folder.is_dir():
            raise EngineError(f"{self.folder}: no such folder; on Spark --db names a folder `revline export --to` wrote")
        try:
            self.manifest = read_manifest(self.folder)
        except ExchangeError as exc:
            raise EngineError(f"{exc} (on Spark --db names a folder `revline export --to` wrote)") from None
        self._ibis = ibis.pyspark.connect(self.session)
        self._prefix = f"rl{uuid.uuid4().hex[:8]}_"
        for table in self.manifest["tables"]:
            self._register(table)

    # -- reading
    def _files(self, entry: dict) -> str:
        return str(self.folder / entry["path"])

    def _register(self, table: str) -> None:
        entry = self.manifest["tables"][table]
        cols = [(c, spark_type(t)) for c, t in entry["columns"]]
        view = self._prefix + table
        if entry["rows"] == 0:  # an empty table may have no file Spark can read a schema from
            ddl = ", ".join(f"`{c}` {t}" for c, t in cols)
            df = self.session.createDataFrame([], ddl)
        else:
            reader = self.session.read
            if entry.get("partition_by"):
                reader = reader.option("basePath", self._files(entry))
            df = reader.parquet(self._files(entry))
            df = df.selectExpr(*[f"CAST(`{c}` AS {t}) AS `{c}`" for c, t in cols])
        df.createOrReplaceTempView(view)
        self._views[table] = view

    @property
    def backend(self) -> Any:
        return _Tables(self._ibis, self._views)

    def read(self, table: str) -> Any:
        return self.backend.table(table)

    def materialize(self, expr: Any) -> Any:
        # a checkpoint, not cache(): it cuts the lineage, so later plans start from these rows
        df = self.session.sql(compiled_sql(self._ibis, expr)).localCheckpoint(eager=True)
        view = f"{self._prefix}scratch_{uuid.uuid4().hex[:8]}"
        df.createOrReplaceTempView(view)
        self._scratch.append(view)
        return self._ibis.table(view)

    # -- writing
    def write(self, table: str, expr: Any) -> int:
        return self.write_many({table: expr})[table]

    def write_many(self, tables: dict[str, Any]) -> dict[str, int]:
        """Replace several tables' rows at once (a stitch rewrites five): each is written to a
        folder of its own first (the old files may be read by the very expressions being written),
        then one save of the manifest swaps them all in, so a crash before it leaves every table as
        it was and one after it leaves every table new. Returns the rows written per table."""
        entries = self.manifest["tables"]
        for table in tables:
            if table not in entries:
                raise EngineError(f"{self.folder}: the manifest lists no table {table!r}; export it again with this revline")
        staged: dict[str, tuple[Path, int, str]] = {}
        try:
            for table, expr in tables.items():
                columns = entries[table]["columns"]
                df = self.session.sql(compiled_sql(self._ibis, expr))
                df = df.selectExpr(*[f"CAST(`{c}` AS {spark_type(t)}) AS `{c}`" for c, t in columns])
                path = self.folder / f".staged-{table}-{uuid.uuid4().hex[:8]}"
                df.write.mode("overwrite").parquet(str(path))
                staged[table] = (path, *_checksum_files(path, columns))
            old = {table: self.folder / entries[table]["path"] for table in tables}
            for table, (path, rows, checksum) in staged.items():
                final = f"{table}-{uuid.uuid4().hex[:8]}"  # never a path the manifest names now
                path.rename(self.folder / final)
                staged[table] = (self.folder / final, rows, checksum)
                entries[table] = {**entries[table], "path": final, "rows": rows, "checksum": checksum, "partition_by": None}
            self._save_manifest()  # the swap: every table new from here on
        except BaseException:
            self.manifest = read_manifest(self.folder)  # as on disk: the old tables
            for path, _, _ in staged.values():
                shutil.rmtree(path, ignore_errors=True)
            raise
        for gone in old.values():
            if gone.exists():
                shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
        for table in tables:
            self._register(table)
        return {table: rows for table, (_, rows, _) in staged.items()}

    def _save_manifest(self) -> None:
        path = self.folder / MANIFEST
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def close(self) -> None:
        for view in [*self._views.values(), *self._scratch]:
            self.session.catalog.dropTempView(view)
        self._views.clear()
        self._scratch.clear()


def _duck_type(t: str) -> str:
    """A manifest's column type, checked to be one this module maps (the manifest is a file)."""
    spark_type(t)
    if not re.fullmatch(r"[A-Za-z0-9_ ,()\[\]]+", t):
        raise EngineError(f"column type {t!r} in the manifest is not a DuckDB type; export the store again")
    return t


def _checksum_files(folder: Path, columns: list[list[str]]) -> tuple[int, str]:
    """(rows, checksum) of the Parquet files Spark wrote, as `revline import` will compute them
    once they are loaded into tables of these DuckDB column types (store.exchange)."""
    con = duckdb.connect(":memory:")
    try:
        files = list(folder.glob("*.parquet"))
        if not files:
            return 0, "0"
        casts = ", ".join(f"CAST({ident(c)} AS {_duck_type(t)}) AS {ident(c)}" for c, t in columns)
        return table_checksum(con, f"(SELECT {casts} FROM read_parquet({lit(str(folder / '*.parquet'))}))")  # noqa: S608 - names quoted by ident, types checked by _duck_type, the path by lit
    finally:
        con.close()


def open_engine(config: EngineConfig, db: str | os.PathLike[str] | None, *, session: Any = None) -> SparkEngine:
    """The Spark engine over the export folder `db` ($REVLINE_DB when None); `session` reuses a
    running one (tests, notebooks), else one is started from `config`."""
    if db is None:
        db = os.environ.get("REVLINE_DB")
    if db is None:
        raise EngineError("on Spark, --db (or $REVLINE_DB) names a folder `revline export --to` wrote")
    folder = Path(db)
    if not (folder / MANIFEST).is_file():  # before starting a JVM: a wrong path is one line, at once
        raise EngineError(f"{folder}: not a folder `revline export --to` wrote (no {MANIFEST}); on Spark --db names one")
    return SparkEngine(folder, session if session is not None else spark_session(config))


__all__ = ["CONFIG_FILE", "ENGINES", "ENV", "DuckDBEngine", "Engine", "EngineConfig", "EngineError", "SparkEngine",
           "open_engine", "resolve_engine", "spark_session", "spark_type"]
