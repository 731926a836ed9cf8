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
import os
import secrets
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


def resolve_keys(con: duckdb.DuckDBPyConnection, write_key: str | None, read_key: str | None) -> ApiKeys:
    """Each key from the argument, else the environment, else the store, else generated and stored;
    `generated` names the ones made now."""
    given = {"write": write_key, "read": read_key}
    out: dict[str, str] = {}
    generated: list[str] = []
    stored = dict(con.execute("SELECT kind, key FROM api_keys").fetchall()) if _has_table(con) else {}
    for kind in ("write", "read"):
        key = given[kind] or os.environ.get(ENV[kind]) or stored.get(kind)
        if not key:
            key = PREFIX[kind] + secrets.token_urlsafe(24)
            generated.append(kind)
            if _has_table(con):
                con.execute(
                    "INSERT OR REPLACE INTO api_keys (kind, key, created_at) VALUES (?, ?, ?)",
                    [kind, key, datetime.now(timezone.utc).replace(tzinfo=None)],
                )
        out[kind] = key
    if out["write"] == out["read"]:
        raise ValueError("the write key and the read key must differ: the write key is public")
    return ApiKeys(out["write"], out["read"], tuple(generated))


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
