"""End to end with the real scoring model: `revline serve` on a small store scores every account
at start; pricing-page views by several people of one prospect, posted to its collector, raise that
account's score past the alert threshold and the webhook (a local receiver) gets the alert within
the live pipeline's latency; nothing else is re-scored, and a second burst does not alert again."""

from __future__ import annotations

import time
import uuid

import duckdb
import pytest

from alert_receiver import Receiver
from test_hub import READ_KEY, WRITE_KEY, Server, _http, _prepared_store

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from revline.demo.simulate import generate

    out = tmp_path_factory.mktemp("inmarketlive") / "demo"
    generate(out, size="tiny", seed=7)
    return out


def _local_scores(db):
    """The scores the server computes at start, computed here with the same functions and time; the
    fitted model is saved where the server keeps it, so the server loads it instead of fitting again
    (a minute of CPU on the tiny store)."""
    import pickle

    from revline.api.live_scores import default_scoring, model_path

    scoring = default_scoring()
    con = duckdb.connect(str(db), read_only=True)
    try:
        as_of = scoring.as_of_fn(con)
        model = scoring.fit_fn(con, as_of)
        model_path(db).write_bytes(pickle.dumps(model))
        scores = scoring.score_fn(con, as_of=as_of, model=model)
        users = con.execute(
            "SELECT p.account_id, list(DISTINCT i.identity_value ORDER BY i.identity_value) FROM identities i "
            "JOIN people p USING (person_id) WHERE i.identity_type = 'user_id' AND p.account_id IS NOT NULL "
            "GROUP BY 1").fetchall()
    finally:
        con.close()
    return scores, dict(users)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.1)


def test_pricing_views_by_several_people_raise_the_score_and_fire_the_webhook(tmp_path, demo_dir):
    db = _prepared_store(tmp_path, demo_dir, "live.duckdb")
    scores, users = _local_scores(db)
    # a cold prospect with at least three known visitors
    candidates = scores[(scores.kind == "new_business") & scores.account_id.map(lambda a: len(users.get(a, [])) >= 3)]
    assert len(candidates), "the tiny demo has no prospect with three known visitors"
    target = candidates.sort_values(["score", "account_id"]).iloc[0]
    account, before = target.account_id, float(target.score)
    threshold = round(before + 0.02, 4)
    receiver = Receiver()
    server = Server(db, extra=("--alert-webhook", receiver.url, "--alert-threshold", str(threshold),
                               "--alert-cooldown", "1d"))
    try:
        ping = _wait(lambda: (p := server.admin("GET", "/admin/ping"))["scores"]["ready"] and p, 240, "the first scoring")
        assert ping["scores"]["loaded"]  # the model saved beside the store
        listed = _http("GET", f"{server.url}/api/accounts/in-market?limit=500", READ_KEY)
        served = {a["account_id"]: a["score"] for a in listed["accounts"]}
        assert served[account] == pytest.approx(before)  # the server's baseline equals the local scoring
        assert listed["scored"] == len(scores) and ping["scores"]["alerts"] == 0

        def burst() -> None:
            for user in users[account][:3]:
                event = {"userId": user, "messageId": f"pricing-{uuid.uuid4()}", "name": "Pricing",
                         "properties": {"path": "/pricing", "url": "https://example.com/pricing"},
                         "context": {"page": {"path": "/pricing", "url": "https://example.com/pricing"}}}
                _http("POST", server.url + "/v1/page", body=event, basic=WRITE_KEY)

        sent = time.monotonic()
        burst()
        (_, body), = _wait(lambda: receiver.posts, 60, "the webhook")
        latency = time.monotonic() - sent
        print(f"collector 200 -> webhook: {latency:.2f} s")
        after = _http("GET", f"{server.url}/api/accounts/in-market?limit=500", READ_KEY)
        row = next(a for a in after["accounts"] if a["account_id"] == account)
        assert row["score"] >= threshold > before and row["reasons"]
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
        burst()  # still above, and within the cool-down: no second alert
        _wait(lambda: server.admin("GET", "/admin/ping")["scores"]["scored"] > scored, 60, "the second burst's scoring")
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
