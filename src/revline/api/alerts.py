"""In-market alerts: a POST of Slack-compatible JSON to a webhook when an account's score crosses
the threshold (the decision and its record: revline.ops.scores).

Why a thread of its own: a webhook may be slow or down, and the live pipeline must never wait
for it. The sender keeps the alerts in a queue ordered by when each is next due, so one alert
waiting out its back-off does not hold back the others. A failure (timeout, connection refused,
HTTP 429 or 5xx) is retried after `backoff`, 2·backoff, 4·backoff... seconds, up to `attempts`
tries in all, then given up with one logged line; any other 4xx is given up at once (retrying
would not change the answer). Outcomes are written to `score_alerts` when the store's write lock
is free (never waiting for it: a long job holds it), and alerts still pending when the server
stops are sent at its next start, so delivery is at least once.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import duckdb

from revline.ops.scores import DEFAULT_THRESHOLD, Alert, AlertRule, pending_alerts, record_delivery

log = logging.getLogger("revline.alerts")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '30m', '90s', '2w' or plain seconds -> timedelta (ValueError names the text)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration: give a number with s, m, h, d or w (e.g. 7d)")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2) or "s"])


@dataclass(frozen=True)
class AlertSettings:
    """Where and when to alert: `revline serve --alert-webhook --alert-threshold --alert-cooldown`."""

    webhook: str
    threshold: float = DEFAULT_THRESHOLD
    cooldown: timedelta = timedelta(days=7)
    public_url: str = "http://127.0.0.1:8000"  # the server as people reach it, for journey links
    attempts: int = 5
    backoff: float = 2.0  # seconds before the first retry; doubled each time
    timeout: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.webhook)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"alert webhook {self.webhook!r} is not an http(s) URL")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"alert threshold {self.threshold} must be a probability above 0 and at most 1")
        if self.cooldown < timedelta(0):
            raise ValueError("alert cool-down must not be negative")
        if self.attempts < 1:
            raise ValueError("alert attempts must be at least 1")

    @property
    def rule(self) -> AlertRule:
        return AlertRule(threshold=self.threshold, cooldown=self.cooldown)


def journey_link(public_url: str, account_id: str) -> str:
    """The dashboard opened on the account's journey (the in-market panel reads the fragment)."""
    return f"{public_url.rstrip('/')}/dashboard#journey={quote(account_id, safe='')}"


def _mrkdwn(text: str) -> str:
    """Slack's three control characters escaped, so a name cannot forge a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert, public_url: str) -> dict[str, Any]:
    """The message: `text` (notifications, plain clients) and `blocks` (Slack's layout)."""
    name = alert.account_name or alert.account_id
    link = journey_link(public_url, alert.account_id)
    kind = (alert.kind or "").replace("_", " ")
    head = (f"In-market: {name} ({alert.account_id}) scored {alert.score:.2f}"
            f"{f' for {kind}' if kind else ''} (threshold {alert.threshold:.2f})")
    reasons = alert.reasons[:5]
    text = head + (": " + "; ".join(reasons) if reasons else "") + f". Journey: {link}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            f"*<{link}|{_mrkdwn(name)}>* is in-market: score *{alert.score:.2f}*"
            f"{f' ({_mrkdwn(kind)})' if kind else ''}, threshold {alert.threshold:.2f}"
            + (f", was {alert.previous_score:.2f}" if alert.previous_score is not None else ""))}},
    ]
    if reasons:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "\n".join(f"• {_mrkdwn(r)}" for r in reasons)}})
    scored = alert.scored_at.isoformat(sep=" ", timespec="seconds") if alert.scored_at else "now"
    blocks += [
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": f"revline · account {_mrkdwn(alert.account_id)} · scored {scored} UTC"}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open journey"},
                                          "url": link}]},
    ]
    return {"text": text, "blocks": blocks}


@dataclass
class AlertStats:
    """Counters since the server started (reported by /admin/ping)."""

    queued: int = 0
    sent: int = 0
    retries: int = 0
    given_up: int = 0
    last_error: str | None = None


class _Retry(Exception):
    """A failure worth another try (timeout, connection, 429, 5xx)."""


