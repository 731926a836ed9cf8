"""One ROI per channel (issue #16 item 5): the calibration rule on hand-made frames, the fallback
without a fit, and on a demo store with a fast mix-model fit, TV's unified interval against the
simulator's true return."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from revline.reports.unified import (
    NO_FIT_NOTE, SOURCE_ATTRIBUTION, SOURCE_CALIBRATED, SOURCE_MMM, calibrate, load_mmm_summary, mmm_is_confident,
)

ATTR = pd.DataFrame({
    "channel": ["tv", "paid_search", "events", "email", "(unattributed)"],
    "spend": [300.0, 100.0, 50.0, 10.0, 0.0],
    "attributed": [0.0, 400.0, 80.0, 30.0, 25.0],
})
MMM = pd.DataFrame({
    "channel": ["tv", "paid_search", "events", "email"],
    "spend": [300.0, 100.0, 50.0, 10.0],
    "contribution": [90.0, 200.0, 60.0, 20.0],
    "contribution_low": [10.0, 150.0, 0.5, 15.0],      # paid_search: width 100 <= 1.0 x 200 -> confident
    "contribution_high": [200.0, 250.0, 150.0, 26.0],  # events: width 149.5 > 60 -> not; email: 11 <= 20 -> confident
})
TOUCHED = {"paid_search", "events", "email"}


def test_confidence_rule():
    assert mmm_is_confident(100, 60, 150)                 # width 90 <= 100
    assert not mmm_is_confident(100, 40, 150)             # width 110 > 100
    assert mmm_is_confident(100, 40, 150, max_relative_width=1.2)
    assert not mmm_is_confident(100, 0.0, 50)             # touches 0
    assert not mmm_is_confident(100, -5, 50)
    assert not mmm_is_confident(0, 0, 0)
    assert not mmm_is_confident(np.nan, 1, 2)


def test_each_channel_takes_the_source_that_can_see_it():
    t = calibrate(ATTR, MMM, TOUCHED).set_index("channel")
    # TV has no touches: the mix model, its interval, whatever attribution says
    assert t.loc["tv", "source"] == SOURCE_MMM
    assert (t.loc["tv", "return"], t.loc["tv", "return_low"], t.loc["tv", "return_high"]) == (90.0, 10.0, 200.0)
    assert t.loc["tv", "per_dollar"] == pytest.approx(90 / 300)
    assert t.loc["tv", "roi_low"] == pytest.approx((10 - 300) / 300)
    # a confident mix model rescales the attributed total (one factor per channel)
    assert t.loc["paid_search", "source"] == SOURCE_CALIBRATED
    assert t.loc["paid_search", "return"] == 200.0
    assert t.loc["paid_search", "scale"] == pytest.approx(0.5)
    assert t.loc["email", "source"] == SOURCE_CALIBRATED
    assert t.loc["email", "scale"] == pytest.approx(20 / 30)
    # not confident: the attributed figure is kept, the mix model's range shown beside it
    assert t.loc["events", "source"] == SOURCE_ATTRIBUTION
    assert t.loc["events", "return"] == 80.0
    assert np.isnan(t.loc["events", "return_low"])
    assert (t.loc["events", "mmm_low"], t.loc["events", "mmm_high"]) == (0.5, 150.0)
    # credit outside any channel stays, with no interval and no ratio (no spend)
    assert t.loc["(unattributed)", "return"] == 25.0
    assert np.isnan(t.loc["(unattributed)", "return_low"]) and np.isnan(t.loc["(unattributed)", "per_dollar"])
    assert t["source"].notna().all() and t["note"].str.len().gt(0).all()


def test_scaling_keeps_the_split_inside_a_channel():
    """The journey-level split: campaigns of a calibrated channel keep their proportions."""
    t = calibrate(ATTR, MMM, TOUCHED).set_index("channel")
    campaigns = pd.Series({"brand": 300.0, "generic": 100.0})  # paid_search's attributed 400 by campaign
    scaled = campaigns * t.loc["paid_search", "scale"]
    assert scaled.sum() == pytest.approx(t.loc["paid_search", "return"])
    assert scaled["brand"] / scaled["generic"] == pytest.approx(3.0)


def test_without_a_fit_every_row_is_attribution_and_says_so():
    t = calibrate(ATTR, None, TOUCHED)
    assert (t["source"] == SOURCE_ATTRIBUTION).all()
    assert (t["return"].to_numpy() == t["attributed"].to_numpy()).all()
    assert (t["note"] == NO_FIT_NOTE).all()
    assert t["return_low"].isna().all()


def test_a_channel_only_the_mix_model_knows_is_added():
    t = calibrate(ATTR[ATTR["channel"] != "tv"], MMM, TOUCHED).set_index("channel")
    assert t.loc["tv", "source"] == SOURCE_MMM and t.loc["tv", "spend"] == 300.0


def test_report_roi_without_a_fit_falls_back(api_store, tmp_path):
    db = api_store  # a fresh copy per test, with attribution runs and no mix model
    env = {**os.environ, "COLUMNS": "250"}
    res = subprocess.run([sys.executable, "-m", "revline", "report", "--roi", "--db", str(db)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "Unified ROI" in text and "no mix model fitted" in text and "revline mmm fit" in text
    raw = subprocess.run([sys.executable, "-m", "revline", "report", "--roi", "--raw", "--db", str(db)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert raw.returncode == 0 and "Unified" not in raw.stdout and "ROAS" in raw.stdout.upper()


@pytest.mark.slow
def test_tv_unified_interval_covers_the_true_return_on_the_demo(simulated_company, tmp_path):
    """Default company, a fast (SVI) fit of new-business pipeline as `revline mmm fit --fast` makes it:
    TV's row comes from the mix model and its interval covers the simulator's true TV pipeline per dollar."""
    pytest.importorskip("numpyro")
    src, _, truth = simulated_company("default", "small", 11)
    db = tmp_path / "store.duckdb"
    shutil.copy(src, db)
    env = {**os.environ, "COLUMNS": "250"}
    for cmd in (["attribute", "-m", "linear", "--milestone", "opportunity", "--milestone", "won"],
                ["mmm", "fit", "--fast", "--svi-steps", "1500"]):
        res = subprocess.run([sys.executable, "-m", "revline", *cmd, "--db", str(db)],
                             capture_output=True, text=True, env=env, timeout=900)
        assert res.returncode == 0, res.stdout + res.stderr
    fit_dir = tmp_path / "mmm" / "pipeline"
    summary = load_mmm_summary(fit_dir)
    assert summary is not None and summary[1]["outcome"] == "pipeline"

    from revline.reports.unified import unified_roi
    from revline.store import connect

    con = connect(db, read_only=True)
    try:
        t = unified_roi(con, "linear", db).set_index("channel")
    finally:
        con.close()
    tv = t.loc["tv"]
    true_tv = truth["channels"]["tv"]["incremental_pipeline_by_type"]["new_business"] / truth["channels"]["tv"]["spend"]
    print(f"\n{t[['source', 'per_dollar', 'per_dollar_low', 'per_dollar_high', 'attributed']].round(3).to_string()}"
          f"\ntrue tv pipeline per $ {true_tv:.3f}")
    assert tv["source"] == SOURCE_MMM
    assert tv["per_dollar_low"] <= true_tv <= tv["per_dollar_high"]
    assert tv["attributed"] == 0.0  # what touch-level attribution alone would say
    res = subprocess.run([sys.executable, "-m", "revline", "report", "--roi", "--db", str(db)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0 and "mix model" in res.stdout and "no mix model fitted" not in res.stdout
    json.dumps(t.reset_index().to_dict("records"), default=str)  # the table serialises (API, HTML)
    assert Path(fit_dir, "contributions.csv").exists()


def _hand_made_fit(db: Path, rows: list[tuple[str, float, float, float, float]]) -> Path:
    """What `revline mmm fit` saves and the unified table reads (spec.json, contributions.csv),
    written by hand beside the store: channel, spend, contribution, low, high."""
    d = db.resolve().parent / "mmm" / "pipeline"
    d.mkdir(parents=True)
    roles = {"date_col": "week", "outcome_col": "pipeline", "channel_cols": [r[0] for r in rows], "control_cols": [],
             "lag_weeks": 0, "source": "store", "extra": {"revenue_type": "new_business"}}
    (d / "spec.json").write_text(json.dumps({"roles": roles, "method": "svi"}))
    pd.DataFrame(rows, columns=["channel", "spend", "contribution", "contribution_low", "contribution_high"]
                 ).to_csv(d / "contributions.csv", index=False)
    return d


def test_a_saved_fit_sources_tv_calibrates_a_confident_channel_and_feeds_the_truth_table(api_store):
    from revline.reports.roi import roi_table
    from revline.reports.truth import truth_table, truth_summary
    from revline.reports.unified import unified_roi
    from revline.store import connect

    con = connect(api_store)
    con.execute("INSERT INTO spend (date, channel, campaign_id, spend) VALUES ('2026-02-01', 'tv', 'TV1', 40000)")
    con.close()
    _hand_made_fit(api_store, [("tv", 40000.0, 30000.0, 10000.0, 60000.0),
                               ("paid_search", 10000.0, 80000.0, 60000.0, 100000.0),
                               ("email", 1000.0, 5000.0, 100.0, 20000.0)])
    con = connect(api_store, read_only=True)
    try:
        raw = roi_table(con, "linear", revenue_type="new_business").set_index("channel")
        t = unified_roi(con, "linear").set_index("channel")
        assert t.attrs["outcome"] == "pipeline" and t.attrs["fit_dir"]
        assert t.loc["tv", "source"] == SOURCE_MMM and t.loc["tv", "per_dollar"] == pytest.approx(0.75)
        assert t.loc["paid_search", "source"] == SOURCE_CALIBRATED
        assert t.loc["paid_search", "attributed"] == pytest.approx(raw.loc["paid_search", "pipeline"])
        scale = 80000.0 / raw.loc["paid_search", "pipeline"]
        assert t.loc["paid_search", "scale"] == pytest.approx(scale)
        assert t.loc["email", "source"] == SOURCE_ATTRIBUTION  # interval 199x... wider than its mean
        truth = {"channels": {ch: {"incremental_revenue": v, "tracked": True}
                              for ch, v in {"paid_search": 90000.0, "email": 10000.0, "events": 5000.0,
                                            "webinar": 5000.0, "paid_social": 5000.0}.items()}}
        tt = truth_table(con, truth).set_index(["model", "channel"])
        assert tt.loc[("unified", "paid_search"), "attributed_revenue"] == pytest.approx(
            tt.loc[("linear", "paid_search"), "attributed_revenue"] * scale)
        assert tt.loc[("unified", "email"), "attributed_revenue"] == tt.loc[("linear", "email"), "attributed_revenue"]
        assert "unified" in set(truth_summary(tt.reset_index())["model"])
    finally:
        con.close()
    res = subprocess.run([sys.executable, "-m", "revline", "report", "--roi", "--db", str(api_store)],
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"}, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "mix model" in res.stdout and "no mix model fitted" not in res.stdout and "tv" in res.stdout


def test_the_api_serves_the_unified_table(api_store):
    """GET /api/roi/unified: without a fit every row is attribution with the fallback note; with a saved
    fit TV's row is the mix model's, equal to what the reports module computes."""
    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app
    from revline.reports.unified import unified_roi
    from revline.store import connect
    from conftest import API_READ_KEY, API_WRITE_KEY

    con = connect(api_store)
    con.execute("INSERT INTO spend (date, channel, campaign_id, spend) VALUES ('2026-02-01', 'tv', 'TV1', 40000)")
    con.close()
    app = create_app(api_store, read_key=API_READ_KEY, write_key=API_WRITE_KEY, derive=False)
    headers = {"Authorization": f"Bearer {API_READ_KEY}"}
    try:
        with TestClient(app) as client:
            before = client.get("/api/roi/unified", headers=headers).json()
            assert before["fitted"] is False and NO_FIT_NOTE in before["method"]
            assert {r["source"] for r in before["rows"]} == {SOURCE_ATTRIBUTION}
            _hand_made_fit(api_store, [("tv", 40000.0, 30000.0, 10000.0, 60000.0),
                                       ("paid_search", 10000.0, 80000.0, 60000.0, 100000.0)])
            after = client.get("/api/roi/unified", params={"model": "linear"}, headers=headers).json()
            assert after["fitted"] is True and after["outcome"] == "pipeline"
            rows = {r["channel"]: r for r in after["rows"]}
            assert rows["tv"]["source"] == SOURCE_MMM
            assert (rows["tv"]["value"], rows["tv"]["value_low"], rows["tv"]["value_high"]) == (30000.0, 10000.0, 60000.0)
            cur = app.state.con.cursor()  # the server holds the store: read it through its connection
            want = unified_roi(cur, "linear", api_store).set_index("channel")
            cur.close()
            for ch, r in rows.items():
                assert r["source"] == want.loc[ch, "source"]
                assert r["value"] == pytest.approx(want.loc[ch, "return"])
            assert client.get("/api/roi/unified").status_code == 401
    finally:
        close_app(app)


def test_a_model_without_a_run_is_one_clear_error_not_a_crash(api_store):
    """With a saved fit, asking the unified table of a model that has no attribution run says so in
    one line (CLI exit 1), naming the fit's basis."""
    from revline.reports.tables import ReportError
    from revline.reports.unified import unified_roi
    from revline.store import connect

    _hand_made_fit(api_store, [("paid_search", 10000.0, 80000.0, 60000.0, 100000.0)])
    con = connect(api_store, read_only=True)
    try:
        with pytest.raises(ReportError, match="fitted on new_business pipeline"):
            unified_roi(con, "shapley")
    finally:
        con.close()
    res = subprocess.run([sys.executable, "-m", "revline", "report", "--roi", "-m", "shapley", "--db", str(api_store)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "fitted on new_business pipeline" in res.stdout + res.stderr
    assert "Traceback" not in res.stderr
