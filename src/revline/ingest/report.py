"""What an ingest did, per file and table: the numbers a user checks before trusting the store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from revline.screen import readable


COUNTS = ("read", "loaded", "merged", "updated", "quarantined")
COLUMNS = ("file", "object", "table", *COUNTS)


@dataclass
class TableCount:
    """One file's rows for one table: how many were read, loaded as new, merged (nothing changed:
    identical to the stored row, or to a later row of the file, or restated by a later row that
    leaves the stored row as it is; an id already stored where the first one stays), updated (the
    row's key is stored with new values, or loaded or updated by a later row restating it) and
    quarantined. On the file's own table read = loaded + merged +
    updated + quarantined (`adds_up`); on a table its rows are derived into (a contact's email
    link, a lead's stage events, a Segment event's touch) nothing is read, the counts are the
    derived rows'."""

    file: str
    format: str
    object: str
    table: str
    read: int = 0
    loaded: int = 0
    updated: int = 0
    quarantined: int = 0
    merged: int = 0  # last: results encoded before the column existed still decode

    @property
    def accounted(self) -> int:
        """Rows the writes and the quarantine account for."""
        return self.loaded + self.merged + self.updated + self.quarantined

    @property
    def adds_up(self) -> bool:
        """Whether read = loaded + merged + updated + quarantined (always on a derived table: nothing read)."""
        return self.read == self.accounted or not self.read


@dataclass
class IngestReport:
    """Everything one `load_files` call did, per file and table, and what it decided on the way."""

    entries: list[TableCount] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files already ingested (same sha256)
    unrecognised: list[str] = field(default_factory=list)  # files in walked directories of no known format
    unmapped_types: Counter = field(default_factory=Counter)  # Opportunity Type values the type map does not know
    # ambiguous types (HubSpot existingbusiness): (raw, revenue_type) -> deals the map decided
    # (an assumption, named in the summary) and deals their pipeline or name decided
    assumed_types: Counter = field(default_factory=Counter)
    hinted_types: Counter = field(default_factory=Counter)
    missing_types: int = 0  # opportunities without a type (counted as new_business, like the unmapped ones)
    other_channel: Counter = field(default_factory=Counter)  # table -> rows grouped as 'other'
    notes: list[str] = field(default_factory=list)  # what a reader decided that the counts do not show
    non_data_lines: Counter = field(default_factory=Counter)  # file -> report title/total/footer lines skipped
    account_names: Counter = field(default_factory=Counter)  # how "Account Name"-only rows found their account
    extra_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns kept in `attributes`
    dimensions: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> dimension -> header promoted

    def add(self, entry: TableCount) -> TableCount:
        self.entries.append(entry)
        return entry

    def by_table(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for e in self.entries:
            t = out.setdefault(e.table, {"read": 0, "loaded": 0, "merged": 0, "updated": 0, "quarantined": 0})
            for k in t:
                t[k] += getattr(e, k)
        return out

    @property
    def loaded(self) -> int:
        return sum(e.loaded for e in self.entries)

    @property
    def merged(self) -> int:
        return sum(e.merged for e in self.entries)

    @property
    def quarantined(self) -> int:
        return sum(e.quarantined for e in self.entries)

    def to_rows(self) -> list[dict]:
        return [e.__dict__.copy() for e in self.entries]

    def __rich__(self) -> Group:
        t = Table(title="revline ingest", show_lines=False)
        for col in COLUMNS:
            t.add_column(col, justify="right" if col in COUNTS else "left")
        for e in self.entries:
            t.add_row(e.file, e.object, e.table, f"{e.read:,}" if e.read or not e.accounted else "derived",
                      f"{e.loaded:,}", f"{e.merged:,}", f"{e.updated:,}",
                      f"[red]{e.quarantined:,}[/red]" if e.quarantined else "0")
        parts: list[RenderableType] = [readable(t)]
        totals = Table(title="per table")
        for col in ("table", *COUNTS[1:]):
            totals.add_column(col)
        for name, c in sorted(self.by_table().items()):
            totals.add_row(name, *(f"{c[k]:,}" for k in COUNTS[1:]))
        parts.append(readable(totals))
        notes = []
        if self.merged:
            notes.append(f"merged: {self.merged:,} row(s) that changed nothing (identical to the stored row or to a later "
                         f"row of their file, restated by a later row the store already holds, or an id already stored); "
                         f"read = loaded + merged + updated + quarantined")
        if self.skipped:
            notes.append(f"skipped (already ingested, same sha256): {', '.join(self.skipped)}; "
                         f"to read {'it' if len(self.skipped) == 1 else 'them'} again run revline ingest --force")
        if self.unrecognised:
            notes.append("not recognised (not loaded):\n  " + "\n  ".join(self.unrecognised))
        if self.missing_types:
            notes.append(f"{self.missing_types:,} opportunit{'y' if self.missing_types == 1 else 'ies'} without a deal "
                         f"type: counted as new_business (set the type in the CRM or map it with --type-map)")
        if self.unmapped_types:
            notes.append("unmapped opportunity types, counted as new_business (map them with --type-map): "
                         + ", ".join(f"{k!r} x{v}" for k, v in self.unmapped_types.most_common()))
        for (raw, rtype), n in sorted(self.assumed_types.items()):
            told = sum(v for (r, _), v in self.hinted_types.items() if r == raw)
            notes.append(f"{n:,} {raw} deal{'s' if n != 1 else ''} mapped to {rtype or 'no revenue type'} (the type does not "
                         f"say renewal or expansion{f'; {told:,} more decided by their pipeline or name' if told else ''}); "
                         f"set --type-map {raw}=expansion (or renewal) to change")
        if self.other_channel:
            notes.append("rows grouped as channel 'other' (extend with --channel-rules): "
                         + ", ".join(f"{k} {v:,}" for k, v in self.other_channel.items()))
        notes.extend(self.notes)
        if notes:
            parts.append(Text("\n".join(notes)))
        return Group(*parts)
