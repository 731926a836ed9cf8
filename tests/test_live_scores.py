"""Live in-market scores (revline.api.live_scores) with a scoring function injected as a parameter:
the scorer fits, scores every account once (no alerts), then re-scores only the accounts collected
events touch; through the live pipeline of an in-process server, page views by two people of one
account raise its score and fire the webhook, once per cool-down."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from alert_receiver import Receiver
from conftest import API_READ_KEY, API_WRITE_KEY
from waiting import wait_for
from revline.api.alerts import AlertSender, AlertSettings
from revline.api.live_scores import LiveScorer, Scoring
from revline.ops.scores import AlertRule
from revline.store import connect


# ------------------------------------------------------------------ the test double of revline.models.scoring
class Recorder:
    """A scoring model stand-in: in-market probability 1 - (1 - p)^n for n distinct people touching the
    account in the 7 days before `as_of` (the current time by default); records every call."""

    def __init__(self, p: float = 0.4, fail_fits: int = 0) -> None:
        self.p, self.fail_fits = p, fail_fits
        self.fits: list[object] = []
        self.calls: list[list[str] | None] = []
        self.as_ofs: list[object] = []

    def fit(self, con, as_of) -> dict:
        self.fits.append(as_of)
        if len(self.fits) <= self.fail_fits:
            raise RuntimeError("not enough history")
        return {"p": self.p}

    def score(self, con, as_of=None, account_ids=None, model=None) -> pd.DataFrame:
        assert model == {"p": self.p}
        self.calls.append(account_ids)
        self.as_ofs.append(as_of)
        as_of = as_of or datetime.now(timezone.utc).replace(tzinfo=None)
        df = con.execute(
            """
            SELECT a.account_id, a.name AS account_name,
                   count(DISTINCT t.person_id) FILTER (WHERE t.occurred_at > ?::TIMESTAMP - INTERVAL 7 DAY) AS people
            FROM accounts a LEFT JOIN touchpoints t USING (account_id)
            WHERE ?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], a.account_id)
            GROUP BY ALL ORDER BY a.account_id
            """, [as_of, account_ids, account_ids]).df()
        people = df.pop("people").astype(int)
        df["score"] = 1 - (1 - self.p) ** people.astype(float)
        df["baseline_points"] = 10.0 * people
        df["kind"] = "new_business"
        df["reasons"] = [[f"{n} people touched it this week"] for n in people]
        df["scored_at"] = pd.Timestamp(as_of)
        return df


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _touch(con, account: str, person: str | None, when: datetime) -> None:
    con.execute("INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel, touch_type) "
                "VALUES (?, ?, ?, ?, 'direct', 'page_view')", [uuid.uuid4().hex, when, person, account])


def test_scorer_fits_scores_all_without_alerts_then_only_touched_accounts(api_store, receiver):
    con = connect(api_store)
    lock = threading.RLock()
    model = Recorder(fail_fits=1)
    sender = AlertSender(con.cursor(), lock, AlertSettings(receiver.url, backoff=0.05), tick=0.05)
    scorer = LiveScorer(con.cursor(), lock, score_fn=model.score, fit_fn=model.fit, rule=AlertRule(0.5, timedelta(days=1)),
                        sender=sender, retry_seconds=0.0)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        for acc, person in (("A1", "P1"), ("A1", "P2")):  # A1 is already hot before the server starts
            _touch(con, acc, person, now - timedelta(hours=1))
        scorer.submit({"A2"})
        scorer.step()  # the fit fails: nothing scored, A2 waits
        assert (scorer.stats.ready, scorer.stats.failures, model.calls) == (False, 1, [])
        assert "not enough history" in scorer.stats.last_error
        scorer.step()  # fitted: every account scored once, then the waiting A2
        assert model.calls == [None, ["A2"]] and scorer.stats.ready and scorer.stats.fits == 1
        stored = dict(con.execute("SELECT account_id, score FROM account_scores").fetchall())
        assert set(stored) == {"A1", "A2", "A3"} and stored["A1"] == pytest.approx(1 - 0.6 ** 2)
        assert con.execute("SELECT count(*) FROM score_alerts").fetchone()[0] == 0  # the baseline fires nothing
        _touch(con, "A2", "P3", now)
        scorer.submit({"A2"})
        scorer.step()
        assert model.calls[-1] == ["A2"] and scorer.stats.scored == 2  # A2 twice, nothing else
        assert con.execute("SELECT score FROM account_scores WHERE account_id = 'A2'").fetchone()[0] == pytest.approx(0.4)
        _touch(con, "A2", "P4", now)  # a second person this week: 0.4 -> 0.64 crosses 0.5
        scorer.submit({"A2"})
        scorer.step()
        assert [a for (a,) in con.execute("SELECT account_id FROM score_alerts").fetchall()] == ["A2"]
        assert scorer.stats.alerts == 1
    finally:
        scorer.stop()
        con.close()


def test_a_failing_batch_keeps_its_accounts_for_the_next_round(api_store):
    con = connect(api_store)
    model = Recorder()
    broken = {"on": True}

    def score(con, **kw):
        if broken["on"] and kw.get("account_ids"):
            raise RuntimeError("boom")
        return model.score(con, **kw)

    scorer = LiveScorer(con.cursor(), threading.RLock(), score_fn=score, fit_fn=model.fit)
    try:
        scorer.step()
        scorer.submit({"A1", "A3"})
        with pytest.raises(RuntimeError):
            scorer.step()
        broken["on"] = False
        scorer.step()
        assert model.calls[-1] == ["A1", "A3"]
    finally:
        con.close()


def test_after_a_writer_job_every_account_is_rescored_with_alerts_at_the_given_time(api_store, receiver):
    con = connect(api_store)
    model = Recorder()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    lock = threading.RLock()
    scorer = LiveScorer(con.cursor(), lock, score_fn=model.score, fit_fn=model.fit, rule=AlertRule(0.5, timedelta(days=1)),
                        sender=AlertSender(con.cursor(), lock, AlertSettings(receiver.url)), as_of_fn=lambda c: now)
    try:
        scorer.step()
        assert model.fits == [now] and model.as_ofs == [now] and model.calls == [None]
        for person in ("P3", "P4"):  # a job (say a CRM ingest and stitch) gave A3 two people this week
            _touch(con, "A3", person, now - timedelta(hours=2))
        scorer.submit_all()
        scorer.step()
        assert model.calls == [None, None]
        assert [a for (a,) in con.execute("SELECT account_id FROM score_alerts").fetchall()] == ["A3"]
        assert scorer.stats.alerts == 1 and scorer.stats.fits == 1
    finally:
        scorer.stop()
        con.close()


def test_the_fitted_model_is_kept_beside_the_store_and_reused_while_fresh(api_store, caplog):
    import os

    from revline.api.live_scores import model_path

    con = connect(api_store)
    path = model_path(api_store)
    assert path.name == "store.duckdb.scorer.pkl"
    model = Recorder()

    def scorer(**kw) -> LiveScorer:
        return LiveScorer(con.cursor(), threading.RLock(), score_fn=model.score, fit_fn=model.fit, model_file=path, **kw)

    try:
        first = scorer()
        first.step()
        assert len(model.fits) == 1 and path.is_file() and (path.stat().st_mode & 0o777) == 0o600
        assert first.stats.ready and not first.stats.loaded
        again = scorer()  # a restart: the saved model, no fit, and the baseline scored with it
        again.step()
        assert len(model.fits) == 1 and again.stats.loaded and again.stats.ready and model.calls[-1] is None
        stale = time.time() - 7200
        os.utime(path, (stale, stale))
        scorer(refit_seconds=3600).step()  # older than refit_seconds: fitted anew
        assert len(model.fits) == 2
        path.write_bytes(b"not a pickle")
        with caplog.at_level("WARNING", logger="revline.live.scores"):
            broken = scorer()
            broken.step()
        assert len(model.fits) == 3 and broken.stats.ready and "does not load" in caplog.text
    finally:
        con.close()


def test_page_views_of_two_people_raise_the_score_and_fire_the_webhook_once(api_store, receiver):
    con = connect(api_store)  # the visitors' user ids in the stitched identity graph
    con.executemany("INSERT INTO identities (identity_type, identity_value, person_id) VALUES ('user_id', ?, ?)",
                    [("u-ann", "P1"), ("u-bob", "P2"), ("u-cy", "P3")])
    con.close()
    from revline.api.app import close_app, create_app

    model = Recorder()
    app = create_app(api_store, write_key=API_WRITE_KEY, read_key=API_READ_KEY, segment_seconds=0.05, derive=True,
                     warm=False, scoring=Scoring(model.score, model.fit),
                     alerts=AlertSettings(receiver.url, threshold=0.5, cooldown=timedelta(days=1), backoff=0.1,
                                          public_url="http://dash.example"))
    try:
        with TestClient(app) as client:
            hub = app.state.hub
            wait_for(lambda: hub.scorer.stats.ready, 20, "the first fit")
            auth = {"Authorization": f"Bearer {API_READ_KEY}"}
            before = client.get("/api/accounts/in-market", headers=auth).json()
            assert before["scored"] == 3 and all(a["score"] == 0 for a in before["accounts"])

            def view(user: str) -> None:
                r = client.post("/v1/page", auth=(API_WRITE_KEY, ""), json={
                    "userId": user, "messageId": f"live-{uuid.uuid4()}", "name": "Pricing",
                    "properties": {"path": "/pricing"}, "context": {"page": {"path": "/pricing"}}})
                assert r.status_code == 200

            sent = time.monotonic()
            view("u-ann")
            view("u-bob")
            (_, body), = wait_for(lambda: receiver.posts, 20, "the webhook")
            latency = time.monotonic() - sent
            assert "(A1) scored 0.64" in body["text"] and "2 people touched it this week" in body["text"]
            assert "http://dash.example/dashboard#journey=A1" in body["text"]
            top = client.get("/api/accounts/in-market?limit=1", headers=auth).json()["accounts"]
            assert [(a["account_id"], round(a["score"], 2)) for a in top] == [("A1", 0.64)]
            assert top[0]["reasons"] == ["2 people touched it this week"]
            assert top[0]["dashboard"] == "/dashboard#journey=A1" and top[0]["journey"] == "/api/accounts/A1/journey"
            assert all(calls == ["A1"] for calls in model.calls[1:])  # only the touched account was re-scored
            ping = client.get("/admin/ping", headers={"Authorization": f"Bearer {hub.admin_key}"}).json()
            assert ping["scores"]["alerts"] == 1 and ping["alerts"]["sent"] == 1
            # more views the same day: still above the threshold, no second alert (and the cool-down holds)
            scored = hub.scorer.stats.scored
            view("u-ann")
            wait_for(lambda: hub.scorer.stats.scored > scored, 20, "the next batch")
            time.sleep(0.5)
            assert len(receiver.posts) == 1
            assert latency < 15
            # a writer job (here a stitch) has every account re-scored, alerts included
            calls = len(model.calls)
            job = client.post("/admin/jobs", json={"op": "stitch", "params": {}},
                              headers={"Authorization": f"Bearer {hub.admin_key}"}).json()
            wait_for(lambda: hub.jobs.get(job["id"]).status == "done", 60, "the stitch job")
            wait_for(lambda: None in model.calls[calls:], 20, "the full re-scoring after the job")
    finally:
        close_app(app)
