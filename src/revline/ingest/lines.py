"""Lines of a text file (gzip or not) as Arrow chunks, numbered, for DuckDB to parse in parallel.

Why not DuckDB's own reader: a gzip stream can only be decoded by one thread, and every operator
DuckDB puts behind such a scan runs on that thread too, so a million-event export parsed at one
core's speed. Here Python's zlib (which releases the GIL) decodes the next chunk while DuckDB
parses the current one on every core; the lines are cut with numpy and handed over as a
zero-copy Arrow string array, numbered by the reader itself so that no order-preserving window
is needed downstream.

A line is what ends with '\\n' (or the end of the file); its number is the count of '\\n' before
it plus one, as an editor shows it. The newline stays on the line (JSON treats it as
whitespace); callers strip it where the raw text is shown. Bytes that are not UTF-8 would be
undefined behaviour inside DuckDB, so such lines are decoded with U+FFFD and flagged `_bad_utf8`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

CHUNK_BYTES = 128 << 20  # decoded bytes per chunk: fewer, larger statements cost less CPU per line
FIRST_CHUNK_BYTES = 8 << 20  # a small first chunk: DuckDB starts parsing while the rest decodes
BATCH_ROWS = 8192  # rows per Arrow record batch: small enough that every core gets its share


class TruncatedFile(ValueError):
    """A gzip file that ends before its end-of-stream marker (a cut download) or is corrupt."""


def _blocks(path: Path, size: int, first: int) -> Iterator[bytes]:
    """Decoded bytes in blocks growing from about `first` to `size` (doubling: the caller starts
    parsing early, and each block decodes while the one before it is parsed). zlib directly rather than the gzip module: fewer, larger calls (zlib releases the GIL
    for each), the trailer's CRC and length still checked by zlib, concatenated members followed."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            fh.seek(0)
            want = first
            while block := fh.read(want):
                yield block
                want = min(size, want * 2)
            return
        fh.seek(0)
        d = zlib.decompressobj(31)
        want, out, pending = first, [], 0
        while True:
            raw = fh.read(1 << 18)  # ~4 MB decoded at typical ratios: blocks end near `want`
            if not raw:
                break
            while raw:
                try:
                    piece = d.decompress(raw)
                except zlib.error as exc:
                    raise TruncatedFile(f"{path}: not a readable gzip stream at byte {fh.tell()}: {exc}") from exc
                out.append(piece)
                pending += len(piece)
                raw = d.unused_data if d.eof else b""
                if d.eof and raw:  # another gzip member follows
                    d = zlib.decompressobj(31)
                if pending >= want:
                    yield b"".join(out)
                    out, pending, want = [], 0, min(size, want * 2)
        if not d.eof:
            raise TruncatedFile(f"{path}: the gzip stream ends early (file cut?)")
        if pending:
            yield b"".join(out)


def _newlines(data: bytes) -> np.ndarray:
    """Positions of b'\\n' in `data`, scanned in cache-sized slices (one pass over 369 MB of
    boolean temporaries would cost more than the scan)."""
    buf = np.frombuffer(data, np.uint8)
    step = 1 << 20
    parts = [np.flatnonzero(buf[i : i + step] == 10) + i for i in range(0, len(buf), step)]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _table(data: bytes, ends: np.ndarray, first_row: int) -> pa.Table:
    """Lines data[0:ends[0]], data[ends[0]:ends[1]], ... (each with its newline, if any)."""
    n = len(ends)
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = ends
    lines = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    bad = np.zeros(n, bool)
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        texts = []
        for i in range(n):
            raw = data[offsets[i] : offsets[i + 1]]
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(raw.decode("utf-8", errors="replace"))
                bad[i] = True
        lines = pa.array(texts, pa.large_string())
    rows = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    return pa.table({"line": lines, "_row": rows, "_bad_utf8": pa.array(bad)})


def _chunks(path: Path, chunk_bytes: int) -> Iterator[pa.Table]:
    carry = b""
    row = 1
    for block in _blocks(path, chunk_bytes, FIRST_CHUNK_BYTES):
        data = carry + block if carry else block
        nl = _newlines(data)
        if len(nl) == 0:
            carry = data
            continue
        cut = int(nl[-1]) + 1
        yield _table(data[:cut] if cut < len(data) else data, nl + 1, row)
        row += len(nl)
        carry = data[cut:]
    if carry:
        yield _table(carry, np.array([len(carry)], np.int64), row)


def line_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pa.Table]:
    """Tables of (line, _row 1-based, _bad_utf8), in file order; the next chunk is decoded on a
    background thread while the caller works on the current one."""
    it = _chunks(Path(path), chunk_bytes)
    with ThreadPoolExecutor(1, thread_name_prefix="revline-lines") as pool:
        nxt = pool.submit(next, it, None)
        while True:
            table = nxt.result()
            if table is None:
                return
            nxt = pool.submit(next, it, None)
            yield table


def batches(table: pa.Table) -> pa.Table:
    """The same rows re-cut into record batches DuckDB can spread over its threads."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), table.schema)
