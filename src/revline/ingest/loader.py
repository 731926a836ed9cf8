"""`load_files`: many exports into the store in ONE transaction, with a report.

Why one transaction: a process killed mid-ingest (or any error) must leave the store exactly
as it was, so a user can simply run the same command again. Files are loaded in dependency
order (accounts before the contacts and opportunities that must name a known account).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from revline.ingest import crm, lift_tests, segment, spend, tabular, xlsx
from revline.ingest.aliases import fivetran, hubspot, salesforce, salesforce_labels
from revline.ingest.channels import load_rules, rules_fingerprint
from revline.ingest.context import Ctx
from revline.ingest.encoding import check_encoding
from revline.ingest.extras import parse_dimensions, promote_stored
from revline.ingest.detect import Detected, DetectionError, detect
from revline.ingest.memory import capped_memory
from revline.ingest.readers import UnreadableFile, drop, stage
from revline.ingest.report_lines import drop_report_lines
from revline.ingest.report import IngestReport
from revline.ingest.sqlfrag import lit
from revline.ingest.upsert import upsert
from revline.ingest.revenue_types import load_type_map
from revline.ingest.values import ParseOptions
from revline.ingest.validate import QUARANTINE_BATCH, ensure_batch_quarantine, quarantine_broken
from revline.store.fx import checked_rates_sql
from revline.store.settings import setting
from revline.store.state import bump_data_version, get_value, set_value
from revline.store.transaction import transaction

# walked directories pick these up; a plain .json (e.g. the demo's ground_truth.json) only when named
SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json.gz",
            *xlsx.SUFFIXES)

PRIMARY_TABLE = {
    "Account": "accounts", "Contact": "people", "Lead": "people", "Opportunity": "opportunities",
    "OpportunityContactRole": "opportunity_contacts", "OpportunityHistory": "stage_events",
    "OpportunityLineItem": "opportunities",
    "Campaign": "campaigns", "CampaignMember": "touchpoints", "Task": "touchpoints", "Event": "touchpoints",
    "companies": "accounts", "contacts": "people", "deals": "opportunities",
}
# tables whose changes a stitch (and the journeys built after it) must see
STITCH_INPUTS = frozenset({"accounts", "people", "identity_links", "touchpoints", "opportunities",
                           "opportunity_contacts", "stage_events", "events"})
_ORDER = {"accounts": 0, "campaigns": 1, "people": 2, "opportunities": 3, "opportunity_contacts": 4,
          "stage_events": 4, "touchpoints": 5, "spend": 5, "targets": 5, "lift_tests": 5, "identity_links": 5, "events": 6}


# Sources that write one date order whatever the user's locale: used when a column's values
# do not decide it (LinkedIn Campaign Manager exports m/d/yyyy).
USUAL_DATE_ORDER = {"linkedin_ads": "mdy"}

# Segment files are loaded in batches of about this much JSON text (gzip counted as 8x its size),
# so a directory of monthly exports is one pass while a batch's staging stays well inside memory.
SEGMENT_BATCH_BYTES = 512 * 2**20


def _raw_size(path: Path) -> int:
    size = path.stat().st_size
    return size * 8 if path.name.lower().endswith(".gz") else size


def primary_table(d: Detected) -> str:
    """The table a detected file mainly loads into (its quarantine and report entries name it)."""
    if d.fmt == "revline":
        return d.obj
    return PRIMARY_TABLE.get(d.obj, d.obj if d.fmt in ("spend", "targets", "lift_tests", "fx") else "events")


def expand_paths(paths: Iterable[Path | str]) -> list[tuple[Path, bool]]:
    """(file, named) pairs: files as given (named=True), directories walked (sorted, supported
    suffixes only, hidden files skipped)."""
    out: dict[Path, bool] = {}
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(SUFFIXES):
                    out.setdefault(f, False)
        elif p.exists():
            out[p] = True
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return list(out.items())


def sha256_of(path: Path) -> str:
    """The file's sha256, read in 1 MiB pieces: a file already ingested is skipped by it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _aliases(convention: str, obj: str) -> dict[str, list[str]]:
    """The object's alias map, the file's own convention first, the sibling convention after,
    report labels last (a report export of API names' labels: "Opportunity ID", "Stage")."""
    first, second = (fivetran.ALIASES, salesforce.ALIASES) if convention == "fivetran" else (salesforce.ALIASES, fivetran.ALIASES)
    maps = [m.get(obj, {}) for m in (first, second, salesforce_labels.ALIASES)]
    fields = dict.fromkeys(k for m in maps for k in m)
    return {k: list(dict.fromkeys(a for m in maps for a in m.get(k, []))) for k in fields}


