"""Formatted numbers and locale dates as exports write them -> SQL that parses them, in bulk.

Why decided per file and column, never per row: "1.200" is 1200 in a German export and 1.2 in
an American one, and 3/1/2017 is March or January; a row alone cannot tell. The column's other
values can ("1.200,50" shows ',' as the decimal separator; "13/1/2017" shows day first), so each
numeric or date column is profiled once (one aggregate query), the decision is fixed for the
whole column, and the parse is a vectorised SQL expression. A column whose values never decide
gets a default only where the file's shape implies one (a ';'-delimited file is European);
otherwise its ambiguous values are quarantined (numbers) or the file is refused (dates) with the
option that settles it (`--decimal`, `--date-order`).

The SQL builders are pure; `decide_decimal` and `decide_date_order` run one query each.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from revline.store.rows import one_row
from revline.store.sql import lit

DECIMALS = (",", ".")
DATE_ORDERS = ("mdy", "dmy", "ymd")

# Thousands-grouping characters besides '.' and ',': spaces (also no-break and narrow no-break,
# as French and Swedish exports write them) and the Swiss apostrophes.
_GROUP = "\\s\\x{00A0}\\x{202F}'\u2019"
# A whole formatted number: optional sign or accounting parentheses, currency symbol or ISO code
# before or after, percent sign after.
_SHAPE = (
    "^[+\\-\u2212]?\\(?[ \\x{00A0}]*(?:[A-Za-z]{3}[ \\x{00A0}]*|[$€£¥₹][ \\x{00A0}]*)?[+\\-\u2212]?"
    f"\\d[\\d.,{_GROUP}]*"
    "(?:[ \\x{00A0}]*(?:[A-Za-z]{3}|[$€£¥₹]))?[ \\x{00A0}]*%?[ \\x{00A0}]*\\)?-?$"
)
_NUMBER_RUN = f"\\d[\\d.,{_GROUP}]*"
# One '.' or ',' followed by exactly three digits, first group not starting with 0: "1.200" is
# 1200 or 1.2 depending on the writer's locale.
_AMBIGUOUS = "[1-9]\\d{0,2}[.,]\\d{3}"


@dataclass(frozen=True)
class ParseOptions:
    """What the user told us (`--decimal`, `--date-order`) and what the file's shape says."""

    decimal: str | None = None      # ',' or '.', forced for every column
    date_order: str | None = None   # mdy, dmy or ymd, forced for every column
    delimiter: str | None = None    # the CSV's field delimiter (';' implies decimal ',')
    usual_date_order: str | None = None  # what the source always writes (LinkedIn: m/d/yyyy), if known

    def __post_init__(self) -> None:
        if self.decimal not in (None, *DECIMALS):
            raise ValueError(f"--decimal must be ',' or '.', not {self.decimal!r}")
        if self.date_order not in (None, *DATE_ORDERS):
            raise ValueError(f"--date-order must be one of {', '.join(DATE_ORDERS)}, not {self.date_order!r}")


class AmbiguousDates(ValueError):
    """A date column whose day/month order the values do not settle."""


# ---------------------------------------------------------------- numbers


def digits_sql(v: str) -> str:
    """The number's digits and '.'/',' separators only (space and apostrophe groupings removed);
    NULL when the cell is not shaped like a number at all."""
    return (
        f"CASE WHEN regexp_full_match({v}, {_q(_SHAPE)}) THEN "
        f"regexp_replace(regexp_extract({v}, {_q(_NUMBER_RUN)}), {_q('[' + _GROUP + ']')}, '', 'g') END"
    )


def negative_sql(v: str) -> str:
    """TRUE for '(1,054)', '-1,054', '1,054-' and the Unicode minus."""
    return f"(regexp_full_match({v}, '^\\s*\\(.*\\)\\s*$') OR regexp_matches({v}, '^\\s*[\\-\u2212]|[\\-\u2212]\\s*$'))"


def evidence_sql(d: str) -> tuple[str, str]:
    """(decimal is ',', decimal is '.') as SQL booleans over a `digits_sql` value: what a single
    value proves about its column. "1.200,50", "1.200.000" and "0,5" prove ','; their mirror
    images prove '.'; "1.200" and "1,200" prove nothing."""
    comma = (
        f"(regexp_full_match({d}, '\\d{{1,3}}(\\.\\d{{3}})+,\\d+') OR regexp_full_match({d}, '\\d{{1,3}}(\\.\\d{{3}}){{2,}}') "
        f"OR (regexp_full_match({d}, '\\d+,\\d+') AND NOT regexp_full_match({d}, {_q(_AMBIGUOUS)})))"
    )
    dot = (
        f"(regexp_full_match({d}, '\\d{{1,3}}(,\\d{{3}})+\\.\\d+') OR regexp_full_match({d}, '\\d{{1,3}}(,\\d{{3}}){{2,}}') "
        f"OR (regexp_full_match({d}, '\\d+\\.\\d+') AND NOT regexp_full_match({d}, {_q(_AMBIGUOUS)})))"
    )
    return comma, dot


