"""Reasons for a score, in words, from the model's own response to each group of features.

Why ablation by feature group rather than per-feature SHAP: the trees see ~100 correlated
columns (a webinar shows up as a count, a decayed sum and a "days since"); a reason a seller
can act on is about one behaviour. So for each group (one channel, one touch type, high-intent
pages, the buying committee, velocity, stage, firmographics, customer history) the account's
values are replaced by those of a quiet account (no touch, no stage; median firmographics) and
the drop in the calibrated probability is that group's contribution. The three largest positive
contributions become sentences built from the account's own numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from revline.models.scoring.model import CATEGORICAL, Scorer

MAX_REASONS = 3

_CHANNEL_WORDS = {
    "webinar": "webinar", "events": "event", "direct_mail": "direct-mail piece", "partner": "partner referral",
    "sales_outreach": "sales touch", "content": "content syndication download", "email": "email click",
    "paid_search": "paid-search visit", "paid_social": "paid-social visit", "display": "display-ad visit",
    "organic_search": "organic-search visit", "organic_social": "organic-social visit", "direct": "direct visit",
    "referral": "referral visit",
}
_SINGLE_WORDS = {  # one touch, as a seller would say it ("webinar attended 5 days ago")
    "webinar": "webinar registered or attended", "events": "event attended", "direct_mail": "direct mail received",
    "partner": "partner referral", "content": "content downloaded (syndication)", "email": "email clicked",
}
_TYPE_WORDS = {
    "meeting": "sales meeting", "call": "sales call", "email": "sales email", "form_submitted": "form submitted",
    "content_downloaded": "content downloaded", "webinar_registered": "webinar registration",
    "campaign_member": "campaign response", "page_view": "page view",
}


def feature_groups(columns: list[str]) -> dict[str, list[str]]:
    """Columns by the behaviour they describe."""
    groups: dict[str, list[str]] = {}

    def add(name: str, col: str) -> None:
        groups.setdefault(name, []).append(col)

    for c in columns:
        if c.startswith("hi_") or c == "days_since_hi":
            add("high_intent", c)
        elif c.startswith("ch_"):
            add("channel:" + c[3:].rsplit("_", 1)[0], c)
        elif c.startswith("tt_"):
            add("type:" + c[3:].rsplit("_", 1)[0], c)
        elif c in ("people_7d", "people_30d", "people_90d", "titles_90d", "senior_90d", "known_people", "channels_30d"):
            add("committee", c)
        elif c == "velocity" or c == "n_7d":
            add("velocity", c)
        elif c in ("n_30d", "n_90d", "n_all", "days_since_last", "days_since_first", "decayed"):
            add("recency", c)
        elif c in ("people_lead", "people_mql", "people_sql", "days_since_mql", "days_since_sql"):
            add("stage", c)
        elif c in ("employees", "annual_revenue", "industry", "country"):
            add("firmographics", c)
        elif c in ("is_customer", "days_as_customer", "won_deals", "expansions", "days_since_win", "lost_nb",
                   "days_since_opp", "kind"):
            add("history", c)
    return groups


def _n(v: object) -> float:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(f) else f


def _days(v: object) -> str:
    d = _n(v)
    if d < 1:
        return "today"
    return "1 day ago" if d < 2 else f"{int(d)} days ago"


def _plural(n: float, word: str) -> str:
    k = int(round(n))
    return f"{k} {word}" + ("" if k == 1 else "s")


def sentence(group: str, row: pd.Series) -> str:
    """The reason of one group for one account, from its own numbers."""
    g = row.get
    if group == "high_intent":
        if _n(g("hi_people_7d")) > 0:
            return f"{_plural(_n(g('hi_people_7d')), 'person')} viewed pricing/demo pages this week".replace(
                "persons", "people")
        return (f"{_plural(_n(g('hi_views_30d')), 'high-intent page view')} (pricing, demo, comparison) in 30 days, "
                f"last {_days(g('days_since_hi'))}")
    if group.startswith("channel:"):
        ch = group.split(":", 1)[1]
        word = _CHANNEL_WORDS.get(ch, ch.replace("_", " ") + " touch")
        n30 = _n(g(f"ch_{ch}_n30"))
        if n30 <= 1:
            return f"{_SINGLE_WORDS.get(ch, word)} {_days(g(f'ch_{ch}_last'))}"
        return f"{_plural(n30, word)} in 30 days, last {_days(g(f'ch_{ch}_last'))}"
    if group.startswith("type:"):
        tt = group.split(":", 1)[1]
        word = _TYPE_WORDS.get(tt, tt.replace("_", " "))
        n30 = _n(g(f"tt_{tt}_n30"))
        if n30 <= 1:
            return f"{word} {_days(g(f'tt_{tt}_last'))}"
        return f"{_plural(n30, word)} in 30 days, last {_days(g(f'tt_{tt}_last'))}"
    if group == "committee":
        people = _n(g("people_30d")) or _n(g("people_90d"))
        span = "30" if _n(g("people_30d")) else "90"
        extra = f", {_plural(_n(g('senior_90d')), 'senior title')}" if _n(g("senior_90d")) else ""
        return f"{_plural(people, 'person')} engaged in {span} days{extra}".replace("persons", "people")
    if group == "velocity":
        return f"{_plural(_n(g('n_7d')), 'touch')} this week, {_n(g('velocity')):.1f}x its usual week".replace(
            "touchs", "touches")
    if group == "recency":
        return f"{_plural(_n(g('n_30d')), 'touch')} in 30 days, last {_days(g('days_since_last'))}".replace(
            "touchs", "touches")
    if group == "stage":
        if _n(g("people_sql")):
            return f"{_plural(_n(g('people_sql')), 'person')} sales-qualified, latest {_days(g('days_since_sql'))}".replace(
                "persons", "people")
        if _n(g("people_mql")):
            return f"{_plural(_n(g('people_mql')), 'person')} marketing-qualified, latest {_days(g('days_since_mql'))}".replace(
                "persons", "people")
        return f"{_plural(_n(g('people_lead')), 'lead')} on file"
    if group == "firmographics":
        emp = _n(g("employees"))
        ind = g("industry")
        return f"fits the profile: {int(emp):,} employees" + (f", {ind}" if isinstance(ind, str) and ind else "")
    if group == "history":
        if _n(g("is_customer")):
            return f"customer for {int(_n(g('days_as_customer')) // 30)} months"
        if _n(g("lost_nb")):
            return "lost a deal before and is active again"
        return "no deal yet"
    return group.replace("_", " ")


def contributions(scorer: Scorer, features: pd.DataFrame) -> pd.DataFrame:
    """Per row and feature group: calibrated probability minus the probability with the group set
    to a quiet account's values (rows x groups)."""
    if scorer.estimator is None or features.empty:
        return pd.DataFrame(index=features.index)
    X = scorer.matrix(features)
    p = scorer.calibrator(_raw_logit(scorer, X))
    out = {}
    for name, cols in feature_groups(scorer.columns).items():
        Xa = X.copy()
        for c in cols:
            if c in CATEGORICAL:
                continue  # a category has no "quiet" value; its effect shows through the other groups
            Xa[c] = scorer.reference.get(c, 0.0)
        if all(c in CATEGORICAL for c in cols):
            continue
        out[name] = p - scorer.calibrator(_raw_logit(scorer, Xa))
    return pd.DataFrame(out, index=features.index)


