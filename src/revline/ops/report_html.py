"""Operation `report_html`: the self-contained HTML report (every section, every model present)
of any store, the one `revline demo` writes, for `revline report --html PATH` and server jobs."""

from __future__ import annotations

from pathlib import Path

import duckdb

from revline.ops.registry import Progress, no_progress


def report_html(
    con: duckdb.DuckDBPyConnection,
    *,
    path: str,
    truth: str | None = None,
    title: str = "revline revenue report",
    progress: Progress = no_progress,
) -> str:
    """Write the report to `path` (absolute: a server writes it); `truth` is a demo's
    ground_truth.json, for the model-error section. Returns the path written."""
    from revline.reports.html import write_report  # plotly: loaded only when a report is written

    progress(None, None, "writing the HTML report")
    return str(write_report(con, Path(path), truth_path=Path(truth) if truth else None, title=title))
