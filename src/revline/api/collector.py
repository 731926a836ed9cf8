"""The Segment-compatible collector as a lean ASGI app: /v1/track, page, identify, group, alias, batch.

Why raw ASGI instead of FastAPI routes: every microsecond of framework work per request is paid
thousands of times a second here, and these endpoints need neither dependency injection nor
response models. The endpoints are still described in the OpenAPI document (see openapi_doc.py).

Contract: HTTP Basic with the write key as user name (password ignored, empty by convention),
else 401. A 200 means the request is fsynced in the write-ahead log. Bad input gets a 4xx with
{"success": false, "error": reason}; over-size gets 413 (32 KB per message, 500 KB per batch).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from revline.api.event_loader import EventLoader
from revline.api.keys import basic_username, same
from revline.api.limits import BodyTimeout, ReadDeadlines
from revline.api.segment_spec import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    SpecError,
    check_batch,
    check_single,
    parse_batch_body,
    parse_body,
)
from revline.api.wal import WriteAheadLog

KINDS = ("track", "page", "screen", "identify", "group", "alias", "batch")
_PATHS = {f"/v1/{k}".encode(): k for k in KINDS} | {f"/v1/{k}/".encode(): k for k in KINDS}
_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"authorization, content-type"),
    (b"access-control-max-age", b"86400"),
]
_JSON = [(b"content-type", b"application/json")] + _CORS
_OK = b'{"success":true}'


def _content_length(value: bytes) -> int:
    """The Content-Length header as a number (the server normally refused a bad one already)."""
    if not value.isdigit() or len(value) > 18:
        raise SpecError("invalid Content-Length header")
    return int(value)


def _error_body(reason: str) -> bytes:
    return json.dumps({"success": False, "error": reason}).encode()


class Collector:
    """Owns the write-ahead log and the loader; callable as an ASGI app."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        wal_dir: Path,
        write_key: str,
        *,
        segment_seconds: float = 0.25,
        fsync: bool = True,
        derive: bool = True,
        derive_seconds: float = 5.0,
    ) -> None:
        self.write_key = write_key
        self.loader = EventLoader(con, derive=derive, derive_seconds=derive_seconds)
        self.recovered = self.loader.recover(wal_dir)  # replay before the first new request
        self.wal = WriteAheadLog(wal_dir, self.loader.submit, segment_seconds=segment_seconds, fsync=fsync)
        self.loader.start()
        self.deadlines = ReadDeadlines()  # a body must arrive within BODY_SECONDS (408 otherwise)
        self._boot = os.urandom(6).hex()
        self._counter = 0
        self._sealer: asyncio.Task | None = None
        self._closed = False
        self.requests = 0
        self.messages = 0

    # -- lifecycle --
    async def start(self) -> None:
        """Seal idle segments on a timer so quiet periods still reach the `events` table soon."""
        self._sealer = asyncio.get_running_loop().create_task(self._seal_periodically())

    async def _seal_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.wal.segment_seconds)
            await loop.run_in_executor(self.wal._executor, self.wal.seal_if_due)

    async def stop(self) -> None:
        """End of a lifespan: everything acknowledged reaches `events`; threads stay for a restart
        (test clients run one lifespan per request). `close()` releases them for good."""
        if self._sealer is not None:
            self._sealer.cancel()
            self._sealer = None
        await asyncio.get_running_loop().run_in_executor(None, self.flush)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.wal.close()
        self.loader.request_derive()
        self.loader.wait_idle()
        self.loader.stop()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Seal the open segment and wait until every acknowledged message is in `events`."""
        self.wal._executor.submit(self.wal.seal_now).result(timeout)
        self.loader.request_derive()
        return self.loader.wait_idle(timeout)

    # -- ASGI --
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("raw_path") or scope["path"].encode()
        kind = _PATHS.get(path.split(b"?", 1)[0])
        method = scope["method"]
        if kind is None:
            return await self._respond(send, 404, _error_body("unknown collector endpoint"))
        if method == "OPTIONS":
            return await self._respond(send, 204, b"")
        if method != "POST":
            return await self._respond(send, 405, _error_body("use POST"), [(b"allow", b"POST, OPTIONS")])
        auth = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"content-length":
                length = value
        if not same(basic_username(auth), self.write_key):
            return await self._respond(
                send, 401, _error_body("missing or invalid write key (HTTP Basic, write key as user name)"),
                [(b"www-authenticate", b'Basic realm="revline collector"')],
            )
        limit = MAX_BATCH_BYTES if kind == "batch" else MAX_EVENT_BYTES
        try:
            if length is not None and _content_length(length) > limit:
                raise SpecError(f"payload of {int(length)} bytes exceeds the limit of {limit} bytes", 413)
            body = await self._read_body(receive, limit)
            if kind == "batch":
                n = check_batch(*parse_batch_body(body, limit))
            else:
                n = check_single(parse_body(body, limit), kind)
        except SpecError as exc:
            return await self._respond(send, exc.status, _error_body(exc.reason))
        self._counter += 1
        rt = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        record = b"".join((
            b'{"rid":"', f"{self._boot}-{self._counter}".encode(), b'","rt":"', rt.encode(),
            b'","k":"', kind.encode(), b'","b":', body.replace(b"\n", b" ").replace(b"\r", b" "), b"}\n",
        ))
        try:
            await self.wal.append(record)
        except OSError as exc:
            return await self._respond(send, 503, _error_body(f"could not persist the event, retry: {exc}"))
        self.requests += 1
        self.messages += n
        await self._respond(send, 200, _OK)

    async def _read_body(self, receive, limit: int) -> bytes:
        def check(size: int) -> None:
            if size > limit:
                raise SpecError(f"payload exceeds the limit of {limit} bytes", 413)

        try:
            return await self.deadlines.read(receive, check)
        except BodyTimeout:
            raise SpecError(f"the body did not arrive within {self.deadlines.seconds:g} s", 408) from None
        except ConnectionResetError:
            raise SpecError("client disconnected before the body was complete") from None

    @staticmethod
    async def _respond(send, status: int, body: bytes, extra: list | None = None) -> None:
        headers = _JSON + [(b"content-length", str(len(body)).encode())] + (extra or [])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class CollectorFirst:
    """Pure-ASGI middleware sending /v1/* straight to the collector and everything else on.

    Why: FastAPI's routing and middleware cost about as much CPU as the collector's own work per
    request; installed as the outermost user middleware, collector requests skip all of it.
    """

    def __init__(self, app, collector: Collector) -> None:
        self.app = app
        self.collector = collector

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            return await self.collector(scope, receive, send)
        return await self.app(scope, receive, send)
