"""The bookings forecast: a distribution per quarter and revenue type, simulated by Monte Carlo.

Three parts, each known at `as_of` only (data.load cuts the store):
  (a) open deals: P(won inside the quarter) from the landmark Aalen-Johansen estimate of their
      revenue type, stage, age and time in stage (survival.py); each deal a categorical draw
      (won this quarter / won next quarter / neither) times its amount;
  (b) deals not created yet: the creation rate of the last `trailing_days` days per revenue type,
      scaled by last year's seasonal ratio for the same calendar window when a year of history
      exists (shrunk toward 1), times P(a new deal is won by the quarter's end) from the age-0
      landmarks; the rate's own uncertainty is a shared Gamma factor (CV^2 = 1/n + extra_cv2),
      counts are Poisson, amounts are resampled from the type's recent won deals;
  (c) renewals due without an opportunity yet (revline.models.retention.renewals_due): each one
      renewed with its probability, the probability itself drawn with a shared shift inside its
      interval. Without the retention model, renewals not created yet come from (b) like the others.
Closed-won before `as_of` in the quarter is added as it is. The sum per simulation gives the mean
and the 10/50/90 % quantiles: the interval covers the deals' own luck and the rate's uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from revline.models.forecast import survival
from revline.models.forecast.data import FORECAST_TYPES, Snapshot, cutoff, days_between, open_deals, won_between
from revline.models.forecast.quarters import Quarter, quarter_of
from revline.models.retention.uplift import renewal_uplift as retention_uplift

TOTAL = "total"
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class ForecastConfig:
    """The forecast's few knobs; defaults are structural choices, not fitted to a company."""

    n_sims: int = 4000
    n_boot: int = 20  # bootstrap re-estimates of the open deals' win probabilities
    seed: int = 0
    landmark_step_days: float = 7.0
    bandwidth: float = 0.35  # kernel width in log days (age and time in stage)
    half_life_days: float | None = 180.0  # recency weight of history (win rates drift); None: all alike
    trailing_days: int = 91  # creation rate window
    season_shrink: float = 0.5  # exponent on last year's seasonal ratio (0: none, 1: full)
    season_min_count: int = 20  # deals needed in last year's windows to read a seasonal ratio
    season_max: float = 1.5  # a seasonal ratio beyond 1.5x (or below 1/1.5) is clipped: two years show no more
    drift_sd: float = 0.05  # shared lognormal factor per revenue type: the process drifting from its history
    extra_cv2: float = 0.02  # creation-rate variance beyond Poisson sampling (quarter-to-quarter drift)
    amount_window_days: int = 365


