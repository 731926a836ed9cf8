"""The forecast's backtest on two simulated companies (default and long_cycle): revline ahead of
both CRO baselines on the quarter starting at each as-of date, and its 80 % interval covering at
least as often as theirs, on two seeds each (docs/forecast.md has the figures)."""

from __future__ import annotations

import pytest

from revline.models.forecast.backtest import METHODS, run_backtest
from revline.models.forecast.model import TOTAL
from revline.store import connect


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("config", ["default", "long_cycle"])
def test_backtest_revline_beats_both_baselines(simulated_company, config, seed):
    db, _, _ = simulated_company(config, "small", seed)
    con = connect(db, read_only=True)
    bt = run_backtest(con)
    d = bt.detail
    assert set(d["method"]) == set(METHODS)
    assert d["quarter"].nunique() >= 5  # 2024-10..2026-09 minus the first 180 days of history
    # every as-of date sees only the past: its forecast quarter starts on it
    assert (d[d["horizon"] == 0]["as_of"].astype(str) == d[d["horizon"] == 0]["quarter"].map(
        lambda q: f"{q[:4]}-{3 * int(q[-1]) - 2:02d}-01")).all()
    s = bt.summary.set_index(["horizon", "revenue_type", "method"])
    for h in (0, 1):
        mape = {m: s.loc[(h, TOTAL, m), "mape"] for m in METHODS}
        assert mape["revline"] < mape["stage_weighted"], (h, mape)
        if h == 0 or config == "default":
            assert mape["revline"] < mape["run_rate"], (h, mape)
    cov = {m: s.loc[(0, TOTAL, m), "coverage"] for m in METHODS}
    assert cov["revline"] >= max(cov["stage_weighted"], cov["run_rate"]), cov
    # per revenue type, this quarter: revline's error is below the run rate's for each type
    for rt in ("new_business", "renewal", "expansion"):
        assert s.loc[(0, rt, "revline"), "mape"] < s.loc[(0, rt, "run_rate"), "mape"], rt
    con.close()
