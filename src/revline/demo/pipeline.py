"""The demo job end to end: generate -> ingest -> stitch -> journeys -> every model -> report.

Why the demo goes through the same readers as a user's files: it is the proof that those
readers work on realistic exports, and it is what a new user runs first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from revline.attribution.runner import run_models
from revline.demo.simulate import generate
from revline.identity import stitch
from revline.ingest import load_files
from revline.journeys import build as build_journeys
from revline.reports.html import write_report
from revline.store import connect
from revline.store.state import record_stitch


@dataclass
class DemoResult:
    """What `revline demo` made (store, source files, report) and how long each step took."""

    db: Path
    out_dir: Path
    report_path: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    ingest_report: Any = None
    run_ids: list[str] = field(default_factory=list)


def _step(progress: Progress, timings: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    task = progress.add_task(name, total=1)
    t0 = time.perf_counter()
    result = fn()
    timings[name] = time.perf_counter() - t0
    progress.update(task, completed=1, description=f"{name} [dim]({timings[name]:.1f}s)[/dim]")
    return result


def run_demo(
    *,
    db: Path,
    out_dir: Path,
    size: str = "small",
    seed: int = 42,
    report_path: Path | None = Path("revline_report.html"),
    console: Console | None = None,
    fresh: bool = True,
) -> DemoResult:
    """Run the whole demo. `fresh` replaces an existing store file so reruns are reproducible."""
    console = console or Console()
    timings: dict[str, float] = {}
    db = Path(db)
    out_dir = Path(out_dir)
    if fresh and db.exists():
        db.unlink()
        wal = db.with_name(db.name + ".wal")
        if wal.exists():
            wal.unlink()

    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        _step(progress, timings, f"Generate demo company ({size})", lambda: generate(out_dir, size=size, seed=seed))
        con = connect(db)
        ingest_report = _step(progress, timings, "Ingest source files", lambda: load_files(con, [out_dir]))
        _step(progress, timings, "Stitch identities", lambda: stitch(con))
        _step(progress, timings, "Build journeys and milestones", lambda: build_journeys(con))
        record_stitch(con)  # later `revline attribute/report` runs see the store as stitched
        run_ids = _step(progress, timings, "Rule-based attribution (every model, milestone, revenue type)",
                        lambda: run_models(con))
        run_ids += _step(progress, timings, "Data-driven attribution (Markov, Shapley)",
                         lambda: _data_driven(con))
        report = None
        if report_path is not None:
            truth = out_dir / "ground_truth.json"
            report = _step(progress, timings, "Write HTML report (with the in-market score backtest)",
                           lambda: write_report(con, Path(report_path), truth_path=truth if truth.exists() else None))
    result = DemoResult(db=db, out_dir=out_dir, report_path=report, timings=timings,
                        ingest_report=ingest_report, run_ids=run_ids)
    con.close()
    return result


def _data_driven(con) -> list[str]:
    return run_models(con, models=["markov", "shapley"])