def _dispatch(ctx: Ctx, staged, d: Detected) -> None:
    """A staged non-Segment file to its reader (Segment files go through `segment.stage`)."""
    if d.fmt == "fx":
        rates = checked_rates_sql(ctx.con, staged.table, staged.columns, str(ctx.path), row="_row")
        ctx.record("fx_rates", read=staged.rows_read,  # broken lines too: the loader quarantines them
                   written=upsert(ctx.con, "fx_rates", f"SELECT date, currency, rate, {lit(str(ctx.path))} AS source, "  # noqa: S608 - checked_rates_sql's SQL, the path through lit
                                  f"n AS _ord FROM ({rates})", ["date", "currency"],
                                  ignore=("source",)))  # the file: a rate another file repeats is merged
        ctx.report.notes.append(f"{ctx.path}: dated FX rates loaded; amounts convert at the latest rate on or "
                                f"before their date (see `revline fx list`)")
    elif d.fmt == "spend":
        spend.load_spend(ctx, staged)
    elif d.fmt == "targets":
        tabular.load_targets(ctx, staged)
    elif d.fmt == "lift_tests":
        lift_tests.load_lift_tests(ctx, staged)
    elif d.fmt == "revline":
        tabular.load_canonical(ctx, staged, d.obj)
    elif d.fmt == "hubspot":
        al = hubspot.ALIASES[d.obj]
        if d.obj == "companies":
            crm.load_accounts(ctx, staged, al, "hubspot")
        elif d.obj == "contacts":
            crm.load_contacts(ctx, staged, al, "hubspot", "crm_contact_id", lead_expr="lead_at")
        else:
            crm.load_opportunities(ctx, staged, al, "hubspot")
    else:
        al = _aliases(d.convention, d.obj)
        {
            "Account": lambda: crm.load_accounts(ctx, staged, al, "salesforce"),
            "Contact": lambda: crm.load_contacts(ctx, staged, al),
            "Lead": lambda: crm.load_leads(ctx, staged, al),
            "Opportunity": lambda: crm.load_opportunities(ctx, staged, al),
            "OpportunityContactRole": lambda: crm.load_contact_roles(ctx, staged, al),
            "OpportunityHistory": lambda: crm.load_opportunity_history(ctx, staged, al),
            "OpportunityLineItem": lambda: crm.load_line_items(ctx, staged, al),
            "Campaign": lambda: crm.load_campaigns(ctx, staged, al),
            "CampaignMember": lambda: crm.load_campaign_members(ctx, staged, al),
            "Task": lambda: crm.load_activities(ctx, staged, al, "task"),
            "Event": lambda: crm.load_activities(ctx, staged, al, "meeting"),
        }[d.obj]()


def load_files(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    fmt: str = "auto",
    channel_rules: Path | None = None,
    type_map: dict | Path | None = None,
    progress: Callable[[int, int, Path], None] | None = None,
    *,
    force: bool = False,
    decimal: str | None = None,
    date_order: str | None = None,
    obj: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    dimensions: list[str] | dict | None = None,
) -> IngestReport:
    """Load exports (files or directories) into the store as one transaction.

    Every file is detected before anything is written, so an unrecognised file named on the
    command line fails the call with nothing changed (unrecognised files met while walking a
    directory are listed in `report.unrecognised` instead). A file whose sha256 is already in `ingest_log` is skipped unless
    `force` (re-loading it would change nothing anyway: every write is keyed).
    `progress(done, total, path)` is called after each file. `decimal` (',' or '.') and
    `date_order` (mdy, dmy, ymd) override what each column's values decide (see ingest.values);
    `obj` (--object) names the CRM object of every file whatever its headers say; Excel
    workbooks load every sheet, or only `sheet` (--sheet). `dimensions` (--dimension name=Header)
    promotes columns to report dimensions besides owner and product (see ingest.extras); a named
    one is also promoted on rows stored before, from their kept attributes.
    """
    parse = ParseOptions(decimal=decimal, date_order=date_order)  # checks the values first
    if encoding:
        check_encoding(encoding)  # an unknown name fails before anything is read
    report = IngestReport()
    detected: list[tuple[Path, Detected]] = []
    for path, named in expand_paths(paths):
        if xlsx.is_workbook(path):
            detected.extend(_detect_sheets(path, named, fmt, obj, sheet, report))
            continue
        try:
            detected.append((path, detect(path, fmt, obj=obj)))
        except (DetectionError, UnreadableFile) as exc:
            if named:
                raise
            report.unrecognised.append(str(exc))
    # line items after the opportunities they name
    detected.sort(key=lambda pd: (_ORDER.get(primary_table(pd[1]), 5) + (pd[1].obj == "OpportunityLineItem") / 2,
                                  str(pd[0])))
    dims = parse_dimensions(dimensions)  # a malformed entry fails before anything is read
    base = Ctx(con, report, load_rules(channel_rules), load_type_map(type_map), dimensions=dims)
    # UTC: zone-less timestamps in exports are read as UTC (see sqlfrag.parse_timestamp)
    with capped_memory(con), setting(con, "TimeZone", "UTC"):
        _load(con, detected, base, report, progress, force, parse, encoding, user_rules=channel_rules is not None)
    if dimensions:
        for table, n in promote_stored(con, dims).items():
            report.notes.append(f"{table}: {n:,} stored row(s) given a dimension from their kept attributes")
    return report


