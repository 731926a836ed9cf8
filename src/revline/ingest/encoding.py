"""Which text encoding a CSV is in, and a UTF-8 copy for DuckDB when it is not UTF-8.

Why: DuckDB reads UTF-8 (and Latin-1) only, so a Windows-1252 export ("Save as CSV" in Excel,
the usual non-UTF-8 case) had every line with an "é" or "€" quarantined as invalid encoding.
A file that is valid UTF-8 is read as it is; any other is decoded in Python, with the encoding
the user names (`--encoding`) or the one detected here, and written to a temporary UTF-8 copy.

Why cp1252 first, and charset-normalizer only after: on a short export charset-normalizer's
best guess is often cp1250 (which reads "Señor" as "Seńor") or, for a lone "Müller", even a
Chinese code page. Western CRM and spreadsheet exports are overwhelmingly cp1252, so bytes
that are valid cp1252 and read as Western text (see `_western`) are cp1252; other scripts
(Cyrillic, Greek, CJK, UTF-16) take charset-normalizer's guess. The summary always names a
detected encoding, so a wrong guess is visible and `--encoding` fixes it (a Polish cp1250
export, say). Detection cannot be exact: a few cp1252 bytes can also be valid UTF-8 ("Æ€").
"""

from __future__ import annotations

import codecs
import gzip
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes

from revline.ingest.lines import _pieces

SAMPLE_BYTES = 1 << 20  # what charset-normalizer looks at (it is slow on large inputs)


class EncodingError(ValueError):
    """The file is not in the encoding named (or detected); the message says where and what to do."""


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # type: ignore[return-value]


def is_utf8(path: Path) -> bool:
    """Whether the whole file decodes as UTF-8, read once in pieces (a gzip file decoded on the
    way, its stream checked to the end: `lines.TruncatedFile` when it is cut short). DuckDB
    cannot be asked instead: an invalid byte in its sniffing sample is an error that aborts
    the ingest's transaction."""
    dec = codecs.getincrementaldecoder("utf-8")()
    ok = True
    for piece in _pieces(Path(path)):
        if ok and not piece.isascii():
            try:
                dec.decode(piece)
            except UnicodeDecodeError:
                ok = False  # keep reading: a cut gzip stream must still be found
    if ok:
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            ok = False
    return ok


WESTERN_SHARE = 0.4  # at most this share of a Western text's letters are non-ASCII (Russian: ~all)


def _western(text: str) -> bool:
    """Whether cp1252-decoded text reads as a Western language: accented letters among mostly
    plain ones. A Cyrillic or Greek code page decoded as cp1252 gives words made entirely of
    accented letters ("Àëåêñåé"), a CJK one runs of symbols."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    high = sum(1 for c in letters if not c.isascii())
    return high / len(letters) <= WESTERN_SHARE


def guess(path: Path) -> str:
    """The encoding of a file that is not UTF-8 (see the module's docstring for the rule)."""
    with _open(path) as fh:
        sample = fh.read(SAMPLE_BYTES)
    if b"\x00" not in sample:  # NUL bytes: UTF-16 or UTF-32, never a text code page
        try:
            if _western(sample.decode("cp1252")):
                return "cp1252"
        except UnicodeDecodeError:
            pass
    best = from_bytes(sample).best()
    return codecs.lookup(best.encoding).name.replace("-", "_") if best else "latin_1"


def check_encoding(encoding: str) -> str:
    """The codec's canonical name, or EncodingError for a name Python does not know."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise EncodingError(f"unknown encoding {encoding!r}; use a codec name such as utf-8, cp1252, "
                            f"latin-1 or utf-16") from None


def resolve(path: Path, encoding: str | None) -> str | None:
    """The encoding to decode `path` with, or None when it is UTF-8 (DuckDB reads it as is).
    A named encoding is checked to exist; 'utf-8' named is trusted."""
    if encoding:
        name = check_encoding(encoding)
        return None if name == "utf-8" else name
    return None if is_utf8(path) else guess(path)


@contextmanager
def utf8_copy(path: Path, encoding: str) -> Iterator[Path]:
    """A temporary UTF-8 copy of `path` (gzip decoded too), read as `encoding`."""
    with tempfile.TemporaryDirectory(prefix="revline-utf8-") as tmp:
        out = Path(tmp) / "file.csv"
        reader = codecs.getreader(encoding)
        try:
            with _open(path) as raw, open(out, "w", encoding="utf-8", newline="") as dst:
                shutil.copyfileobj(reader(raw, "strict"), dst, 1 << 20)
        except UnicodeDecodeError as exc:
            raise EncodingError(
                f"{path}: not valid {encoding} ({exc.reason}); "
                f"pass --encoding with the file's real encoding"
            ) from None
        except (EOFError, OSError) as exc:  # a gzip stream cut short or corrupt
            raise EncodingError(f"{path}: cannot be read to its end ({exc}); download or copy the file again") from None
        yield out
