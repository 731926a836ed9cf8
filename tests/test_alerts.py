"""In-market alerts (revline.api.alerts) against a local receiver: the Slack-compatible message,
delivery and its record, retries with exponential back-off (failing then succeeding, timeouts),
giving up with a logged line, an alert in back-off not holding back the others, and alerts left
pending by a stopped server sent at the next start."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import pandas as pd
import pytest

from alert_receiver import Receiver
from revline.api.alerts import AlertSender, AlertSettings, journey_link, parse_duration, slack_payload
from revline.ops.scores import Alert, AlertRule, store_scores
from revline.store import connect
from waiting import wait_for

T0 = datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def store(tmp_path):
    db = tmp_path / "alerts.duckdb"
    con = connect(db)
    con.executemany("INSERT INTO accounts (account_id, name) VALUES (?, ?)",
                    [("A1", "Acme <Corp> & Co"), ("A2", "Globex"), ("A3", "Initech")])
    yield db, con
    con.close()


def _fire(con, *accounts: str, score: float = 0.8) -> list[Alert]:
    """Record a crossing for each account (0.1 -> score) as the live scorer does; returns the alerts."""
    frame = lambda s: pd.DataFrame({"account_id": list(accounts), "score": s, "kind": "new_business",  # noqa: E731
                                    "reasons": [["3 people from finance viewed pricing this week"]] * len(accounts),
                                    "scored_at": pd.Timestamp(T0)})
    rule = AlertRule(0.5, timedelta(days=7))
    store_scores(con, frame(0.1), rule)
    return store_scores(con, frame(score), rule)


def _sender(con, url: str, **kw) -> AlertSender:
    settings = AlertSettings(url, threshold=0.5, public_url="http://revline.example:8000",
                             **{"backoff": 0.2, "attempts": 4, "timeout": 1.0, **kw})
    return AlertSender(con.cursor(), threading.RLock(), settings, tick=0.05)


def _status(con, alert: Alert) -> tuple:
    return con.execute("SELECT status, attempts, last_error, sent_at IS NOT NULL FROM score_alerts WHERE alert_id = ?",
                       [alert.alert_id]).fetchone()


def test_the_message_names_the_account_score_reasons_and_journey_link():
    alert = Alert("x1", "A1", "Acme <Corp> & Co", 0.8123, 0.31, 0.5, "new_business",
                  ["3 people from finance viewed pricing this week", "2 demo requests"], T0, T0)
    msg = slack_payload(alert, "https://revline.example/")
    link = "https://revline.example/dashboard#journey=A1"
    assert link == journey_link("https://revline.example/", "A1")
    assert msg["text"].startswith("In-market: Acme <Corp> & Co (A1) scored 0.81 for new business (threshold 0.50)")
    assert "3 people from finance viewed pricing this week; 2 demo requests" in msg["text"] and link in msg["text"]
    head, reasons, context, actions = msg["blocks"]
    assert head["text"]["text"].startswith(f"*<{link}|Acme &lt;Corp&gt; &amp; Co>* is in-market: score *0.81*")
    assert "was 0.31" in head["text"]["text"]
    assert reasons["text"]["text"] == "• 3 people from finance viewed pricing this week\n• 2 demo requests"
    assert context["type"] == "context" and actions["elements"][0]["url"] == link
    odd = slack_payload(Alert("x2", "a/b c", None, 0.6, None, 0.5, None, [], None, None), "http://h")
    assert "journey=a%2Fb%20c" in odd["text"] and len(odd["blocks"]) == 3


@pytest.mark.parametrize("text,seconds", [("7d", 604800), ("12h", 43200), ("30m", 1800), ("90", 90), ("1.5h", 5400),
                                          ("2w", 1209600), (" 5 s ", 5)])
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "7 days", "-1d", "d", "1y"])
def test_bad_durations_name_the_text(bad):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


@pytest.mark.parametrize("kw,match", [({"webhook": "ftp://x/y"}, "not an http"), ({"webhook": "hooks.slack.com"}, "not an http"),
                                      ({"threshold": 0.0}, "probability"), ({"threshold": 1.2}, "probability"),
                                      ({"attempts": 0}, "at least 1")])
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        AlertSettings(**{"webhook": "https://hooks.example/x", **kw})


def test_an_alert_is_delivered_and_recorded(store, receiver):
    _, con = store
    sender = _sender(con, receiver.url)
    sender.start()
    try:
        (alert,) = _fire(con, "A1")
        sender.submit([alert])
        (_, body), = receiver.wait(1)
        assert "Acme <Corp> & Co (A1) scored 0.80" in body["text"]
        assert body["blocks"][-1]["elements"][0]["url"] == "http://revline.example:8000/dashboard#journey=A1"
        wait_for(lambda: _status(con, alert)[0] == "sent", 10, "the alert's status")
        assert _status(con, alert) == ("sent", 1, None, True)
        assert (sender.stats.sent, sender.stats.retries, sender.stats.given_up) == (1, 0, 0)
    finally:
        sender.stop()


def test_a_failing_then_succeeding_receiver_gets_it_after_backoff(store, receiver):
    _, con = store
    receiver.script["A1"] = [500, 503, 200]
    sender = _sender(con, receiver.url, backoff=0.3)
    sender.start()
    try:
        (alert,) = _fire(con, "A1")
        sender.submit([alert])
        posts = receiver.wait(3, "A1")
        assert len(posts) == 3
        gaps = [b[0] - a[0] for a, b in zip(posts, posts[1:])]
        assert gaps[0] >= 0.3 and gaps[1] >= 0.6  # backoff, then twice that
        wait_for(lambda: _status(con, alert)[0] == "sent", 10, "the alert's status")
        assert _status(con, alert)[:2] == ("sent", 3)
        assert (sender.stats.sent, sender.stats.retries) == (1, 2)
        time.sleep(0.5)
        assert len(receiver.for_account("A1")) == 3  # nothing after the success
    finally:
        sender.stop()


def test_a_timeout_is_retried(store, receiver):
    _, con = store
    receiver.script["A1"] = ["stall", 200]
    receiver.stall_seconds = 1.5
    sender = _sender(con, receiver.url, timeout=0.5, backoff=0.1)
    sender.start()
    try:
        (alert,) = _fire(con, "A1")
        sender.submit([alert])
        wait_for(lambda: _status(con, alert)[0] == "sent", 10, "the alert's status")
        status, attempts, *_ = _status(con, alert)
        assert attempts == 2 and sender.stats.retries == 1 and "timed out" in sender.stats.last_error.lower()
    finally:
        sender.stop()


def test_it_gives_up_after_n_attempts_with_a_logged_line(store, receiver, caplog):
    _, con = store
    receiver.script["A1"] = [502]
    sender = _sender(con, receiver.url, attempts=3, backoff=0.05)
    sender.start()
    try:
        with caplog.at_level(logging.WARNING, logger="revline.alerts"):
            (alert,) = _fire(con, "A1")
            sender.submit([alert])
            wait_for(lambda: _status(con, alert)[0] == "failed", 10, "the alert's status")
        assert _status(con, alert)[:3] == ("failed", 3, "HTTP 502")
        assert len(receiver.for_account("A1")) == 3
        (line,) = [r.getMessage() for r in caplog.records if "given up" in r.getMessage()]
        assert "account A1" in line and "after 3 attempt(s)" in line and "HTTP 502" in line
    finally:
        sender.stop()


def test_a_client_error_is_given_up_at_once(store, receiver):
    _, con = store
    receiver.script["A1"] = [404]
    sender = _sender(con, receiver.url)
    sender.start()
    try:
        (alert,) = _fire(con, "A1")
        sender.submit([alert])
        wait_for(lambda: _status(con, alert)[0] == "failed", 10, "the alert's status")
        assert _status(con, alert)[:3] == ("failed", 1, "HTTP 404") and sender.stats.retries == 0
    finally:
        sender.stop()


def test_an_alert_in_backoff_does_not_hold_back_the_others(store, receiver):
    _, con = store
    receiver.script["A1"] = [500, 500, 200]
    sender = _sender(con, receiver.url, backoff=2.0)
    sender.start()
    try:
        a1, a2 = _fire(con, "A1", "A2")
        sender.submit([a1, a2])
        receiver.wait(1, "A2", timeout=5)
        (first_a1, *_), (a2_post, *_) = receiver.for_account("A1"), receiver.for_account("A2")
        assert a2_post[0] - first_a1[0] < 1.8  # A2 went out while A1 waited out its 2 s back-off
        wait_for(lambda: _status(con, a1)[0] == "sent", 15, "the alert sent")
    finally:
        sender.stop()


def test_outcomes_wait_for_the_write_lock_without_blocking_delivery(store, receiver):
    _, con = store
    lock = threading.RLock()
    sender = AlertSender(con.cursor(), lock, AlertSettings(receiver.url, backoff=0.05), tick=0.05)
    sender.start()
    a1, a2 = _fire(con, "A1", "A2")
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:  # a long job holds the store's write lock
        with lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        sender.submit([a1, a2])
        assert len(receiver.wait(2)) == 2  # delivered while the lock is held
        assert _status(con, a1)[0] == "pending"  # not recorded yet
    finally:
        release.set()
        t.join()
    wait_for(lambda: _status(con, a1)[0] == _status(con, a2)[0] == "sent", 10, "the alert's status")
    sender.stop()


def test_alerts_left_pending_are_sent_at_the_next_start(store, receiver):
    db, con = store
    receiver.script["A1"] = [500]
    sender = _sender(con, receiver.url, backoff=30.0)  # first try fails, the retry is far away
    sender.start()
    (alert,) = _fire(con, "A1")
    sender.submit([alert])
    receiver.wait(1, "A1")
    sender.stop()  # the server stops
    assert _status(con, alert)[:2] == ("pending", 1)
    receiver.script["A1"] = [200]
    again = _sender(con, receiver.url)
    again.start()  # the next start
    try:
        wait_for(lambda: _status(con, alert)[0] == "sent", 10, "the alert's status")
        assert _status(con, alert)[:2] == ("sent", 2) and len(receiver.for_account("A1")) == 2
    finally:
        again.stop()


@pytest.mark.parametrize("args,message", [
    (["--alert-webhook", "ftp://hooks.example/x"], "is not an http(s) URL"),
    (["--alert-webhook", "https://hooks.example/x", "--alert-cooldown", "a week"], "is not a duration"),
    (["--alert-webhook", "https://hooks.example/x", "--no-live"], "needs the live pipeline"),
    (["--alert-webhook", "https://hooks.example/x", "--no-in-market"], "needs the live pipeline"),
])
def test_serve_refuses_bad_alert_options_in_one_line(tmp_path, args, message):
    from typer.testing import CliRunner

    from revline.cli import app

    db = tmp_path / "x.duckdb"
    result = CliRunner().invoke(app, ["serve", "--db", str(db), *args])
    assert result.exit_code == 1
    out = result.output.strip()
    assert message in out and out.startswith("revline: ") and len(out.splitlines()) == 1
    assert "Traceback" not in out and not db.exists()  # refused before the store is opened
