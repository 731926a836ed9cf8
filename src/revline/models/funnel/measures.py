"""What a funnel measures over its units: stage counts and conversion, time in stage, win rate and
leakage, each per split key. Pure functions of `Units` (no I/O), so the property tests can feed
them random units.

Definitions (docs/funnel.md has them with examples):
- count: units that reached a stage or a later one (cumulative, so never above the previous
  stage); recorded: units with a date for that stage; conversion_to_next: count of the next
  stage / count of this one, with its Wilson 95 % interval.
- time in stage: days from entering a stage to entering the next stage the unit recorded (or
  leaving lost). A later date on the same calendar day counts as 0 days (a close date without
  a time reads as midnight); a later date on an earlier day is an out-of-order record, left out
  and counted, never a negative duration.
- win rate: won / closed (won + lost) among units that reached `opportunity`; open ones excluded.
- leakage: a unit stalls in its furthest stage when it is open and has been there longer than
  the p90 of that stage's time in stage (over every unit of the funnel, as of `as_of`); it dies
  there when it left lost from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from revline.journeys.stats import quantiles, ratio, wilson
from revline.models.funnel.units import Units

DAY = pd.Timedelta(days=1)
TOTAL = "all"


def time_in_stage(u: Units) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Days each unit spent in each stage it recorded (NaN where unmeasured) and where a record
    was out of order (left out)."""
    days = pd.DataFrame(np.nan, index=u.dates.index, columns=list(u.stages))
    bad = pd.DataFrame(False, index=u.dates.index, columns=list(u.stages))
    nxt = pd.to_datetime(u.lost_at)
    for stage in reversed(u.stages):
        t = pd.to_datetime(u.dates[stage])
        delta = nxt - t
        same_day = (delta < pd.Timedelta(0)) & (nxt.dt.normalize() == t.dt.normalize())
        negative = (delta < pd.Timedelta(0)) & ~same_day
        d = (delta / DAY).where(~negative).mask(same_day, 0.0)
        days[stage] = d.astype(float)
        bad[stage] = negative.to_numpy()
        nxt = t.where(t.notna(), nxt)
    return days, bad


def reached(u: Units) -> pd.DataFrame:
    """Boolean frame: the unit reached the stage or a later one."""
    has = u.dates.notna().to_numpy()
    cum = np.flip(np.logical_or.accumulate(np.flip(has, axis=1), axis=1), axis=1) if has.size else has
    return pd.DataFrame(cum, index=u.dates.index, columns=list(u.stages))


def _groups(u: Units, by: str | None) -> list[tuple[str, pd.Index]]:
    """(key, unit ids) per split value, the total first when there is a split."""
    out = [(TOTAL, u.dates.index)]
    if by:
        col = u.splits[by].astype(str)
        out += [(str(k), idx) for k, idx in sorted(col.groupby(col).groups.items(), key=lambda kv: str(kv[0]))]
    return out


def stage_table(u: Units, by: str | None = None) -> pd.DataFrame:
    """Per split key and stage: count, recorded, conversion to the next with its interval, and the
    time in stage (n, p25, median, p75, out of order)."""
    r = reached(u)
    days, bad = time_in_stage(u)
    rows = []
    for key, idx in _groups(u, by):
        counts = r.loc[idx].sum(axis=0).to_numpy(dtype=int)
        recorded = u.dates.loc[idx].notna().sum(axis=0).to_numpy(dtype=int)
        nxt = np.append(counts[1:], 0)
        conv = ratio(nxt, counts)
        lo, hi = wilson(nxt, counts)
        out_of_order = bad.loc[idx].sum(axis=0)
        for i, stage in enumerate(u.stages):
            last = i + 1 == len(u.stages)
            q = quantiles(days.loc[idx, stage])
            rows.append({
                "key": key, "stage": stage, "count": int(counts[i]), "recorded": int(recorded[i]),
                "conversion_to_next": np.nan if last else conv[i],
                "conversion_low": np.nan if last else lo[i], "conversion_high": np.nan if last else hi[i],
                "days_n": q["n"], "days_p25": q["p25"], "days_median": q["median"], "days_p75": q["p75"],
                "days_p90": q["p90"], "out_of_order": int(out_of_order[stage]),
            })
    return pd.DataFrame(rows)


