"""One ROI per channel: touch-level attribution and the mix model reconciled into one table.

Why: attribution credits only what a person touched, so a channel bought without per-person
touches (TV, radio, out-of-home) shows -100 % ROI; the mix model sees every channel through weekly
spend and outcome, but its estimate of one channel can be too uncertain to act on. Each row of the
unified table takes its figure from the source that can see the channel:

* no per-person touches (spend, no touchpoint in the store) -> the mix model's incremental
  contribution and its 94 % interval (source "mix model");
* touches, and the mix model is confident about the channel -> the attributed credit scaled so the
  channel total equals the mix model's contribution (source "attribution calibrated by mix model");
  the scale factor is one number per channel, so the journey-level split inside the channel (which
  campaign, which deal) keeps its proportions. Confident means: the 94 % interval excludes 0 and is
  not wider than `max_relative_width` x its mean (default 1.0, the bar `diagnostics.identification`
  uses for "identified");
* otherwise -> the attributed credit as it is (source "attribution"); credit counts touches and has
  no interval of its own, so the row carries the mix model's estimate and 94 % interval beside it
  (`mmm`, `mmm_low`, `mmm_high`) as the range the weekly data allow.

Without a saved fit every row is the attribution figure and the table says how to get one. The fit
is read from what `revline mmm fit` saves (`contributions.csv`, `spec.json`): no JAX needed here.
Units: the fit's outcome (pipeline or revenue) and revenue type; `per_dollar` = return / spend and
`roi` = (return - spend) / spend, with the interval's ends carried through the same formulas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SOURCE_MMM = "mix model"
SOURCE_CALIBRATED = "attribution calibrated by mix model"
SOURCE_ATTRIBUTION = "attribution"
NO_FIT_NOTE = "no mix model fitted: run `revline mmm fit`"
MAX_RELATIVE_WIDTH = 1.0
OUTCOMES = ("revenue", "pipeline")  # the saved fit looked for first, then the next

UNIFIED_COLUMNS = [
    "channel", "spend", "source", "return", "return_low", "return_high", "per_dollar", "per_dollar_low",
    "per_dollar_high", "roi", "roi_low", "roi_high", "attributed", "mmm", "mmm_low", "mmm_high", "scale", "note",
]


def mmm_is_confident(mean: float, low: float, high: float, max_relative_width: float = MAX_RELATIVE_WIDTH) -> bool:
    """The calibration rule's test: interval excludes 0 and (high - low) <= max_relative_width x mean."""
    if not all(np.isfinite([mean, low, high])) or mean <= 0:
        return False
    return bool(low > 0 and (high - low) <= max_relative_width * mean)


