"""A local webhook receiver for the alert tests: records every POST and answers with the status the
test scripts per account (a list consumed in order, the last one repeated), or stalls to time out."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.posts: list[tuple[float, dict]] = []  # (monotonic time, JSON body) of every request
        self.script: dict[str, list[int | str]] = {}  # account id -> statuses, or "stall"
        self.default: list[int | str] = [200]
        self.stall_seconds = 2.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = receiver._answer(body)
                if answer == "stall":
                    time.sleep(receiver.stall_seconds)
                    answer = 200
                try:
                    self.send_response(int(answer))
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender timed out and hung up (the stall case)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self, body: dict) -> int | str:
        with self._lock:
            self.posts.append((time.monotonic(), body))
            account = next((a for a in self.script if f"({a})" in body.get("text", "")), None)
            queue = self.script[account] if account is not None else self.default
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def for_account(self, account_id: str) -> list[tuple[float, dict]]:
        with self._lock:
            return [p for p in self.posts if f"({account_id})" in p[1].get("text", "")]

    def wait(self, count: int, account_id: str | None = None, timeout: float = 20.0) -> list[tuple[float, dict]]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.for_account(account_id) if account_id else list(self.posts)
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
