"""Money in the reporting currency (USD): the one place revline converts an amount.

The rule, for every reader (reports, the API, the dashboard, attribution):
* an amount (NULL: 0) in a currency (NULL: USD) is converted at the rate of its **date**: won
  revenue at the deal's close date, pipeline at its creation date, spend at its day;
* the rate is the latest dated rate of that currency on or before the date, from `fx_rates`
  (loaded from a file: `revline fx load rates.csv`, or `revline ingest` of a date,currency,rate
  file; rates are USD per unit);
* where no dated rate covers a date (no file loaded, a currency the file lacks, a date before its
  first rate), the shipped defaults `revline.vocabulary.USD_RATES` apply: approximate 2024
  averages, a documented approximation, not history;
* USD is always 1; a currency with neither a dated nor a default rate converts to NULL.

Why conversion at read time and not a stored amount_usd column: the result never goes stale when
rates are loaded later or rows are written by another path (the collector, the demo, a test),
and an ASOF join is cheap: one sum over 200,000 opportunities with 9,000 daily rates took 0.36 s
against 0.03 s for the fixed rates (load average 4 on 2 cores); `actuals()` over 50,000 deals
and 7,500 rates 0.34 s against 0.05 s (benchmarks/bench_fx.py, load average 11). A store
without dated rates takes the fixed-rate path and pays nothing. `opportunities_usd_sql` and `spend_usd_sql` are the
SQL form, `usd_ibis` the portable (Ibis) form of the same rule; tests check they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from revline.store.rows import scalar
from revline.store.sql import ident
from revline.vocabulary import USD_RATES

REPORTING_CURRENCY = "USD"
"""The currency every screen shows money in (named beside the figures)."""


def has_rates(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store holds dated rates (else the fixed defaults apply everywhere)."""
    try:
        return bool(scalar(con, "SELECT EXISTS (SELECT 1 FROM fx_rates)"))
    except duckdb.CatalogException:  # a store not migrated yet (read-only snapshot of an old file)
        return False


def default_rate_sql(currency: str) -> str:
    """SQL: the shipped default rate of the column expression `currency` (NULL: USD)."""
    cases = " ".join(f"WHEN '{c}' THEN {r}" for c, r in USD_RATES.items())
    return f"(CASE upper(coalesce({currency}, 'USD')) {cases} END)"


def _converted(source: str, amount: str, currency: str, at: str, out: str, dated: bool) -> str:
    """`source` (a table or a parenthesised query) with one more column `out`: `amount` in USD at `at`."""
    default = default_rate_sql(f"s.{currency}")
    if not dated:
        return f"(SELECT s.*, (coalesce(s.{amount}, 0) * {default})::DOUBLE AS {out} FROM {source} s)"  # noqa: S608 - column names of the callers below
    rate = (f"CASE WHEN upper(coalesce(s.{currency}, 'USD')) = 'USD' THEN 1.0 "
            f"ELSE coalesce(r_{out}.rate, {default}) END")
    return (
        f"(SELECT s.*, (coalesce(s.{amount}, 0) * {rate})::DOUBLE AS {out} FROM {source} s "  # noqa: S608 - column names of the callers below
        f"ASOF LEFT JOIN fx_rates r_{out} ON r_{out}.currency = upper(coalesce(s.{currency}, 'USD')) "
        f"AND CAST(s.{at} AS DATE) >= r_{out}.date)"
    )


def opportunities_usd_sql(con: duckdb.DuckDBPyConnection) -> str:
    """A parenthesised query: every column of `opportunities` plus `pipeline_usd` (the amount at
    its creation date's rate) and `revenue_usd` (at its close date's rate; the creation date's
    while it is open). Use as `FROM {opportunities_usd_sql(con)} o`."""
    dated = has_rates(con)
    inner = _converted("opportunities", "amount", "currency", "created_at", "pipeline_usd", dated)
    at_close = "(SELECT *, coalesce(closed_at, created_at) AS _fx_at FROM " + inner + ")"  # noqa: S608 - fixed column names, no user input
    return "(SELECT * EXCLUDE (_fx_at) FROM " + _converted(at_close, "amount", "currency", "_fx_at", "revenue_usd", dated) + ")"  # noqa: S608 - fixed column names, no user input