def calibrate(
    attribution: pd.DataFrame,
    mmm: pd.DataFrame | None,
    touched: set[str],
    max_relative_width: float = MAX_RELATIVE_WIDTH,
) -> pd.DataFrame:
    """The unified table from hand-able frames (pure).

    attribution: channel, spend, attributed (credit in the fit's outcome units; channels without
    credit may be missing). mmm: channel, contribution, contribution_low, contribution_high (or None:
    no fit). touched: channels with per-person touches. Returns `UNIFIED_COLUMNS`, one row per
    channel of either side; '(unattributed)' and other spend-less rows keep their attributed figure.
    """
    att = attribution.set_index("channel")
    m = mmm.set_index("channel") if mmm is not None and len(mmm) else None
    channels = list(att.index) + ([c for c in m.index if c not in att.index] if m is not None else [])
    rows = []
    for ch in channels:
        spend = float(att["spend"].get(ch, np.nan)) if ch in att.index else np.nan
        if (not np.isfinite(spend) or spend == 0) and m is not None and ch in m.index and "spend" in m.columns:
            spend = float(m.at[ch, "spend"])
        attributed = float(att["attributed"].get(ch, 0.0)) if ch in att.index else 0.0
        has_mmm = m is not None and ch in m.index
        mean, low, high = np.nan, np.nan, np.nan
        if m is not None and has_mmm:
            mean, low, high = (float(m.at[ch, c]) for c in ("contribution", "contribution_low", "contribution_high"))
        scale = np.nan
        if has_mmm and ch not in touched:
            source, ret, lo, hi = SOURCE_MMM, mean, low, high
            note = "no per-person touches: the mix model's incremental estimate"
        elif has_mmm and mmm_is_confident(mean, low, high, max_relative_width):
            source, ret, lo, hi = SOURCE_CALIBRATED, mean, low, high
            scale = mean / attributed if attributed > 0 else np.nan
            note = (f"attributed {attributed:,.0f} scaled x{scale:.2f} to the mix model's total" if attributed > 0
                    else "no attributed credit to scale: the mix model's estimate")
        elif has_mmm:
            source, ret, lo, hi = SOURCE_ATTRIBUTION, attributed, np.nan, np.nan
            note = (f"mix model not confident (94% interval {low:,.0f} to {high:,.0f}): attributed figure kept "
                    "(credit counts touches, it has no interval of its own)")
        else:
            source, ret, lo, hi = SOURCE_ATTRIBUTION, attributed, np.nan, np.nan
            if m is None:
                note = NO_FIT_NOTE
            elif ch not in touched and spend > 0:
                note = "not in the mix model and no per-person touches: attribution cannot see this channel"
            else:
                note = "not in the mix model: attributed figure, no interval"
        paid = spend if np.isfinite(spend) and spend > 0 else np.nan
        rows.append({
            "channel": ch, "spend": spend, "source": source, "return": ret, "return_low": lo, "return_high": hi,
            "per_dollar": ret / paid, "per_dollar_low": lo / paid, "per_dollar_high": hi / paid,
            "roi": (ret - paid) / paid, "roi_low": (lo - paid) / paid, "roi_high": (hi - paid) / paid,
            "attributed": attributed, "mmm": mean, "mmm_low": low, "mmm_high": high, "scale": scale, "note": note,
        })
    out = pd.DataFrame(rows, columns=UNIFIED_COLUMNS)
    return out.sort_values(["spend", "return"], ascending=False, na_position="last").reset_index(drop=True)


def mmm_dir(store_path: str | Path, outcome: str) -> Path:
    """Where `revline mmm fit` saves a store's fit (commands/mmm.py `_default_dir`)."""
    return Path(store_path).resolve().parent / "mmm" / outcome


def load_mmm_summary(fit_dir: str | Path) -> tuple[pd.DataFrame, dict] | None:
    """(contributions, meta) of a saved fit, or None when there is none or it predates
    contributions.csv. meta: outcome, revenue_type, method, first_week, last_week."""
    d = Path(fit_dir)
    if not (d / "contributions.csv").exists() or not (d / "spec.json").exists():
        return None
    spec = json.loads((d / "spec.json").read_text())
    roles = spec.get("roles", {})
    table = pd.read_csv(d / "contributions.csv")
    meta = {"outcome": roles.get("outcome_col"), "revenue_type": roles.get("extra", {}).get("revenue_type"),
            "method": spec.get("method"), "source": roles.get("source"), "fit_dir": str(d)}
    return table, meta


def find_fit(store_path: str | Path | None, outcome: str | None = None) -> tuple[pd.DataFrame, dict] | None:
    """The store's saved fit of `outcome` (or of revenue, else pipeline), fitted on the store."""
    if store_path is None:
        return None
    for name in ([outcome] if outcome else list(OUTCOMES)):
        found = load_mmm_summary(mmm_dir(store_path, name))
        if found is not None and found[1].get("source") == "store":
            return found
    return None