def _raw_logit(scorer: Scorer, X: pd.DataFrame) -> np.ndarray:
    from revline.models.scoring.model import _logit

    return _logit(scorer.raw(X))


def _baseline_reasons(row: pd.Series) -> list[str]:
    """Reasons of the points baseline (used when there is too little history for the trees):
    the behaviours that earned the most points."""
    from revline.models.scoring.baseline import BEHAVIOUR_POINTS

    scored = []
    for words, (feat, each, cap) in BEHAVIOUR_POINTS.items():
        v = _n(row.get(feat))
        if v > 0:
            scored.append((min(v * each, cap), f"{int(v)} x {words} in 30 days"))
    scored.sort(key=lambda t: -t[0])
    return [s for _, s in scored[:MAX_REASONS]]


def reasons(scorer: Scorer, features: pd.DataFrame, min_gain: float = 0.001) -> list[list[str]]:
    """The top reasons per row, in words (empty list: nothing raised the score)."""
    if scorer.estimator is None:
        return [_baseline_reasons(r) for _, r in features.iterrows()]
    contrib = contributions(scorer, features)
    out: list[list[str]] = []
    for idx, row in features.iterrows():
        c = contrib.loc[idx].sort_values(ascending=False)
        top = [g for g, v in c.items() if v > min_gain][:MAX_REASONS]
        out.append([sentence(str(g), row) for g in top])
    return out
