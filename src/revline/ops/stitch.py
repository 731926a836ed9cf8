"""Operation `stitch`: collected events still owed a derivation, identities into persons and
accounts, journeys and milestones, and the record that the store is stitched."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from revline.identity.stitch import StitchReport
from revline.ingest.pending import derive_owed
from revline.journeys.freshness import restitch
from revline.ops.registry import Progress, no_progress


@dataclass(frozen=True)
class StitchResult:
    """What a stitch did: the identity report, the milestone rows rebuilt and the events derived first."""

    report: StitchReport
    milestones: list[tuple[str, str, int]] = field(default_factory=list)  # (object, milestone, rows)
    derived: int = 0  # collected events derived now (a crashed server stored but never derived them)


def stitch(
    con: duckdb.DuckDBPyConnection, *, free_mail: list[str] | None = None, progress: Progress = no_progress
) -> StitchResult:
    """Derive the collected events still owed touchpoints, then stitch identities and rebuild
    journeys and milestones."""
    progress(None, None, "Deriving touchpoints of collected events")
    derived = derive_owed(con)
    progress(None, None, "Stitching identities and building journeys and milestones")
    done = restitch(con, free_mail=free_mail or ())
    return StitchResult(done.stitch, [(obj, ms, int(n)) for (obj, ms), n in done.milestones.items()], int(derived))
