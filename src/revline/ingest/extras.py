"""Source columns beyond the canonical fields: kept in `attributes`, some promoted to dimensions.

Why: a CRM export carries far more than the canonical fields (owner, product, region, custom
picklists). Dropping them silently lost the first cut an analyst asks for ("won revenue by rep").
Every column of an account, contact, lead or deal file that no field reads is kept, as text, in
the row's `attributes` JSON (header -> value), and listed in the ingest summary. A dimension
(`owner`, `product` by default; more with `--dimension name=Header`) is copied from the first of
its headers the file has into the row's `dimensions` JSON, which reports group by through
revline.store.dimensions.dimension_sql.

A newer export of the same row merges into what is stored (a key absent from the new file keeps
its stored value), so a deals file and a later one with other custom columns add up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import duckdb

from revline.ingest.aliases import resolve
from revline.ingest.context import Ctx
from revline.ingest.readers import Staged
from revline.ingest.sqlfrag import clean, ident, lit
from revline.ingest.validate import Typed
from revline.store.dimensions import DIMENSION_TABLES, check_name
from revline.store.rows import scalar

# The headers that carry a default dimension, in preference order: a person's name before an id.
DEFAULT_DIMENSION_HEADERS: dict[str, list[str]] = {
    "owner": [
        "Owner Name", "Opportunity Owner", "Deal owner", "Contact owner", "Company owner", "Account Owner",
        "Lead Owner", "Owner", "Sales Agent", "sales_agent", "Sales Rep", "OwnerId", "Owner ID",
        "hubspot_owner_id", "HubSpot Owner",
    ],
    "product": ["Product", "Product Name", "Product Family", "Products", "product"],
}


def parse_dimensions(specs: Iterable[str] | Mapping[str, str | list[str]] | None) -> dict[str, list[str]]:
    """The dimensions to promote: the defaults, with each user entry (`name=Header`, or a mapping
    name -> header(s)) replacing the default headers of its name. ValueError on a malformed entry."""
    out = {k: list(v) for k, v in DEFAULT_DIMENSION_HEADERS.items()}
    if not specs:
        return out
    items: list[tuple[str, list[str]]] = []
    if isinstance(specs, Mapping):
        items = [(k, [v] if isinstance(v, str) else list(v)) for k, v in specs.items()]
    else:
        for spec in specs:
            name, sep, header = spec.partition("=")
            if not sep or not header.strip():
                raise ValueError(f"--dimension {spec!r}: expected name=Header, e.g. owner=OwnerId")
            items.append((name.strip(), [header.strip()]))
    for name, headers in items:
        out[check_name(name)] = headers
    return out


def keep_extras(ctx: Ctx, staged: Staged, typed: Typed, table: str) -> None:
    """Add `_attributes` and `_dimensions` (JSON, NULL when empty) to the typed rows of `staged`,
    and state in the summary which columns were kept and which were promoted."""
    if table not in DIMENSION_TABLES.values():
        raise ValueError(f"no attributes column on {table}")
    cols = [] if staged.is_lines else list(staged.columns)
    extra = [c for c in cols if c not in typed.used]
    dims = {name: found[0] for name, headers in ctx.dimensions.items() if (found := resolve(cols, headers))}
    con = ctx.con
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {typed.table} AS SELECT t.*, {_json_object(extra)} AS _attributes, "  # noqa: S608 - temp tables; headers quoted by ident/lit
        f"{_json_object(list(dims.values()), keys=list(dims))} AS _dimensions FROM {typed.table} t "
        f"LEFT JOIN {staged.table} s ON s._row = t._row"
    )
    report = ctx.report
    if extra:
        report.extra_columns[str(staged.path)] = extra
        shown = ", ".join(extra[:12]) + (f" and {len(extra) - 12} more" if len(extra) > 12 else "")
        report.notes.append(f"{staged.path}: kept {len(extra)} column(s) no canonical field reads in "
                            f"{table}.attributes: {shown}")
    if dims:
        report.dimensions[str(staged.path)] = dims
        report.notes.append(f"{staged.path}: report dimension(s) of {table}: "
                            + ", ".join(f"{n} <- {h!r}" for n, h in dims.items()))


def _json_object(headers: list[str], keys: list[str] | None = None) -> str:
    """SQL: a JSON object of the non-empty cells of `headers` (of staged alias `s`), keyed by
    `keys` (default: the headers); NULL when every cell is empty."""
    if not headers:
        return "NULL::JSON"
    entries = ", ".join(
        f"struct_pack(k := {lit(k)}, v := {clean(f's.{ident(h)}::VARCHAR')})" for k, h in zip(keys or headers, headers)
    )
    obj = f"to_json(map_from_entries(list_filter([{entries}], e -> e.v IS NOT NULL)))"
    return f"nullif({obj}, '{{}}')::JSON"


def merged_columns(table: str, key: str, alias: str = "x") -> str:
    """SQL select items `attributes, dimensions` for the loader's query over typed rows `alias`:
    the new values merged over the stored row's (keys the new file lacks keep their value)."""
    parts = []
    for col in ("attributes", "dimensions"):
        stored = f"(SELECT c.{col} FROM {table} c WHERE c.{ident(key)} = {alias}.{ident(key)})"  # noqa: S608 - table and key are the loader's constants
        new = f"{alias}._{col}"
        parts.append(
            f"CASE WHEN {new} IS NULL THEN {stored} ELSE coalesce(json_merge_patch({stored}, {new}), {new}) END AS {col}"
        )
    return ", ".join(parts)


def promote_stored(con: duckdb.DuckDBPyConnection, dimensions: Mapping[str, list[str]]) -> dict[str, int]:
    """Promote dimensions from rows already stored (their `attributes`), so `--dimension name=Header`
    also applies to files ingested before; returns rows updated per table. A row that already has
    the dimension keeps it."""
    out: dict[str, int] = {}
    for table in DIMENSION_TABLES.values():
        n = 0
        for name, headers in dimensions.items():
            value = "coalesce(" + ", ".join(
                f"json_extract_string(attributes, {lit('$.' + _json_key(h))})" for h in headers) + ", NULL)"
            n += scalar(
                con,
                f"UPDATE {table} SET dimensions = json_merge_patch(coalesce(dimensions, '{{}}'), "  # noqa: S608 - table from DIMENSION_TABLES; name checked, headers through lit
                f"json_object({lit(check_name(name))}, {value})) "
                f"WHERE attributes IS NOT NULL AND json_extract_string(dimensions, {lit('$.' + name)}) IS NULL "
                f"AND {value} IS NOT NULL")
        if n:
            out[table] = n
    return out


def _json_key(header: str) -> str:
    """A JSON path step for a header (quoted, so spaces and dots are part of the key)."""
    return '"' + header.replace("\\", "\\\\").replace('"', '\\"') + '"'
