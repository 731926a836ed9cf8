"""The Arrow line reader behind Segment ingest: every line once, numbered as an editor numbers
it, whatever the chunk boundaries, compression (one or several gzip members) or encoding."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.ingest import lines as L


def _read(path: Path, piece: int) -> list[tuple[str, int, bool]]:
    """All lines, read in pieces of `piece` bytes (so lines are cut by piece boundaries)."""
    out, saved = [], L.PIECE_BYTES
    L.PIECE_BYTES = piece
    try:
        for t in L._chunks(path, 64):
            out += list(zip(t.column("line").to_pylist(), t.column("_row").to_pylist(), t.column("_bad_utf8").to_pylist()))
    finally:
        L.PIECE_BYTES = saved
    return out


def _expected(data: bytes) -> list[tuple[str, int, bool]]:
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts = parts[:-1]
        with_nl = [p + b"\n" for p in parts]
    else:
        with_nl = [p + b"\n" for p in parts[:-1]] + parts[-1:]
    out = []
    for i, raw in enumerate(with_nl, 1):
        try:
            out.append((raw.decode("utf-8"), i, False))
        except UnicodeDecodeError:
            out.append((raw.decode("utf-8", errors="replace"), i, True))
    return out


LINE = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from(
    [b"", b'{"a": 1}', b"\r", "caf\u00e9".encode(), b"\xff\xfe", b"  "])


@settings(max_examples=60, deadline=None)
@given(st.lists(LINE, max_size=30), st.booleans(), st.integers(1, 64), st.booleans(), st.integers(1, 3))
def test_lines_match_a_plain_split(tmp_path_factory, lines, final_newline, chunk, gz, members):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    if data.startswith(b"\x1f\x8b"):  # the gzip magic: such a file is read as gzip, by design
        data = b" " + data
    path = tmp_path_factory.mktemp("lines") / ("f.jsonl.gz" if gz else "f.jsonl")
    if gz:  # several concatenated gzip members, as `cat a.gz b.gz` makes
        cut = [len(data) * k // members for k in range(members + 1)]
        path.write_bytes(b"".join(gzip.compress(data[a:b]) for a, b in zip(cut, cut[1:])))
    else:
        path.write_bytes(data)
    assert _read(path, chunk) == _expected(data)


def test_chunks_grow_and_prefetch_keeps_order(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "FIRST_CHUNK_BYTES", 64)
    monkeypatch.setattr(L, "PIECE_BYTES", 256)
    data = b"".join(b'{"n": %d}\n' % i for i in range(5000))
    path = tmp_path / "e.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    tables = list(L.line_chunks(path, chunk_bytes=4096))
    assert len(tables) > 3
    rows = [r for t in tables for r in t.column("_row").to_pylist()]
    assert rows == list(range(1, 5001))
    sizes = [t.num_rows for t in tables]
    assert sizes[1] > sizes[0] and sizes[2] > sizes[1]  # chunks grow
    assert sum(b.num_rows for b in L.batches(tables[-1]).to_batches()) == tables[-1].num_rows


def test_cut_and_corrupt_gzip_fail_naming_the_file(tmp_path):
    whole = gzip.compress(b'{"a": 1}\n' * 1000)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[:-20])
    with pytest.raises(L.TruncatedFile, match="cut.jsonl.gz"):
        list(L.line_chunks(cut))
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(whole[:30] + bytes(b ^ 0xFF for b in whole[30:60]) + whole[60:])
    with pytest.raises(L.TruncatedFile, match="bad.jsonl.gz"):
        list(L.line_chunks(bad))


def test_empty_file_has_no_lines(tmp_path):
    for name, data in (("e.jsonl", b""), ("e.jsonl.gz", gzip.compress(b""))):
        (tmp_path / name).write_bytes(data)
        assert _read(tmp_path / name, 16) == []
