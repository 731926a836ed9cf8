"""The recency/frequency points baseline: the manual lead score HubSpot and Marketo users write.

Why this exact table: it is what a marketing-operations team sets up on day one in those tools
(points per behaviour, more for "hand-raisers", a bonus for fit, a decay for silence), so it is
the fair yardstick for a learned score: revline has to rank accounts better than the rules a team
would otherwise maintain by hand. The numbers are typical of the vendors' templates, chosen once
and never tuned on the demo company.

Points are summed per account from its features (see features.py): behaviour in the last 30 days
counts in full, any touch 31-90 days ago earns half a point (the usual "score decay"), a maximum per
behaviour stops a single noisy signal from dominating, and 20 points are taken off after 30 days
without any touch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# behaviour: (feature of the last 30 days, points each, max points); touch types and channels
# as the store names them (touchpoints.touch_type, touchpoints.channel).
BEHAVIOUR_POINTS: dict[str, tuple[str, float, float]] = {
    "high-intent page view (pricing, demo, comparison)": ("hi_views_30d", 10.0, 40.0),
    "page view": ("tt_page_view_n30", 1.0, 15.0),
    "form submitted": ("tt_form_submitted_n30", 15.0, 30.0),
    "content downloaded": ("tt_content_downloaded_n30", 8.0, 24.0),
    "webinar registered": ("tt_webinar_registered_n30", 10.0, 20.0),
    "webinar attended": ("ch_webinar_n30", 5.0, 15.0),
    "event attended": ("ch_events_n30", 15.0, 30.0),
    "partner referral": ("ch_partner_n30", 20.0, 20.0),
    "email click": ("ch_email_n30", 3.0, 15.0),
    "sales meeting": ("tt_meeting_n30", 20.0, 40.0),
    "sales call": ("tt_call_n30", 5.0, 15.0),
}
# fit: (feature, threshold, points) — awarded when the feature is at least the threshold
FIT_POINTS: dict[str, tuple[str, float, float]] = {
    "senior title engaged (last 90 days)": ("senior_90d", 1.0, 10.0),
    "200+ employees": ("employees", 200.0, 5.0),
    "3+ people engaged (last 90 days)": ("people_90d", 3.0, 10.0),
    "MQL": ("people_mql", 1.0, 15.0),
    "SQL (sales accepted)": ("people_sql", 1.0, 20.0),
}
OLDER_WEIGHT, OLDER_CAP = 0.5, 15.0  # any touch 31-90 days ago: the "score decay" of the manual tools
SILENCE_DAYS, SILENCE_PENALTY = 30.0, 20.0


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name].astype(float).fillna(0.0) if name in df else pd.Series(0.0, index=df.index)


def baseline_points(features: pd.DataFrame) -> pd.Series:
    """Manual-score points per row of a feature table (never negative)."""
    pts = pd.Series(0.0, index=features.index)
    for feature, each, cap in BEHAVIOUR_POINTS.values():
        pts += np.minimum(_col(features, feature) * each, cap)
    # any touch 31-90 days ago: half a point each (the decayed memory of older behaviour)
    older = (_col(features, "n_90d") - _col(features, "n_30d")).clip(lower=0.0)
    pts += np.minimum(older * OLDER_WEIGHT, OLDER_CAP)
    for feature, threshold, award in FIT_POINTS.values():
        pts += np.where(_col(features, feature) >= threshold, award, 0.0)
    silent = features["days_since_last"].isna() | (features["days_since_last"] > SILENCE_DAYS) \
        if "days_since_last" in features else pd.Series(True, index=features.index)
    pts -= np.where(silent, SILENCE_PENALTY, 0.0)
    return pts.clip(lower=0.0)


def points_table() -> pd.DataFrame:
    """The points table as rows (for the docs, the CLI and the report)."""
    rows = [{"rule": k, "points": f"+{each:g} each in the last 30 days (max {cap:g})"}
            for k, (_, each, cap) in BEHAVIOUR_POINTS.items()]
    rows.append({"rule": "any touch 31-90 days ago", "points": f"+{OLDER_WEIGHT:g} each (max {OLDER_CAP:g})"})
    rows += [{"rule": k, "points": f"+{award:g}"} for k, (_, _, award) in FIT_POINTS.items()]
    rows.append({"rule": f"no touch for {SILENCE_DAYS:g} days", "points": f"-{SILENCE_PENALTY:g}"})
    return pd.DataFrame(rows)
