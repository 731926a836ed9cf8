"""Weekly modelling frames for the mix model, from the store or from a user's CSV.

Why weekly: spend and pipeline are noisy by day and the adstock kernels are written in weeks,
so both readers return one row per ISO week (Monday) with no gaps. The frame carries its
column roles in `DataFrame.attrs['mmm']` so `fit` needs no repeated arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd

ROLES_KEY = "mmm"


class MMMDataError(ValueError):
    """Bad input for the mix model; the message names file, row and field."""


@dataclass(frozen=True)
class Roles:
    """Which column of the weekly frame plays which part."""

    date_col: str
    outcome_col: str
    channel_cols: tuple[str, ...]
    control_cols: tuple[str, ...] = ()
    lag_weeks: int = 0
    source: str = "frame"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "date_col": self.date_col, "outcome_col": self.outcome_col,
            "channel_cols": list(self.channel_cols), "control_cols": list(self.control_cols),
            "lag_weeks": self.lag_weeks, "source": self.source, "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Roles":
        return cls(d["date_col"], d["outcome_col"], tuple(d["channel_cols"]), tuple(d.get("control_cols", ())),
                   int(d.get("lag_weeks", 0)), d.get("source", "frame"), dict(d.get("extra", {})))


def attach_roles(df: pd.DataFrame, roles: Roles) -> pd.DataFrame:
    """Record in `df.attrs` which column is the date, the outcome, each channel and each control."""
    df.attrs[ROLES_KEY] = roles.to_dict()
    return df


def roles_of(df: pd.DataFrame) -> Roles | None:
    """The roles `attach_roles` recorded on `df`, or None."""
    d = df.attrs.get(ROLES_KEY)
    return Roles.from_dict(d) if d else None


def weekly_from_store(
    con,
    outcome: Literal["pipeline", "revenue"] = "pipeline",
    revenue_type: str | None = "new_business",
    lag_weeks: int = 0,
    channels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Weekly spend per channel (from `spend`) beside the outcome (from `opportunities`).

    pipeline = amount of opportunities created that week; revenue = amount won, by close week.
    The week range is the spend history (first to last spend week), zero-filled, because the
    model explains the outcome by spend and has nothing to say outside that window.
    `lag_weeks` is recorded (not applied): the model shifts its adstock kernel instead, so the
    spend columns stay the money actually spent each week and ROI stays honest.
    """
    if outcome not in ("pipeline", "revenue"):
        raise MMMDataError(f"outcome must be 'pipeline' or 'revenue', got {outcome!r}")
    if lag_weeks < 0:
        raise MMMDataError(f"lag_weeks must be >= 0, got {lag_weeks}")
    spend = con.execute(
        """SELECT CAST(date_trunc('week', date) AS DATE) AS week, channel, SUM(CAST(spend AS DOUBLE)) AS spend
           FROM spend GROUP BY 1, 2 ORDER BY 1, 2"""
    ).df()
    if spend.empty:
        raise MMMDataError("store table 'spend' is empty: load an ad-spend file first (revline ingest)")
    ts, where = ("created_at", "TRUE") if outcome == "pipeline" else ("closed_at", "is_won")
    params: list = []
    rt = ""
    if revenue_type:
        rt = " AND revenue_type = ?"
        params.append(revenue_type)
    out = con.execute(
        f"""SELECT CAST(date_trunc('week', {ts}) AS DATE) AS week, SUM(CAST(amount AS DOUBLE)) AS y
            FROM opportunities WHERE {ts} IS NOT NULL AND amount IS NOT NULL AND {where}{rt}
            GROUP BY 1 ORDER BY 1""",  # noqa: S608 - column and filter chosen from two fixed pairs; revenue_type is bound
        params,
    ).df()
    wide = spend.pivot_table(index="week", columns="channel", values="spend", aggfunc="sum", fill_value=0.0)
    if channels is not None:
        missing = [c for c in channels if c not in wide.columns]
        if missing:
            raise MMMDataError(f"store table 'spend': no rows for channel(s) {missing}; have {list(wide.columns)}")
        wide = wide[list(channels)]
    wide.index = pd.to_datetime(wide.index)
    weeks = pd.date_range(wide.index.min(), wide.index.max(), freq="W-MON")
    wide = wide.reindex(weeks, fill_value=0.0)
    y = out.assign(week=pd.to_datetime(out["week"])).set_index("week")["y"].reindex(weeks, fill_value=0.0)
    frame = pd.DataFrame({"week": weeks})
    for c in wide.columns:
        frame[str(c)] = wide[c].to_numpy(dtype=float)
    frame[outcome] = y.to_numpy(dtype=float)
    roles = Roles("week", outcome, tuple(str(c) for c in wide.columns), (), int(lag_weeks), "store",
                  {"revenue_type": revenue_type})
    return attach_roles(frame, roles)