@dataclass
class Forecast:
    """One forecast: `table` (a row per quarter and revenue type, plus 'total') and the simulated
    totals `samples[(quarter, revenue_type)]` the backtest and the interval checks read."""

    as_of: date
    quarters: list[Quarter]
    table: pd.DataFrame
    samples: dict[tuple[str, str], np.ndarray] = field(repr=False, default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_quarters(as_of: date) -> list[Quarter]:
    """The quarter `as_of` falls in and the next one."""
    q = quarter_of(as_of)
    return [q, q.next()]


def forecast_snapshot(snap: Snapshot, quarters: list[Quarter] | None = None,
                      renewals: pd.DataFrame | None = None, config: ForecastConfig = ForecastConfig()) -> Forecast:
    """The forecast from a cut store (pure: tables in, tables out). `renewals` is retention's
    renewals_due frame over the quarters (None: renewals not created yet come from the creation rate)."""
    quarters = quarters or default_quarters(snap.as_of)
    rng = np.random.default_rng(config.seed)
    S = config.n_sims
    lm = survival.landmarks(snap, config.landmark_step_days, config.half_life_days)
    boot = survival.bootstrap_weights(lm, config.n_boot, rng)
    cut = pd.Timestamp(cutoff(snap.as_of))
    # horizons (days from the cut) bounding each quarter's part after the cut
    bounds = [(max(0.0, _days(q.start, cut)), max(0.0, _days(q.end + timedelta(days=1), cut))) for q in quarters]
    opened = open_deals(snap)
    notes: list[str] = []
    if snap.undated_closed:
        notes.append(f"{snap.undated_closed} closed opportunities have no close date and are left out")
    renewals = _without_open_renewals(renewals, opened)
    book = contract_book_from(snap)
    # per quarter: renewals not created yet from the contract book when it is complete, else from the rate
    from_book = [renewals is not None and book is not None and q.start >= book for q in quarters]
    if renewals is None:
        notes.append("renewals not created yet come from the renewal creation rate (no retention model)")
    elif not all(from_book):
        notes.append(f"the contract book is complete from {book} (one term after the first record): renewals not "
                     f"created yet before it come from the renewal creation rate")
    uplift = renewal_uplift(snap) if renewals is not None else 1.0
    if renewals is not None and uplift != 1.0:
        renewals = renewals.assign(arr_usd=renewals["arr_usd"] * uplift)
        notes.append(f"contracts due renew at {uplift:.3f}x their value (the store's renewals of the last year)")
    rows, samples = [], {}
    totals = {str(q): np.zeros(S) for q in quarters}
    for rt in FORECAST_TYPES:
        won = [float(won_between(snap, q.start, q.end)[rt]) for q in quarters]
        part_open = _open_part(opened[opened["revenue_type"] == rt], lm, rt, bounds, cut, rng, S, config, boot)
        part_new = _new_part(snap, lm, rt, quarters, bounds, cut, rng, S, config)
        part_ren = np.zeros((len(quarters), S))
        if rt == "renewal":
            part_ren = _renewal_part(renewals, quarters, snap.as_of, rng, S)
            use = np.array(from_book)
            part_new[use] = 0.0
            part_ren[~use] = 0.0
        # drift: the quarter's win and creation rates differ from history's; one shared factor per type
        drift = np.exp(config.drift_sd * rng.standard_normal(S) - config.drift_sd ** 2 / 2)
        for k, q in enumerate(quarters):
            sims = won[k] + (part_open[k] + part_new[k] + part_ren[k]) * drift
            samples[(str(q), rt)] = sims
            totals[str(q)] += sims
            rows.append(_row(q, rt, sims, won[k], part_open[k], part_new[k], part_ren[k]))
    for k, q in enumerate(quarters):
        won_total = sum(r["won_to_date"] for r in rows if r["quarter"] == str(q))
        comp = {c: sum(r[c] for r in rows if r["quarter"] == str(q)) for c in ("open_deals", "new_pipeline", "renewals_due")}
        samples[(str(q), TOTAL)] = totals[str(q)]
        rows.append({**_row(q, TOTAL, totals[str(q)], won_total, 0, 0, 0), **comp})
    table = pd.DataFrame(rows)
    return Forecast(as_of=snap.as_of, quarters=quarters, table=table, samples=samples, notes=notes)


def _days(d: date, cut: pd.Timestamp) -> float:
    return float((pd.Timestamp(d) - cut) / pd.Timedelta(days=1))


def _row(q: Quarter, rt: str, sims: np.ndarray, won: float, po: Any, pn: Any, pr: Any) -> dict[str, Any]:
    p10, p50, p90 = np.quantile(sims, QUANTILES)
    return {"quarter": str(q), "quarter_start": q.start, "quarter_end": q.end, "revenue_type": rt,
            "won_to_date": won, "open_deals": float(np.mean(po)), "new_pipeline": float(np.mean(pn)),
            "renewals_due": float(np.mean(pr)), "mean": float(np.mean(sims)), "p10": float(p10),
            "p50": float(p50), "p90": float(p90)}


def open_deal_probabilities(opened: pd.DataFrame, lm: survival.Landmarks, rt: str,
                            bounds: list[tuple[float, float]], cut: pd.Timestamp, config: ForecastConfig,
                            boot: np.ndarray | None = None) -> np.ndarray:
    """P(won inside each quarter window) per open deal of type `rt`: (n_deals, n_quarters), or
    (B, n_deals, n_quarters) with bootstrap weights `boot`."""
    B = 1 if boot is None else boot.shape[0]
    if opened.empty:
        z = np.zeros((B, 0, len(bounds)))
        return z if boot is not None else z[0]
    age = np.asarray(days_between(cut, opened["created_at"]), dtype=float)
    tis = np.maximum(np.asarray(days_between(cut, opened["stage_since"]), dtype=float), 0.0)
    edges = np.array(sorted({b for pair in bounds for b in pair}))
    cif = survival.win_within(lm, rt, opened["stage"].to_numpy(), age, tis, edges, config.bandwidth, boot=boot)
    cif = cif if boot is not None else cif[None]
    at = {e: i for i, e in enumerate(edges)}
    p = np.stack([np.clip(cif[..., at[b]] - (cif[..., at[a]] if a > 0 else 0.0), 0.0, 1.0) for a, b in bounds], axis=-1)
    return p if boot is not None else p[0]


def _open_part(opened: pd.DataFrame, lm: survival.Landmarks, rt: str, bounds: list[tuple[float, float]],
               cut: pd.Timestamp, rng: np.random.Generator, S: int, config: ForecastConfig,
               boot: np.ndarray) -> np.ndarray:
    """Bookings from deals open at the cut: simulation s uses bootstrap re-estimate s mod B of the
    deals' probabilities (estimate uncertainty), then one categorical outcome per deal (luck)."""
    out = np.zeros((len(bounds), S))
    p = open_deal_probabilities(opened, lm, rt, bounds, cut, config, boot)
    if p.shape[1] == 0:
        return out
    amount = opened["amount_usd"].to_numpy(dtype=float)
    cum = np.cumsum(p, axis=2)  # categorical: won in quarter k when cum[k-1] <= u < cum[k]
    B = p.shape[0]
    for b in range(B):
        sims = np.arange(b, S, B)
        u = rng.random((len(sims), len(amount)))
        prev = np.zeros_like(u, dtype=bool)
        for k in range(len(bounds)):
            hit = u < cum[b, :, k]
            out[k, sims] = (hit & ~prev) @ amount
            prev = hit
    return out


def creation_rate(snap: Snapshot, rt: str, windows: list[tuple[pd.Timestamp, pd.Timestamp]],
                  config: ForecastConfig) -> tuple[np.ndarray, int]:
    """Deals of type `rt` created per day in each future window: the trailing rate times last
    year's ratio (same window vs the trailing window a year earlier) ** season_shrink, when the
    store reaches back that far. Also returns the trailing count (the rate's sampling size)."""
    d = snap.deals
    created = d.loc[d["revenue_type"] == rt, "created_at"]
    cut = pd.Timestamp(cutoff(snap.as_of))
    span = pd.Timedelta(days=config.trailing_days)
    n = int(((created >= cut - span) & (created < cut)).sum())
    rate = n / config.trailing_days
    first = d["created_at"].min() if len(d) else cut
    year = pd.Timedelta(days=364)  # 52 weeks: keeps weekdays aligned
    out = np.full(len(windows), rate)
    if len(d) and first <= cut - year - span:
        base_n = int(((created >= cut - year - span) & (created < cut - year)).sum())
        for k, (a, b) in enumerate(windows):
            days = (b - a) / pd.Timedelta(days=1)
            ly_n = int(((created >= a - year) & (created < b - year)).sum())
            if days <= 0 or min(base_n, ly_n) < config.season_min_count:
                continue  # too few deals a year ago (or a ramp-up) to read a season from
            ratio = (ly_n / days) / (base_n / config.trailing_days)
            out[k] = rate * float(np.clip(ratio, 1 / config.season_max, config.season_max)) ** config.season_shrink
    return out, n


def _new_part(snap: Snapshot, lm: survival.Landmarks, rt: str, quarters: list[Quarter],
              bounds: list[tuple[float, float]], cut: pd.Timestamp, rng: np.random.Generator, S: int,
              config: ForecastConfig) -> np.ndarray:
    """Bookings from deals created after the cut, per quarter window."""
    out = np.zeros((len(quarters), S))
    end = bounds[-1][1]
    if end <= 0:
        return out
    windows = [(cut + pd.Timedelta(days=a), cut + pd.Timedelta(days=b)) for a, b in bounds]
    rates, n = creation_rate(snap, rt, windows, config)
    if n == 0:
        return out
    pool = _amount_pool(snap, rt, config)
    if len(pool) == 0:
        return out
    # expected wins in quarter k from deals created in each week-long creation bin after the cut
    left = np.arange(0.0, end, 7.0)
    width = np.minimum(7.0, end - left)
    mids = left + width / 2
    rate_at = np.zeros(len(mids))
    for k, (a, b) in enumerate(bounds):
        rate_at[(mids >= a) & (mids < b)] = rates[k]

    def cif0(h: np.ndarray) -> np.ndarray:
        return survival.new_deal_win_within(lm, rt, np.maximum(h, 0.0))

    mu = np.array([float(np.sum(rate_at * width * (cif0(b - mids) - cif0(a - mids)))) for a, b in bounds])
    cv2 = 1.0 / n + config.extra_cv2
    g = rng.gamma(1.0 / cv2, cv2, S)  # shared rate factor, mean 1
    for k in range(len(quarters)):
        counts = rng.poisson(mu[k] * g)
        draws = rng.choice(pool, int(counts.sum()))
        out[k] = np.bincount(np.repeat(np.arange(S), counts), weights=draws, minlength=S)
    return out


def _amount_pool(snap: Snapshot, rt: str, config: ForecastConfig) -> np.ndarray:
    """Amounts (USD) to resample for deals not created yet: the type's won deals closed in the
    last `amount_window_days` (all its won deals if fewer than 10)."""
    d = snap.deals
    won = d[(d["revenue_type"] == rt) & d["is_won"]]
    recent = won[won["closed_at"] >= pd.Timestamp(cutoff(snap.as_of)) - pd.Timedelta(days=config.amount_window_days)]
    pick = recent if len(recent) >= 10 else won
    if pick.empty:
        pick = d[d["revenue_type"] == rt]
    return pick["amount_usd"].to_numpy(dtype=float)


def contract_book_from(snap: Snapshot, term_days: int = 365) -> date | None:
    """The first day the contract book can be complete: one term after the store's first deal.
    Before it, a customer from before the store's records renews unseen (retention cannot see a
    contract it has no deal of), so those quarters take renewals not created yet from the rate."""
    if snap.deals.empty:
        return None
    return (snap.deals["created_at"].min() + pd.Timedelta(days=term_days)).date()


def renewal_uplift(snap: Snapshot, window_days: int = 365, min_pairs: int = 10) -> float:
    """The store's renewal price uplift as known at the snapshot (`retention.uplift`, the measure
    the retention outlook values renewals with). Why: retention's `arr_usd` is a contract's value
    at its last term, price increases come on top."""
    return retention_uplift(snap.deals, pd.Timestamp(cutoff(snap.as_of)), window_days, min_pairs)


def _without_open_renewals(renewals: pd.DataFrame | None, opened: pd.DataFrame) -> pd.DataFrame | None:
    """Renewals due minus those already in the pipeline: an account with k renewal opportunities
    open at the cut loses its k earliest due rows (the open deals are forecast as open deals, by
    stage and age; counting the contract again would count it twice)."""
    if renewals is None or renewals.empty:
        return renewals
    open_n = opened[opened["revenue_type"] == "renewal"].groupby("account_id").size()
    r = renewals.sort_values(["account_id", "due_date"]).copy()
    rank = r.groupby("account_id").cumcount()
    keep = rank.to_numpy() >= r["account_id"].map(open_n).fillna(0).to_numpy()
    return r[keep].sort_values("due_date").reset_index(drop=True)


def _renewal_part(renewals: pd.DataFrame, quarters: list[Quarter], as_of: date, rng: np.random.Generator,
                  S: int) -> np.ndarray:
    """Renewal bookings from contracts due without an opportunity: Bernoulli(p) per contract, with
    one shared normal shift per simulation spread inside each contract's (p_low, p_high)."""
    out = np.zeros((len(quarters), S))
    if renewals is None or renewals.empty:
        return out
    due = pd.to_datetime(renewals["due_date"]).dt.date
    p = renewals["p_renew"].to_numpy(dtype=float)
    lo = renewals.get("p_low", renewals["p_renew"]).to_numpy(dtype=float)
    hi = renewals.get("p_high", renewals["p_renew"]).to_numpy(dtype=float)
    sd = np.maximum(hi - lo, 0.0) / (2 * 1.2816)  # (p_low, p_high) read as an 80 % interval
    arr = renewals["arr_usd"].to_numpy(dtype=float)
    z = rng.standard_normal(S)
    for k, q in enumerate(quarters):
        m = np.array([(x >= max(q.start, as_of)) and (x <= q.end) for x in due])
        if not m.any():
            continue
        pk = np.clip(p[m][None, :] + z[:, None] * sd[m][None, :], 0.0, 1.0)
        out[k] = (rng.random(pk.shape) < pk) @ arr[m]
    return out


__all__ = ["Forecast", "ForecastConfig", "QUANTILES", "TOTAL", "default_quarters", "forecast_snapshot",
           "open_deal_probabilities", "creation_rate"]
