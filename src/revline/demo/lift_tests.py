"""The demo company's lift tests: what its experiments measured, derived from the ground truth.

Why the simulator writes them: a real company calibrates its mix model with geo holdouts and
holdout groups, and `revline ingest` reads such a file into the store (table `lift_tests`), where
`revline mmm fit` uses it by default. The demo needs one so that path runs on the demo too, and so
the unified ROI table (reports/unified.py) has a mix model confident enough to calibrate
attribution with.

What a test measures here: the channel's incremental new-business pipeline in the test window
(what the mix model's lift likelihood compares with its channel contribution summed over the same
weeks). Its true value is the channel's counterfactual total (`truth.counterfactual_truth`: the
company re-run with the channel off, same dice; `channels.<ch>.incremental_pipeline_by_type.
new_business`) times the window's share of the channel's spend: what a well-run test measures in
expectation. Why not the weekly counterfactual differences summed over the window: at the demo's
sizes they are dominated by timing noise (with a channel off, deals are created in other weeks;
the spread of an 8-week sum is 2-4x its mean), which no experiment would report. The figure in
the file is the true value plus Gaussian noise with the test's standard error (`RELATIVE_SE` of
the true value: a test powered to see the effect), drawn from its own random stream, so every
other file of the company stays byte-identical. ground_truth.json's `lift_tests` lists each test
with its `true_lift`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

LIFT_FILE = "experiments/lift_tests.csv"
RELATIVE_SE = 0.15  # standard error as a share of the true lift


@dataclass(frozen=True)
class LiftTest:
    """One experiment of the demo company's test plan."""

    channel: str
    design: str  # geo holdout, holdout group, ...
    start: str   # a Monday
    weeks: int


# The demo company's test plan: a geo holdout of the third TV flight (its five weeks and three
# after, while the carry-over lasts), geo holdouts of paid search and display, a platform
# conversion-lift test of paid social and an email holdout group. Start dates are Mondays.
PLAN: tuple[LiftTest, ...] = (
    LiftTest("tv", "geo holdout", "2025-10-06", 8),
    LiftTest("paid_search", "geo holdout", "2025-04-07", 8),
    LiftTest("paid_social", "conversion lift", "2025-09-01", 8),
    LiftTest("display", "geo holdout", "2026-01-12", 8),
    LiftTest("email", "holdout group", "2025-06-02", 8),
)


def lift_tests(truth: dict, streams, plan: tuple[LiftTest, ...] = PLAN) -> pd.DataFrame:
    """The measured tests (channel, start, end, lift, sd, design) with their true value
    (`true_lift`, for the ground truth only); `truth` needs `channels` and `weekly` (spend)."""
    weeks = [date.fromisoformat(w) for w in truth["weekly"]["week_start"]]
    rng = streams.rng("lift_tests")
    noise = rng.standard_normal(len(plan))
    rows = []
    for test, z in zip(plan, noise.tolist()):
        start = date.fromisoformat(test.start)
        end = start + timedelta(days=7 * test.weeks - 1)
        inside = [i for i, w in enumerate(weeks) if start <= w <= end]
        spend = truth["weekly"]["spend"][test.channel]
        total = float(truth["channels"][test.channel]["incremental_pipeline_by_type"]["new_business"])
        true = total * sum(spend[i] for i in inside) / sum(spend) if sum(spend) > 0 else 0.0
        se = max(RELATIVE_SE * abs(true), 1.0)
        rows.append({"channel": test.channel, "start": start.isoformat(), "end": end.isoformat(),
                     "lift": round(true + z * se, 2), "sd": round(se, 2), "design": test.design,
                     "true_lift": round(true, 2)})
    return pd.DataFrame(rows)


def write_lift_tests(out_dir: Path, truth: dict, streams) -> tuple[dict[str, int], list[dict]]:
    """Write `LIFT_FILE` (channel, start, end, lift, sd, design); return (files, truth records)."""
    df = lift_tests(truth, streams)
    path = Path(out_dir) / LIFT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    df.drop(columns=["true_lift"]).to_csv(path, index=False, lineterminator="\n")
    return {LIFT_FILE: len(df)}, df.to_dict("records")


__all__ = ["LIFT_FILE", "PLAN", "RELATIVE_SE", "LiftTest", "lift_tests", "write_lift_tests"]