def spend_usd_sql(con: duckdb.DuckDBPyConnection) -> str:
    """A parenthesised query: every column of `spend` plus `spend_usd` (at the rate of its day)."""
    return _converted("spend", "spend", "currency", "date", "spend_usd", has_rates(con))


def usd_ibis(be: Any, table: Any, amount: str, currency: str, at: str, out: str = "amount_usd") -> Any:
    """The Ibis (portable) form of the rule: `table` with column `out`, `amount` in USD at `at`.
    Reads `fx_rates` from the backend `be` when it has rows; a backend without the table (a
    warehouse providing only the canonical tables) gets the defaults.

    Why no ASOF join: Spark SQL has none (Ibis refuses it there). The latest rate on or before a
    day is found by equi-joins instead, which every backend plans as hash joins: each rate holds
    for the days up to the currency's next rate (`_rate_days`: one row per currency and day
    between its first and last rate, a few thousand rows per currency for daily rates), and the
    currency's last rate holds for every later day."""
    import ibis

    default = ibis.cases(*[(table[currency].fill_null("USD").upper() == c, r) for c, r in USD_RATES.items()], else_=None)
    money = table[amount].cast("float64").fill_null(0.0)
    try:
        rates = be.table("fx_rates")
        dated = rates.count().execute() > 0
    except Exception:  # noqa: BLE001 - no such table on this backend: the defaults apply
        dated = False
    if not dated:
        return table.mutate(**{out: money * default.cast("float64")})
    t = table.mutate(_fx_cur=table[currency].fill_null("USD").upper(), _fx_day=table[at].cast("date"),
                     _fx_default=default.cast("float64"), _fx_money=money)
    days, last = _rate_days(rates)
    j = t.left_join(days, (t._fx_cur == days._fx_rc) & (t._fx_day == days._fx_rd))
    j = j.left_join(last, j._fx_cur == last._fx_lc)
    later = ibis.cases((j._fx_day >= j._fx_ld, j._fx_lrate), else_=ibis.null("float64"))
    rate = ibis.cases((j._fx_cur == "USD", 1.0),
                      else_=ibis.coalesce(j._fx_rate.cast("float64"), later, j._fx_default))
    return j.mutate(**{out: j._fx_money * rate}).drop("_fx_cur", "_fx_day", "_fx_default", "_fx_money",
                                                      "_fx_rc", "_fx_rd", "_fx_rate", "_fx_lc", "_fx_ld", "_fx_lrate")


def _rate_days(rates: Any) -> tuple[Any, Any]:
    """(currency, day, rate) for every day from a currency's first rate to the day before its last
    one (each rate until the next), and (currency, date, rate) of each currency's last rate."""
    import ibis

    r = rates.select(c=rates.currency.upper(), d=rates.date.cast("date"), rate=rates.rate.cast("float64"))
    r = r.mutate(nxt=r.d.lead().over(ibis.window(group_by=r.c, order_by=r.d)))
    spans = r.filter(r.nxt.notnull())
    spans = spans.mutate(_day=ibis.range(spans.d.cast("timestamp"), spans.nxt.cast("timestamp"),
                                         ibis.interval(days=1)).unnest())
    days = spans.select(_fx_rc=spans.c, _fx_rd=spans._day.cast("date"), _fx_rate=spans.rate)
    last = r.filter(r.nxt.isnull()).select(_fx_lc=r.c, _fx_ld=r.d, _fx_lrate=r.rate)
    return days, last


