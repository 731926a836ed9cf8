"""Recovery check against the demo simulator's truth, and the model-vs-sBG backtest.

Why against the simulator: only there is each renewal's *true* probability known
(`ground_truth.json["renewals"][*].p_true`, drawn from `renew_prob` on the account's intent).
Three checks, each replayed with only what the store held on the day (`as_of`):
1. the mean renewal rate: the posterior of the mean probability over the renewals closed so far
   against the mean of their true probabilities;
2. the intent effect: the engagement slope's posterior against the truth's (the true log-odds
   regressed on the same covariate), and how well each renewal's predicted probability tracks
   its true one (correlation; mean absolute error against the constant and the sBG baselines; log
   loss on renewals closed after the fit);
3. per-quarter renewals: as of each quarter's start, the 80 % interval of renewal bookings (and
   count) of the contracts listed due that quarter against what they really booked.
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from revline.models.retention.contracts import build_contracts
from revline.models.retention.due import bookings_distribution, due_with_draws, fit_model
from revline.models.retention.features import engagement
from revline.models.retention.model import INTERVAL, SBG, log_loss
from scipy.special import logit


def _truth_frame(truth: dict) -> pd.DataFrame:
    df = pd.DataFrame(truth["renewals"])
    df["due"] = pd.to_datetime(df["due"])
    df["created"] = pd.to_datetime(df["created"])
    return df


def quarter_starts(first: date, last: date) -> list[pd.Timestamp]:
    """Every third month's first day from `first` through `last`."""
    out, t = [], pd.Timestamp(first)
    while t <= pd.Timestamp(last):
        out.append(t)
        t = t + pd.DateOffset(months=3)
    return out


def quarterly_check(con: duckdb.DuckDBPyConnection, truth: dict, quarters: list[pd.Timestamp]) -> pd.DataFrame:
    """As of each quarter start: listed renewals due that quarter, their predicted bookings and
    count (mean, 10 %, 90 %), what those contracts really booked, and what the truth held that the
    store could not show yet (`unseen_*`: renewals of customers from before the records)."""
    tr = _truth_frame(truth)
    rows = []
    for q0 in quarters:
        q1 = q0 + pd.DateOffset(months=3) - pd.Timedelta(days=1)
        due = due_with_draws(con, q0.date(), q0.date(), q1.date())
        dist = bookings_distribution(due)
        in_q = tr[(tr.due >= q0) & (tr.due <= q1)]
        listed = set(due.frame["account_id"])
        hit = in_q[in_q.account_id.isin(listed)]
        unseen = in_q[~in_q.account_id.isin(listed)]
        arr = due.frame.groupby("account_id")["arr_usd"].first()
        won = hit[hit.won]
        rows.append({
            "quarter": f"{q0.year}-Q{(q0.month - 1) // 3 + 1}", "listed": len(due.frame), "truth_due": len(in_q),
            "unseen": len(unseen), "unseen_usd": float(unseen.loc[unseen.won, "amount_usd"].sum()),
            "pred_count": dist["count_mean"], "count_p10": dist["count_p10"], "count_p90": dist["count_p90"],
            "actual_count": len(won),
            "pred_usd": dist["mean"], "usd_p10": dist["p10"], "usd_p90": dist["p90"],
            "actual_usd": float(arr.reindex(won.account_id).sum()),  # the listed value of what renewed
            "true_expected_count": float(hit["p_true"].sum()),
        })
    out = pd.DataFrame(rows)
    out["count_in_80"] = (out.actual_count >= out.count_p10) & (out.actual_count <= out.count_p90)
    out["usd_in_80"] = (out.actual_usd >= out.usd_p10) & (out.actual_usd <= out.usd_p90)
    return out


def parameter_check(con: duckdb.DuckDBPyConnection, truth: dict, as_of: date, holdout_end: date | None = None) -> dict:
    """Fit on the renewals closed before `as_of`; compare with their true probabilities, and score
    the renewals closed in [as_of, holdout_end) out of sample against sBG and a constant rate."""
    tr = _truth_frame(truth).set_index("opportunity_id")
    contracts = build_contracts(con, as_of)
    model = fit_model(con, contracts)
    ren = contracts.renewals
    x = engagement(con, pd.DataFrame({"account_id": ren.account_id, "ref": ren.created_at}), contracts.as_of)
    p_draws = model.p_draws(x)
    p_true = tr.reindex(ren.opportunity_id)["p_true"].to_numpy()
    mean_draws = p_draws.mean(axis=0)
    p_hat = p_draws.mean(axis=1)
    out = {
        "as_of": str(as_of), "renewals": len(ren), "renewed": int(ren.won.sum()),
        "true_mean_p": float(np.nanmean(p_true)), "observed_rate": float(ren.won.mean()) if len(ren) else np.nan,
        "mean_p": float(mean_draws.mean()), "mean_p_low": float(np.quantile(mean_draws, INTERVAL[0])),
        "mean_p_high": float(np.quantile(mean_draws, INTERVAL[1])),
        "mean_p_low95": float(np.quantile(mean_draws, 0.025)), "mean_p_high95": float(np.quantile(mean_draws, 0.975)),
        "slope": model.slope_per_log_touch(),
        # the intent effect on the model's scale: the truth's log-odds regressed on log(1 + touches)
        "true_slope": float(np.polyfit(np.log1p(x), logit(np.clip(p_true, 1e-9, 1 - 1e-9)), 1)[0]) if len(ren) > 2 else np.nan,
        "slope_95": tuple(float(v) for v in np.quantile(model.draws()[:, 1] / model.x_sd, [0.025, 0.975])),
        "corr_with_true_p": float(np.corrcoef(p_hat, p_true)[0, 1]) if len(ren) > 2 else np.nan,
        "mae_model": float(np.nanmean(np.abs(p_hat - p_true))),
        "mae_constant": float(np.nanmean(np.abs(ren.won.mean() - p_true))),
        "true_p_sd": float(np.nanstd(p_true)), "model_p_sd": float(np.std(p_hat)),
    }
    sbg = SBG.fit(ren.renewal_no.to_numpy(), ren.won.to_numpy())
    out["sbg"] = {"alpha": sbg.alpha, "beta": sbg.beta}
    out["mae_sbg"] = float(np.nanmean(np.abs(sbg.p_renew(ren.renewal_no.to_numpy()) - p_true)))
    if holdout_end is not None:  # out of sample: renewals that closed after the fit
        later = build_contracts(con, holdout_end).renewals
        later = later[later.closed_at >= pd.Timestamp(as_of)]
        # their covariate as known at their own creation (the store's state at holdout_end)
        xl = engagement(con, pd.DataFrame({"account_id": later.account_id, "ref": later.created_at}), pd.Timestamp(holdout_end))
        y = later.won.to_numpy()
        out["holdout"] = {
            "renewals": len(later),
            "log_loss_model": log_loss(model.predict(xl), y),
            "log_loss_sbg": log_loss(sbg.p_renew(later.renewal_no.to_numpy()), y),
            "log_loss_constant": log_loss(np.full(len(y), ren.won.mean()), y),
            "log_loss_truth": log_loss(tr.reindex(later.opportunity_id)["p_true"].to_numpy(), y),
        }
    return out


__all__ = ["parameter_check", "quarter_starts", "quarterly_check"]
