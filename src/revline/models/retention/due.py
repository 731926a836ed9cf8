"""Renewals due in a window, as known on a date: the contract book times the churn model.

Why one function with a stable signature (`renewals_due`): the bookings forecast adds renewals
due to its open-deal and not-yet-created pipeline, and replays it as of each past quarter's
start; it needs every customer contract whose renewal falls in the quarter — also those whose
renewal opportunity is not open yet — with a probability and an interval, computed only from
what was known that morning.

Known limits (stated, not hidden): a customer from before the store's records with no renewal
or deal on record yet cannot be seen (the store has no contract table); a renewal is assumed to
renew the whole contract value (`arr_usd`: the open renewal's amount when one is open, else the
last term's value plus expansions minus contractions since). It is booked at `renewal_usd`: the
open renewal's amount as it stands, else `arr_usd` raised by the store's measured renewal price
uplift (`retention.uplift`, as the bookings forecast raises it), once per renewal ahead; expected
bookings (`expected_usd`, the outlook) are of `renewal_usd`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from revline.models.retention.contracts import Contracts, as_of_ts, build_contracts
from revline.models.retention.features import engagement
from revline.models.retention.model import DRAWS, INTERVAL, RenewalModel

COLUMNS = ["account_id", "due_date", "arr_usd", "p_renew", "p_low", "p_high", "expected_usd"]


@dataclass
class DueRenewals:
    """`frame` (COLUMNS plus renewal_no_ahead, open_renewal_id, touches_90d, renewal_usd) and the
    posterior draws of each row's renewal probability (`p_draws`, rows x draws)."""

    frame: pd.DataFrame
    p_draws: np.ndarray
    model: RenewalModel
    contracts: Contracts


def fit_model(con: duckdb.DuckDBPyConnection, contracts: Contracts, seed: int = 0) -> RenewalModel:
    """The churn model fitted on the renewals closed before `contracts.as_of`."""
    ren = contracts.renewals
    touches = engagement(con, pd.DataFrame({"account_id": ren["account_id"], "ref": ren["created_at"]}), contracts.as_of)
    return RenewalModel.fit(touches, ren["won"].to_numpy(), seed=seed)


def due_with_draws(con: duckdb.DuckDBPyConnection, as_of: date | datetime | str, start: date | datetime | str,
                   end: date | datetime | str, *, seed: int = 0, n_draws: int = DRAWS) -> DueRenewals:
    """Every renewal of an active contract due in [start, end] (dates inclusive), with posterior draws.

    A contract due before `start` (not renewed yet) and again inside the window appears for that
    later anniversary with the probability of surviving both renewals.
    """
    ts = as_of_ts(as_of)
    lo = as_of_ts(start)
    hi = as_of_ts(end) + pd.Timedelta(days=1)  # end date inclusive
    contracts = build_contracts(con, ts)
    model = fit_model(con, contracts, seed=seed)
    act = contracts.accounts[(contracts.accounts.status == "active") & contracts.accounts.due_date.notna()].reset_index(drop=True)
    # the engagement the renewal will be judged on: before the open renewal's creation, else the latest known
    ref = act["open_renewal_created"].where(act["open_renewal_created"].notna(), ts)
    touches = engagement(con, pd.DataFrame({"account_id": act["account_id"], "ref": ref}), ts)
    base = model.p_draws(touches, n_draws) if len(act) else np.zeros((0, n_draws))
    rows: list[dict] = []
    draws: list[np.ndarray] = []
    for i, a in act.iterrows():
        due = a.due_date
        k = 1
        # an open renewal's amount already is the next term's price; each further renewal adds the uplift
        priced = int(pd.notna(a.open_renewal_usd) and a.open_renewal_usd > 0)
        while due < hi:
            if due >= lo:
                rows.append({"account_id": a.account_id, "due_date": due.date(), "arr_usd": float(a.arr_usd),
                             "renewal_no_ahead": k, "open_renewal_id": a.open_renewal_id if k == 1 else None,
                             "touches_90d": float(touches[i]),
                             "renewal_usd": float(a.arr_usd) * contracts.uplift ** (k - priced)})
                draws.append(base[i] ** k)
            k += 1
            due = due + pd.DateOffset(years=1)
    p = np.vstack(draws) if draws else np.zeros((0, n_draws))
    extra = ["renewal_no_ahead", "open_renewal_id", "touches_90d", "renewal_usd"]
    frame = pd.DataFrame(rows, columns=["account_id", "due_date", "arr_usd", *extra])
    frame["p_renew"] = p.mean(axis=1)
    frame["p_low"] = np.quantile(p, INTERVAL[0], axis=1) if len(p) else []
    frame["p_high"] = np.quantile(p, INTERVAL[1], axis=1) if len(p) else []
    frame["expected_usd"] = frame["p_renew"] * frame["renewal_usd"]
    order = frame.sort_values(["due_date", "account_id"]).index.to_numpy()
    frame = frame.loc[order].reset_index(drop=True)
    return DueRenewals(frame=frame[COLUMNS + extra],
                       p_draws=p[order], model=model, contracts=contracts)


