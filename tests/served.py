"""The app served over real HTTP for browser tests: uvicorn in a daemon thread on a socket bound to
port 0 (the kernel picks a free port, so parallel test processes never race for one).

Why one helper: five browser test modules each started the server the same way; a change (a
longer start-up wait on a loaded machine, a lifespan setting) is made here once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import API_READ_KEY, API_WRITE_KEY

START_SECONDS = 30.0


def serve(db: Path | str) -> Iterator[str]:
    """Serve the store `db` (read and write keys of conftest, no touchpoint derivation) and yield
    its base URL until the caller resumes; for a module fixture: `yield from serve(db)`."""
    import uvicorn

    from revline.api.app import close_app, create_app

    app = create_app(Path(db), write_key=API_WRITE_KEY, read_key=API_READ_KEY, derive=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_SECONDS
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise RuntimeError(f"uvicorn did not start within {START_SECONDS:.0f} s serving {db}")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        close_app(app)
        sock.close()
