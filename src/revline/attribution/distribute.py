"""From channel-level credit (Markov, Shapley) to touchpoint rows of the credit ledger.

Why: the data-driven models answer "how much is each channel worth", while ROI, reports and the
dashboard read `credit_ledger` per conversion and touchpoint. Each conversion's credit is split
over the channels present in its journey in proportion to the model's channel weight, then
evenly over that channel's touches in the journey. Every conversion's credits sum to 1 (revenue
credit to its amount); a journey whose channels all weigh 0 is split evenly over its channels
(the model has no preference there, and dropping the conversion would lose revenue); a
conversion with no eligible touch gets one '(unattributed)' row. Nothing is dropped.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from revline.attribution.eligibility import Target
from revline.attribution.ledger import ROW_COLUMNS, UNATTRIBUTED, write_ledger
from revline.attribution.markov import markov_model
from revline.attribution.paths import conversion_touches, paths_expr, paths_frame
from revline.attribution.shapley import shapley_model
from revline.store.connection import ibis_backend
from revline.vocabulary import LEAD_MILESTONES


def distribute_credit(
    conversions: pd.DataFrame, touches: pd.DataFrame, channel_weights: Mapping[str, float]
) -> pd.DataFrame:
    """Ledger rows (without model/milestone/run_id) for every conversion.

    conversions: conversion_id, conversion_type, value, revenue_type.
    touches: conversion_id, touchpoint_id, channel, campaign_id, occurred_at (rows with a NULL
    conversion_id, the non-converting journeys, are ignored).
    Negative weights (possible with rate-based Shapley) count as 0.
    """
    t = touches[touches["conversion_id"].notna()]
    t = t[t["conversion_id"].isin(conversions["conversion_id"])].copy()
    weights = pd.Series({str(k): float(v) for k, v in channel_weights.items()}, dtype="float64")
    t["_w"] = t["channel"].map(weights).fillna(0.0).clip(lower=0.0).to_numpy(dtype="float64")
    per_ch = t.groupby(["conversion_id", "channel"], sort=False).agg(n_touch=("touchpoint_id", "size"), w=("_w", "first"))
    per_ch = per_ch.reset_index()
    tot = per_ch.groupby("conversion_id")["w"].transform("sum")
    n_ch = per_ch.groupby("conversion_id")["channel"].transform("size")
    per_ch["share"] = np.where(tot > 0, per_ch["w"] / tot.where(tot > 0, 1.0), 1.0 / n_ch)
    t = t.merge(per_ch[["conversion_id", "channel", "n_touch", "share"]], on=["conversion_id", "channel"], how="left")
    t["credit"] = t["share"] / t["n_touch"]
    conv = conversions.set_index("conversion_id")
    t["conversion_type"] = conv["conversion_type"].reindex(t["conversion_id"]).to_numpy()
    t["revenue_type"] = conv["revenue_type"].reindex(t["conversion_id"]).to_numpy()
    amount = conv["value"].astype("float64").fillna(0.0)
    t["revenue_credit"] = t["credit"] * amount.reindex(t["conversion_id"]).to_numpy()
    t["touch_position"] = None
    rows = t[list(ROW_COLUMNS)]
    missing = conversions[~conversions["conversion_id"].isin(t["conversion_id"])]
    if len(missing):
        un = pd.DataFrame(
            {
                "conversion_id": missing["conversion_id"].to_numpy(),
                "conversion_type": missing["conversion_type"].to_numpy(),
                "touchpoint_id": None,
                "credit": 1.0,
                "revenue_credit": missing["value"].astype("float64").fillna(0.0).to_numpy(),
                "revenue_type": missing["revenue_type"].to_numpy(),
                "channel": UNATTRIBUTED,
                "campaign_id": None,
                "touch_position": None,
                "occurred_at": pd.NaT,
            }
        )
        rows = pd.concat([rows, un], ignore_index=True) if len(rows) else un
    return rows.reset_index(drop=True)


def run_markov(
    con,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    order: int = 1,
    scope: str = "account",
    *,
    lookback_days: float | None = None,
    weighted: bool = False,
    weight: str = "conversions",
    model: str | None = None,
) -> str:
    """Fit the exact Markov model on the store's journeys and write its ledger run; returns run_id.

    weight: 'conversions' splits each conversion by the channels' conversion removal effects,
    'value' by the value-weighted removal effects. The model is named 'markov' (order 1) or
    'markov_o{k}', so runs of several orders live side by side in the ledger.
    """
    channel_weights = markov_weights(order, weight)
    target = Target(milestone, revenue_type, scope, lookback_days, weighted)  # type: ignore[arg-type]  # checked there
    return _fit_and_write(
        con, channel_weights, target, model=model or ("markov" if order == 1 else f"markov_o{order}"),
        weight=weight, params={"order": order}, weights_key="removal_effects",
    )


def run_shapley(
    con,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    scope: str = "account",
    *,
    lookback_days: float | None = None,
    weighted: bool = False,
    worth: str = "conversions",
    weight: str = "conversions",
    model: str = "shapley",
) -> str:
    """Fit Shapley attribution on the store's journeys and write its ledger run; returns run_id.

    Channel weights are the Shapley values (of conversions, or of value with weight='value').
    """
    channel_weights = shapley_weights(worth, weight)
    target = Target(milestone, revenue_type, scope, lookback_days, weighted)  # type: ignore[arg-type]  # checked there
    return _fit_and_write(
        con, channel_weights, target, model=model, weight=weight, params={"worth": worth}, weights_key="shapley",
    )


def markov_weights(order: int = 1, weight: str = "conversions") -> Callable[[pd.DataFrame], dict[str, float]]:
    """Channel weights of the exact Markov model of a paths table: each channel's removal effect on
    conversions ('conversions') or on their value ('value')."""
    col = "removal_effects_conversion" if weight == "conversions" else "removal_effects_conversion_value"

    def channel_weights(paths: pd.DataFrame) -> dict[str, float]:
        re = markov_model(paths, order=order, out_transition_matrix=False)["removal_effects"]
        return dict(zip(re["channel_name"], re[col]))

    return channel_weights


def shapley_weights(worth: str = "conversions", weight: str = "conversions") -> Callable[[pd.DataFrame], dict[str, float]]:
    """Channel weights of Shapley attribution of a paths table (values of conversions or of value)."""
    col = "total_conversions" if weight == "conversions" else "total_conversion_value"

    def channel_weights(paths: pd.DataFrame) -> dict[str, float]:
        res = shapley_model(paths, worth=worth)["result"]
        return dict(zip(res["channel_name"], res[col]))

    return channel_weights


def data_driven_rows(be, channel_weights: Callable[[pd.DataFrame], dict[str, float]],
                     target: Target) -> tuple[pd.DataFrame, dict[str, float]]:
    """One data-driven run's ledger rows and channel weights on any Ibis backend holding the
    canonical tables (the store's, or Spark's: store.engine): the distinct paths come from the
    backend (`paths_expr`), the model and the per-touch split run here on the driver over them
    and over the converting touches."""
    paths = paths_frame(paths_expr(be, target))
    conversions, touches = conversion_touches(be, target, non_converting=False)
    weights = channel_weights(paths) if len(paths) else {}
    return distribute_credit(conversions, touches, weights), weights


def _fit_and_write(
    con,
    channel_weights: Callable[[pd.DataFrame], dict[str, float]],
    target: Target,
    *,
    model: str,
    weight: str,
    params: dict,
    weights_key: str,
) -> str:
    """The part every data-driven model shares: journeys -> paths -> channel weights -> ledger run."""
    if weight not in ("conversions", "value"):
        raise ValueError(f"weight must be 'conversions' or 'value', got {weight!r}")
    rows, weights = data_driven_rows(ibis_backend(con), channel_weights, target)
    run_params = {**params, **target.params(), "weight": weight, weights_key: weights}
    return write_ledger(con, rows, model=model, milestone=target.milestone, revenue_type=target.revenue_type,
                        params=run_params)


def _registry_runner(fit, con, *, milestones, revenue_types, scope="account", lookback_days=None, weighted=False, **params):
    """`revline.attribution.MODELS` signature: one run per milestone and revenue type."""
    run_ids = []
    for milestone in milestones:
        for rt in [None] if milestone in LEAD_MILESTONES else revenue_types:
            run_ids.append(
                fit(con, milestone, rt, scope=scope, lookback_days=lookback_days, weighted=weighted, **params)
            )
    return run_ids


def registry() -> dict:
    """Entries for `revline.attribution.MODELS`, so `run_models` and `revline attribute` run them."""
    return {
        "markov": partial(_registry_runner, run_markov),
        "shapley": partial(_registry_runner, run_shapley),
    }
