"""End to end with the real scoring model: `revline serve` on a small store scores every account
at start; pricing-page views by three people of one prospect, posted to its collector, raise that
account's score past the alert threshold and the webhook (a local receiver) gets the alert within
the live pipeline's latency; nothing else is re-scored, and a second burst does not alert again.

Which prospect, and the threshold, come from a rehearsal on a copy of the store (the same events
through an in-process collector and live pipeline, then scored here): the prospect whose score the
burst raises most, the threshold halfway. The served score must equal the rehearsed one."""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import timedelta

import duckdb
import pytest

from alert_receiver import Receiver
from test_hub import READ_KEY, WRITE_KEY, Server, _http, _prepared_store
from waiting import wait_for

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from revline.demo.simulate import generate

    out = tmp_path_factory.mktemp("inmarketlive") / "demo"
    generate(out, size="tiny", seed=7)
    return out


def _fit_locally(db):
    """Fit as the server does (same functions, same scoring time) and save the model where the
    server keeps it, so the server loads it instead of fitting again (a minute of CPU on the tiny
    store). Returns the scoring functions, the baseline scores, and each account's known user ids."""
    import pickle

    from revline.api.live_scores import default_scoring, model_path

    scoring = default_scoring()
    con = duckdb.connect(str(db), read_only=True)
    try:
        as_of = scoring.as_of_fn(con)
        model = scoring.fit_fn(con, as_of)
        model_path(db).write_bytes(pickle.dumps(model))
        scores = scoring.score_fn(con, as_of=as_of, model=model)
        users = dict(con.execute(
            "SELECT p.account_id, list(DISTINCT i.identity_value ORDER BY i.identity_value) FROM identities i "
            "JOIN people p USING (person_id) WHERE i.identity_type = 'user_id' AND p.account_id IS NOT NULL "
            "GROUP BY 1").fetchall())
        end = scoring.as_of_fn(con) - timedelta(seconds=1)
    finally:
        con.close()
    return scoring, model, scores, users, end


def _burst(users: list[str], when: str) -> list[dict]:
    """Pricing-page views by each user, one hour after the store's last data (a store kept current)."""
    return [{"userId": u, "messageId": f"pricing-{uuid.uuid4()}", "timestamp": when, "name": "Pricing",
             "properties": {"path": "/pricing", "url": "https://example.com/pricing"},
             "context": {"page": {"path": "/pricing", "url": "https://example.com/pricing"}}} for u in users]


def _rehearse(db, tmp_path, bursts: dict[str, list[dict]], scoring, model) -> dict[str, float]:
    """Each account's score after its burst, on a copy of the store: the events go through an
    in-process app's collector and live pipeline (without scoring), then are scored here."""
    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    copy = tmp_path / "rehearsal.duckdb"
    shutil.copy(db, copy)
    app = create_app(copy, write_key=WRITE_KEY, read_key=READ_KEY, segment_seconds=0.05, warm=False,
                     snapshot_seconds=None)
    try:
        with TestClient(app) as client:
            for events in bursts.values():
                for event in events:
                    assert client.post("/v1/page", json=event, auth=(WRITE_KEY, "")).status_code == 200
            assert app.state.collector.flush()
    finally:
        close_app(app)
    con = duckdb.connect(str(copy), read_only=True)
    try:
        after = scoring.score_fn(con, as_of=scoring.as_of_fn(con), account_ids=sorted(bursts), model=model)
    finally:
        con.close()
    return dict(zip(after.account_id, after.score))


def test_pricing_views_by_several_people_raise_the_score_and_fire_the_webhook(tmp_path, demo_dir):
    db = _prepared_store(tmp_path, demo_dir, "live.duckdb")
    scoring, model, scores, users, end = _fit_locally(db)
    when = (end + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # prospects with at least three known visitors; the one whose score the burst raises most
    prospects = scores[(scores.kind == "new_business") & scores.account_id.map(lambda a: len(users.get(a, [])) >= 3)]
    assert len(prospects), "the tiny demo has no prospect with three known visitors"
    bursts = {a: _burst(users[a][:3], when) for a in prospects.account_id}
    rehearsed = _rehearse(db, tmp_path, bursts, scoring, model)
    before = dict(zip(scores.account_id, scores.score))
    account = max(rehearsed, key=lambda a: (rehearsed[a] - before[a], a))
    rise = rehearsed[account] - before[account]
    print(f"{account}: {before[account]:.4f} -> {rehearsed[account]:.4f} after pricing views by 3 people; "
          f"raised: {sum(rehearsed[a] > before[a] for a in rehearsed)} of {len(rehearsed)} prospects")
    assert rise > 0.01, "no prospect's score rises with pricing views by three people"
    threshold = round(before[account] + rise / 2, 4)
    receiver = Receiver()
    server = Server(db, extra=("--alert-webhook", receiver.url, "--alert-threshold", str(threshold),
                               "--alert-cooldown", "1d"), in_market=True)
    try:
        ping = wait_for(lambda: (p := server.admin("GET", "/admin/ping"))["scores"]["ready"] and p, 240, "the first scoring")
        assert ping["scores"]["loaded"]  # the model saved beside the store
        listed = _http("GET", f"{server.url}/api/accounts/in-market?limit=500", READ_KEY)
        served = {a["account_id"]: a["score"] for a in listed["accounts"]}
        assert served == pytest.approx(before)  # the server's baseline equals the local scoring
        assert listed["scored"] == len(scores) and ping["scores"]["alerts"] == 0

        sent = time.monotonic()
        for event in _burst(users[account][:3], when):
            _http("POST", server.url + "/v1/page", body=event, basic=WRITE_KEY)
        (_, body), = wait_for(lambda: receiver.posts, 60, "the webhook")
        latency = time.monotonic() - sent
        print(f"collector 200 -> webhook: {latency:.2f} s")
        after = _http("GET", f"{server.url}/api/accounts/in-market?limit=500", READ_KEY)
        row = next(a for a in after["accounts"] if a["account_id"] == account)
        assert row["score"] == pytest.approx(rehearsed[account]) and row["score"] >= threshold
        assert f"({account}) scored {row['score']:.2f}" in body["text"]
        assert f"/dashboard#journey={account}" in body["text"]
        for reason in row["reasons"][:5]:
            assert reason in body["text"]
        unchanged = {a["account_id"]: a["score"] for a in after["accounts"] if a["account_id"] != account}
        assert unchanged == {a: s for a, s in served.items() if a != account}  # only the touched account
        stats = server.admin("GET", "/admin/ping")
        assert stats["scores"]["alerts"] == 1 and stats["alerts"]["sent"] == 1
        assert latency < 60  # the live pipeline's few seconds plus re-scoring, on a shared machine
        scored = stats["scores"]["scored"]
        for event in _burst(users[account][:3], when):  # still above, within the cool-down: no second alert
            _http("POST", server.url + "/v1/page", body=event, basic=WRITE_KEY)
        wait_for(lambda: server.admin("GET", "/admin/ping")["scores"]["scored"] > scored, 60, "the second burst's scoring")
        time.sleep(1.0)
        assert len(receiver.posts) == 1
    finally:
        server.stop()
        receiver.close()
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT account_id, status FROM score_alerts").fetchall() == [(account, "sent")]
    finally:
        con.close()
