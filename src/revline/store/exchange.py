"""The store as a folder of Parquet files, and back: how revline moves between engines.

Why Parquet with a manifest: Spark, a warehouse or another DuckDB reads Parquet natively, so a
store exported here is the canonical tables a lake-side engine needs (touchpoints and events
partitioned by month, the way a lake holds them). The manifest says which revline and which
schema version wrote the folder and, per table, its row count and an order-free checksum, so
an import proves it loaded every row (it verifies both before it commits) instead of trusting
the files.

What is left out: `schema_meta` (the manifest carries the schema version), `api_keys` (secrets
never leave the store) and scratch tables (`_`-prefixed, temporary).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from revline.store.rows import scalar
from revline.store.schema import SCHEMA_VERSION
from revline.store.sql import ident, lit
from revline.store.transaction import transaction

MANIFEST = "manifest.json"
FORMAT = "revline-export"
FORMAT_VERSION = 1
EXCLUDED: frozenset[str] = frozenset({"schema_meta", "api_keys"})
PARTITIONED: dict[str, str] = {"touchpoints": "occurred_at", "events": "occurred_at"}
"""Tables written one folder per month (`occurred_month=YYYY-MM`), by this timestamp column."""
PARTITION_COLUMN = "occurred_month"


class ExchangeError(ValueError):
    """An export or import that cannot go ahead; the message names the path and the next step."""


@dataclass(frozen=True)
class TableFile:
    """One table of an export: where its rows are, how many, and their checksum."""

    name: str
    path: str  # relative to the export folder: a .parquet file, or a folder of month partitions
    rows: int
    checksum: str
    columns: list[list[str]]  # [name, DuckDB type]
    partition_by: str | None = None


def exchange_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The store's tables an export writes: every persistent table but the excluded ones."""
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary AND NOT internal ORDER BY table_name"
    ).fetchall()
    return [n for (n,) in names if n not in EXCLUDED and not n.startswith("_")]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[list[str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    return [[str(c), str(t)] for c, t in rows]


def table_checksum(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[int, str]:
    """(rows, checksum) of a table or subquery: the sum of its rows' hashes, so the order rows
    are stored or read in does not matter while every value (and every duplicate) does."""
    n, total = con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {relation} t").fetchone() or (0, 0)
    return int(n), str(total)


def export_store(con: duckdb.DuckDBPyConnection, out: Path, *, revline_version: str) -> dict:
    """Write every exchanged table under `out` (a new or empty folder) and the manifest; returns it."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExchangeError(f"{out} exists and is not an empty folder; export to a new folder")
    out.mkdir(parents=True, exist_ok=True)
    files: list[TableFile] = []
    for table in exchange_tables(con):
        rows, checksum = table_checksum(con, ident(table))
        column = PARTITIONED.get(table)
        if column is not None and rows > 0:
            rel = table
            con.execute(
                f"COPY (SELECT *, strftime({ident(column)}, '%Y-%m') AS {ident(PARTITION_COLUMN)} FROM {ident(table)}) "
                f"TO {lit(str(out / rel))} (FORMAT parquet, PARTITION_BY ({ident(PARTITION_COLUMN)}))"
            )
        else:
            rel, column = f"{table}.parquet", None
            con.execute(f"COPY {ident(table)} TO {lit(str(out / rel))} (FORMAT parquet)")
        files.append(TableFile(table, rel, rows, checksum, _columns(con, table), PARTITION_COLUMN if column else None))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "revline_version": revline_version,
        "schema_version": int(scalar(con, "SELECT max(value::INTEGER) FROM schema_meta WHERE key = 'schema_version'")
                              or SCHEMA_VERSION),
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tables": {f.name: {"path": f.path, "rows": f.rows, "checksum": f.checksum, "columns": f.columns,
                            "partition_by": f.partition_by} for f in files},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(src: Path) -> dict:
    """The manifest of an export folder, checked to be one this revline reads."""
    path = Path(src) / MANIFEST
    if not path.is_file():
        raise ExchangeError(f"{src} has no {MANIFEST}: not a folder `revline export` wrote")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExchangeError(f"{path} is not valid JSON ({exc}); export the store again") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ExchangeError(f"{path} is not a {FORMAT} manifest of version {FORMAT_VERSION}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ExchangeError(
            f"{src} holds schema version {manifest.get('schema_version')}, this revline writes {SCHEMA_VERSION}; "
            "export it again with this revline (open the old store with it first, which migrates it)"
        )
    return manifest


def _source(src: Path, entry: dict) -> str:
    """The read_parquet argument of one table: its file, or every file of its folder (month
    partitions, or the part files a Spark run wrote: store.engine)."""
    path = src / entry["path"]
    return str(path / "**" / "*.parquet") if entry.get("partition_by") or path.is_dir() else str(path)


def import_store(con: duckdb.DuckDBPyConnection, src: Path, *, replace: bool = False,
                 tables: Iterable[str] | None = None) -> dict[str, int]:
    """Load an export folder into this store in one transaction; returns rows per table.

    Each table's rows replace the store's (only with `replace`, unless the store's table is
    empty). Row counts and checksums are verified against the manifest before the commit: a
    missing or altered file leaves the store unchanged.
    """
    src = Path(src)
    manifest = read_manifest(src)
    entries: dict[str, dict] = manifest["tables"]
    wanted = list(entries) if tables is None else list(tables)
    present = set(exchange_tables(con))
    for name in wanted:
        if name not in entries:
            raise ExchangeError(f"{src}/{MANIFEST} lists no table {name!r}")
        if name not in present:
            raise ExchangeError(f"{src}: table {name!r} is not one this store has; upgrade revline")
        if [list(c) for c in entries[name]["columns"]] != _columns(con, name):
            raise ExchangeError(f"{src}: the columns of {name!r} differ from this store's; export it again with this revline")
        if not replace and scalar(con, f"SELECT count(*) FROM {ident(name)}"):
            raise ExchangeError(f"the store already holds rows in {name!r}; import into a new store or pass --replace")
    loaded: dict[str, int] = {}
    with transaction(con):
        for name in wanted:
            entry = entries[name]
            cols = ", ".join(ident(c) for c, _ in entry["columns"])
            con.execute(f"DELETE FROM {ident(name)}")
            try:
                con.execute(
                    f"INSERT INTO {ident(name)} ({cols}) SELECT {cols} FROM read_parquet(?, hive_partitioning = false)",
                    [_source(src, entry)],
                )
            except duckdb.IOException as exc:
                raise ExchangeError(f"{src}: cannot read {entry['path']} ({str(exc).splitlines()[0]}); export again") from None
            rows, checksum = table_checksum(con, ident(name))
            if (rows, checksum) != (entry["rows"], entry["checksum"]):
                raise ExchangeError(
                    f"{src}: {name} read back {rows:,} rows (checksum {checksum}), the manifest says "
                    f"{entry['rows']:,} (checksum {entry['checksum']}); the folder was altered, export again"
                )
            loaded[name] = rows
    return loaded


__all__ = ["EXCLUDED", "MANIFEST", "PARTITIONED", "ExchangeError", "export_store", "exchange_tables",
           "import_store", "read_manifest", "table_checksum"]
