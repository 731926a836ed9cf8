"""SQL fragments that turn raw VARCHAR cells into typed values, shared by every reader.

Why SQL strings and not Python parsing: validation must stay vectorised inside DuckDB, so a
reader only states *which* column is a timestamp or an amount and these fragments do the work.
Every fragment returns NULL when the value cannot be parsed; the validator compares that NULL
with the raw cell to tell "empty" from "unparsable".
"""

from __future__ import annotations

from revline.store.sql import ident, lit

__all__ = ["PARSERS", "clean", "ident", "json_pointer", "lit", "snake"]


def json_pointer(key: str) -> str:
    """A JSON pointer to a top-level key, as a quoted literal. Unlike a `$.key` path it reaches
    every key as written: dots, quotes, brackets, `*` and the empty key ('~' and '/' escaped)."""
    return lit("/" + key.replace("~", "~0").replace("/", "~1"))


def clean(expr: str) -> str:
    """Trimmed text, with empty strings as NULL (CSV exports write both for 'no value').

    DuckDB's trim strips ' ' and the other Unicode space separators (all non-ASCII), and copies
    every string it touches; most cells need nothing, so only those that start or end with a
    space or hold a non-ASCII character (strlen counts bytes, length characters) are trimmed.
    Same result as NULLIF(trim(x), ''), a quarter of the cost on a million ids."""
    return (f"CASE WHEN prefix({expr}, ' ') OR suffix({expr}, ' ') OR strlen({expr}) <> length({expr}) "
            f"THEN NULLIF(trim({expr}), '') ELSE NULLIF({expr}, '') END")


def parse_timestamp(expr: str) -> str:
    """UTC naive TIMESTAMP from ISO 8601 (with or without zone), 'YYYY-MM-DD', Salesforce
    '2025-03-01T10:00:00.000+0000', US 'MM/DD/YYYY HH:MM' (HubSpot UI exports) or epoch ms.

    The session runs with TimeZone=UTC during ingest (see loader), so zone-less strings are
    read as UTC and zoned ones are converted to it.
    """
    return parse_clean_timestamp(clean(expr))


def parse_clean_timestamp(v: str) -> str:
    """`parse_timestamp` of a value already cleaned (see `clean`). `v` appears several times:
    pass a column, not an expression, where speed matters (DuckDB does not factor repeated
    expressions out of CASE branches)."""
    # coalesce evaluates later arguments only for rows still NULL. First the commonest form,
    # ISO 8601 in UTC ('...Z', as Segment and most APIs write it): a plain TIMESTAMP cast reads
    # it exactly and costs a tenth of the zone-aware TIMESTAMPTZ cast (DuckDB's TIMESTAMP cast
    # ignores any other offset, so only 'Z' takes this path); then any ISO text with or without
    # an offset or zone name
    return (
        f"coalesce(CASE WHEN suffix({v}, 'Z') THEN TRY_CAST({v} AS TIMESTAMP) END, "
        f"CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP), "
        f"CASE WHEN regexp_full_match({v}, '\\d{{11,13}}') THEN make_timestamp(CAST({v} AS BIGINT) * 1000) "
        f"WHEN regexp_full_match({v}, '\\d{{1,2}}/\\d{{1,2}}/\\d{{4}}.*') THEN "
        f"try_strptime({v}, ['%m/%d/%Y %H:%M', '%m/%d/%Y %H:%M:%S', '%m/%d/%Y %I:%M %p', '%m/%d/%Y']) END)"
    )


def parse_date(expr: str) -> str:
    return f"CAST({parse_timestamp(expr)} AS DATE)"


def parse_decimal(expr: str) -> str:
    """Amounts as exported: tolerate thousands separators, currency symbols and spaces."""
    v = clean(expr)
    return f"TRY_CAST(regexp_replace({v}, '[,$€£\\s]', '', 'g') AS DECIMAL(18, 2))"


def parse_double(expr: str) -> str:
    v = clean(expr)
    return f"TRY_CAST(regexp_replace({v}, '[,%\\s]', '', 'g') AS DOUBLE)"


def parse_int(expr: str) -> str:
    v = clean(expr)
    return f"CAST(round(TRY_CAST(regexp_replace({v}, '[,\\s]', '', 'g') AS DOUBLE)) AS BIGINT)"


def parse_bool(expr: str) -> str:
    return f"TRY_CAST({clean(expr)} AS BOOLEAN)"


def parse_text(expr: str) -> str:
    return clean(expr)


def snake(expr: str) -> str:
    """Lowercase snake form of a free-text label ('Closed Won' -> 'closed_won')."""
    return f"trim(regexp_replace(lower(trim({expr})), '[^a-z0-9]+', '_', 'g'), '_')"


PARSERS = {
    "text": parse_text,
    "timestamp": parse_timestamp,
    "date": parse_date,
    "decimal": parse_decimal,
    "double": parse_double,
    "int": parse_int,
    "bool": parse_bool,
}