def renewals_due(con: duckdb.DuckDBPyConnection, as_of: date, start: date, end: date) -> pd.DataFrame:
    """The customer contracts whose renewal falls in [start, end], as known on `as_of`.

    Columns: account_id, due_date (date), arr_usd (the contract value to renew), p_renew (posterior
    mean renewal probability), p_low / p_high (its 10 % / 90 % posterior quantiles), expected_usd
    (p_renew x the value it is expected to book at: arr_usd raised by the measured renewal uplift,
    or the open renewal's amount). Only data known on `as_of` is used (opportunities created, and outcomes
    closed, before that day; touchpoints before it). Contracts without a renewal opportunity yet
    are included. Stable signature: the bookings forecast depends on it.
    """
    return due_with_draws(con, as_of, start, end).frame[COLUMNS].copy()


def bookings_distribution(due: DueRenewals, *, seed: int = 0, quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)) -> dict[str, float]:
    """Renewal bookings of the window as a distribution: each posterior draw of the probabilities,
    then one renewal outcome per contract (parameter and outcome uncertainty together)."""
    f = due.frame
    if f.empty:
        return {"mean": 0.0, "count_mean": 0.0, **{f"p{int(q * 100)}": 0.0 for q in quantiles},
                **{f"count_p{int(q * 100)}": 0.0 for q in quantiles}}
    rng = np.random.default_rng(seed)
    won = rng.random(due.p_draws.shape) < due.p_draws
    usd = f["renewal_usd"].to_numpy() @ won
    cnt = won.sum(axis=0)
    out = {"mean": float(f["expected_usd"].sum()), "count_mean": float(f["p_renew"].sum())}
    out.update({f"p{int(q * 100)}": float(np.quantile(usd, q)) for q in quantiles})
    out.update({f"count_p{int(q * 100)}": float(np.quantile(cnt, q)) for q in quantiles})
    return out


def outlook(con: duckdb.DuckDBPyConnection, as_of: date | datetime | str, first: date, quarters: int = 4,
            *, seed: int = 0) -> pd.DataFrame:
    """Expected renewal bookings per quarter for `quarters` quarters from `first` (a quarter's first
    day), as known on `as_of`: contracts due, their value, expected bookings with the 10 / 50 / 90 %
    of the distribution, and expected renewals. Customers won after `as_of` are not in it."""
    q0 = pd.Timestamp(first)
    ends = [q0 + pd.DateOffset(months=3 * (k + 1)) - pd.Timedelta(days=1) for k in range(quarters)]
    due = due_with_draws(con, as_of, q0.date(), ends[-1].date(), seed=seed)
    dd = pd.to_datetime(due.frame["due_date"])
    rows = []
    start = q0
    for end in ends:
        m = ((dd >= start) & (dd <= end)).to_numpy()
        part = DueRenewals(frame=due.frame[m].reset_index(drop=True), p_draws=due.p_draws[m], model=due.model,
                           contracts=due.contracts)
        b = bookings_distribution(part, seed=seed)
        rows.append({"quarter": f"{start.year}-Q{(start.month - 1) // 3 + 1}", "start": start.date(), "end": end.date(),
                     "contracts": int(m.sum()), "arr_usd": float(part.frame["arr_usd"].sum()),
                     "expected_usd": b["mean"], "p10_usd": b["p10"], "p50_usd": b["p50"], "p90_usd": b["p90"],
                     "expected_renewals": b["count_mean"]})
        start = end + pd.Timedelta(days=1)
    return pd.DataFrame(rows)


__all__ = ["COLUMNS", "DueRenewals", "bookings_distribution", "due_with_draws", "fit_model", "outlook", "renewals_due"]
