"""Title lines above a CSV's header row, as report exports write them.

Google Ads writes "Campaign report" and the date range above the header; Salesforce report
exports write the report name and filters. Such a line has one non-empty cell (two when an
unquoted date range holds a comma), while the header row names several columns.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

SCAN_LINES = 25


def _open_text(path: Path):
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def title_lines(path: Path) -> int:
    """How many lines precede the header row (0 for an ordinary CSV).

    Only a file whose FIRST line is a lone title counts; its header is the first row, within
    the first lines, with at least three non-empty cells. Every line before it must have at
    most two (a title or a date range), so a data row is never taken for a title."""
    with _open_text(Path(path)) as fh:
        rows = []
        for row in csv.reader(fh):
            rows.append(sum(1 for c in row if c.strip()))
            if len(rows) >= SCAN_LINES:
                break
    if not rows or rows[0] != 1:
        return 0
    for i, n in enumerate(rows):
        if n >= 3:
            return i
        if n > 2:
            return 0
    return 0