def suspicious_rates(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Currencies whose median dated rate is over 5x off the shipped default: most often a file of
    units per USD (BRL 5.2) where revline reads USD per unit (BRL 0.19). Said, not refused: a
    currency can move that much (ARS), and the user decides."""
    out = []
    for cur, median in con.execute("SELECT currency, median(rate) FROM fx_rates GROUP BY 1 ORDER BY 1").fetchall():
        default = USD_RATES.get(cur)
        if default and not 0.2 <= median / default <= 5:
            out.append(f"{cur}: median dated rate {median:g} USD per {cur} against the default {default:g}; "
                       f"is the file in {cur} per USD? revline reads USD per unit (use 1/rate)")
    return out


def rates_table(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(currency, first date, last date, rates) per currency of the stored dated rates."""
    return con.execute(
        "SELECT currency, min(date), max(date), count(*) FROM fx_rates GROUP BY 1 ORDER BY 1").fetchall()


def load_rates(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, int]:
    """Load a rates file (CSV with date, currency, rate: USD per unit) into `fx_rates` in one
    transaction; see `store_rates`. Returns (rows read, rows written)."""
    from revline.store.transaction import transaction

    path = Path(path)
    try:
        rel = con.sql("SELECT * FROM read_csv(?, all_varchar = true, header = true)", params=[str(path)])
        headers = list(rel.columns)
    except duckdb.Error as exc:
        raise ValueError(f"{path}: not a readable CSV rates file ({str(exc).splitlines()[0]})") from None
    con.execute("CREATE OR REPLACE TEMP TABLE _rl_fx_file AS SELECT * FROM read_csv(?, all_varchar = true, header = true)",
                [str(path)])
    try:
        with transaction(con):
            return store_rates(con, "_rl_fx_file", headers, str(path))
    finally:
        con.execute("DROP TABLE IF EXISTS _rl_fx_file")


def checked_rates_sql(con: duckdb.DuckDBPyConnection, table: str, headers: list[str], source: str,
                      row: str | None = None) -> str:
    """SQL over `table` (text columns named date, currency, rate in any case): n (the row), date,
    currency, rate. ValueError naming the file, row and field of the first bad row, before anything
    is written. `table` is the caller's temp table name; `row` its column of 1-based file rows (the
    ingest's staged `_row`): n is then that, the order in which a later row of a (date, currency)
    wins, and the row an error names (without it, rows are numbered as the scan meets them)."""
    cols = {h.strip().lower(): h for h in headers}
    missing = [c for c in ("date", "currency", "rate") if c not in cols]
    if missing:
        raise ValueError(f"{source}: a rates file needs the columns date, currency, rate (USD per unit); "
                         f"missing {', '.join(missing)}")
    q = ", ".join(f"{ident(cols[c])}::VARCHAR AS {c}" for c in ("date", "currency", "rate"))
    row_no = ident(row) if row else "row_number() OVER ()"
    typed = (
        f"SELECT n, trim(date) AS date_raw, upper(trim(currency)) AS currency, "  # noqa: S608 - headers quoted; table is the caller's temp table
        f"trim(rate) AS rate_raw, try_cast(trim(date) AS DATE) AS date, try_cast(trim(rate) AS DOUBLE) AS rate "
        f"FROM (SELECT {row_no} AS n, {q} FROM {table})"
    )
    ok_currency = "regexp_full_match(coalesce(currency, ''), '[A-Z]{3}')"
    bad = con.execute(
        f"SELECT n, CASE WHEN date IS NULL THEN 'date' WHEN NOT {ok_currency} THEN 'currency' ELSE 'rate' END, "  # noqa: S608 - fixed text
        f"date_raw, currency, rate_raw FROM ({typed}) "
        f"WHERE date IS NULL OR NOT {ok_currency} OR NOT coalesce(rate > 0, false) ORDER BY n LIMIT 1").fetchone()
    if bad:
        n, field, d_raw, cur, r_raw = bad
        what = {"date": f"not a date ({d_raw!r}); use YYYY-MM-DD", "currency": f"not an ISO currency code ({cur!r})",
                "rate": f"not a positive number ({r_raw!r}); rates are USD per unit"}[field]
        raise ValueError(f"{source}: row {n}, field {field}: {what}")
    return f"SELECT n, date, currency, rate FROM ({typed})"  # noqa: S608 - this function's SQL


def store_rates(con: duckdb.DuckDBPyConnection, table: str, headers: list[str], source: str) -> tuple[int, int]:
    """Rates from `table` (see `checked_rates_sql`) into `fx_rates`: a (date, currency) already
    stored takes the new rate (within the file, its last row). Returns (rows read, rows written).
    (`revline ingest` writes them through the ingest's upsert, which also counts merged rows.)"""
    typed = checked_rates_sql(con, table, headers, source)
    read = scalar(con, f"SELECT count(*) FROM {table}")  # noqa: S608 - the caller's temp table
    written = scalar(
        con,
        f"INSERT INTO fx_rates SELECT date, currency, rate, ? FROM ({typed}) "  # noqa: S608 - fixed text; values bound
        f"QUALIFY row_number() OVER (PARTITION BY date, currency ORDER BY n DESC) = 1 "
        f"ON CONFLICT (date, currency) DO UPDATE SET rate = EXCLUDED.rate, source = EXCLUDED.source",
        [source])
    return read, written
