"""Ad spend: revline's own spend file and the ad platforms' own exports, rows that add up.

Shapes read (detected from the headers, see `platform_of`):
  revline       date, channel, campaign, spend[, impressions, clicks, currency, account]
  google_ads    Google Ads UI/Editor export: Day, Campaign, Cost, Impr., Clicks, Currency code
                [, Campaign type, Account / Customer ID]; the title lines above the header and
                the "Total: ..." lines below the rows are skipped (counted in the report notes)
  meta_ads      Meta Ads Manager: Reporting starts, Reporting ends, Campaign name,
                Amount spent (USD), Impressions, Link clicks[, Account name / Account ID]
  linkedin_ads  LinkedIn Campaign Manager: Start Date (in UTC)[, End Date (in UTC)], Campaign Name,
                Total Spent, Impressions, Clicks, Currency[, Account Name / Account ID]

The platform implies the channel: Google Ads -> paid_search (display when its campaign type is
Display, Video, Demand Gen or Discovery), Meta and LinkedIn -> paid_social. A revline file names
the channel; a platform name there ("linkedin", "Google Ads", "meta") is paid spend, grouped by the
channel rules with medium "paid" (so "linkedin" is paid_social, never organic_social).

Why rows keep their file and row instead of a (date, channel, campaign) key: ad-group rows, ad
sets and several ad accounts share that key and must ADD UP. The rules, in order:
  1. A row is identified by (file sha256, row number): re-ingesting a file changes nothing.
  2. A row covering several days (Meta's "Reporting starts" .. "Reporting ends") is spread
     evenly over its days, cents and counts exact (the remainder goes to the first day), so
     totals equal the file's and weekly models see the spend when it happened.
  3. A later export replaces a period: rows of the new file's platform and ad account (and, for
     revline files, of the channels it names) dated within the new file's first..last day are
     removed when they came from another file, and reported as replaced. Two ad accounts
     exported separately therefore need their account column (or separate platforms) to add up.
"""

from __future__ import annotations

import re

from revline.ingest.aliases import resolve
from revline.ingest.channels import CHANNELS, channel_case
from revline.ingest.context import Ctx
from revline.ingest.crm import BAD_CURRENCY
from revline.ingest.readers import Staged, _new_name
from revline.ingest.sqlfrag import clean, ident, lit, snake
from revline.ingest.upsert import Written
from revline.ingest.validate import Check, Field, typed_rows
from revline.store.rows import scalar

_COMMON = {"impressions": ["impressions", "impr", "impr."], "clicks": ["clicks"]}
_ACCOUNT = ["account", "account_id", "account id", "customer id", "account name", "ad account"]

ALIASES: dict[str, dict[str, list[str]]] = {
    "revline": {
        "date": ["date", "day"], "channel": ["channel"], "campaign_id": ["campaign", "campaign_id", "campaign id"],
        "spend": ["spend", "cost", "amount"], "currency": ["currency", "currency_code"], "ad_account": _ACCOUNT,
        **_COMMON,
    },
    "google_ads": {
        "date": ["Day", "Date"], "campaign_id": ["Campaign", "Campaign name"], "campaign_type": ["Campaign type"],
        "spend": ["Cost"], "currency": ["Currency code", "Currency"], "ad_account": ["Customer ID", "Account", "Account name"],
        **_COMMON,
    },
    "meta_ads": {
        "date": ["Reporting starts", "Day"], "date_end": ["Reporting ends"], "campaign_id": ["Campaign name"],
        "spend": ["Amount spent"], "currency": ["Currency"], "ad_account": ["Account ID", "Account name"],
        "impressions": ["Impressions"], "clicks": ["Link clicks", "Clicks (all)"],
    },
    "linkedin_ads": {
        "date": ["Start Date (in UTC)", "Start Date"], "date_end": ["End Date (in UTC)", "End Date"],
        "campaign_id": ["Campaign Name", "Campaign"], "spend": ["Total Spent", "Total Spent (USD)"],
        "currency": ["Currency"], "ad_account": ["Account ID", "Account Name", "Account"], **_COMMON,
    },
}
SPEC = {
    "date": Field("date", True), "date_end": Field("date"), "channel": Field(), "campaign_id": Field(),
    "campaign_type": Field(), "spend": Field("decimal", True), "impressions": Field("int"), "clicks": Field("int"),
    "currency": Field(), "ad_account": Field(),
}
_MONEY_IN_HEADER = re.compile(r"^\s*(amount spent|total spent|cost|spend)\s*\(([A-Za-z]{3})\)\s*$", re.I)


