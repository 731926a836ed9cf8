"""CLI tables readable at any width: at 80 columns a wide table is split into column blocks that
each fit (key columns repeated, nothing cut to "…"), and output that is not a terminal is written
at full width."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from revline.screen import FULL_WIDTH, console, readable

CHANNELS = ["organic_social", "paid_search", "sales_outreach", "direct_mail", "organic_search"]
HEADERS = ["spend", "pipeline", "revenue", "roas", "roi", "cac", "payback_months", "conversions", "touches"]


def _wide_table() -> tuple[Table, list[str]]:
    t = Table(title="ROI by channel (W-shaped, new business)")
    t.add_column("channel")
    for h in HEADERS:
        t.add_column(h, justify="right")
    values = []
    for i, ch in enumerate(CHANNELS):
        row = [f"{(i + 1) * 1_234_567.891 * (k + 1):,.2f}" for k in range(len(HEADERS))]
        values.extend(row)
        t.add_row(ch, *row)
    return t, values


def _render(renderable, width: int) -> str:
    c = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)  # noqa: SIM115 - closed with the console
    c.print(renderable)
    return c.export_text()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_wide_table_at_a_narrow_width_keeps_every_name_and_number_whole(width):
    table, values = _wide_table()
    out = _render(readable(table), width)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= width
    for text in [*CHANNELS, *values, *HEADERS]:
        assert text in out, text
    blocks = out.count("ROI by channel")
    assert blocks >= 2  # split into column blocks, each titled
    # the key column is repeated in every block
    assert out.count("organic_social") == blocks


def test_plain_rich_table_would_cut_the_channel_name():
    # what the readable wrapper prevents: Rich's default truncates at 80 columns
    table, _ = _wide_table()
    assert "…" in _render(table, 80)


def test_a_table_that_fits_is_printed_as_one_block():
    t = Table(title="small")
    t.add_column("channel")
    t.add_column("revenue", justify="right")
    t.add_row("organic_social", "1,234.00")
    out = _render(readable(t), 80)
    assert out.count("small") == 1 and "organic_social" in out and "1,234.00" in out


def test_convergence_parameters_keep_their_channel_even_at_40_columns():
    t = Table(title="Convergence")
    for col in ("parameter", "mean", "r_hat", "ess_bulk"):
        t.add_column(col)
    names = [f"{p}[{ch}]" for p in ("adstock_alpha", "saturation_lam", "saturation_beta") for ch in CHANNELS]
    for n in names:
        t.add_row(escape(n), "0.4321", "1.002", "812")  # as `revline mmm fit` does: [..] is not a style
    out = _render(readable(t), 40)
    for n in names:
        assert n in out


def test_console_off_a_terminal_is_full_width(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert console().width == FULL_WIDTH  # pytest captures stdout: not a terminal
    monkeypatch.setenv("COLUMNS", "91")
    assert console().width == 91  # an exported width wins


def _report(db, *args: str, columns: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    res = subprocess.run([sys.executable, "-m", "revline", "report", "--db", str(db), *args],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_report_to_a_pipe_is_full_width_and_at_80_columns_is_split_not_cut(api_store):
    import duckdb

    con = duckdb.connect(str(api_store), read_only=True)
    channels = [r[0] for r in con.execute("SELECT DISTINCT channel FROM touchpoints").fetchall()]
    con.close()
    piped = _report(api_store, "--roi", "-m", "linear", columns=None)
    narrow = _report(api_store, "--roi", "-m", "linear", columns="80")
    for out in (piped, narrow):
        assert "…" not in out
    lines = piped.splitlines()
    assert max(len(line) for line in lines) > 80  # one block, at its natural width
    assert max(len(line) for line in narrow.splitlines()) <= 80
    for ch in channels:
        assert ch in piped and ch in narrow


def test_ingest_summary_with_long_paths_at_80_columns_cuts_nothing():
    from revline.ingest.report import IngestReport, TableCount

    report = IngestReport()
    long = "/home/analyst/exports/2025/quarter-three/salesforce/Opportunity-with-a-long-name.csv"
    report.add(TableCount(long, "salesforce", "Opportunity", "opportunities", 123456, 120000, 3000, 456))
    out = _render(report, 80)
    assert "…" not in out
    for text in ("123,456", "120,000", "3,000", "456", "opportunities", "Opportunity"):
        assert text in out, text
    # the path folds inside its cell: its pieces, read down the first column, give it back whole
    first_column = "".join(line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│"))
    assert long in first_column
