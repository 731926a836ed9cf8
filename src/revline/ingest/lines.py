r"""Lines of a text file (gzip or not) as Arrow chunks, numbered, for DuckDB to parse in parallel.

Why not DuckDB's own reader: a gzip stream can only be decoded by one thread, and every operator
DuckDB puts behind such a scan runs on that thread too, so a million-event export parsed at one
core's speed. Here Python's zlib (which releases the GIL) decodes the next chunk while DuckDB
parses the current one on every core; the lines are cut with numpy and handed over as a
zero-copy Arrow string array, numbered by the reader itself so that no order-preserving window
is needed downstream.

A line is what ends with '\n' (or the end of the file); its number is the count of '\n' before
it plus one, as an editor shows it. The newline stays on the line (JSON treats it as
whitespace); callers strip it where the raw text is shown. Bytes that are not UTF-8 would be
undefined behaviour inside DuckDB, so such lines are decoded with U+FFFD and flagged `_bad_utf8`.
"""

from __future__ import annotations

try:  # zlib-ng decodes gzip ~7x faster than the stdlib's zlib, same API and checks
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - an unusual platform without its wheel
    import zlib  # type: ignore[no-redef]  # same API as zlib_ng
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

CHUNK_BYTES = 128 << 20  # decoded bytes per chunk: fewer, larger statements cost less CPU per line
FIRST_CHUNK_BYTES = 16 << 20  # a small first chunk: DuckDB starts parsing while the rest decodes
BATCH_ROWS = 8192  # rows per Arrow record batch: small enough that every core gets its share


class TruncatedFile(ValueError):
    """A gzip file that ends before its end-of-stream marker (a cut download) or is corrupt."""


PIECE_BYTES = 1 << 22  # bytes decoded (or read) per call; lines are cut out of each piece in place


def _pieces(path: Path) -> Iterator[bytes]:
    """The file's decoded bytes in pieces of about PIECE_BYTES. zlib directly rather than the
    gzip module: no re-buffering copy (each copy of a 369 MB export costs 0.2 s), the trailer's
    CRC and length still checked, concatenated members followed, each call releases the GIL."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            fh.seek(0)
            while piece := fh.read(PIECE_BYTES):
                yield piece
            return
        fh.seek(0)
        d = zlib.decompressobj(31)
        while True:
            raw = d.unconsumed_tail or fh.read(max(PIECE_BYTES >> 4, 64))
            if not raw:
                break
            try:  # max_length bounds each piece, however well the data compresses
                piece = d.decompress(raw, PIECE_BYTES)
            except zlib.error as exc:  # type: ignore[misc]  # zlib_ng's stub types `error` as an instance
                raise TruncatedFile(f"{path}: not a readable gzip stream near byte {fh.tell()}: {exc}") from exc
            if piece:
                yield piece
            if d.eof and d.unused_data:  # another gzip member follows
                rest = d.unused_data
                d = zlib.decompressobj(31)
                fh.seek(-len(rest), 1)
        if not d.eof:
            raise TruncatedFile(f"{path}: the gzip stream ends early (file cut?)")


def _newlines(data: bytes) -> np.ndarray:
    r"""Positions of b'\n' in `data`, scanned in cache-sized slices (one pass over a big buffer's
    boolean temporaries would cost more than the scan)."""
    buf = np.frombuffer(data, np.uint8)
    step = 1 << 20
    parts = [np.flatnonzero(buf[i : i + step] == 10) + i for i in range(0, len(buf), step)]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


SCHEMA = pa.schema([("line", pa.large_string()), ("_row", pa.int64()), ("_bad_utf8", pa.bool_())])


def _batch(data: bytes, offsets: np.ndarray, first_row: int) -> pa.RecordBatch:
    """Lines data[offsets[0]:offsets[1]], data[offsets[1]:offsets[2]], ... as a record batch that
    points into `data` (no copy), unless some line is not UTF-8."""
    n = len(offsets) - 1
    offsets = np.ascontiguousarray(offsets, np.int64)
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
    return pa.RecordBatch.from_arrays([lines, rows, pa.array(bad)], schema=SCHEMA)


def _chunks(path: Path, chunk_bytes: int) -> Iterator[pa.Table]:
    """Tables of about FIRST_CHUNK_BYTES, then doubling up to `chunk_bytes`: the caller starts
    parsing early, and each chunk decodes while the one before it is parsed. The lines inside
    a decoded piece stay where they are; only a line cut by a piece boundary is copied."""
    carry = b""
    row = 1
    want, size, out = FIRST_CHUNK_BYTES, 0, []
    for piece in _pieces(path):
        nl = _newlines(piece)
        if len(nl) == 0:
            carry += piece
            continue
        head = carry + piece[: int(nl[0]) + 1]
        out.append(_batch(head, np.array([0, len(head)]), row))
        out.append(_batch(piece, nl + 1, row + 1))
        row += len(nl)
        carry = piece[int(nl[-1]) + 1 :]
        size += len(piece)
        if size >= want:
            yield pa.Table.from_batches(out, SCHEMA)
            want, size, out = min(chunk_bytes, want * 2), 0, []
    if carry:
        out.append(_batch(carry, np.array([0, len(carry)]), row))
    if out:
        yield pa.Table.from_batches(out, SCHEMA)


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