def _norm(h: str) -> str:
    return re.sub(r"[^a-z0-9]", "", h.lower())


def platform_of(headers: list[str]) -> str | None:
    """The ad platform whose own export these headers are, or None (a revline spend file or other)."""
    h = {_norm(x) for x in headers}
    spent = {_norm(_MONEY_IN_HEADER.sub(r"\1", x)) for x in headers}
    if "reportingstarts" in h and "amountspent" in spent:
        return "meta_ads"
    if ({"startdateinutc", "startdate"} & h) and "totalspent" in spent and "campaignname" in h:
        return "linkedin_ads"
    if "cost" in h and ({"day"} & h) and ("campaign" in h) and ({"impr", "currencycode", "campaigntype"} & h):
        return "google_ads"
    return None


def _header_currency(headers: list[str]) -> tuple[str | None, str | None]:
    """("Amount spent (USD)" header, "USD"): the currency some platforms put in the spend header."""
    for x in headers:
        m = _MONEY_IN_HEADER.match(x)
        if m:
            return x, m.group(2).upper()
    return None, None


def _drop_footers(ctx: Ctx, staged: Staged, date_aliases: list[str]) -> int:
    """Delete "Total: ..." / "Grand total" lines (no date, a cell starting with Total); returns how many."""
    cols = [ident(c) for c in staged.columns]
    dates = [f"{clean(ident(c))} IS NULL" for c in resolve(staged.columns, date_aliases)] or ["true"]
    texts = " OR ".join(f"regexp_matches(coalesce({c}, ''), '^\\s*(grand\\s+)?totals?\\b', 'i')" for c in cols)
    if not texts:
        return 0
    cond = f"({' AND '.join(dates)}) AND ({texts})"
    n = scalar(ctx.con, f"SELECT count(*) FROM {staged.table} WHERE {cond}")  # noqa: S608 - headers quoted by ident, temp table from _new_name
    if n:
        ctx.con.execute(f"DELETE FROM {staged.table} WHERE {cond}")  # noqa: S608 - headers quoted by ident, temp table from _new_name
        ctx.report.notes.append(f"{staged.path}: skipped {n} total line(s) (not spend rows)")
    return int(n)


def _channel_sql(platform: str, ctx: Ctx) -> str:
    if platform == "google_ads":
        t = snake("campaign_type")
        return (f"CASE WHEN regexp_matches(coalesce({t}, ''), '(display|video|demand_gen|discovery|youtube)') "
                f"THEN 'display' ELSE 'paid_search' END")
    if platform in ("meta_ads", "linkedin_ads"):
        return "'paid_social'"
    return named_channel_sql(ctx)


def named_channel_sql(ctx: Ctx, column: str = "channel") -> str:
    """SQL for the channel a file names in `column` (spend, lift tests): a revline channel as it is,
    anything else ("Google Ads", "linkedin") through the channel rules as paid media."""
    known = ", ".join(lit(c) for c in CHANNELS)
    # a platform's name in the channel column is paid spend: medium 'paid' says so to the rules
    return (f"CASE WHEN {snake(column)} IN ({known}) THEN {snake(column)} "
            f"ELSE {channel_case(source=column, medium=lit('paid'), campaign_type=column, rules=ctx.rules)} END")


