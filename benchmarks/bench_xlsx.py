"""Excel reading for ingest: python-calamine (what revline uses) against openpyxl (read-only mode).

Writes one report-shaped sheet of --rows rows (id, name, account, stage, amount, close date,
created datetime, probability) with openpyxl, then reads every cell of it with each library,
--repeat times interleaved, and prints the median seconds and rows/s. Also times the whole
`xlsx.stage_sheet` (calamine read + cell text + Arrow + DuckDB temp table).

    .venv/bin/python benchmarks/bench_xlsx.py --rows 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path


def write_sheet(path: Path, rows: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Opportunities")
    ws.append(["Opportunity ID", "Opportunity Name", "Account Name", "Stage", "Amount", "Close Date",
               "Created Date", "Probability (%)"])
    base = dt.datetime(2024, 1, 1, 9, 30)
    for i in range(rows):
        ws.append([f"006{i:015d}", f"Deal {i}", f"Account {i % 997}", ("Closed Won", "Prospecting")[i % 2],
                   1000 + i * 1.25, (base + dt.timedelta(days=i % 700)).date(), base + dt.timedelta(hours=i), i % 100])
    wb.save(path)


def read_calamine(path: Path) -> int:
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Opportunities").to_python()
    return len(rows)


def read_openpyxl(path: Path) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    n = sum(1 for _ in wb["Opportunities"].iter_rows(values_only=True))
    wb.close()
    return n


def stage(path: Path) -> int:
    import duckdb

    from revline.ingest.xlsx import stage_sheet

    con = duckdb.connect()
    return stage_sheet(con, path, "Opportunities").rows_read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.xlsx"
        write_sheet(path, args.rows)
        times: dict[str, list[float]] = {"calamine": [], "openpyxl": [], "revline stage_sheet": []}
        for _ in range(args.repeat):
            for name, fn in (("calamine", read_calamine), ("openpyxl", read_openpyxl), ("revline stage_sheet", stage)):
                t = time.perf_counter()
                n = fn(path)
                times[name].append(time.perf_counter() - t)
                if n < args.rows:
                    raise SystemExit(f"{name} read {n} rows, expected {args.rows}")
        print(f"{args.rows:,} rows x 8 columns, {path.stat().st_size / 2**20:.1f} MB, median of {args.repeat}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  {name:20s} {med:7.3f} s  {args.rows / med:10,.0f} rows/s")


if __name__ == "__main__":
    main()