def store_path_of(con: Any) -> Path | None:
    """The file of the connection's database (None in memory): where its saved fits live."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return Path(row[0]) if row and row[0] else None


def display_table(df: pd.DataFrame) -> pd.DataFrame:
    """The unified table as a screen or report shows it: figures with their interval, source, note."""
    def span(r: pd.Series, col: str, fmt: str) -> str:
        lo, hi = r[f"{col}_low"], r[f"{col}_high"]
        mid = format(r[col], fmt) if pd.notna(r[col]) else "-"
        return mid if pd.isna(lo) or pd.isna(hi) else f"{mid} [{format(lo, fmt)}, {format(hi, fmt)}]"

    return pd.DataFrame({
        "channel": df["channel"], "spend": df["spend"].round(0), "source": df["source"],
        "return": [span(r, "return", ",.0f") for _, r in df.iterrows()],
        "per $": [span(r, "per_dollar", ".2f") for _, r in df.iterrows()],
        "attributed": df["attributed"].round(0), "mix model": [span(r, "mmm", ",.0f") for _, r in df.iterrows()],
        "note": df["note"],
    })


def touched_channels(con: Any) -> set[str]:
    """Channels with at least one per-person touchpoint in the store."""
    return {str(r[0]) for r in con.execute("SELECT DISTINCT channel FROM touchpoints WHERE channel IS NOT NULL").fetchall()}


def unified_roi(
    con: Any,
    model: str = "linear",
    store_path: str | Path | None = None,
    *,
    outcome: str | None = None,
    fit: tuple[pd.DataFrame, dict] | None = None,
    revenue_type: str | None = None,
    max_relative_width: float = MAX_RELATIVE_WIDTH,
) -> pd.DataFrame:
    """The unified ROI table of the store (see the module docstring); `attrs` carry outcome,
    revenue_type, model, fit_dir (or None) and `method` (the rule in one sentence)."""
    from revline.reports.roi import roi_table
    from revline.reports.tables import ReportError
    from revline.vocabulary import DEFAULT_REVENUE_TYPE

    fit = fit if fit is not None else find_fit(store_path if store_path is not None else store_path_of(con), outcome)
    mmm, meta = (fit[0], fit[1]) if fit is not None else (None, {})
    out_name = meta.get("outcome") or outcome or "revenue"
    # the fit's basis when there is one (the two sides must count the same deals), else the asked one
    revenue_type = meta.get("revenue_type") if fit is not None else (revenue_type or DEFAULT_REVENUE_TYPE)
    try:
        raw = roi_table(con, model, milestone="won", revenue_type=revenue_type)
    except ReportError as exc:
        if fit is None:
            raise
        raise ReportError(f"the mix model ({meta.get('fit_dir')}) was fitted on {revenue_type} {out_name}, which {model} "
                          f"attribution cannot match: {exc}") from None
    attribution = pd.DataFrame({"channel": raw["channel"], "spend": raw["spend"],
                                "attributed": raw["pipeline" if out_name == "pipeline" else "revenue"]})
    table = calibrate(attribution, mmm, touched_channels(con), max_relative_width)
    table.attrs.update({
        "outcome": out_name, "revenue_type": revenue_type, "model": model, "fit_dir": meta.get("fit_dir"),
        "method": (f"{out_name} per channel: the mix model where there are no per-person touches; {model} attribution "
                   f"scaled to the mix model's total where its 94 % interval excludes 0 and is at most "
                   f"{max_relative_width:g}x its mean; the attributed figure otherwise") if fit is not None else NO_FIT_NOTE,
    })
    return table


def channel_factors(con: Any, model: str = "linear", store_path: str | Path | None = None) -> pd.Series | None:
    """Per channel, the factor the unified table applies to `model`'s attributed credit (mix model /
    attributed for calibrated rows, 1 elsewhere), or None without a saved fit. Applied to the credit of
    another milestone (revenue when the fit is of pipeline) it keeps the channel's split and moves its
    total by the mix model's correction of the fitted outcome."""
    fit = find_fit(store_path if store_path is not None else store_path_of(con))
    if fit is None:
        return None
    from revline.reports.tables import ReportError

    try:
        table = unified_roi(con, model, fit=fit)
    except ReportError:  # no run of the model for the fit's basis: nothing to calibrate
        return None
    factor = table["scale"].where(table["source"] == SOURCE_CALIBRATED).fillna(1.0)
    return pd.Series(factor.to_numpy(), index=table["channel"].to_numpy())


__all__ = ["channel_factors", "calibrate", "display_table", "store_path_of", "find_fit", "load_mmm_summary", "mmm_is_confident", "unified_roi", "UNIFIED_COLUMNS"]