def load_spend(ctx: Ctx, staged: Staged) -> None:
    """Read one spend file (any shape above) and write its rows by the rules of this module."""
    con = ctx.con
    platform = ctx.convention if ctx.convention in ALIASES else (platform_of(staged.columns) or "revline")
    aliases = {k: list(v) for k, v in ALIASES[platform].items()}
    money_header, header_currency = _header_currency(staged.columns)
    if money_header:
        aliases["spend"].insert(0, money_header)
    footers = _drop_footers(ctx, staged, aliases["date"])
    spec = dict(SPEC)
    if platform == "revline":
        spec["channel"] = Field(required=True)
    checks = [
        Check("spend", "spend < 0", "'negative amount: ' || CAST(spend AS VARCHAR)"),
        Check("impressions", "impressions < 0", "'negative count'"),
        Check("clicks", "clicks < 0", "'negative count'"),
        Check("date_end", "date_end < date", "'period ends before it starts'"),
        BAD_CURRENCY,
    ]
    t = typed_rows(con, staged, spec, aliases, table_name="spend", checks=checks)
    ctx.record("spend", read=staged.rows_read - footers, quarantined=t.quarantined_rows)
    currency = f"upper(coalesce(currency, {lit(header_currency or 'USD')}))"
    rows = _new_name("spend")
    con.execute(
        f"CREATE TEMP TABLE {rows} AS SELECT date, coalesce(date_end, date) AS date_end, {_channel_sql(platform, ctx)} AS channel, "  # noqa: S608 - values through lit, channel rules through channel_sql, temp names
        f"coalesce(campaign_id, '') AS campaign_id, spend, impressions, clicks, {currency} AS currency, "
        f"{lit('' if platform == 'revline' else platform)} AS platform, coalesce(ad_account, '') AS ad_account, "
        f"{lit(ctx.digest)} AS source_file, _row AS source_row FROM {t.table}"
    )
    other = scalar(con, f"SELECT count(*) FROM {rows} WHERE channel = 'other'")  # noqa: S608 - temp table from _new_name
    if other:
        ctx.report.other_channel["spend"] += other
    days = _spread(con, rows)
    replaced = _replace_periods(con, days, by_channel=platform == "revline")
    if replaced:
        ctx.report.notes.append(f"{staged.path}: replaced {replaced} spend row(s) of older exports of the same period")
    written = _classify(con, days)
    _rechannel(con, days)
    _insert(con, days)
    ctx.record("spend", written=written)
    for table in (rows, days, t.table):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _spread(con, rows: str) -> str:
    """One row per day: a row over n days gets spend/n (cents) and counts/n, remainders on day 1."""
    days = _new_name("spend_days")
    n = "(date_diff('day', date, date_end) + 1)"
    share = lambda col, unit: (  # noqa: E731 - local shorthand for the even split with exact remainder
        f"CASE WHEN k = 0 THEN {col} - (floor({col} * {unit} / {n}) / {unit}) * ({n} - 1) "
        f"ELSE floor({col} * {unit} / {n}) / {unit} END"
    )
    con.execute(
        f"CREATE TEMP TABLE {days} AS SELECT CAST(date + k * INTERVAL 1 DAY AS DATE) AS date, channel, campaign_id, "  # noqa: S608 - this module's expressions over a temp table
        f"CAST({share('spend', 100)} AS DECIMAL(18, 2)) AS spend, "
        f"CAST({share('impressions', 1)} AS BIGINT) AS impressions, CAST({share('clicks', 1)} AS BIGINT) AS clicks, "
        f"currency, platform, ad_account, source_file, source_row "
        f"FROM (SELECT *, unnest(range(0, {n})) AS k FROM {rows})"
    )
    return days


