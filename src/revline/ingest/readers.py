"""Staging: DuckDB reads a file into a temp table of VARCHAR cells plus its 1-based row number.

Why everything as VARCHAR first: a cell that does not parse must reach quarantine with its raw
text, file and row, which a typed reader would have turned into an error for the whole file.
Broken lines (a CSV cut mid-line, an unterminated quote, a truncated JSON line) are kept apart
with their row numbers so the rest of the file still loads.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from revline.ingest.encoding import guess, is_utf8, resolve, utf8_copy
from revline.ingest.lines import TruncatedFile, _pieces
from revline.ingest.preamble import title_lines
from revline.ingest.sqlfrag import ident, json_pointer
from revline.ingest.values import ParseOptions
from revline.store.rows import scalar

_counter = itertools.count()


@dataclass
class Broken:
    """A row the reader could not split into fields."""

    row_number: int
    reason: str
    raw: str | None


@dataclass
class Staged:
    """A staged file: `table` has `_row` (1-based data row) and one VARCHAR column per field."""

    path: Path
    table: str
    columns: list[str]
    rows_read: int
    broken: list[Broken] = field(default_factory=list)
    is_lines: bool = False  # JSON lines staged raw: one `line` column, parsed by the reader
    raw_table: str | None = None  # where the raw row lives when `table` holds extracted fields
    parse: ParseOptions = field(default_factory=ParseOptions)  # number format / date order settings
    title_rows: int = 0  # report title/filter lines skipped above the header
    # header names the file holds more than once -> the staged columns at their positions (the
    # first keeps the name; DuckDB renames the others `name_1`, ...), see `duplicate_headers`
    duplicate_headers: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # summary lines about the file (see validate)


class UnreadableFile(ValueError):
    """A file that is not what its name says (a `.gz` that is not gzip or is cut short, a
    `.parquet` that is not Parquet, an empty file); the message names it and what to do."""


def check_readable(path: Path) -> None:
    """Refuse, in one line, a file no reader can take, before DuckDB meets it (it would raise
    an error naming neither the file's problem nor the fix). Looks only at the first and last
    bytes; a gzip stream cut short is found by `check_gzip_complete`."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile(f"{path}: the file is empty (0 bytes); re-export it or leave it out")
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(max(size - 4, 0))
        tail = fh.read(4)
    if path.name.lower().endswith(".gz"):
        if head[:2] != b"\x1f\x8b":
            raise UnreadableFile(f"{path}: not a gzip file although its name ends in .gz; "
                                 f"rename it without .gz, or compress it with gzip")
    elif file_kind(path) == "parquet" and (head != b"PAR1" or tail != b"PAR1"):
        raise UnreadableFile(f"{path}: not a Parquet file (no PAR1 marker); re-export it, or rename it "
                             f"after its real format (.csv, .jsonl)")


def check_gzip_complete(path: Path) -> None:
    """Decode a `.gz` once to its end: DuckDB's CSV reader stops quietly at the end of a cut
    gzip stream, which would load the first part of the file and drop the rest unreported."""
    try:
        for _ in _pieces(Path(path)):
            pass
    except TruncatedFile as exc:
        raise UnreadableFile(f"{exc}; download or copy the file again") from None


def is_json_array(path: Path) -> bool:
    """Whether a JSON file holds one array (`[{...}, {...}]`) rather than JSON lines."""
    opener = gzip.open if Path(path).name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] == b"["


