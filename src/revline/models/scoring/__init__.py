"""In-market account scoring: the calibrated probability that an account opens a deal (new
business; customers: expansion) within 30 days, from its journey as of the scoring time, with
reasons in words, a recency/frequency points baseline beside it, time-split backtests and next
best content. See docs/scoring.md.

    from revline.models.scoring import score_accounts, fit_scorer
    scorer = fit_scorer(con, as_of)            # picklable; save it beside the store
    hot = score_accounts(con, as_of, model=scorer)

scikit-learn loads on first fit, not on import.
"""

from __future__ import annotations

from revline.models.scoring.baseline import BEHAVIOUR_POINTS, FIT_POINTS, baseline_points, points_table
from revline.models.scoring.features import HIGH_INTENT_PATTERNS, build_features
from revline.models.scoring.model import Scorer, fit_scorer
from revline.models.scoring.score import COLUMNS, score_accounts

__all__ = ["score_accounts", "fit_scorer", "Scorer", "build_features", "baseline_points", "points_table",
           "BEHAVIOUR_POINTS", "FIT_POINTS", "HIGH_INTENT_PATTERNS", "COLUMNS"]
