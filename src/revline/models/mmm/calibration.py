"""Calibration: lift tests and touch-level attribution ROI as extra evidence for the mix model.

Why as likelihood terms: a geo or holdout test measures the channel's incremental outcome
inside its window, which is exactly the model's channel contribution summed over those weeks,
so `measured ~ Normal(modeled contribution in window, sd)` pulls the posterior toward the test
without pretending the test is the whole truth. Attribution ROI from tracked touches is
weaker evidence (it credits, it does not measure increments), so it enters as a soft prior on
each channel's modeled ROI with a wide default sd.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import jax.numpy as jnp
import numpy as np
import pandas as pd

from revline.models.mmm.data import MMMDataError, weeks_in_window
from revline.models.mmm.model import Calibration
from revline.models.mmm.report import contributions

LIFT_COLUMNS = ("channel", "start", "end", "lift", "sd")


def read_lift_tests(path: str | Path) -> pd.DataFrame:
    """Lift-test CSV with columns channel, start, end, lift, sd (measured incremental outcome
    of the channel over [start, end] and its standard error, in outcome units)."""
    path = Path(path)
    if not path.exists():
        raise MMMDataError(f"{path}: file not found")
    return validate_lift_tests(pd.read_csv(path, dtype=str), source=str(path))


def validate_lift_tests(df: pd.DataFrame, source: str = "lift tests", channels: Sequence[str] | None = None) -> pd.DataFrame:
    """Lift tests as channel, start, end, lift, sd (common aliases renamed); the first bad row is an
    MMMDataError naming the row and field."""
    aliases = {"measured_lift": "lift", "lift_sd": "sd", "start_date": "start", "end_date": "end"}
    df = df.rename(columns={k: v for k, v in aliases.items() if k in df.columns})
    missing = [c for c in LIFT_COLUMNS if c not in df.columns]
    if missing:
        raise MMMDataError(f"{source}: missing column(s) {missing}; need {list(LIFT_COLUMNS)}")
    out = pd.DataFrame({"channel": df["channel"].astype(str)})
    for col in ("start", "end"):
        out[col] = pd.to_datetime(df[col], errors="coerce")
    for col in ("lift", "sd"):
        out[col] = pd.to_numeric(df[col], errors="coerce")
    for i in range(len(out)):
        row = out.iloc[i]
        for col in ("start", "end", "lift", "sd"):
            if pd.isna(row[col]):
                raise MMMDataError(f"{source}: row {i + 1}, field {col!r}: missing or invalid value {df[col].iloc[i]!r}")
        if row["sd"] <= 0:
            raise MMMDataError(f"{source}: row {i + 1}, field 'sd': must be > 0, got {row['sd']}")
        if row["end"] < row["start"]:
            raise MMMDataError(f"{source}: row {i + 1}, field 'end': before start")
        if channels is not None and row["channel"] not in channels:
            raise MMMDataError(f"{source}: row {i + 1}, field 'channel': {row['channel']!r} is not a modelled channel {list(channels)}")
    return out


def store_lift_tests(con, outcome: str = "pipeline") -> pd.DataFrame:
    """The store's lift tests of `outcome` (table `lift_tests`, filled by `revline ingest`) as
    channel, start, end, lift, sd, design, by window; empty when there are none."""
    cols = ["channel", "start", "end", "lift", "sd", "design"]
    has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'lift_tests'").fetchone()[0]
    if not has:
        return pd.DataFrame(columns=cols)
    df = con.execute(
        "SELECT channel, start_date AS start, end_date AS \"end\", lift, sd, design FROM lift_tests "
        "WHERE outcome = ? ORDER BY start_date, end_date, channel", [outcome],
    ).df()
    for col in ("start", "end"):
        df[col] = pd.to_datetime(df[col])
    return df[cols]


def usable_lift_tests(lift: pd.DataFrame, dates: pd.Series, channels: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The tests a fit can use (channel modelled, window overlapping the fitted weeks, as
    `lift_arrays` counts them) and, for each one left out, a sentence saying why."""
    weeks = pd.DatetimeIndex(pd.to_datetime(dates))
    keep, why = [], []
    for row in lift.itertuples(index=False):
        window = f"{pd.Timestamp(row.start).date()}..{pd.Timestamp(row.end).date()}"
        if row.channel not in channels:
            why.append(f"lift test of {row.channel} ({window}) left out: not a modelled channel ({', '.join(channels)})")
        elif not weeks_in_window(weeks, row.start, row.end).any():
            why.append(f"lift test of {row.channel} ({window}) left out: outside the fitted weeks "
                       f"{weeks[0].date()}..{weeks[-1].date()}")
        else:
            keep.append(True)
            continue
        keep.append(False)
    return lift[np.array(keep, dtype=bool)].reset_index(drop=True), why