def number_sql(v: str, decimal: str | None, kind: str = "decimal") -> str:
    """The value of a formatted number cell `v` (already cleaned) when the column's decimal
    separator is `decimal`; NULL if it does not parse or (decimal None) if it is ambiguous.

    None means undecided: only values that cannot be misread parse ("1200", "1,200.50").
    Thousands separators must group by three ("1.2.3" is no number)."""
    d = digits_sql(v)
    if decimal is None:
        comma, dot = evidence_sql("d")
        # no '.'/',' at all, or one whose role the value itself shows
        body = (
            f"CASE WHEN NOT regexp_matches(d, '[.,]') THEN d "
            f"WHEN {comma} THEN replace(replace(d, '.', ''), ',', '.') WHEN {dot} THEN replace(d, ',', '') END"
        )
    else:
        t = "." if decimal == "," else ","
        te, de = _re_escape(t), _re_escape(decimal)
        ok = f"regexp_full_match(d, '(\\d{{1,3}}({te}\\d{{3}})*|\\d+)({de}\\d+)?')"
        body = f"CASE WHEN {ok} THEN replace(replace(d, {_q(t)}, ''), {_q(decimal)}, '.') END"
    target = {"decimal": "DECIMAL(18, 2)", "double": "DOUBLE", "int": "DOUBLE"}[kind]
    # a one-element list and a lambda name the digits once (DuckDB has no LET)
    num = f"TRY_CAST(list_transform([{d}], d -> {body})[1] AS {target})"
    # accounting parentheses and signs: applied once, to the magnitude
    slow = f"(CASE WHEN {negative_sql(v)} THEN -{num} ELSE {num} END)"
    # most cells are plain: digits only, or (decimal '.') what a cast reads; coalesce runs the
    # formatted-number path only for the rest. Digits only: no '_' or 'e' that a cast accepts.
    fast = f"CASE WHEN NOT regexp_matches({v}, '[^0-9.\-]') THEN TRY_CAST({v} AS {target}) END"
    if decimal != ".":
        fast = f"CASE WHEN NOT regexp_matches({v}, '[^0-9\-]') THEN TRY_CAST({v} AS {target}) END"
    expr = f"coalesce({fast}, {slow})"
    return f"CAST(round({expr}) AS BIGINT)" if kind == "int" else expr


# currency symbols that name one currency ('$' does not: dollars of many countries)
SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}


def currency_sql(v: str) -> str:
    """The currency a formatted amount names itself ('USD 1,054.00', '1.054,00 €', '£5'), as an
    ISO code, or NULL ('$1,054.00', '1054'): the fallback when a file has no currency column."""
    code = f"upper(regexp_extract({v}, '(?:^|[\s\d(])([A-Za-z]{{3}})(?:$|[\s\d)])', 1))"
    symbol = "CASE " + " ".join(f"WHEN contains({v}, {_q(k)}) THEN {_q(c)}" for k, c in SYMBOLS.items()) + " END"
    return f"coalesce(nullif({code}, ''), {symbol})"


def ambiguous_sql(v: str) -> str:
    """TRUE for a value whose separator is ambiguous on its own ('1.200', '1,200')."""
    return f"coalesce(regexp_full_match({digits_sql(v)}, {_q(_AMBIGUOUS)}), false)"


def decide_decimal(con: duckdb.DuckDBPyConnection, table: str, column: str, opts: ParseOptions) -> str | None:
    """',' or '.' for this column, or None when nothing decides (its ambiguous values are then
    quarantined as such, see `number_reason_sql`).

    Order: `--decimal`; the column's own values, its first PROFILE_ROWS when they show it (the
    majority when they disagree: the minority then fails to parse and is quarantined); a
    ';'-delimited file means ','; a column whose only
    undecided values are comma-grouped ("1,200") in a ','-delimited file is read as English
    ('1,200' = 1200) while a dot-grouped '1.200' there stays ambiguous (D2 of issue 20)."""
    if opts.decimal:
        return opts.decimal
    # the first rows decide when they show a separator; the whole column is read only when they
    # do not (a minority style later in the column then fails to parse and is quarantined, as
    # the minority does when the whole column is counted)
    first = _decimal_counts(con, f"(SELECT * FROM {table} LIMIT {PROFILE_ROWS}) s", column)  # noqa: S608 - table from validate
    n_comma, n_dot, amb_dot, amb_comma = first if (first[0] or first[1]) else _decimal_counts(con, table, column)
    if n_comma or n_dot:
        return "," if n_comma > n_dot else "."
    if not (amb_dot or amb_comma):
        return None  # nothing to decide: every value parses without knowing
    if opts.delimiter == ";":
        return ","
    if amb_comma and not amb_dot:
        return "."
    return None


