"""Excel workbooks (.xlsx, .xlsm): each sheet staged like a CSV, through python-calamine.

Why calamine: it reads a 20k-row sheet several times faster than openpyxl (see README / the
measure in benchmarks/bench_xlsx.py) and is well kept. Cells come typed: numbers are written back
as plain '.'-decimal text (never ambiguous, see `cell_text`), dates and times as ISO text, so
the same value parsers as for CSV apply. Report exports' title/filter rows above the header and
the empty first column of Salesforce's formatted reports are skipped here; totals and footer
rows below the data are removed by report_lines like a CSV's.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow as pa
from python_calamine import CalamineWorkbook

from revline.ingest.readers import Staged, _new_name
from revline.ingest.values import ParseOptions

SUFFIXES = (".xlsx", ".xlsm")
SCAN_ROWS = 30  # a header row is looked for in the first rows of a sheet


class WorkbookError(ValueError):
    """A workbook (or the sheet asked for) that cannot be read."""


def is_workbook(path: Path) -> bool:
    """Whether the file name says Excel (.xlsx or .xlsm)."""
    return Path(path).name.lower().endswith(SUFFIXES)


def _book(path: Path) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every broken workbook
        raise WorkbookError(f"{path}: not a readable Excel workbook ({exc}); save it again as .xlsx or export CSV") from exc


def sheet_names(path: Path) -> list[str]:
    """The workbook's sheets, in order."""
    return list(_book(path).sheet_names)


def cell_text(v: object) -> str | None:
    """A typed cell as the text a parser reads the same way in every locale."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        text = repr(v)
        if "e" in text:  # 1e-05, 1.5e+16: the parsers read plain digits only
            text = f"{v:.12f}".rstrip("0").rstrip(".")
            if text in ("-0", ""):
                text = "0"
        whole, _, frac = text.partition(".")
        # "1.125" would read as a thousands-grouped 1125 where a column's separator is unknown
        return text + "0" if len(frac) == 3 and "e" not in text else text
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    text = str(v).strip()
    return text or None


def _rows(path: Path, sheet: str, nrows: int | None = None) -> list[list[str | None]]:
    """The sheet's cells as text (the first `nrows` rows only, if given); most cells are text
    already and only need trimming."""
    book = _book(path)
    if sheet not in book.sheet_names:
        raise WorkbookError(f"{path}: no sheet {sheet!r}; its sheets are {list(book.sheet_names)} (--sheet NAME)")
    grid = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False, nrows=nrows)
    return [[(c.strip() or None) if type(c) is str else cell_text(c) for c in row] for row in grid]


def _header_index(rows: list[list[str | None]]) -> int:
    """The first row with at least three filled cells, if every row above has at most two (a
    title, a filter line, blanks); else the first row."""
    for i, row in enumerate(rows[:SCAN_ROWS]):
        n = sum(c is not None for c in row)
        if n >= 3:
            return i
        if n > 2:
            break
    return 0


def _unique(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}_{seen[h]}")
    return out


def _table(path: Path, sheet: str, nrows: int | None = None) -> tuple[list[str], list[list[str | None]], int]:
    """(headers, data rows, title rows skipped) of one sheet; empty columns dropped."""
    rows = _rows(path, sheet, nrows)
    if not rows:
        return [], [], 0
    top = _header_index(rows)
    width = max(len(r) for r in rows)
    rows = [r + [None] * (width - len(r)) for r in rows]
    header = rows[top]
    keep = [j for j in range(width) if header[j] is not None or any(r[j] is not None for r in rows[top + 1:])]
    headers = _unique([header[j] or f"column{j + 1}" for j in keep])
    # blank rows are skipped, as DuckDB skips a CSV's blank lines
    data = [d for d in ([r[j] for j in keep] for r in rows[top + 1:]) if any(c is not None for c in d)]
    return headers, data, top


def read_headers(path: Path, sheet: str) -> list[str]:
    """The header row of a sheet (the first row after any report title rows), from its first rows."""
    return _table(path, sheet, SCAN_ROWS + 1)[0]


def _renamed(headers: list[str]) -> dict[str, list[str]]:
    """Header names a sheet holds more than once -> the names `_unique` gave them (`h`, `h_2`,
    ...), to be reported like a CSV's duplicate headers (issue #20 D7)."""
    out: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    for h in headers:
        m = re.fullmatch(r"(.*)_(\d+)", h)
        if m and m.group(1) in seen and int(m.group(2)) == seen[m.group(1)] + 1:
            seen[m.group(1)] += 1
            out.setdefault(m.group(1), [m.group(1)]).append(h)
        else:
            seen.setdefault(h, 1)
    return out


def stage_sheet(con: duckdb.DuckDBPyConnection, path: Path, sheet: str) -> Staged:
    """One sheet as a staged table of VARCHAR cells with `_row` (1-based data row), like a CSV."""
    headers, data, top = _table(path, sheet)
    table = _new_name("stg")
    cols = {"_row": pa.array(range(1, len(data) + 1), pa.int64())}
    for j, h in enumerate(headers):
        cols[h] = pa.array([r[j] for r in data], pa.string())
    arrow = pa.table(cols) if headers else pa.table({"_row": pa.array([], pa.int64())})
    view = _new_name("arrow")
    con.register(view, arrow)
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {view}")  # noqa: S608 - both names from _new_name
    finally:
        con.unregister(view)
    return Staged(Path(f"{path}[{sheet}]"), table, headers, len(data), parse=ParseOptions(), title_rows=top,
                  duplicate_headers=_renamed(headers))
