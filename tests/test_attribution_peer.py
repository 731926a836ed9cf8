"""Cross-check first/last/linear against the real ChannelAttribution `heuristic_models`.

The paths handed to ChannelAttribution are rebuilt from the store (each won opportunity's
eligible touches in time order, channels joined by '>'), so both sides see the same journeys;
the per-channel sums of our ledger must equal its first_touch, last_touch and linear_touch
conversions and values.
"""

from __future__ import annotations

import pandas as pd
import pytest

import revline
from revline.attribution import run_models

ChannelAttribution = pytest.importorskip("ChannelAttribution")


@pytest.fixture(scope="module")
def store():
    con = revline.connect(":memory:")
    # 300 accounts, ~5 people each, touches over 120 days, one opportunity per account
    con.execute("""
        INSERT INTO people (person_id, account_id)
        SELECT 'P' || a || '_' || i, 'A' || a FROM range(300) r(a), range(1 + a % 5) s(i);
        INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel)
        SELECT 'T' || n,
               TIMESTAMP '2024-01-01' + INTERVAL ((hash(n, 'time') % (120 * 24))::BIGINT) HOUR,
               CASE WHEN hash(n, 'acct') % 7 = 0 THEN NULL ELSE 'P' || (n % 300) || '_0' END,
               CASE WHEN hash(n, 'acct') % 7 = 0 THEN 'A' || (n % 300) END,
               ['paid_search', 'email', 'webinar', 'events', 'direct', 'paid_social'][1 + (hash(n, 'ch') % 6)::BIGINT]
        FROM range(3000) r(n);
        INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, currency, created_at, closed_at, is_closed, is_won)
        SELECT 'O' || a, 'A' || a, 'new_business', 1000 + 37 * a, 'USD',
               TIMESTAMP '2024-02-01' + INTERVAL (a % 40) DAY, TIMESTAMP '2024-03-15' + INTERVAL (a % 60) DAY,
               TRUE, a % 3 <> 0
        FROM range(300) r(a);
    """)
    run_models(con, ["first_touch", "last_touch", "linear"], ["won"], ["new_business"])
    yield con
    con.close()


def _paths(con) -> pd.DataFrame:
    rows = con.execute("""
        SELECT l.conversion_id, l.channel, l.revenue_credit / l.credit AS amount
        FROM credit_ledger l JOIN attribution_runs r USING (run_id)
        WHERE r.model = 'linear' AND l.touchpoint_id IS NOT NULL
        ORDER BY l.conversion_id, l.occurred_at, l.touchpoint_id
    """).df()
    paths = rows.groupby("conversion_id", sort=False).agg(path=("channel", ">".join), value=("amount", "first"))
    paths["conv"] = 1.0
    return paths.groupby("path", as_index=False).agg(conv=("conv", "sum"), value=("value", "sum"))


def test_first_last_linear_match_channelattribution(store):
    paths = _paths(store)
    assert paths.conv.sum() > 100  # the comparison covers a real number of journeys
    peer = ChannelAttribution.heuristic_models(paths, "path", "conv", var_value="value", sep=">", flg_pro=False)
    peer = peer.set_index("channel_name")
    for model, col in [("first_touch", "first_touch"), ("last_touch", "last_touch"), ("linear", "linear_touch")]:
        ours = store.execute("""
            SELECT channel, sum(credit) AS conv, sum(revenue_credit) AS value
            FROM credit_ledger l JOIN attribution_runs r USING (run_id)
            WHERE r.model = ? AND l.touchpoint_id IS NOT NULL GROUP BY 1
        """, [model]).df().set_index("channel")
        joined = ours.join(peer[[f"{col}_conversions", f"{col}_value"]], how="outer").fillna(0.0)
        assert len(joined) >= 5
        pd.testing.assert_series_equal(joined["conv"], joined[f"{col}_conversions"], check_names=False, rtol=1e-9)
        pd.testing.assert_series_equal(joined["value"], joined[f"{col}_value"], check_names=False, rtol=1e-9)