def _numeric(df: pd.DataFrame, col: str, source: str, *, nonneg: bool) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() & df[col].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise MMMDataError(f"{source}: row {i + 1}, field {col!r}: not a number: {df[col].iloc[i]!r}")
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise MMMDataError(f"{source}: row {i + 1}, field {col!r}: missing value")
    if nonneg and (values < 0).any():
        i = int(np.flatnonzero((values < 0).to_numpy())[0])
        raise MMMDataError(f"{source}: row {i + 1}, field {col!r}: negative spend {values.iloc[i]}")
    return values.to_numpy(dtype=float)


def validate_frame(df: pd.DataFrame, roles: Roles, source: str = "frame") -> pd.DataFrame:
    """Check columns, numbers, dates (unique, regular weekly steps) and return a clean copy
    sorted by date. Row numbers in errors are 1-based data rows of the input."""
    need = [roles.date_col, roles.outcome_col, *roles.channel_cols, *roles.control_cols]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise MMMDataError(f"{source}: missing column(s) {missing}; columns are {list(df.columns)}")
    if not roles.channel_cols:
        raise MMMDataError(f"{source}: at least one channel column is needed")
    if len(df) < 10:
        raise MMMDataError(f"{source}: only {len(df)} rows; a mix model needs a history of many weeks")
    dates = pd.to_datetime(df[roles.date_col], errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise MMMDataError(f"{source}: row {i + 1}, field {roles.date_col!r}: not a date: {df[roles.date_col].iloc[i]!r}")
    dup = dates.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise MMMDataError(f"{source}: row {i + 1}, field {roles.date_col!r}: duplicate date {dates.iloc[i].date()}")
    out = pd.DataFrame({roles.date_col: dates})
    out[roles.outcome_col] = _numeric(df, roles.outcome_col, source, nonneg=False)
    for c in roles.channel_cols:
        out[c] = _numeric(df, c, source, nonneg=True)
    for c in roles.control_cols:
        out[c] = _numeric(df, c, source, nonneg=False)
    out["_row"] = np.arange(1, len(df) + 1)
    out = out.sort_values(roles.date_col).reset_index(drop=True)
    steps = out[roles.date_col].diff().dropna().dt.days
    if len(steps) and (steps != 7).any():
        i = int(np.flatnonzero((steps != 7).to_numpy())[0]) + 1
        raise MMMDataError(
            f"{source}: row {int(out['_row'].iloc[i])}, field {roles.date_col!r}: dates must be consecutive weeks; "
            f"{out[roles.date_col].iloc[i - 1].date()} -> {out[roles.date_col].iloc[i].date()}"
        )
    for c in roles.channel_cols:
        if not (out[c] > 0).any():
            raise MMMDataError(f"{source}: field {c!r}: channel has no spend at all; drop it from --channels")
    out = out.drop(columns="_row")
    return attach_roles(out, roles)


def from_csv(
    path: str | Path,
    date_col: str,
    outcome_col: str,
    channel_cols: Sequence[str],
    control_cols: Sequence[str] = (),
    lag_weeks: int = 0,
) -> pd.DataFrame:
    """Read a user's weekly CSV (one row per week) and validate it."""
    path = Path(path)
    if not path.exists():
        raise MMMDataError(f"{path}: file not found")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    roles = Roles(date_col, outcome_col, tuple(channel_cols), tuple(control_cols), int(lag_weeks), str(path))
    return validate_frame(raw, roles, source=str(path))


def linear_time_controls(df: pd.DataFrame) -> list[str]:
    """Control columns that are a straight line in time (a week index such as PyMC-Marketing's
    `t`). With the model's own linear trend they are the same regressor twice: the posterior is
    a flat ridge and NUTS runs to its maximum tree depth (a 5 s fit took 30 s)."""
    roles = roles_of(df)
    if roles is None:
        return []
    steps = np.arange(len(df), dtype=float)
    out = []
    for col in roles.control_cols:
        x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if len(x) > 2 and np.isfinite(x).all() and np.ptp(x) > 0 and abs(np.corrcoef(x, steps)[0, 1]) > 1 - 1e-9:
            out.append(col)
    return out


def weeks_in_window(weeks: Sequence | pd.Series | pd.DatetimeIndex, start, end) -> np.ndarray:
    """Which weekly rows a lift test's window [start, end] covers, as a boolean array.

    A row is dated by its week's Monday and covers that Monday to the Sunday after; it belongs
    to the window when any of its seven days does, i.e. when its Monday lies in
    [start - 6 days, end]. One rule for the likelihood's window mask, the check that a test
    overlaps the fitted weeks, and the simulated tests' true lift (which must sum the same weeks).
    """
    dates = pd.DatetimeIndex(pd.to_datetime(weeks))
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    return np.asarray((dates >= start - pd.Timedelta(days=6)) & (dates <= end), dtype=bool)