def _outcomes(u: Units) -> pd.DataFrame:
    """Won / lost / open per unit among those that reached the opportunity stage."""
    r = reached(u)
    deal = r["opportunity"] if "opportunity" in r else pd.Series(True, index=r.index)
    won = u.dates["won"].notna() if "won" in u.dates else pd.Series(False, index=r.index)
    lost = u.lost_at.notna() & ~won
    return pd.DataFrame({"deal": deal, "won": won & deal, "lost": lost & deal, "open": deal & ~won & ~lost})


def win_rate(u: Units, by: str | None = None) -> pd.DataFrame:
    """Per split key: deals won, lost, closed and open, and win rate = won / closed with its
    Wilson 95 % interval."""
    o = _outcomes(u)
    rows = []
    for key, idx in _groups(u, by):
        g = o.loc[idx]
        won, lost, open_ = int(g["won"].sum()), int(g["lost"].sum()), int(g["open"].sum())
        lo, hi = wilson([won], [won + lost])
        rows.append({"key": key, "deals": int(g["deal"].sum()), "won": won, "lost": lost, "closed": won + lost,
                     "open": open_, "win_rate": float(ratio([won], [won + lost])[0]),
                     "win_rate_low": float(lo[0]), "win_rate_high": float(hi[0]),
                     "won_amount_usd": float(u.amount_usd.loc[idx][g["won"]].sum())})
    return pd.DataFrame(rows)


def current_stage(u: Units) -> pd.Series:
    """The furthest stage each unit recorded (None when it recorded none)."""
    has = u.dates.notna().to_numpy()
    if not has.size:
        return pd.Series([], index=u.dates.index, dtype=object)
    last = has.shape[1] - 1 - np.argmax(np.flip(has, axis=1), axis=1)
    names = np.array(u.stages, dtype=object)[last]
    return pd.Series(np.where(has.any(axis=1), names, None), index=u.dates.index, dtype=object)


def default_as_of(u: Units) -> pd.Timestamp:
    """The latest date the units hold: "now" for data that ends in the past (a demo, an export)."""
    values = [u.dates.max(axis=None), u.lost_at.max()]
    values = [v for v in values if pd.notna(v)]
    return pd.Timestamp(max(pd.Timestamp(v) for v in values)) if values else pd.Timestamp.now().floor("s")


def leakage(u: Units, by: str | None = None, as_of=None) -> pd.DataFrame:
    """Per split key and stage (the final stage excluded): units that reached it, are open in it,
    stalled in it (open longer than the stage's p90 time in stage) and died in it (left lost
    from it), with the shares and the open amount (USD) that stalls."""
    when = pd.Timestamp(as_of) if as_of is not None else default_as_of(u)
    days, _ = time_in_stage(u)
    p90 = {s: quantiles(days[s])["p90"] for s in u.stages}
    cur = current_stage(u)
    won = u.dates["won"].notna() if "won" in u.dates else pd.Series(False, index=cur.index)
    lost = u.lost_at.notna() & ~won
    open_ = ~won & ~lost & cur.notna()
    entered_cur = pd.Series(pd.NaT, index=cur.index, dtype="datetime64[ns]")
    for s in u.stages:
        entered_cur = entered_cur.mask(cur == s, pd.to_datetime(u.dates[s]).astype("datetime64[ns]"))
    age = (when - entered_cur) / DAY
    limit = cur.map(p90).astype(float)
    stalled = open_ & (age > limit)
    r = reached(u)
    amount = u.amount_usd.fillna(0.0)
    rows = []
    for key, idx in _groups(u, by):
        for stage in u.stages[:-1]:
            here = cur.loc[idx] == stage
            n_reached = int(r.loc[idx, stage].sum())
            n_open = int((here & open_.loc[idx]).sum())
            n_stalled = int((here & stalled.loc[idx]).sum())
            n_died = int((here & lost.loc[idx]).sum())
            rows.append({
                "key": key, "stage": stage, "reached": n_reached, "open": n_open, "stalled": n_stalled,
                "stalled_share": float(ratio([n_stalled], [n_open])[0]), "died": n_died,
                "died_share": float(ratio([n_died], [n_reached])[0]), "p90_days": p90[stage],
                "stalled_amount_usd": float(amount.loc[idx][here & stalled.loc[idx]].sum()),
            })
    out = pd.DataFrame(rows)
    out.attrs["as_of"] = when.isoformat()
    return out
