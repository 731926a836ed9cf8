"""Vectorised validation: staged VARCHAR cells -> typed rows, bad rows -> the batch quarantine.

Why one SQL pass per rule and not a Python loop: a million-row export must validate at DuckDB
speed; each rule is a `WHERE` over the typed table and yields (row, field, reason) triples.
A row with several problems gets one quarantine entry per problem, so a user fixing the file
sees all of them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from revline.ingest.aliases import resolve
from revline.ingest.readers import Broken, Staged, _new_name
from revline.ingest.sqlfrag import PARSERS, clean, ident, lit
from revline.ingest.values import decide_date_order, decide_decimal, number_reason_sql, number_sql, timestamp_sql
from revline.store.rows import scalar

QUARANTINE_BATCH = "_rl_quarantine_batch"


@dataclass(frozen=True)
class Field:
    """One field a reader takes from a file: how it parses and what the file owes it.

    The field specs (crm.py, tabular.py, spend.py) are the one declaration of what each object
    needs: `required` - every row must have a value (a row without one is quarantined), so the
    file must have the column; `column` - the file must have the column, though a row may leave
    it empty (Opportunity.Amount of an open deal); `unique` - the value names the row, so the
    same value twice in one file is a conflict to report, not to resolve quietly. A file
    without a required column fails with the column's name; a missing optional column is named
    in the ingest summary."""

    kind: str = "text"
    required: bool = False
    column: bool = False
    unique: bool = False
    instead: str | None = None  # another field whose column may stand in for this one's (account name for id)

    @property
    def needs_column(self) -> bool:
        return self.required or self.column


class ColumnsError(ValueError):
    """A file without a column its object needs, or with a needed column twice: the whole call
    fails (nothing half-loaded) naming the file and the columns."""


@dataclass(frozen=True)
class Check:
    """`bad_when` is SQL over the typed columns; TRUE marks the row bad for `field`."""

    field: str
    bad_when: str
    reason: str  # SQL expression of the reason text (use sqlfrag.lit for a constant)


def ensure_batch_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """The call's quarantine rows collect in a temp table, copied into `quarantine` at commit."""
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {QUARANTINE_BATCH} (source VARCHAR, table_name VARCHAR, "
        f"row_number BIGINT, field VARCHAR, reason VARCHAR, raw VARCHAR)"
    )


def quarantine_broken(con: duckdb.DuckDBPyConnection, source: str, table_name: str, broken: list[Broken]) -> int:
    """Lines the reader could not split: kept with their row number and raw text."""
    if not broken:
        return 0
    ensure_batch_quarantine(con)
    con.executemany(
        f"INSERT INTO {QUARANTINE_BATCH} VALUES (?, ?, ?, '(line)', ?, ?)",
        [(source, table_name, b.row_number, b.reason, b.raw) for b in broken],
    )
    return len(broken)


@dataclass
class Typed:
    """Rows that passed every rule, typed, in `table` (with `_row`; each field also as `<field>__raw`
    text), and how many were quarantined."""

    table: str
    quarantined_rows: int
    headers: dict[str, str]  # field -> header reported in quarantine
    used: frozenset[str] = frozenset()  # the file's headers some field read (the others: revline.ingest.extras)


def raw_json_expr(staged: Staged, alias: str = "s") -> str:
    """SQL for a quarantined row's raw text: the JSON line, or its cells as a JSON object."""
    if staged.is_lines:
        return f"{alias}.line"
    if not staged.columns:
        return "NULL"
    return "to_json(struct_pack(" + ", ".join(
        f"{ident(c)} := {alias}.{ident(c)}" for c in staged.columns
    ) + "))"


def _parser(con, staged: Staged, name: str, kind: str, raw_expr: str, header: str, reasons: dict[str, str]) -> str:
    """The parse of one typed field over its `<name>__raw` column, with the column's number
    format or date order decided from its values first (see revline.ingest.values); a numeric
    field's quarantine reason goes into `reasons`."""
    raw = ident(name + "__raw")
    source = f"{staged.table} s"
    if kind in ("decimal", "double", "int"):
        decimal = decide_decimal(con, source, raw_expr, staged.parse)
        reasons[name] = number_reason_sql(raw, kind, decimal)
        return number_sql(raw, decimal, kind)
    if kind in ("timestamp", "date"):
        order = decide_date_order(con, source, raw_expr, staged.parse, source=str(staged.path), header=header)
        ts = timestamp_sql(raw, order)
        return ts if kind == "timestamp" else f"CAST({ts} AS DATE)"
    return PARSERS[kind](raw)


