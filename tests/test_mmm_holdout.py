"""`revline mmm fit --holdout-weeks N` (issue #16 item 4): fit on all but the last N weeks, forecast
them, and score the forecast (MAPE, WAPE, 94 % interval coverage) against naive baselines, on the
synthetic world of tests/test_mmm.py (two channels with known carry-over and saturation)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numpyro")

from revline.models.mmm.data import MMMDataError  # noqa: E402
from test_mmm import SPEC, SVI, _synthetic  # noqa: E402

HELD = 13


@pytest.fixture(scope="module")
def held_out():
    """117 weeks, the last 13 held out: the training frame has test_mmm's shapes (its compiled programs are reused)."""
    from revline.models.mmm import holdout
    from revline.models.mmm.fit import fit

    full, _ = _synthetic(n=104 + HELD)
    train, test = holdout.split(full, HELD)
    f = fit(train, spec=SPEC, seed=0, **SVI)
    return f, full, test, holdout.score(f, full)


def test_split_keeps_roles_and_refuses_too_little_history():
    from revline.models.mmm import holdout
    from revline.models.mmm.data import roles_of

    full, _ = _synthetic(n=60)
    train, test = holdout.split(full, 8)
    assert len(train) == 52 and len(test) == 8 and roles_of(train) == roles_of(full)
    assert test["week"].iloc[0] > train["week"].iloc[-1]
    with pytest.raises(MMMDataError, match="keep at least"):
        holdout.split(full, 40)
    with pytest.raises(MMMDataError, match="at least 1"):
        holdout.split(full, 0)


def test_the_model_forecasts_held_out_weeks_better_than_naive(held_out):
    f, full, test, s = held_out
    assert len(f.frame) == 104 and s["weeks"] == HELD
    assert s["first_week"] == str(test["week"].iloc[0].date())
    fc = s["forecast"]
    np.testing.assert_allclose(fc["actual"], test["pipeline"])
    assert (fc["low"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["high"]).all()
    # the synthetic outcome is driven by the channels: knowing the held-out spend must beat naive forecasts
    assert set(s["baselines"]) == {"last_weeks_mean", "seasonal_naive"}
    assert s["beats_baseline"], s
    for e in s["baselines"].values():
        assert s["model"]["wape"] < e["wape"]
    assert s["model"]["mape"] < 0.15
    assert s["coverage"] >= 0.75  # 94 % intervals over 13 weeks: a few misses are chance


def test_naive_baselines_are_what_they_say(held_out):
    from revline.models.mmm.holdout import _errors

    f, full, test, s = held_out
    y = full["pipeline"].to_numpy()
    mean_last = y[104 - HELD:104].mean()
    assert s["baselines"]["last_weeks_mean"] == pytest.approx(_errors(y[104:], np.full(HELD, mean_last)))
    assert s["baselines"]["seasonal_naive"] == pytest.approx(_errors(y[104:], y[104 - 52:104 - 52 + HELD]))


def test_sentences_state_the_errors_and_warn_when_the_model_loses(held_out):
    from revline.models.mmm.holdout import sentences

    _, _, _, s = held_out
    text = " ".join(sentences(s))
    assert f"all but the last {HELD} weeks" in text and "MAPE" in text and "predictive interval" in text
    assert "warning" not in text
    worse = {**s, "model": {k: v * 100 for k, v in s["model"].items()}, "beats_baseline": False}
    assert "no better than" in " ".join(sentences(worse))


@pytest.mark.slow
def test_cli_holdout_weeks(tmp_path):
    full, _ = _synthetic(n=104 + HELD)
    csv = tmp_path / "weekly.csv"
    full.to_csv(csv, index=False)
    res = subprocess.run(
        [sys.executable, "-m", "revline", "mmm", "fit", "--csv", str(csv), "--date-col", "week", "--outcome-col",
         "pipeline", "--channels", "tv,search", "--fast", "--no-trend", "--yearly-seasonality", "1",
         "--holdout-weeks", str(HELD), "--out", str(tmp_path / "fit")],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    out = " ".join(res.stdout.split())
    assert "held-out check: fitted on all but the last 13 weeks" in out and "naive baseline" in out
    report = (tmp_path / "fit" / "holdout" / "report.md").read_text()
    assert "## Out-of-sample check" in report
    bad = subprocess.run([sys.executable, "-m", "revline", "mmm", "fit", "--csv", str(csv), "--date-col", "week",
                          "--outcome-col", "pipeline", "--channels", "tv,search", "--fast", "--holdout-weeks", "100",
                          "--out", str(tmp_path / "fit2")], capture_output=True, text=True, timeout=900)
    assert bad.returncode == 1 and "keep at least" in bad.stdout + bad.stderr and "Traceback" not in bad.stderr


def test_the_fit_report_names_what_the_spend_cannot_separate(held_out):
    """Issue #16 item 3 in the fit report: a steady channel's warning, with the experiment to run
    (the same fit, its search spend replaced by an always-on line)."""
    from dataclasses import replace

    from revline.models.mmm.report import fit_report

    f, _, _, _ = held_out
    assert "What the spend cannot separate" not in fit_report(f)
    frame = f.frame.copy()
    frame["search"] = 8_000.0 + 100.0 * np.sin(np.arange(len(frame)))
    text = fit_report(replace(f, frame=frame))
    assert "## What the spend cannot separate" in text and "search's weekly spend barely varies" in text
    assert "lift test" in text