def lift_arrays(lift: pd.DataFrame, dates: pd.Series, channels: Sequence[str], target_scale: float,
                source: str = "lift tests") -> dict:
    """Scaled arrays for the lift likelihood; a test window must overlap the fitted weeks.

    A week belongs to a window as `data.weeks_in_window` says (any of its days inside it)."""
    lift = validate_lift_tests(lift, source, channels)
    weeks = pd.DatetimeIndex(pd.to_datetime(dates))
    mask = np.zeros((len(lift), len(weeks)), dtype=np.float32)
    for i, row in enumerate(lift.itertuples(index=False)):
        inside = weeks_in_window(weeks, row.start, row.end)
        if not inside.any():
            raise MMMDataError(f"{source}: row {i + 1}, field 'start': window {row.start.date()}..{row.end.date()} "
                               f"is outside the modelled weeks {weeks[0].date()}..{weeks[-1].date()}")
        mask[i] = inside
    return {
        "lift_channel": np.array([list(channels).index(c) for c in lift["channel"]], dtype=np.int32),
        "lift_mask": mask,
        "lift_obs": lift["lift"].to_numpy(dtype=np.float32) / target_scale,
        "lift_sd": lift["sd"].to_numpy(dtype=np.float32) / target_scale,
    }


def roi_arrays(roi: pd.DataFrame | dict, channels: Sequence[str], spend_totals: np.ndarray, target_scale: float,
               rel_sd: float = 0.5) -> dict:
    """Arrays for the ROI prior. `roi` has columns channel, roi and optionally roi_sd
    (default rel_sd * roi); channels absent from it get no term (NaN)."""
    if isinstance(roi, dict):
        roi = pd.DataFrame({"channel": list(roi), "roi": list(roi.values())})
    if "channel" not in roi.columns or "roi" not in roi.columns:
        raise MMMDataError(f"ROI priors need columns channel and roi; got {list(roi.columns)}")
    obs = np.full(len(channels), np.nan, dtype=np.float32)
    sd = np.ones(len(channels), dtype=np.float32)
    for i, row in enumerate(roi.itertuples(index=False)):
        ch = str(row.channel)
        if ch not in channels:
            continue  # attribution knows channels with no spend (organic): nothing to calibrate
        value = float(row.roi)
        if not np.isfinite(value) or value < 0:
            raise MMMDataError(f"ROI priors: row {i + 1}, field 'roi': must be a finite number >= 0, got {row.roi!r}")
        j = list(channels).index(ch)
        obs[j] = value
        s = float(getattr(row, "roi_sd", np.nan)) if hasattr(row, "roi_sd") else np.nan
        sd[j] = s if np.isfinite(s) and s > 0 else max(rel_sd * value, 1e-3)
    spend_scaled = np.where(spend_totals > 0, spend_totals / target_scale, 1.0).astype(np.float32)
    return {"roi_obs": obs, "roi_sd": sd, "roi_spend": spend_scaled}


def make_calibration(lift: dict | None, roi: dict | None) -> Calibration | None:
    """The likelihood terms of lift tests and ROI priors for the model, or None without either."""
    if lift is None and roi is None:
        return None
    fields = {**(lift or {}), **(roi or {})}
    return Calibration(**{k: jnp.asarray(v) for k, v in fields.items()})


def mmm_vs_mta(fit, mta: pd.DataFrame) -> pd.DataFrame:
    """Per channel: the mix model's contribution and ROI (with 94% HDI) beside attribution's
    credited outcome and ROI, and their ratio. Channels only one side knows keep NaN."""
    mmm = contributions(fit).set_index("channel")
    mta = mta.copy()
    mta["channel"] = mta["channel"].astype(str)
    mta = mta.set_index("channel")
    out = pd.DataFrame(index=sorted(set(mmm.index) | set(mta.index)))
    out.index.name = "channel"
    out["mmm_contribution"] = mmm["contribution"]
    out["mmm_roi"] = mmm["roi"]
    out["mmm_roi_low"] = mmm["roi_low"]
    out["mmm_roi_high"] = mmm["roi_high"]
    out["mta_roi"] = mta["roi"]
    for col in ("revenue", "pipeline", "credited", "attributed"):
        if col in mta.columns:
            out[f"mta_{col}"] = mta[col]
    out["roi_ratio_mmm_over_mta"] = out["mmm_roi"] / out["mta_roi"].replace(0, np.nan)
    out["mta_roi_in_mmm_hdi"] = (out["mta_roi"] >= out["mmm_roi_low"]) & (out["mta_roi"] <= out["mmm_roi_high"])
    return out.reset_index()
