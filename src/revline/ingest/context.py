"""The state one `load_files` call shares between readers: connection, rules, report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from revline.ingest.report import IngestReport, TableCount
from revline.ingest.upsert import Written


@dataclass
class Ctx:
    """One file being loaded: where its rows go, which rules apply, and the report they count into."""

    con: duckdb.DuckDBPyConnection
    report: IngestReport
    rules: list[dict]
    type_map: dict[str, str | None]
    path: Path = Path(".")
    fmt: str = ""
    obj: str = ""
    digest: str = ""  # sha256 of the file: rows that keep their file identity (spend) store it
    convention: str = ""  # the detected naming convention (spend: the ad platform)
    counts: dict[str, TableCount] = field(default_factory=dict)
    dimensions: dict[str, list[str]] = field(default_factory=dict)  # name -> headers (revline.ingest.extras)

    def entry(self, table: str) -> TableCount:
        """The report line of (current file, table), created on first use."""
        if table not in self.counts:
            self.counts[table] = self.report.add(TableCount(str(self.path), self.fmt, self.obj, table))
        return self.counts[table]

    def record(self, table: str, read: int = 0, written: Written = Written(), quarantined: int = 0) -> None:
        """Add to the (file, table) line: rows read, what the write did with them, rows quarantined."""
        e = self.entry(table)
        e.read += read
        e.loaded += written.loaded
        e.merged += written.merged
        e.updated += written.updated
        e.quarantined += quarantined

    def for_file(self, path: Path, fmt: str, obj: str, digest: str = "", convention: str = "") -> "Ctx":
        return Ctx(self.con, self.report, self.rules, self.type_map, path, fmt, obj, digest, convention,
                   dimensions=self.dimensions)