def _detect_sheets(path: Path, named: bool, fmt: str, obj: str | None, sheet: str | None,
                   report: IngestReport) -> list[tuple[Path, Detected]]:
    """Every sheet of a workbook (or only `sheet`) detected like a file of its own. A sheet of
    no known shape (a pivot, notes) is listed as unrecognised; a workbook named on the command
    line with no recognised sheet, or a `--sheet` that is not recognised, fails the call."""
    names = [sheet] if sheet else xlsx.sheet_names(path)
    out, errors = [], []
    for name in names:
        try:
            headers = xlsx.read_headers(path, name)
            shown = Path(f"{path}[{name}]")
            try:  # the sheet's name as the object hint ("Opportunity"), else the workbook's
                d = detect(shown, fmt, headers=headers, obj=obj, hint=f"{name}.xlsx")
            except DetectionError:
                d = detect(shown, fmt, headers=headers, obj=obj, hint=path.name)
            out.append((path, dataclasses.replace(d, sheet=name)))
        except DetectionError as exc:
            errors.append(str(exc))
    if errors and named and (sheet or not out):
        raise DetectionError(errors[0])
    report.unrecognised.extend(errors)
    return out


# Formats whose rows get a channel from the channel rules (targets do not).
CHANNEL_FORMATS = frozenset({"segment", "spend", "salesforce", "hubspot"})


def _rules_key(digest: str) -> str:
    """store_state key of the channel-rules fingerprint a file was last read with."""
    return f"channel_rules:{digest}"


def _rules_changed(con, digest: str, d: Detected, fingerprint: int, user_rules: bool) -> bool:
    """An ingested file whose channels were derived by other rules than `fingerprint`. A file
    read before fingerprints were kept counts as read with the defaults of its time: read again
    only when the user now passes --channel-rules."""
    if d.fmt not in CHANNEL_FORMATS:
        return False
    stored = get_value(con, _rules_key(digest))
    return stored != fingerprint if stored is not None else user_rules


def _plan(con, detected, base: Ctx, report: IngestReport, force: bool,
          user_rules: bool = False) -> tuple[list[tuple[Path, Ctx, str, Detected]], set[str]]:
    """The files to load, each with its report context and sha256; files already in `ingest_log`
    (or copies of a file earlier in this call) are recorded as skipped unless `force`, or unless
    the channel rules changed since they were read (they are read again, and a note says so;
    their digests are returned beside the plan)."""
    plan, done, reread = [], set(), []
    again: set[str] = set()
    fingerprint = rules_fingerprint(base.rules)
    for path, d in detected:
        digest = sha256_of(path)
        if d.sheet:  # each sheet of a workbook is logged apart
            digest = hashlib.sha256(f"{digest}:{d.sheet}".encode()).hexdigest()
        seen = con.execute("SELECT count(*) FROM ingest_log WHERE file_sha256 = ?", [digest]).fetchone()[0]
        changed = bool(seen) and digest not in done and not force and _rules_changed(con, digest, d, fingerprint, user_rules)
        if (seen or digest in done) and not force and not changed:
            report.skipped.append(str(d.shown(path)))
        else:
            plan.append((path, base.for_file(d.shown(path), d.fmt, d.obj, digest, d.convention), digest, d))
            if changed:
                reread.append(str(d.shown(path)))
                again.add(digest)
        done.add(digest)
    if reread:
        report.notes.append(
            f"read again {len(reread)} file(s) already ingested, because the channel rules changed since they were "
            f"read (their channels are derived anew): {', '.join(reread)}; run `revline attribute` to credit the new channels"
        )
    return plan, again


