"""Lines of a report export that are not records: title/filter lines, totals and the footer.

Why here and not in the CSV reader: the title lines above the header are skipped while reading
(see preamble.py); what is below the rows ("Grand Totals (42 records)", "Total", a blank line,
"Confidential Information - Do Not Distribute", "Copyright (c) 2000-2025 salesforce.com, inc.
All rights reserved.") only shows once the file is split into rows: as rows whose first cell
says so and whose other cells are mostly empty, or as lines too short to be rows (broken lines).
They are removed from the staged file and counted in the report, never loaded and never
quarantined.
"""

from __future__ import annotations

import re

import duckdb

from revline.ingest.readers import Staged
from revline.ingest.report import IngestReport
from revline.ingest.sqlfrag import clean, ident, lit
from revline.store.rows import scalar

FOOTER = (
    r"(grand\s+totals?(\s*\(\d[\d,.\s]*records?\))?|totals?|sub-?totals?|count|sum|average|"
    r"confidential\s+information.*|copyright\s*(\(c\)|©).*|generated\s+by.*|filtered\s+by.*)"
)
_FOOTER_RE = re.compile(FOOTER, re.IGNORECASE)


def _is_footer_text(raw: str | None) -> bool:
    """A broken (too short) line that is a footer or blank: only quotes, commas, spaces, or a footer text."""
    cells = [c.strip().strip('"').strip() for c in re.split(r"[,;\t]", raw or "")]
    cells = [c for c in cells if c]
    return not cells or (len(cells) <= 2 and bool(_FOOTER_RE.fullmatch(cells[0])))


def drop_report_lines(con: duckdb.DuckDBPyConnection, staged: Staged, report: IngestReport) -> int:
    """Remove footer, total and blank rows from `staged` (and its broken lines); note how many,
    with the title lines skipped above the header, in the report. Returns the rows removed."""
    cols = [c for c in staged.columns]
    removed = 0
    if cols and not staged.is_lines:
        cells = [clean(f"{ident(c)}::VARCHAR") for c in cols]
        filled = " + ".join(f"({c} IS NOT NULL)::INT" for c in cells)
        first = f"coalesce({', '.join(cells)})"
        # a footer names itself in its first filled cell and fills at most half the columns
        # (a "Total" row of a summary report carries a sum or two)
        cond = (f"({filled}) = 0 OR (regexp_full_match({first}, {lit(FOOTER)}, 'i') "
                f"AND ({filled}) <= greatest(2, {len(cols)} // 2))")
        removed = scalar(con, f"SELECT count(*) FROM {staged.table} WHERE {cond}")  # noqa: S608 - headers quoted by ident, the pattern by lit, temp table
        if removed:
            con.execute(f"DELETE FROM {staged.table} WHERE {cond}")  # noqa: S608 - headers quoted by ident, the pattern by lit, temp table
    footers = [b for b in staged.broken if _is_footer_text(b.raw)]
    if footers:
        staged.broken = [b for b in staged.broken if b not in footers]
    removed += len(footers)
    staged.rows_read -= removed
    title = staged.title_rows
    if removed or title:
        report.notes.append(
            f"{staged.path}: skipped {title + removed} non-data line(s) of a report export "
            f"({title} title/filter line(s) above the header, {removed} total/footer/blank line(s) below)"
        )
        report.non_data_lines[str(staged.path)] += title + removed
    return removed