PROFILE_ROWS = 20_000


def _decimal_counts(con: duckdb.DuckDBPyConnection, table: str, column: str) -> tuple[int, int, int, int]:
    """Distinct value shapes of the column proving ',' and '.', and ambiguous with '.' and ','."""
    comma, dot = evidence_sql("d")
    return one_row(
        con,
        # the column expression and table come from validate (ident, _new_name), regexes from here
        f"SELECT count(*) FILTER ({comma}), count(*) FILTER ({dot}), "  # noqa: S608
        f"count(*) FILTER (regexp_full_match(d, '[1-9]\\d{{0,2}}\\.\\d{{3}}')), "
        f"count(*) FILTER (regexp_full_match(d, '[1-9]\\d{{0,2}},\\d{{3}}')) "
        # the values' shapes (digits 1-9 as 9) decide as the values would, and are few
        f"FROM (SELECT {digits_sql('v')} AS d FROM (SELECT DISTINCT translate({column}, '12345678', '99999999') AS v "
        f"FROM {table})) WHERE d IS NOT NULL"
    )


def number_reason_sql(raw: str, kind: str, decimal: str | None) -> str:
    """The quarantine reason for a numeric cell that did not parse."""
    if decimal is None:
        amb = (f"'ambiguous number ' || {raw} || ': the decimal separator is unknown "
               f"(pass --decimal , or --decimal .)'")
        return f"CASE WHEN {ambiguous_sql(raw)} THEN {amb} ELSE 'cannot parse {kind}: ' || {raw} END"
    return f"'cannot parse {kind} (decimal separator {decimal!s}): ' || {raw}"


# ---------------------------------------------------------------- dates

# day and month in either order, 2- or 4-digit year, optional time with seconds, fraction, AM/PM
_DMY = (
    "^(\\d{1,2})([/.\\-])(\\d{1,2})[/.\\-](\\d{4}|\\d{2})(?:[ T,]+(\\d{1,2}):(\\d{2})(?::(\\d{2})(?:[.,]\\d+)?)?"
    "\\s*([AaPp]\\.?[Mm]\\.?)?)?$"
)
# year first with '/' or '.' (ISO '-' is read by the cast), or a 2-digit year first under ymd
_YMD = (
    "^(\\d{4}|\\d{2})[/.\\-](\\d{1,2})[/.\\-](\\d{1,2})(?:[ T,]+(\\d{1,2}):(\\d{2})(?::(\\d{2})(?:[.,]\\d+)?)?"
    "\\s*([AaPp]\\.?[Mm]\\.?)?)?$"
)
_GROUPS = "['a', 'sep', 'b', 'y', 'h', 'mi', 's', 'ap']"
_YGROUPS = "['y', 'a', 'b', 'h', 'mi', 's', 'ap']"


def _assemble(r: str, year: str, month: str, day: str) -> str:
    """TIMESTAMP from the struct `r` of regexp_extract; NULL for impossible dates (31/02)."""
    y = f"(CASE WHEN length({r}.{year}) = 2 THEN CASE WHEN {r}.{year}::INT < 70 THEN 2000 ELSE 1900 END + {r}.{year}::INT ELSE {r}.{year}::INT END)"
    h = f"coalesce(TRY_CAST(nullif({r}.h, '') AS INT), 0)"
    ap = f"upper(left({r}.ap, 1))"
    hour = f"(CASE WHEN {ap} = 'P' AND {h} < 12 THEN {h} + 12 WHEN {ap} = 'A' AND {h} = 12 THEN 0 ELSE {h} END)"
    bad_ap = f"({ap} IN ('A', 'P') AND ({h} > 12 OR {h} = 0))"
    text = (
        f"printf('%04d-%02d-%02d %02d:%02d:%02d', {y}, {r}.{month}::INT, {r}.{day}::INT, {hour}, "
        f"coalesce(TRY_CAST(nullif({r}.mi, '') AS INT), 0), coalesce(TRY_CAST(nullif({r}.s, '') AS INT), 0))"
    )
    return f"CASE WHEN NOT {bad_ap} THEN TRY_CAST({text} AS TIMESTAMP) END"