def _segment_batches(plan) -> list[list]:
    """Segment files grouped into batches of about SEGMENT_BATCH_BYTES, in plan order."""
    batches: list[list] = []
    size = 0
    for item in plan:
        if item[3].fmt != "segment":
            continue
        if not batches or size + _raw_size(item[0]) > SEGMENT_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += _raw_size(item[0])
    return batches


def _load(con, detected, base: Ctx, report: IngestReport, progress, force: bool, parse: ParseOptions,
          encoding: str | None = None, user_rules: bool = False) -> None:
    staged: list[str] = []
    try:
        con.execute(f"DROP TABLE IF EXISTS {QUARANTINE_BATCH}")
        ensure_batch_quarantine(con)
        plan, again = _plan(con, detected, base, report, force, user_rules)
        batches = _segment_batches(plan)
        # Segment lines are read and validated into temp tables before the transaction opens
        # (see segment.stage); only temp tables are written until then, so a kill leaves the
        # store as it was.
        files = [[(p, c) for p, c, _, _ in batch] for batch in batches]
        for batch_files in files:
            staged.append(segment.stage(batch_files))
        total, done = len(detected), len(report.skipped)

        def log(path: Path, ctx: Ctx, digest: str, d: Detected) -> None:
            nonlocal done
            for table, c in ctx.counts.items():
                con.execute(
                    "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                    [digest, str(d.shown(path)), f"{d.fmt}:{d.obj}", table, c.read, c.loaded + c.updated, c.quarantined],
                )
            if d.fmt in CHANNEL_FORMATS:
                set_value(con, _rules_key(digest), rules_fingerprint(ctx.rules))
            done += 1
            if progress:
                progress(done, total, path)

        with transaction(con):
            for path, ctx, digest, d in plan:
                if d.fmt == "segment":
                    continue
                primary = primary_table(d)
                ctx.entry(primary)
                stg = xlsx.stage_sheet(con, path, d.sheet) if d.sheet else stage(con, path, encoding=encoding)
                if d.fmt in ("salesforce", "hubspot"):
                    drop_report_lines(con, stg, report)
                stg.parse = dataclasses.replace(stg.parse, decimal=parse.decimal, date_order=parse.date_order,
                                                usual_date_order=USUAL_DATE_ORDER.get(d.convention))
                broken = quarantine_broken(con, str(d.shown(path)), primary, stg.broken)
                _dispatch(ctx, stg, d)
                report.notes.extend(stg.notes)
                ctx.entry(primary).quarantined += broken
                drop(con, stg)
                log(path, ctx, digest, d)
            for batch, batch_files, table in zip(batches, files, list(staged)):
                segment.write_staged(batch_files, table)
                staged.remove(table)
                for item in batch:
                    log(*item)
            reread = [p.name for p, _, digest, d in plan if d.fmt == "segment" and digest in again]
            if reread:  # their events are stored already: no touch was derived from them again
                n = segment.rederive_channels(base, reread)
                if n:
                    report.notes.append(f"{n:,} Segment touch(es) of those files moved to another channel by the new rules")
                    bump_data_version(con)
            # loaded or updated only when a stitch input's rows really changed (see upsert.Written: a
            # --force re-ingest merges every row, restatements within a file included): no stitch is
            # owed for a store the ingest left as it was
            if any(e.loaded or e.updated for e in report.entries if e.table in STITCH_INPUTS):
                bump_data_version(con)  # same transaction: `attribute` knows a stitch is due
            con.execute(
                f"INSERT INTO quarantine SELECT source, table_name, row_number, field, reason, raw, now()::TIMESTAMP "  # noqa: S608 - QUARANTINE_BATCH is a constant
                f"FROM (SELECT * FROM {QUARANTINE_BATCH} EXCEPT "
                f"SELECT source, table_name, row_number, field, reason, raw FROM quarantine) ORDER BY source, row_number"
            )
    finally:
        for table in staged:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"DROP TABLE IF EXISTS {QUARANTINE_BATCH}")