def _post(url: str, payload: dict[str, Any], timeout: float) -> None:
    """One POST; returns on 2xx, raises _Retry for what may pass, ValueError for what will not."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",  # noqa: S310 - http(s), checked by AlertSettings
                                 headers={"Content-Type": "application/json", "User-Agent": "revline-alerts"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the configured http(s) webhook
            resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise _Retry(f"HTTP {exc.code}") from None
        raise ValueError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise _Retry(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


class AlertSender:
    """Delivers alerts from its own thread (see the module docstring). `con`: a cursor of the
    store's connection for this sender only; `write_lock`: the store's write lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection, write_lock: threading.RLock, settings: AlertSettings,
                 *, tick: float = 0.5) -> None:
        self.con = con
        self.write_lock = write_lock
        self.settings = settings
        self.tick = tick
        self.stats = AlertStats()
        self._heap: list[tuple[float, int, Alert]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._outcomes: list[tuple[str, str, int, str | None, datetime | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="revline-alerts", daemon=True)

    def start(self) -> None:
        """Queue what a previous run left pending, then start sending."""
        with self.write_lock:
            left = pending_alerts(self.con)
        if left:
            log.info("%d alert(s) left pending by the previous run: sending them", len(left))
        self.submit(left)
        self._thread.start()

    def submit(self, alerts: list[Alert]) -> None:
        """Queue alerts to send now (never blocks on the network)."""
        if not alerts:
            return
        with self._cond:
            for alert in alerts:
                self._push(time.monotonic(), alert)
            self.stats.queued += len(alerts)
            self._cond.notify()

    def _push(self, due: float, alert: Alert) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, alert))

    def idle(self) -> bool:
        """Nothing queued, nothing waiting to be recorded."""
        with self._cond:
            return not self._heap and not self._outcomes

    def stop(self) -> None:
        """Stop sending (alerts not delivered stay pending in the store for the next start)."""
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.timeout + 5)
        self._record(block=True)  # waits at most 5 s for a job's write lock; unrecorded ones stay pending

    def _next(self) -> Alert | None:
        with self._cond:
            while not self._stop.is_set():
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    return heapq.heappop(self._heap)[2]
                wait = self.tick if not self._heap else min(self.tick, self._heap[0][0] - now)
                self._cond.wait(wait)
                if self._outcomes:
                    return None  # let the loop try to record them
            return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            alert = self._next()
            if alert is not None:
                self._deliver(alert)
            self._record(block=False)

    def _deliver(self, alert: Alert) -> None:
        s = self.settings
        alert.attempts += 1
        try:
            _post(s.webhook, slack_payload(alert, s.public_url), s.timeout)
        except _Retry as exc:
            self.stats.last_error = str(exc)
            if alert.attempts < s.attempts:
                self.stats.retries += 1
                with self._cond:
                    self._push(time.monotonic() + s.backoff * 2 ** (alert.attempts - 1), alert)
                self._outcome(alert, "pending", str(exc))
                return
            self._give_up(alert, str(exc))
        except ValueError as exc:
            self.stats.last_error = str(exc)
            self._give_up(alert, str(exc))
        else:
            self.stats.sent += 1
            self._outcome(alert, "sent", None, datetime.now(timezone.utc).replace(tzinfo=None))

    def _give_up(self, alert: Alert, error: str) -> None:
        self.stats.given_up += 1
        log.warning("in-market alert for account %s (score %.2f) not delivered to the webhook after %d attempt(s) "
                    "(%s); given up", alert.account_id, alert.score, alert.attempts, error)
        self._outcome(alert, "failed", error)

    def _outcome(self, alert: Alert, status: str, error: str | None, sent_at: datetime | None = None) -> None:
        with self._cond:
            self._outcomes.append((alert.alert_id, status, alert.attempts, error and error[:500], sent_at))

    def _record(self, block: bool) -> None:
        """Write the outcomes so far, if the write lock is free (or frees within 5 s when `block`)."""
        with self._cond:
            if not self._outcomes:
                return
        if not (self.write_lock.acquire(timeout=5.0) if block else self.write_lock.acquire(blocking=False)):
            return
        try:
            with self._cond:
                outcomes, self._outcomes = self._outcomes, []
            try:
                record_delivery(self.con, outcomes)
            except Exception:  # noqa: BLE001 - kept for the next try; the alert itself was handled
                log.exception("recording the delivery of %d alert(s) failed", len(outcomes))
                with self._cond:
                    self._outcomes = outcomes + self._outcomes
        finally:
            self.write_lock.release()