def file_kind(path: Path) -> str:
    """csv, parquet or jsonl from the file name (gzip suffix ignored)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


# DuckDB takes a file name given to its readers as a glob pattern: `a[1].csv` reads `a1.csv`, and
# `*` or `?` may match other files. There is no escape that works with every name (a backslash
# cannot be escaped inside a pattern), so such a file is read through a link with a plain name.
_GLOB_CHARS = re.compile(r"[*?\[{]")


@contextmanager
def duckdb_path(path: Path) -> Iterator[str]:
    """The name to bind for DuckDB's readers (`read_csv(?)`): the file's own path, or, when that
    path holds glob characters, a symlink to it in a private temporary directory (same suffix
    kind, so DuckDB still sees `.gz`). Paths always reach DuckDB as bound parameters."""
    path = Path(path)
    text = str(path.absolute())
    if not _GLOB_CHARS.search(text):
        yield text
        return
    suffix = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv"}[file_kind(path)]
    if path.name.lower().endswith(".gz"):
        suffix += ".gz"
    with tempfile.TemporaryDirectory(prefix="revline-read-") as tmp:
        link = Path(tmp) / ("file" + suffix)
        os.symlink(path.resolve(), link)
        yield str(link)


def _new_name(prefix: str) -> str:
    return f"_rl_{prefix}_{next(_counter)}"


def _ordinal(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """1-based position of a row in a freshly created table (temp-table rowids start at an offset)."""
    base = scalar(con, f"SELECT coalesce(min(rowid), 0) FROM {table}")
    return f"(rowid - {int(base) - 1})"


@contextmanager
def _csv_name(path: Path, encoding: str | None) -> Iterator[str]:
    """The name to bind for DuckDB: the file itself (glob-safe, see `duckdb_path`) when it is
    UTF-8 (`encoding` None), else a temporary UTF-8 copy (see encoding.py)."""
    if encoding is None:
        with duckdb_path(path) as name:
            yield name
        return
    with utf8_copy(Path(path), encoding) as copy:
        yield str(copy)


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, encoding: str | None):
    """(raw table, rejects (line, text, kinds), title lines skipped, delimiter, header cells)."""
    raw_name, rej, scan = _new_name("csvraw"), _new_name("rej"), _new_name("rejscan")
    with _csv_name(path, encoding) as name:
        skip = title_lines(Path(name))  # report exports' title lines above the header (see preamble.py)
        con.execute(
            f"CREATE TEMP TABLE {raw_name} AS SELECT * FROM read_csv(?, all_varchar = true, header = true, "
            f"skip = {int(skip)}, ignore_errors = true, store_rejects = true, rejects_table = ?, rejects_scan = ?)",
            [name, rej, scan],
        )
        delimiter = scalar(con, f"SELECT delimiter FROM sniff_csv(?, skip = {int(skip)})", [name])
        header = _raw_header(Path(name), skip, delimiter)
    rejects = con.execute(
        f"SELECT line, any_value(csv_line), string_agg(DISTINCT error_type, '; ') FROM {rej} GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {rej}; DROP TABLE IF EXISTS {scan}")
    return raw_name, rejects, skip, delimiter, header


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path, encoding: str | None = None) -> Staged:
    """A CSV (or TSV, gzip or not) as VARCHAR cells. `encoding` names the file's text encoding;
    by default a file that is all UTF-8 is read as it is and any other in the encoding detected
    (see encoding.py), which the summary then names."""
    notes: list[str] = []
    if encoding:
        enc = resolve(Path(path), encoding)
        if enc is None and Path(path).name.lower().endswith(".gz"):
            check_gzip_complete(path)
    else:
        try:
            enc = None if is_utf8(Path(path)) else guess(Path(path))
        except TruncatedFile as exc:
            raise UnreadableFile(f"{exc}; download or copy the file again") from None
        if enc:
            notes.append(f"{path}: not UTF-8, read as {enc} (detected; pass --encoding if it is another)")
    raw_name, rejects, skip, delimiter, header = _read_csv(con, path, enc)
    columns = [r[0] for r in con.execute(f"DESCRIBE {raw_name}").fetchall()]
    good = scalar(con, f"SELECT count(*) FROM {raw_name}")
    broken = [
        Broken(int(line) - 1 - skip, f"broken line: {str(kind).lower().replace('_', ' ')}", text)
        for line, text, kind in rejects
    ]
    table = _new_name("stg")
    if not broken:
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT {_ordinal(con, raw_name)} AS _row, * FROM {raw_name}")
    else:
        # Good rows keep their position in the file: number 1..N minus the broken rows, in order.
        bad = ", ".join(str(b.row_number) for b in broken)
        total = good + len(broken)
        con.execute(
            f"CREATE TEMP TABLE {table} AS WITH slots AS ("
            f"  SELECT n AS _row, row_number() OVER (ORDER BY n) - 1 AS k FROM range(1, {total + 1}) t(n)"
            f"  WHERE n NOT IN ({bad})) "
            f"SELECT s._row, r.* EXCLUDE (_k) FROM (SELECT {_ordinal(con, raw_name)} - 1 AS _k, * FROM {raw_name}) r "
            f"JOIN slots s ON s.k = r._k ORDER BY s._row"
        )
    con.execute(f"DROP TABLE {raw_name}")
    return Staged(path, table, columns, good + len(broken), broken, parse=ParseOptions(delimiter=delimiter),
                  title_rows=skip, duplicate_headers=duplicate_headers(header, columns), notes=notes)


def _raw_header(path: Path, skip: int, delimiter: str) -> list[str]:
    """The header line's cells as written (DuckDB's column names have duplicates renamed)."""
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
    with io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter or ",")
        for _ in range(skip):
            next(reader, None)
        return next(reader, [])


def duplicate_headers(header: list[str], columns: list[str]) -> dict[str, list[str]]:
    """Header names that occur more than once in `header` (compared as DuckDB does: trimmed,
    case-blind) -> the staged column names at their positions."""
    if len(header) != len(columns):
        return {}
    at: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        at.setdefault(h.strip().lower(), []).append(i)
    return {header[ix[0]].strip(): [columns[i] for i in ix] for ix in at.values() if len(ix) > 1}


def stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    """A Parquet file as VARCHAR cells (typed columns cast to text, so validation is the same)."""
    table = _new_name("stg")
    with duckdb_path(path) as name:
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT row_number() OVER () AS _row, COLUMNS(*)::VARCHAR "
            f"FROM read_parquet(?)", [name]
        )
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0] != "_row"]
    n = scalar(con, f"SELECT count(*) FROM {table}")
    return Staged(path, table, columns, n)


# The lines of the file bound to `?`, as `line` VARCHAR (gzip decoded by DuckDB). Byte 0x01
# never occurs unescaped in valid JSON, so it is a safe 'no delimiter'.
LINES_SOURCE = (
    "read_csv(?, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', escape = '', "
    "header = false, auto_detect = false, strict_mode = false)"
)
# (_row, line) for every line of the file bound to `?`, 1-based. ROW_NUMBER() OVER () runs as
# DuckDB's streaming window, in file order, without materialising the lines first.
NUMBERED_LINES_SQL = f"SELECT row_number() OVER () AS _row, line FROM {LINES_SOURCE}"


def split_broken(con: duckdb.DuckDBPyConnection, table: str) -> list[Broken]:
    """Drop blank lines (their numbers stay unused) and lines that are not a JSON object from
    `table` (_row, line); the latter are returned as broken rows with their line numbers."""
    con.execute(f"DELETE FROM {table} WHERE line IS NULL OR trim(line) = ''")
    bad_when = "NOT coalesce(json_valid(line), false) OR json_type(line) <> 'OBJECT'"
    bad = con.execute(f"SELECT _row, line FROM {table} WHERE {bad_when} ORDER BY _row").fetchall()
    if bad:
        con.execute(f"DELETE FROM {table} WHERE {bad_when}")
    return [Broken(int(r), "broken line: invalid JSON", text) for r, text in bad]


def stage_lines(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    """JSON lines as raw text, one row per line; blank lines are dropped but keep their numbering."""
    table = _new_name("lines")
    with duckdb_path(path) as name:
        con.execute(f"CREATE TEMP TABLE {table} AS {NUMBERED_LINES_SQL}", [name])
    broken = split_broken(con, table)
    n = scalar(con, f"SELECT count(*) FROM {table}")
    return Staged(path, table, ["line"], n + len(broken), broken, is_lines=True)


def stage_json_array(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    """A JSON array file as staged lines: element N of the array is row N (an element that is
    not an object is a broken row, like a bad line of JSON lines)."""
    table = _new_name("lines")
    try:
        with duckdb_path(path) as name:
            con.execute(
                f"CREATE TEMP TABLE {table} AS SELECT row_number() OVER () AS _row, json::VARCHAR AS line "
                f"FROM read_json_objects(?, format = 'array')", [name]
            )
    except (duckdb.InvalidInputException, duckdb.IOException) as exc:
        first = str(exc).splitlines()[0]
        raise UnreadableFile(f"{path}: not a valid JSON array ({first}); fix the file or export JSON lines") from None
    broken = split_broken(con, table)
    n = scalar(con, f"SELECT count(*) FROM {table}")
    return Staged(path, table, ["line"], n + len(broken), broken, is_lines=True)


def flatten_lines(con: duckdb.DuckDBPyConnection, staged: Staged) -> Staged:
    """Turn staged JSON lines into one VARCHAR column per top-level key (for tabular sources).

    A line naming a key twice is a broken row (which value counts would be a guess); keys that
    differ only in case (DuckDB's column names are case-blind) are kept apart as `key_1`, ...
    and reported like duplicate CSV headers."""
    twice = "len(json_keys(line)) <> len(list_distinct(json_keys(line)))"
    rows = con.execute(f"SELECT _row, line FROM {staged.table} WHERE {twice} ORDER BY _row").fetchall()
    broken = list(staged.broken)
    if rows:
        con.execute(f"DELETE FROM {staged.table} WHERE {twice}")
        broken = sorted(broken + [Broken(int(r), "broken line: a key appears twice in the JSON object", text)
                                  for r, text in rows], key=lambda b: b.row_number)
    keys = [
        r[0]
        for r in con.execute(
            f"SELECT k, min(_row) AS first FROM (SELECT unnest(json_keys(line)) AS k, _row FROM {staged.table}) "
            f"GROUP BY k ORDER BY first, k"
        ).fetchall()
    ]
    keys = list(dict.fromkeys(keys))
    first: dict[str, str] = {}
    names: list[str] = []
    dups: dict[str, list[str]] = {}
    for k in keys:
        if k.lower() not in first:
            first[k.lower()] = k
            names.append(k)
            continue
        head = first[k.lower()]
        dups.setdefault(head, [head])
        names.append(f"{head}_{len(dups[head])}")
        dups[head].append(names[-1])
    table = _new_name("stg")
    cols = ", ".join(
        f"json_extract_string(line, {json_pointer(k)}) AS {ident(n)}" for k, n in zip(keys, names)
    ) or "NULL AS _empty"
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT _row, {cols} FROM {staged.table}")
    con.execute(f"DROP TABLE {staged.table}")
    return Staged(staged.path, table, names, staged.rows_read, broken, duplicate_headers=dups)


def stage(con: duckdb.DuckDBPyConnection, path: Path, *, lines: bool = False, encoding: str | None = None) -> Staged:
    """Stage any supported file. `lines=True` keeps JSON lines raw (Segment reads them itself);
    `encoding` is a CSV's text encoding (JSON is UTF-8 by definition)."""
    kind = file_kind(path)
    check_readable(path)
    if path.name.lower().endswith(".gz") and kind != "csv":  # stage_csv reads a CSV through once anyway
        check_gzip_complete(path)
    try:
        if kind == "parquet":
            return stage_parquet(con, path)
        if kind == "jsonl":
            staged = stage_json_array(con, path) if is_json_array(path) else stage_lines(con, path)
            return staged if lines else flatten_lines(con, staged)
        return stage_csv(con, path, encoding)
    except (duckdb.InvalidInputException, duckdb.IOException) as exc:
        first = str(exc).splitlines()[0]
        raise UnreadableFile(f"{path}: cannot be read as {kind} ({first}); check the file and its name") from None


def drop(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    """Drop a staged file's temp table once its reader is done."""
    con.execute(f"DROP TABLE IF EXISTS {staged.table}")