def timestamp_sql(v: str, order: str | None) -> str:
    """UTC naive TIMESTAMP of a cleaned cell `v`: ISO 8601 with or without zone (converted to
    UTC; the ingest session runs in UTC so zone-less values are read as UTC), epoch milliseconds,
    and locale dates 3/1/2017, 01.03.2017, 2017/03/01, 3/1/17 with an optional time (24 h or
    AM/PM) whose day/month order is `order` (None: only unambiguous forms, i.e. dotted d.m.y
    and year-first ones, parse).

    `v` appears several times: pass a column, not an expression (DuckDB does not factor repeated
    expressions out of CASE branches)."""
    # coalesce evaluates later arguments only for rows still NULL: first the commonest form,
    # ISO 8601 in UTC ('...Z'), which a plain TIMESTAMP cast reads exactly at a tenth of the
    # cost of the zone-aware cast (the TIMESTAMP cast ignores any other offset, so only 'Z'
    # takes this path); then any ISO text with or without an offset or zone name
    fast = [
        f"CASE WHEN suffix({v}, 'Z') THEN TRY_CAST({v} AS TIMESTAMP) END",
        # DuckDB's casts also read '3/1/17' as year 3: only ISO text (YYYY-...) goes to them
        f"CASE WHEN substr({v}, 5, 1) = '-' THEN CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP) END",
    ]
    # the rarer forms in one CASE (one coalesce argument: each costs the common rows a pass)
    parts = [f"WHEN regexp_full_match({v}, '\\d{{11,13}}') THEN make_timestamp(CAST({v} AS BIGINT) * 1000)"]
    # the parts are extracted once per cell and named by a lambda (DuckDB has no LET; each
    # mention of a regexp_extract would run the regex again)
    r = "r"
    # dotted dates are day first by convention (nobody writes m.d.y), whatever the order
    day_first = _assemble(r, "y", "b", "a")
    if order == "mdy":
        dm = f"CASE WHEN {r}.sep = '.' THEN {day_first} ELSE {_assemble(r, 'y', 'a', 'b')} END"
    elif order == "dmy":
        dm = day_first
    else:  # undecided or ymd: only the dotted ones
        dm = f"CASE WHEN {r}.sep = '.' THEN {day_first} END"
    parts.append(f"WHEN regexp_full_match({v}, {_q(_DMY)}) THEN "
                 f"list_transform([regexp_extract({v}, {_q(_DMY)}, {_GROUPS})], r -> {dm})[1]")
    year_first = "length(r.y) = 4" if order != "ymd" else "true"
    ymd = f"CASE WHEN {year_first} THEN {_assemble('r', 'y', 'a', 'b')} END"
    parts.append(f"WHEN regexp_full_match({v}, {_q(_YMD)}) THEN "
                 f"list_transform([regexp_extract({v}, {_q(_YMD)}, {_YGROUPS})], r -> {ymd})[1]")
    # nested: a flat 3-argument coalesce cost ISO rows a third more (measured, DuckDB 1.5)
    return f"coalesce(coalesce({', '.join(fast)}), CASE {' '.join(parts)} END)"


def decide_date_order(con: duckdb.DuckDBPyConnection, table: str, column: str, opts: ParseOptions,
                      *, source: str = "", header: str = "") -> str | None:
    """Day/month order (mdy or dmy) of this column, from its values (a first field over 12 means day first, a
    second over 12 means month first), `--date-order` when given, the order the source is known
    to write when the values do not say, or None when the column has
    no day/month dates (or only dotted ones, read day first). Raises AmbiguousDates when the
    values contradict each other or never decide."""
    if opts.date_order:
        return opts.date_order
    r = f"regexp_extract(v, {_q(_DMY)}, {_GROUPS})"
    # a value with both fields over 12 is no date either way (quarantined when parsed)
    n, n_slash, day_first, month_first = one_row(
        con,
        # the column expression and table come from validate (ident, _new_name), regexes from here
        f"SELECT count(*), count(*) FILTER (sep <> '.'), coalesce(bool_or(a > 12 AND b <= 12), false), "  # noqa: S608
        f"coalesce(bool_or(b > 12 AND a <= 12), false) FROM ("
        f"SELECT {r}.sep AS sep, TRY_CAST({r}.a AS INT) AS a, TRY_CAST({r}.b AS INT) AS b "
        f"FROM (SELECT DISTINCT trim({column}) AS v FROM {table}) WHERE regexp_full_match(v, {_q(_DMY)}))"
    )
    if not n:
        return None
    where = f"{source}: column {header!r}"
    if day_first and month_first:
        raise AmbiguousDates(
            f"{where} mixes day-first (13/1) and month-first (1/13) dates; fix the column "
            f"or pass --date-order mdy|dmy|ymd"
        )
    if day_first:
        return "dmy"
    if month_first:
        return "mdy"
    if not n_slash:
        return None  # dotted only: day first
    if opts.usual_date_order:
        return opts.usual_date_order
    raise AmbiguousDates(
        f"{where}: cannot tell day/month order, every date has both fields <= 12 (e.g. 3/1/2017); "
        f"pass --date-order mdy|dmy|ymd"
    )


# ---------------------------------------------------------------- helpers


def _q(s: str) -> str:
    return lit(s)  # the one quoting rule (store.sql)


def _re_escape(c: str) -> str:
    return "\\." if c == "." else c
