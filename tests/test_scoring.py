"""In-market scoring: features as of a cut-off, the points baseline, score_accounts' contract,
reasons, the saved scorer (issue #15)."""

from __future__ import annotations

import pickle
import shutil
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.models.scoring import COLUMNS, baseline_points, fit_scorer, points_table, score_accounts
from revline.models.scoring.baseline import BEHAVIOUR_POINTS
from revline.models.scoring.features import build_features, pattern_regex

CUT = datetime(2026, 3, 2)


@pytest.fixture(scope="module")
def tiny(simulated_company):
    return simulated_company(config="default", size="tiny", seed=11)


@pytest.fixture(scope="module")
def tiny_scorer(tiny):
    con = duckdb.connect(str(tiny[0]), read_only=True)
    try:
        yield fit_scorer(con, CUT)
    finally:
        con.close()


def test_features_use_only_what_was_known_at_the_cutoff(tiny, tmp_path):
    """Deleting everything that happened after the cut-off changes no feature at it."""
    db = tmp_path / "store.duckdb"
    shutil.copy(tiny[0], db)
    con = duckdb.connect(str(db))
    before = build_features(con, [CUT], with_labels=False)
    con.execute("DELETE FROM touchpoints WHERE occurred_at >= ?", [CUT])
    con.execute("DELETE FROM stage_events WHERE entered_at >= ?", [CUT])
    con.execute("DELETE FROM events WHERE occurred_at >= ?", [CUT])
    con.execute("DELETE FROM identities WHERE first_seen_at >= ?", [CUT])
    con.execute("DELETE FROM opportunities WHERE created_at >= ?", [CUT])
    # a deal open at the cut-off that closed later: the store as it stood then had it open
    con.execute("UPDATE opportunities SET is_closed = false, is_won = false, closed_at = NULL WHERE closed_at >= ?", [CUT])
    after = build_features(con, [CUT], with_labels=False)
    con.close()
    assert len(before) > 100
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after[before.columns].reset_index(drop=True),
                                  check_dtype=False)


def test_label_is_a_deal_of_the_accounts_kind_opened_within_30_days(tiny):
    con = duckdb.connect(str(tiny[0]), read_only=True)
    f = build_features(con, [CUT])
    opps = con.execute("SELECT account_id, revenue_type, created_at FROM opportunities").df()
    con.close()
    window = opps[(opps.created_at > CUT) & (opps.created_at <= CUT + pd.Timedelta(days=30))]
    nb = set(window[window.revenue_type == "new_business"].account_id)
    ex = set(window[window.revenue_type == "expansion"].account_id)
    expected = np.where(f.kind == "expansion", f.account_id.isin(ex), f.account_id.isin(nb)).astype(int)
    assert (f.label.to_numpy() == expected).all()
    assert f.label.sum() > 0 and set(f.kind) == {"new_business", "expansion"}
    # an account with an open new-business deal at the cut-off is not scored (it is in the pipeline)
    con = duckdb.connect(str(tiny[0]), read_only=True)
    open_nb = {r[0] for r in con.execute(
        "SELECT account_id FROM opportunities WHERE revenue_type = 'new_business' AND created_at < ? "
        "AND (closed_at IS NULL OR closed_at >= ?)", [CUT, CUT]).fetchall()}
    con.close()
    assert open_nb and not (open_nb & set(f[f.kind == "new_business"].account_id))


def test_score_accounts_contract(tiny, tiny_scorer):
    con = duckdb.connect(str(tiny[0]), read_only=True)
    df = score_accounts(con, CUT, model=tiny_scorer)
    sub = score_accounts(con, CUT, account_ids=df.account_id.iloc[[0, 5]].tolist() + ["nope"], model=tiny_scorer)
    con.close()
    assert tuple(df.columns) == COLUMNS
    assert df.account_id.is_unique and len(df) > 200
    assert df.score.between(0, 1).all() and df.score.is_monotonic_decreasing
    assert set(df.kind) <= {"new_business", "expansion"}
    assert (df.baseline_points >= 0).all()
    assert (df.scored_at == pd.Timestamp(CUT)).all()
    assert all(isinstance(r, list) and len(r) <= 3 and all(isinstance(s, str) and s for s in r) for r in df.reasons)
    assert all(df.reasons.head(10).map(len) > 0)  # the hottest accounts have reasons
    assert sorted(sub.account_id) == sorted(df.account_id.iloc[[0, 5]])
    np.testing.assert_allclose(sub.set_index("account_id").score, df.set_index("account_id").loc[sub.account_id].score)


def test_scorer_is_picklable_and_gives_the_same_scores(tiny, tiny_scorer):
    twin = pickle.loads(pickle.dumps(tiny_scorer))  # noqa: S301 (our own bytes)
    con = duckdb.connect(str(tiny[0]), read_only=True)
    a = score_accounts(con, CUT, model=tiny_scorer)
    b = score_accounts(con, CUT, model=twin)
    con.close()
    assert tiny_scorer.method == "gradient_boosting"
    pd.testing.assert_frame_equal(a, b)


def test_calibrated_mean_is_close_to_the_observed_rate(tiny, tiny_scorer):
    """Calibration: over all accounts, the mean score is near the share that opened a deal."""
    con = duckdb.connect(str(tiny[0]), read_only=True)
    cuts = [datetime(2026, 3, 2), datetime(2026, 3, 30), datetime(2026, 4, 27)]
    f = build_features(con, cuts)
    con.close()
    p = tiny_scorer.predict(f)
    assert abs(p.mean() - f.label.mean()) < 0.5 * f.label.mean() + 0.005


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from([v[0] for v in BEHAVIOUR_POINTS.values()] + ["n_30d", "n_90d"]),
                       st.integers(0, 40), min_size=1), st.sampled_from([v[0] for v in BEHAVIOUR_POINTS.values()]))
def test_baseline_points_never_fall_with_more_behaviour(values, more):
    row = pd.DataFrame([{**values, "days_since_last": 3.0}])
    plus = row.copy()
    plus[more] = plus.get(more, 0) + 1
    plus["n_30d"] = plus.get("n_30d", 0) + 1
    plus["n_90d"] = plus.get("n_90d", 0) + 1
    assert baseline_points(plus).iloc[0] >= baseline_points(row).iloc[0] >= 0


def test_points_table_and_pattern_check():
    t = points_table()
    assert len(t) == len(BEHAVIOUR_POINTS) + 6
    assert pattern_regex([r"/pricing", r"/demo"]) == "(?:/pricing)|(?:/demo)"
    with pytest.raises(Exception):
        pattern_regex(["(unclosed"])
