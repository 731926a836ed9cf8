"""The collector's write-ahead log: append-only, fsynced segment files with group commit.

Why a log in front of DuckDB: a DuckDB commit per HTTP request would cap the collector at a few
hundred requests per second, yet a 200 must mean "this event survives a kill -9". Appending to a
file and fsyncing it is the cheapest durable step; requests that arrive while one fsync runs wait
for the next one together (group commit), so one fsync acknowledges many requests. Closed
segments are handed to the loader, which bulk-inserts them into `events` and then deletes them.
Start-up loads whatever segments a crashed process left behind before taking new traffic.

Record format: one line per request, `{"rid": ..., "rt": "<received UTC>", "k": "<kind>", "b": <body>}`,
where `b` is the request's own JSON body (newlines folded to spaces, which JSON allows between
tokens and forbids inside strings), so nothing is re-serialised on the hot path.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

SEGMENT_PREFIX = "segment-"
SEGMENT_SUFFIX = ".jsonl"


def wal_dir_for(db: Path | str) -> Path:
    """The log lives beside the store (`<db>.collector/`); DuckDB's own `<db>.wal` is left alone."""
    return Path(f"{db}.collector")


def list_segments(directory: Path) -> list[Path]:
    """Segments in write order (their names carry a zero-padded sequence number)."""
    return sorted(directory.glob(f"{SEGMENT_PREFIX}*{SEGMENT_SUFFIX}"))


def truncate_torn_tail(path: Path) -> int:
    """Cut a partial last line (a write cut short by a crash, never acknowledged); returns bytes cut."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return 0
        # scan backwards for the last newline
        pos, chunk = size, 65536
        keep = 0
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            data = fh.read(pos - start)
            idx = data.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            pos = start
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteAheadLog:
    """Durable appends with group commit; `on_sealed(path)` receives each closed segment."""

    def __init__(
        self,
        directory: Path,
        on_sealed: Callable[[Path], None],
        *,
        segment_seconds: float = 0.25,
        segment_bytes: int = 16 * 1024 * 1024,
        fsync: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.on_sealed = on_sealed
        self.segment_seconds = segment_seconds
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        existing = list_segments(self.directory)
        self._seq = (int(existing[-1].name[len(SEGMENT_PREFIX):-len(SEGMENT_SUFFIX)]) + 1) if existing else 1
        self._fh: BinaryIO | None = None
        self._path: Path | None = None
        self._opened_at = 0.0
        self._size = 0
        self._lock = threading.Lock()  # guards the open segment (writer thread vs. seal_now callers)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="revline-wal")
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future] = []
        self._flushing = False
        self.records_written = 0
        self.fsyncs = 0

    # -- synchronous core (runs on the single WAL thread, or under the lock) --
    def _open_segment(self) -> BinaryIO:
        self._path = self.directory / f"{SEGMENT_PREFIX}{self._seq:012d}{SEGMENT_SUFFIX}"
        self._seq += 1
        self._fh = fh = open(self._path, "ab", buffering=0)
        self._opened_at = time.monotonic()
        self._size = 0
        if self.fsync:
            _fsync_dir(self.directory)
        return fh

    def _seal_locked(self) -> None:
        if self._fh is None or self._path is None:  # both are set by _open_segment, unset here
            return
        self._fh.close()
        path = self._path
        self._fh, self._path, self._size = None, None, 0
        self.on_sealed(path)

    def write_sync(self, data: bytes, count: int = 1) -> None:
        """Append and fsync `data` (whole lines); returns once it is on disk."""
        with self._lock:
            fh = self._open_segment() if self._fh is None else self._fh
            fh.write(data)
            if self.fsync:
                os.fdatasync(fh.fileno())
            self.fsyncs += 1
            self.records_written += count
            self._size += len(data)
            if self._size >= self.segment_bytes or time.monotonic() - self._opened_at >= self.segment_seconds:
                self._seal_locked()

    def seal_if_due(self) -> None:
        with self._lock:
            if self._fh is not None and time.monotonic() - self._opened_at >= self.segment_seconds:
                self._seal_locked()

    def seal_now(self) -> None:
        with self._lock:
            self._seal_locked()

    # -- asyncio front: group commit --
    async def append(self, record: bytes) -> None:
        r"""Resolve once `record` (one line, ending in \n) is fsynced."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append(record)
        self._waiters.append(fut)
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush_loop())
        await fut

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                data, waiters = b"".join(self._pending), self._waiters
                self._pending, self._waiters = [], []
                try:
                    await loop.run_in_executor(self._executor, self.write_sync, data, len(waiters))
                except BaseException as exc:  # the disk failed: nobody gets a 200
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                    continue
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
        finally:
            self._flushing = False

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.seal_now()