def _replace_periods(con, days: str, *, by_channel: bool) -> int:
    """Delete rows of other files that the new file's period supersedes (rule 3); returns how many."""
    scope = ["platform", "ad_account", *(["channel"] if by_channel else [])]
    on = " AND ".join(f"s.{c} = p.{c}" for c in scope)
    periods = f"SELECT {', '.join(scope)}, min(date) AS first, max(date) AS last, any_value(source_file) AS f FROM {days} GROUP BY ALL"  # noqa: S608 - fixed column names over a temp table
    cond = (f"FROM spend s WHERE EXISTS (SELECT 1 FROM ({periods}) p WHERE {on} "  # noqa: S608 - fixed column names over a temp table
            f"AND s.date BETWEEN p.first AND p.last AND s.source_file <> p.f)")
    n = con.execute(f"SELECT count(*) {cond}").fetchone()[0]
    if n:
        con.execute(f"DELETE {cond}")
    return int(n)


def _classify(con, days: str) -> Written:
    """What writing `days` will do with each row of the file (a row is keyed by file and row, and
    spread over its days): loaded when a day of it is not stored (a new file, or days another
    file's export had replaced), updated when it is stored under another channel (the channel
    rules changed), merged when every day is stored as it is (a `--force` re-ingest)."""
    per_row = (f"SELECT d.source_row, count(*) FILTER (WHERE s.source_row IS NULL) AS new_days, "  # noqa: S608 - fixed column names over a temp table
               f"count(*) FILTER (WHERE s.channel <> d.channel) AS moved FROM {days} d LEFT JOIN spend s "
               f"ON s.source_file = d.source_file AND s.source_row = d.source_row AND s.date = d.date GROUP BY d.source_row")
    loaded, updated, merged = con.execute(
        f"SELECT count(*) FILTER (WHERE new_days > 0), count(*) FILTER (WHERE new_days = 0 AND moved > 0), "  # noqa: S608 - fixed column names over a temp table
        f"count(*) FILTER (WHERE new_days = 0 AND moved = 0) FROM ({per_row})").fetchone() or (0, 0, 0)
    return Written(loaded=int(loaded), merged=int(merged), updated=int(updated))


def _rechannel(con, days: str) -> int:
    """Rows of this file already stored whose channel the current rules read differently (a file
    read again after the channel rules changed) take the new channel; returns how many file rows."""
    match = ("FROM {days} d WHERE s.source_file = d.source_file AND s.source_row = d.source_row "
             "AND s.date = d.date AND s.channel <> d.channel").format(days=days)
    n = con.execute(f"SELECT count(DISTINCT s.source_row) FROM spend s, {days} d WHERE s.source_file = d.source_file "  # noqa: S608 - fixed column names over a temp table
                    f"AND s.source_row = d.source_row AND s.date = d.date AND s.channel <> d.channel").fetchone()[0]
    if n:
        con.execute(f"UPDATE spend s SET channel = d.channel {match}")  # noqa: S608 - fixed column names over a temp table
    return int(n)


def _insert(con, days: str) -> int:
    """Insert rows not stored yet (same file, row and day); returns how many file rows were new."""
    cols = "date, channel, campaign_id, spend, impressions, clicks, currency, platform, ad_account, source_file, source_row"
    fresh = (f"SELECT {cols} FROM {days} d WHERE NOT EXISTS (SELECT 1 FROM spend s WHERE s.source_file = d.source_file "  # noqa: S608 - fixed column names over a temp table
             f"AND s.source_row = d.source_row AND s.date = d.date)")
    new = _new_name("spend_new")
    con.execute(f"CREATE TEMP TABLE {new} AS {fresh}")
    n = con.execute(f"SELECT count(DISTINCT source_row) FROM {new}").fetchone()[0]  # noqa: S608 - temp table from _new_name
    con.execute(f"INSERT INTO spend ({cols}) SELECT {cols} FROM {new}")  # noqa: S608 - fixed column names, temp table from _new_name
    con.execute(f"DROP TABLE {new}")
    return int(n)
