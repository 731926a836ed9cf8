"""The live pipeline's incremental attribution: a backdated page view by a known contact, posted
to a running `revline serve`, rewrites its account's conversions in the existing rule-model runs
(no full job), and the ledger then equals a full local re-run on a copy of the same store."""

from __future__ import annotations

import shutil
import time
import uuid

import duckdb
import pandas as pd
import pytest

from test_hub import ADMIN_KEY, WRITE_KEY, Server, _http, _ok, _prepared_store, _run

pytestmark = [pytest.mark.server, pytest.mark.slow]
ATTRIBUTE = ["attribute", "-m", "linear", "-m", "time_decay", "--milestone", "won", "--milestone", "opportunity"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from revline.demo.simulate import generate

    out = tmp_path_factory.mktemp("liveattr") / "demo"
    generate(out, size="tiny", seed=7)
    return out


def _ledger(db) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        df = con.execute(
            "SELECT model, milestone, revenue_type, conversion_id, coalesce(touchpoint_id, '-') AS touchpoint_id, "
            "credit, revenue_credit FROM credit_ledger").df()
    finally:
        con.close()
    return df.sort_values(["model", "milestone", "revenue_type", "conversion_id", "touchpoint_id"]).reset_index(drop=True)


def test_a_backdated_touch_refreshes_only_its_account_and_equals_a_full_rerun(tmp_path, demo_dir):
    db = _prepared_store(tmp_path, demo_dir, "live.duckdb")
    _ok(_run([*ATTRIBUTE, "--db", str(db)], tmp_path))
    con = duckdb.connect(str(db), read_only=True)
    user_id, account_id, closed = con.execute(
        "SELECT i.identity_value, p.account_id, o.closed_at FROM identities i JOIN people p USING (person_id) "
        "JOIN opportunities o ON o.account_id = p.account_id "
        "WHERE i.identity_type = 'user_id' AND o.is_won ORDER BY 1, 2 LIMIT 1").fetchone()
    con.close()
    before = _ledger(db)
    server = Server(db)
    try:
        message_id = f"late-{uuid.uuid4()}"
        when = (pd.Timestamp(closed) - pd.Timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {"userId": user_id, "messageId": message_id, "timestamp": when, "name": "Pricing",
                 "properties": {"path": "/pricing"},
                 "context": {"campaign": {"source": "google", "medium": "cpc", "name": "late-test"},
                             "page": {"path": "/pricing", "url": "https://example.com/pricing"}}}
        _http("POST", server.url + "/v1/page", body=event, basic=WRITE_KEY)
        deadline = time.monotonic() + 20
        while True:
            live = _http("GET", server.url + "/admin/ping", ADMIN_KEY)["live"]
            if live["refreshes"] >= 1:
                break
            assert time.monotonic() < deadline, f"no incremental refresh within 20 s: {live}"
            time.sleep(0.2)
        assert live["attribute_jobs"] == 0 and live["refreshed_accounts"] == 1 and live["skipped_runs"] == 0
    finally:
        server.stop()
    after = _ledger(db)
    assert message_id in set(after.touchpoint_id), "the backdated touch took no credit"
    con = duckdb.connect(str(db), read_only=True)
    theirs = {r[0] for r in con.execute("SELECT opportunity_id FROM opportunities WHERE account_id = ?",
                                        [account_id]).fetchall()}
    con.close()
    others = lambda df: df[~df.conversion_id.isin(theirs)].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(others(before), others(after))
    full = tmp_path / "full.duckdb"
    shutil.copy(db, full)
    _ok(_run([*ATTRIBUTE, "--db", str(full)], tmp_path))  # stitches the collected event first, as a full job does
    pd.testing.assert_frame_equal(after, _ledger(full), check_exact=False, rtol=1e-9, atol=1e-6)
