"""Next best content: for an account, the touch types and channels after which similar accounts
opened a deal most often, with the counts behind each figure.

Why this simple estimator: over the weekly snapshots the scorer trains on, compare accounts at the
same stage (anonymous, lead, MQL, SQL; customers apart) that had a given kind of touch in the last
30 days with those that did not: the difference in their 30-day conversion rate is the uplift.
It is observational (an account that attends a webinar may have been warmer already), which is
why each recommendation carries its counts; with the counts a seller can judge, and nothing is
recommended below `MIN_ACCOUNTS` snapshots or `MIN_BUYERS` buyers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from revline.models.scoring.explain import _CHANNEL_WORDS, _TYPE_WORDS

MIN_ACCOUNTS = 30
MIN_BUYERS = 3
SKIP_TYPES = ("page_view", "campaign_member")  # generic: the channel says which visit or response
MAX_SUGGESTIONS = 2


def stage_of(features: pd.DataFrame) -> pd.Series:
    """The stage an account is at in a snapshot: customer, sql, mql, lead or anonymous."""
    def col(name: str) -> pd.Series:
        return features[name].fillna(0) if name in features else pd.Series(0.0, index=features.index)

    stage = np.select([features["kind"] == "expansion", col("people_sql") > 0, col("people_mql") > 0,
                       col("people_lead") > 0], ["customer", "sql", "mql", "lead"], "anonymous")
    return pd.Series(stage, index=features.index)


def _touch_columns(features: pd.DataFrame) -> dict[str, str]:
    keys = {}
    for c in features.columns:
        if c.startswith("ch_") and c.endswith("_n30"):
            keys[c] = "channel:" + c[3:-4]
        elif c.startswith("tt_") and c.endswith("_n30") and c[3:-4] not in SKIP_TYPES:
            keys[c] = "type:" + c[3:-4]
    return keys


def label_of(key: str) -> str:
    """A touch key in words: channel:webinar -> "webinar", type:meeting -> "sales meeting"."""
    kind, _, name = key.partition(":")
    return (_CHANNEL_WORDS if kind == "channel" else _TYPE_WORDS).get(name, name.replace("_", " "))


def uplift_table(train: pd.DataFrame) -> pd.DataFrame:
    """Per stage and touch key: snapshots and buyers with / without that touch in the last 30
    days, both conversion rates and the uplift (rate with - rate without)."""
    if train.empty:
        return pd.DataFrame(columns=["stage", "touch", "label", "accounts_with", "buyers_with", "rate_with",
                                     "accounts_without", "buyers_without", "rate_without", "uplift"])
    stage = stage_of(train)
    y = train["label"].to_numpy()
    rows = []
    for col, key in _touch_columns(train).items():
        had = train[col].fillna(0).to_numpy() > 0
        for st in sorted(stage.unique()):
            m = (stage == st).to_numpy()
            nw, nwo = int((m & had).sum()), int((m & ~had).sum())
            bw, bwo = int(y[m & had].sum()), int(y[m & ~had].sum())
            rw = bw / nw if nw else np.nan
            rwo = bwo / nwo if nwo else np.nan
            rows.append({"stage": st, "touch": key, "label": label_of(key), "accounts_with": nw, "buyers_with": bw,
                         "rate_with": rw, "accounts_without": nwo, "buyers_without": bwo, "rate_without": rwo,
                         "uplift": rw - rwo if nw and nwo else np.nan})
    return pd.DataFrame(rows).sort_values(["stage", "uplift"], ascending=[True, False]).reset_index(drop=True)


def next_best_content(uplift: pd.DataFrame, features: pd.DataFrame,
                      max_suggestions: int = MAX_SUGGESTIONS) -> list[list[dict]]:
    """Per account row: up to `max_suggestions` touches it has not had in the last 30 days whose
    uplift at its stage is positive and backed by enough snapshots and buyers, best first."""
    ok = uplift[(uplift["accounts_with"] >= MIN_ACCOUNTS) & (uplift["buyers_with"] >= MIN_BUYERS)
                & (uplift["uplift"] > 0)]
    by_stage = {st: g for st, g in ok.groupby("stage")}
    cols = {v: k for k, v in _touch_columns(features).items()}
    stages = stage_of(features)
    out: list[list[dict]] = []
    for idx, st in stages.items():
        g = by_stage.get(st)
        picks: list[dict] = []
        if g is not None:
            for r in g.itertuples():
                col = cols.get(r.touch)
                if col is not None and float(np.nan_to_num(features.at[idx, col])) > 0:
                    continue  # it has had this one recently
                picks.append({"touch": r.touch, "label": r.label, "stage": st, "rate_with": float(r.rate_with),
                              "rate_without": float(r.rate_without), "uplift": float(r.uplift),
                              "accounts_with": int(r.accounts_with), "buyers_with": int(r.buyers_with)})
                if len(picks) >= max_suggestions:
                    break
        out.append(picks)
    return out


def describe(pick: dict) -> str:
    """One suggestion in words, with its counts."""
    return (f"{pick['label']}: {100 * pick['rate_with']:.0f}% vs {100 * pick['rate_without']:.0f}% opened a deal "
            f"within 30 days ({pick['accounts_with']:,} {pick['stage']}-stage snapshots with one)")
