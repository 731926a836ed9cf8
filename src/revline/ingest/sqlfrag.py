"""SQL fragments that turn raw VARCHAR cells into typed values, shared by every reader.

Why SQL strings and not Python parsing: validation must stay vectorised inside DuckDB, so a
reader only states *which* column is a timestamp or an amount and these fragments do the work.
Every fragment returns NULL when the value cannot be parsed; the validator compares that NULL
with the raw cell to tell "empty" from "unparsable".
"""

from __future__ import annotations


def ident(name: str) -> str:
    """Quote an identifier for DuckDB (headers may hold spaces, dots or quotes)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def clean(expr: str) -> str:
    """Trimmed text, with empty strings as NULL (CSV exports write both for 'no value')."""
    return f"NULLIF(trim({expr}), '')"


def parse_timestamp(expr: str) -> str:
    """UTC naive TIMESTAMP from ISO 8601 (with or without zone), 'YYYY-MM-DD', Salesforce
    '2025-03-01T10:00:00.000+0000', US 'MM/DD/YYYY HH:MM' (HubSpot UI exports) or epoch ms.

    The session runs with TimeZone=UTC during ingest (see loader), so zone-less strings are
    read as UTC and zoned ones are converted to it.
    """
    v = clean(expr)
    # coalesce evaluates later arguments only for rows still NULL: ISO text takes the fast path
    return (
        f"coalesce(CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP), "
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
