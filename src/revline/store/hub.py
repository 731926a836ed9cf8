"""Files a running `revline serve` keeps beside the store, and how other processes find them.

Why files beside the store: DuckDB lets one process write a store file, so while the server runs
every other process must either send its work to the server or read a copy. The server says so
with a small JSON advertisement next to the store (its URL, pid, where its admin key is, where
its read snapshot is), written at start and removed on a clean exit. A crash leaves the file
behind; it is stale when its pid is no longer alive (the CLI also pings the URL, see
`revline.commands._hub`). Only names and the advertisement live here, at the bottom layer,
because `connect()` must know about the snapshot.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


def _beside(db: Path, suffix: str) -> Path:
    db = Path(db).resolve()
    return db.with_name(db.name + suffix)


def advert_path(db: Path) -> Path:
    """`<store>.server.json`: present while a server holds the store."""
    return _beside(db, ".server.json")


def snapshot_path(db: Path) -> Path:
    """`<store>.snapshot.duckdb`: the consistent read copy the server refreshes."""
    return _beside(db, ".snapshot.duckdb")


def admin_key_path(db: Path) -> Path:
    """`<store>.admin-key` (mode 0600): the server's admin key when none was given."""
    return _beside(db, ".admin-key")


def jobs_path(db: Path) -> Path:
    """`<store>.jobs.json`: the server's job table, kept across restarts."""
    return _beside(db, ".jobs.json")


def uploads_dir(db: Path) -> Path:
    """`<store>.uploads/`: files sent to the admin API before an ingest job reads them."""
    return _beside(db, ".uploads")


@dataclass(frozen=True)
class Advert:
    """What a running server tells other processes about itself."""

    url: str
    pid: int
    admin_key_file: str
    snapshot: str
    started_at: str


def write_advert(db: Path, advert: Advert) -> Path:
    """Write the advertisement atomically (readers never see half a file)."""
    path = advert_path(db)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(advert), indent=1))
    os.replace(tmp, path)
    return path


def remove_advert(db: Path, pid: int | None = None) -> None:
    """Remove the advertisement (only this pid's, when given: never a newer server's)."""
    path = advert_path(db)
    if pid is not None:
        current = read_advert_file(path)
        if current is not None and current.pid != pid:
            return
    path.unlink(missing_ok=True)


def read_advert_file(path: Path) -> Advert | None:
    """The advertisement at `path`, or None when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
        return Advert(**{k: data[k] for k in Advert.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (and is not a zombie awaiting its parent)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped still answers kill(0); /proc knows better
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_advert(db: Path) -> Advert | None:
    """The advertisement of a server whose process is alive; a stale one (dead pid) is removed."""
    path = advert_path(db)
    advert = read_advert_file(path)
    if advert is None:
        return None
    if not pid_alive(advert.pid):
        remove_advert(db, advert.pid)
        return None
    return advert
