"""Request limits that hold before authentication: body size and the time to send a body.

Why here and not in each route: an unauthenticated 512 MB POST to /login took the server from
375 MB to 1.9 GB, and a body sent halfway and then held kept its connection (and a Ctrl-C
shutdown) waiting for good. Neither uvicorn nor Starlette bounds either, so the outermost
middleware refuses a declared Content-Length over the limit at once (413), counts streamed
bodies as they arrive (413 once past it), and gives up on a body not complete within
`body_seconds` (408). The collector (/v1/*) keeps its own tighter size limits and uses the same
`ReadDeadlines` for the time limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

MAX_BODY_BYTES = 1024 * 1024  # any route but the collector's (which allows at most 500 KB)
# Routes that stream a big body themselves, after their own key check, mapped to the most they
# take: their body is not buffered here, a declared Content-Length is capped at that size, a
# streamed one is counted against it, and a body that stalls for BODY_SECONDS between two chunks
# gets 408. (/admin/uploads/: the admin API's file uploads for ingest jobs, revline.api.admin.)
STREAMED: dict[str, int] = {"/admin/uploads/": 20 * 1024**3}
# a body not complete this long after the request started is refused ($REVLINE_BODY_SECONDS)
BODY_SECONDS = float(os.environ.get("REVLINE_BODY_SECONDS") or 10.0)


class BodyTimeout(Exception):
    """The client did not send its whole body in time."""


class ReadDeadlines:
    """Cancels body reads that run past their deadline, from one sweeper task.

    Why not asyncio.timeout() around each read: it schedules and cancels a timer per request,
    about 20 µs, which the collector pays thousands of times a second; registering a task in a
    dict costs well under a microsecond, and a sweep each second finds the few that are late.
    """

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = BODY_SECONDS if seconds is None else seconds
        self._reading: dict[asyncio.Task, float] = {}
        self._expired: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None

    def begin(self) -> asyncio.Task:
        task = asyncio.current_task()
        if task is None:  # a real check: asserts vanish under python -O
            raise RuntimeError("ReadDeadlines.begin must run inside an asyncio task")
        self._reading[task] = time.monotonic() + self.seconds
        if self._sweeper is None or self._sweeper.done() or self._sweeper.get_loop() is not asyncio.get_running_loop():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return task

    def end(self, task: asyncio.Task, cancelled: bool = False) -> None:
        """Stop watching `task`; when `cancelled`, raise BodyTimeout if the cancel was ours."""
        self._reading.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            if cancelled:
                task.uncancel()
                raise BodyTimeout

    async def _sweep(self) -> None:
        while self._reading:
            await asyncio.sleep(min(1.0, self.seconds / 2))
            now = time.monotonic()
            for task, deadline in list(self._reading.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    async def read(self, receive, on_chunk=None) -> bytes:
        """The whole body from `receive`, or BodyTimeout; `on_chunk(size_so_far)` may raise."""
        task = self.begin()
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ConnectionResetError("client disconnected before the body was complete")
                chunk = message.get("body", b"")
                size += len(chunk)
                if on_chunk is not None:
                    on_chunk(size)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except asyncio.CancelledError:
            self.end(task, cancelled=True)
            raise
        finally:
            self.end(task)


def _json_error(status: int, reason: str) -> tuple[dict, dict]:
    body = json.dumps({"detail": reason}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]}
    return start, {"type": "http.response.body", "body": body}


class _TooLarge(Exception):
    pass


class BodyLimits:
    """Pure-ASGI middleware: size and time limits on the body of every route but /v1/* (the
    collector checks both itself, see api/collector.py). Install it outermost."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, deadlines: ReadDeadlines | None = None,
                 streamed: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.deadlines = deadlines or ReadDeadlines()
        self.streamed = STREAMED if streamed is None else streamed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        route_limit = next((n for prefix, n in self.streamed.items() if path.startswith(prefix)), None)
        streamed = route_limit is not None
        limit = route_limit if route_limit is not None else self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or len(value) > 18:
                    return await self._refuse(send, 400, "invalid Content-Length header")
                if int(value) > limit:
                    return await self._refuse(send, 413, f"body of {int(value)} bytes exceeds the limit of {limit} bytes")
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        if streamed:
            return await self._streamed(scope, receive, send, limit)
        # read the body up front, within the limits, and hand the app a replay of it
        try:
            body = await self.deadlines.read(receive, self._check_size)
        except _TooLarge:
            return await self._refuse(send, 413, f"body exceeds the limit of {self.max_bytes} bytes")
        except BodyTimeout:
            return await self._refuse(send, 408, f"the body did not arrive within {self.deadlines.seconds:g} s")
        except ConnectionResetError:
            return None
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        return await self.app(scope, replay, send)

    async def _streamed(self, scope, receive, send, limit: int) -> None:
        """Pass the body through chunk by chunk: counted against `limit`, each chunk due within
        the body time limit of the one before."""
        size = 0
        started = False

        async def timed_receive():
            nonlocal size
            task = self.deadlines.begin()
            try:
                message = await receive()
            except asyncio.CancelledError:
                self.deadlines.end(task, cancelled=True)
                raise
            finally:
                self.deadlines.end(task)
            size += len(message.get("body", b""))
            if size > limit:
                raise _TooLarge
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, watched_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, 413, f"body exceeds the limit of {limit} bytes")
        except BodyTimeout:
            if not started:
                await self._refuse(send, 408, f"the body stalled for {self.deadlines.seconds:g} s")

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise _TooLarge

    @staticmethod
    async def _refuse(send, status: int, reason: str) -> None:
        start, body = _json_error(status, reason)
        await send(start)
        await send(body)


__all__ = ["BODY_SECONDS", "MAX_BODY_BYTES", "BodyLimits", "BodyTimeout", "ReadDeadlines"]
