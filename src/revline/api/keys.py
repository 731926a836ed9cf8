"""API keys: a write key for the collector (public, like Segment's) and a read key for reports.

Why keys live in the store (`api_keys`): a generated key printed at start-up must still work after
a restart, and the store is the one file a user already keeps. Order of precedence: an explicit
argument, then REVLINE_WRITE_KEY / REVLINE_READ_KEY, then the stored key, else a new random key
(stored, and flagged so `revline serve` prints it).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb

from revline.store.rows import scalar

ENV = {"write": "REVLINE_WRITE_KEY", "read": "REVLINE_READ_KEY"}
PREFIX = {"write": "rlw_", "read": "rlr_"}


@dataclass(frozen=True)
class ApiKeys:
    """The write key (public, in tracking snippets) and the read key (private, for reports)."""

    write: str
    read: str
    generated: tuple[str, ...] = ()  # which kinds were generated now ("write", "read")


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'api_keys'")
    )


MIN_KEY_CHARS = 16  # a key given by the user (a generated one has 36)


class ApiKeyError(ValueError):
    """A key the user gave cannot be used; the message names it and what to do instead."""


def resolve_keys(con: duckdb.DuckDBPyConnection, write_key: str | None, read_key: str | None) -> ApiKeys:
    """Each key from the argument, else the environment, else the store, else generated and stored;
    `generated` names the ones made now. A key given by argument or environment must have at
    least MIN_KEY_CHARS characters (a short read key falls to guessing; /login is throttled too),
    and the two keys must differ (the write key is public)."""
    given = {"write": write_key, "read": read_key}
    out: dict[str, str] = {}
    generated: list[str] = []
    stored = dict(con.execute("SELECT kind, key FROM api_keys").fetchall()) if _has_table(con) else {}
    for kind in ("write", "read"):
        origin = f"--{kind}-key" if given[kind] else f"${ENV[kind]}" if os.environ.get(ENV[kind]) else None
        key = given[kind] or os.environ.get(ENV[kind])
        if key and len(key) < MIN_KEY_CHARS:
            raise ApiKeyError(
                f"the {kind} key given by {origin} has {len(key)} characters, fewer than {MIN_KEY_CHARS}: give a longer "
                f"one (python -c 'import secrets; print(secrets.token_urlsafe(24))'), or none to use the stored one"
            )
        out[kind] = key or stored.get(kind) or ""
    if out["write"] and out["write"] == out["read"]:
        raise ApiKeyError("the write key and the read key are the same: give two different keys "
                          "(the write key is public, it sits in every tracked web page)")
    for kind in ("write", "read"):
        if not out[kind]:
            out[kind] = PREFIX[kind] + secrets.token_urlsafe(24)
            generated.append(kind)
            if _has_table(con):
                con.execute(
                    "INSERT OR REPLACE INTO api_keys (kind, key, created_at) VALUES (?, ?, ?)",
                    [kind, out[kind], datetime.now(timezone.utc).replace(tzinfo=None)],
                )
    return ApiKeys(out["write"], out["read"], tuple(generated))


class FailedLoginThrottle:
    """Failed key checks per client, as token buckets: `burst` failures at once, then one per
    `refill_seconds`. Why: /login answered about 1,100 guesses a second. Only failures take a
    token, so a user who types the key right is never slowed; a client with an empty bucket is
    refused before its key is compared (HTTP 429), so the answer tells nothing about the key."""

    def __init__(self, burst: int = 10, refill_seconds: float = 6.0, max_clients: int = 10_000) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, as of monotonic time)

    def _tokens(self, client: str, now: float) -> float:
        tokens, since = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - since) / self.refill_seconds)

    def retry_after(self, client: str) -> int:
        """0 when `client` may try a key now, else the seconds until it may."""
        tokens = self._tokens(client, time.monotonic())
        return 0 if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) * self.refill_seconds))

    def failed(self, client: str) -> None:
        """Record one failed attempt of `client`."""
        now = time.monotonic()
        if client not in self._buckets and len(self._buckets) >= self.max_clients:
            # forget the clients whose buckets are full again (they owe nothing)
            self._buckets = {c: v for c, v in self._buckets.items() if self._tokens(c, now) < self.burst}
            if len(self._buckets) >= self.max_clients:
                self._buckets.pop(next(iter(self._buckets)))
        self._buckets[client] = (max(0.0, self._tokens(client, now) - 1.0), now)


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so a key cannot be guessed byte by byte from response times."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def basic_username(header: bytes | str | None) -> str | None:
    """The user name of an HTTP Basic Authorization header (Segment puts the write key there)."""
    if not header:
        return None
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]
