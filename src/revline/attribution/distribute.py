"""From channel-level credit (Markov, Shapley) to touchpoint rows of the credit ledger.

Why: the data-driven models answer "how much is each channel worth", while ROI, reports and the
dashboard read `credit_ledger` per conversion and touchpoint. Each conversion's credit is split
over the channels present in its journey in proportion to the model's channel weight, then
evenly over that channel's touches in the journey. Every conversion's credits sum to 1 (revenue
credit to its amount); a journey whose channels all weigh 0 is split evenly over its channels
(the model has no preference there, and dropping the conversion would lose revenue); a
conversion with no eligible touch gets one '(unattributed)' row. Nothing is dropped.

Where it runs: the split is one portable Ibis expression (`data_driven_rows`) over the
conversions, their eligible touches and a small table of channel weights, so the rows are
computed where the touches live (DuckDB, or Spark: attribution.on_engine) and only the distinct
paths come to the driver, where the model itself is fitted (`markov_weights`, `shapley_weights`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from revline.attribution.eligibility import Target, conversions, eligible_touches
from revline.attribution.ledger import conform, write_ledger
from revline.attribution.markov import markov_model
from revline.attribution.paths import paths_expr, paths_frame
from revline.attribution.rules import unattributed_rows
from revline.attribution.shapley import shapley_model
from revline.store.connection import ibis_backend
from revline.vocabulary import LEAD_MILESTONES

WEIGHTS_SCHEMA = {"channel": "string", "weight": "float64"}
"""A run's channel weights as a table (`weights_table`); with `by`, also the run's columns."""


def weights_table(channel_weights: Mapping[str, float], **run: Any) -> ir.Table:
    """Channel weights as a small in-memory Ibis table (channel, weight, then the `run` columns,
    constant), for `data_driven_rows` to join on the backend."""
    names = [str(k) for k in channel_weights]
    data: dict[str, list[Any]] = {"channel": names, "weight": [float(channel_weights[k]) for k in channel_weights]}
    data.update({k: [v] * len(names) for k, v in run.items()})
    return ibis.memtable(pd.DataFrame(data, columns=[*WEIGHTS_SCHEMA, *run]),
                         schema={**WEIGHTS_SCHEMA, **{k: "string" for k in run}})


def data_driven_rows(conv: ir.Table, touches: ir.Table, weights: ir.Table, by: Sequence[str] = ()) -> ir.Table:
    """Ledger rows (`conform`: the model's columns, then `by`) of data-driven runs, as one Ibis
    expression on the backend holding the touches: attributed touches, then one '(unattributed)'
    row per conversion without an eligible touch.

    conv: `eligibility.conversions`' columns; touches: `eligibility.eligible_touches`' (each
    carries its conversion's columns); weights: channel, weight (`weights_table`). With `by`
    (columns naming a run, in all three tables) many runs are split at once, each conversion and
    touch once per run it belongs to. A channel without a weight, or a negative one (possible
    with rate-based Shapley), counts as 0. Amounts are USD, a missing one 0.
    """
    keys = [*by, "conversion_id"]
    w = weights.select(**{f"_w_{b}": weights[b] for b in by}, _w_channel=weights.channel,
                       _w=weights.weight.cast("float64"))
    t = touches.left_join(w, [*(touches[b] == w[f"_w_{b}"] for b in by), touches.channel == w._w_channel])
    t = t.mutate(_w=ibis.greatest(t._w.fill_null(0.0), 0.0))
    per_ch = t.group_by([*keys, "channel"]).aggregate(_n=t.count(), _cw=t._w.max())
    per_conv = per_ch.group_by(keys).aggregate(_tot=per_ch._cw.sum(), _nch=per_ch.count())
    share = per_ch.join(per_conv, keys)
    share = share.select(*keys, "channel", "_n", _share=ibis.cases(
        (share._tot > 0, share._cw / share._tot), else_=1.0 / share._nch.cast("float64")))
    t = t.join(share, [*keys, "channel"])
    credit = t._share / t._n.cast("float64")
    rows = conform(t.mutate(credit=credit, revenue_credit=credit * t.amount_usd.cast("float64").fill_null(0.0),
                            touch_position=ibis.null("string")), by)
    lost = unattributed_rows(conv.mutate(amount_usd=conv.amount_usd.cast("float64").fill_null(0.0)), touches, by)
    return rows.union(lost, distinct=False)


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


def fitted_weights(be: Any, target: Target,
                   models: Mapping[str, Callable[[pd.DataFrame], dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each model's channel weights for `target`: the distinct paths come from the backend
    (`paths_expr`, fetched once for every model), the models run here on the driver over them."""
    paths = paths_frame(paths_expr(be, target))
    return {name: (fit(paths) if len(paths) else {}) for name, fit in models.items()}


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
    be = ibis_backend(con)
    weights = fitted_weights(be, target, {model: channel_weights})[model]
    conv, keys = conversions(be, target)
    rows = data_driven_rows(conv, eligible_touches(be, conv, keys), weights_table(weights))
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