def _check_columns(staged: Staged, spec: dict[str, Field], resolved: dict[str, list[str]],
                   headers: dict[str, str]) -> None:
    """Fail on a missing needed column or a needed column the file holds twice (which of the
    two holds the value is a guess); add summary notes for missing optional columns and for
    duplicated headers revline does not read."""
    def absent(n: str, f: Field) -> bool:
        return n in resolved and not resolved[n] and not (f.instead and resolved.get(f.instead))

    missing = [f"{headers[n]} ({n})" + (f" or {headers[f.instead]} ({f.instead})" if f.instead in headers else "")
               for n, f in spec.items() if f.needs_column and absent(n, f)]
    used = {h for hs in resolved.values() for h in hs}
    twice = [h for h in staged.duplicate_headers if h in used]
    problems = []
    if missing:
        problems.append(f"required column{'s' if len(missing) > 1 else ''} missing: {', '.join(missing)}")
    if twice:
        problems.append("header" + ("s" if len(twice) > 1 else "") + " named twice: " + ", ".join(
            f"{h} (columns {', '.join(staged.duplicate_headers[h])})" for h in twice))
    if problems:
        raise ColumnsError(f"{staged.path}: {'; '.join(problems)}; fix the export (or its header line) and run again")
    stood_in = {f.instead for n, f in spec.items() if f.instead and resolved.get(n)}  # its partner is there
    optional = [f"{headers[n]} ({n})" for n, f in spec.items()
                if not f.needs_column and absent(n, f) and n not in stood_in]
    if optional:
        staged.notes.append(f"{staged.path}: optional column{'s' if len(optional) > 1 else ''} not in the file, "
                            f"nothing read for {'them' if len(optional) > 1 else 'it'}: {', '.join(optional)}")
    for h, cols in staged.duplicate_headers.items():
        if h not in used:
            staged.notes.append(f"{staged.path}: row 1 (header), field {h}: header named twice "
                                f"(columns {', '.join(cols)}); revline does not read it")


def typed_rows(
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    spec: dict[str, Field],
    aliases: dict[str, list[str]],
    *,
    table_name: str,
    checks: Sequence[Check] = (),
    raw_exprs: dict[str, str] | None = None,
) -> Typed:
    """Parse every field of `spec` and route failures to the batch quarantine.

    `raw_exprs` lets a reader supply the raw text of a field itself (Segment's JSON paths);
    otherwise the field's cells come from the headers its aliases resolve to.
    """
    ensure_batch_quarantine(con)
    raw_exprs = dict(raw_exprs or {})
    headers: dict[str, str] = {}
    resolved: dict[str, list[str]] = {}
    for name in spec:
        if name in raw_exprs:
            headers.setdefault(name, name)
            continue
        found = resolve(staged.columns, aliases.get(name, []))
        resolved[name] = found
        headers[name] = found[0] if found else (aliases.get(name) or [name])[0]
        cells = [clean(f"s.{ident(h)}") for h in found]
        raw_exprs[name] = "NULL::VARCHAR" if not cells else cells[0] if len(cells) == 1 else f"coalesce({', '.join(cells)})"
    _check_columns(staged, spec, resolved, headers)
    typed = _new_name("typed")
    cols = []
    reasons: dict[str, str] = {}
    for name, f in spec.items():
        if f.kind == "text":  # the cleaned cell is the value: one column, no copy
            cols.append(f"{raw_exprs[name]} AS {ident(name)}")
            continue
        raw = ident(name + "__raw")
        cols.append(f"{raw_exprs[name]} AS {raw}")
        cols.append(f"{_parser(con, staged, name, f.kind, raw_exprs[name], headers[name], reasons)} AS {ident(name)}")
    con.execute(f"CREATE TEMP TABLE {typed} AS SELECT s._row, {', '.join(cols)} FROM {staged.table} s")

    rules: list[str] = []
    for name, f in spec.items():
        raw, field = ident(name if f.kind == "text" else name + "__raw"), lit(headers[name])
        if f.required:
            rules.append(f"SELECT _row, {field} AS field, 'missing required field' AS reason FROM {typed} WHERE {raw} IS NULL")
        if f.unique:
            # every row but the last of a value (the last is the one loaded, as before)
            rules.append(
                f"SELECT _row, {field} AS field, 'duplicate ' || {field} || ' ' || {raw} || ' in this file: row ' "
                f"|| CAST(_last AS VARCHAR) || ' has it too and is the one loaded' AS reason FROM ("
                f"SELECT _row, {raw}, max(_row) OVER (PARTITION BY {raw}) AS _last FROM {typed} WHERE {raw} IS NOT NULL"
                f") WHERE _row < _last"
            )
        if f.kind != "text":
            reason = reasons.get(name) or f"'cannot parse ' || {lit(f.kind)} || ': ' || {raw}"
            rules.append(
                f"SELECT _row, {field} AS field, {reason} AS reason FROM {typed} "
                f"WHERE {raw} IS NOT NULL AND {ident(name)} IS NULL"
            )
    for c in checks:
        rules.append(
            f"SELECT _row, {lit(headers.get(c.field, c.field))} AS field, {c.reason} AS reason FROM {typed} "
            f"WHERE coalesce({c.bad_when}, false)"
        )
    errors = _new_name("err")
    con.execute(f"CREATE TEMP TABLE {errors} AS {' UNION ALL '.join(rules)}" if rules
                else f"CREATE TEMP TABLE {errors} (_row BIGINT, field VARCHAR, reason VARCHAR)")
    n_bad = scalar(con, f"SELECT count(DISTINCT _row) FROM {errors}")
    if n_bad:
        con.execute(
            f"INSERT INTO {QUARANTINE_BATCH} SELECT {lit(str(staged.path))}, {lit(table_name)}, e._row, e.field, "
            f"e.reason, {raw_json_expr(staged)} FROM {errors} e JOIN {staged.raw_table or staged.table} s "
            f"ON s._row = e._row ORDER BY e._row"
        )
        con.execute(f"DELETE FROM {typed} WHERE _row IN (SELECT _row FROM {errors})")
    con.execute(f"DROP TABLE {errors}")
    return Typed(typed, n_bad, headers, frozenset(h for hs in resolved.values() for h in hs))
