"""`report --by month` reads as a time series: months in calendar order, whatever their revenue."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict

import pandas as pd

from conftest import API_FIXTURE
from revline.reports.roi import roi_table
from revline.reports.tables import attribution_by, by_month
from revline.store import connect


def _expected_linear_won_by_month() -> dict[str, float]:
    """Linear credit of each won deal split evenly over its touches, summed by the touch's month."""
    touches = {t[0]: t for t in API_FIXTURE["touchpoints"]}
    amounts = {o[0]: o[3] for o in API_FIXTURE["opportunities"]}
    out: dict[str, float] = defaultdict(float)
    for opp, tids in API_FIXTURE["ledger"]["linear"]["won"].items():
        for tid in tids:
            out[touches[tid][1][:7]] += amounts[opp] / len(tids)
    return dict(out)


def test_attribution_by_month_is_in_calendar_order(api_store):
    expected = _expected_linear_won_by_month()
    by_revenue = sorted(expected, key=expected.get, reverse=True)
    assert by_revenue != sorted(expected)  # the fixture tells the two orders apart
    con = connect(api_store, read_only=True)
    df = attribution_by(con, "month", ["linear"], "won", "new_business")
    months = [pd.Timestamp(m).strftime("%Y-%m") for m in df["month"]]
    assert months == sorted(expected)
    assert dict(zip(months, df["linear"].round(2))) == {k: round(v, 2) for k, v in expected.items()}
    long = attribution_by(con, "month", ["linear", "first_touch"], "won", "new_business", long=True)
    for _, g in long.groupby("model"):
        assert list(g["month"]) == sorted(g["month"])
    roi = roi_table(con, "linear", by="month")
    dated = [m for m in roi["month"] if str(m) != "(none)"]
    assert dated == sorted(dated) and len(dated) >= 2
    con.close()


def test_cli_report_by_month_prints_months_in_order(api_store):
    res = subprocess.run([sys.executable, "-m", "revline", "report", "--by", "month", "-m", "linear", "--db", str(api_store)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    months = sorted(_expected_linear_won_by_month())
    positions = [res.stdout.index(m) for m in months]
    assert positions == sorted(positions)


def test_by_month_puts_undated_rows_last():
    df = pd.DataFrame({"month": ["(none)", pd.Timestamp("2025-03-01").date(), pd.Timestamp("2025-01-01").date()], "x": [1, 2, 3]})
    assert list(by_month(df)["x"]) == [3, 2, 1]
