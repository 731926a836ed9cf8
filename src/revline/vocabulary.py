"""The words every layer shares: milestones, revenue types, the unattributed label, currency rates.

Why a module below every package: ingest validates revenue types, attribution writes runs per
milestone and revenue type, the reports, the API and the demo read them back. One definition
keeps them from drifting apart (five copies of the revenue types had two different contents).
Nothing here imports from revline.
"""

from __future__ import annotations

from typing import Any, Final

LEAD_MILESTONES: tuple[str, ...] = ("lead", "mql", "sql")
"""Milestones a person or an account reaches; they carry no money and no revenue type."""
OPPORTUNITY_MILESTONES: tuple[str, ...] = ("opportunity", "won")
"""Milestones of an opportunity: created, closed won."""
MILESTONES: tuple[str, ...] = LEAD_MILESTONES + OPPORTUNITY_MILESTONES

REVENUE_TYPES: tuple[str, ...] = ("new_business", "renewal", "expansion", "contraction")
"""What a deal can be (ingest maps the CRM's own types onto these)."""
ATTRIBUTED_REVENUE_TYPES: tuple[str, ...] = ("new_business", "renewal", "expansion")
"""The revenue types attribution writes a run for by default (a contraction credits no channel),
in the order the demo company numbers its deal types."""
ALL_REVENUE = "all"
"""The revenue type of a run over every type (lead-milestone runs have none: NULL)."""

DEFAULT_REVENUE_TYPE = ALL_REVENUE
"""The revenue type every screen reads when the user picks none: the CLI's `--revenue-type`, the
API's `revenue_type`, the dashboard's filter and the HTML report. One default, so ROAS on the
dashboard and in `revline report` is one number; every screen states it beside the figure. All
types, because the revenue and target tiles beside the attribution are the company's whole number
(targets carry no revenue type)."""

FUNNEL_REVENUE_TYPE: Final = "new_business"
"""The revenue type every funnel reads when the user picks none, or the dashboard's filter says
all: `revline funnel`, /api/funnel, `models.funnel.funnel_report`, the HTML report and both
dashboard funnels (they say which type they show). Why not DEFAULT_REVENUE_TYPE: a funnel is the
road to a new customer. The account stage funnel is one type's road (renewals have their own
stages) and cannot add types up; and over all types the lead funnel counts a customer's contact
whose renewal it "sourced" as an MQL (tests/test_funnel_truth.py's simulated company: 1,564
against the 1,251 MQLs it made).
`all` stays one flag away (`--revenue-type all`, `revenue_type=all`) for the deal and account levels."""

ALL_SEGMENTS = "all"
"""The segment of the whole company (the targets file's 'all' rows)."""
DEFAULT_SEGMENT = ALL_SEGMENTS
REGIONS: tuple[str, ...] = ("NA", "EMEA", "APAC", "LATAM")
"""The segments accounts fall into, from their country (`region_sql`); a targets file's regional
rows use the same names (compared case-insensitively). Accounts whose country is not in
_COUNTRY_REGION are 'other', without a country 'unknown'."""
_COUNTRY_REGION: dict[str, tuple[str, ...]] = {
    "NA": ("US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA", "CA", "CANADA"),
    "LATAM": ("MX", "MEXICO", "BR", "BRAZIL", "AR", "ARGENTINA", "CL", "CHILE", "CO", "COLOMBIA", "PE", "PERU",
              "UY", "URUGUAY", "CR", "COSTA RICA"),
    "APAC": ("AU", "AUSTRALIA", "NZ", "NEW ZEALAND", "JP", "JAPAN", "CN", "CHINA", "IN", "INDIA", "SG", "SINGAPORE",
             "HK", "HONG KONG", "KR", "SOUTH KOREA", "KOREA", "TW", "TAIWAN", "ID", "INDONESIA", "MY", "MALAYSIA",
             "TH", "THAILAND", "PH", "PHILIPPINES", "VN", "VIETNAM"),
    "EMEA": ("GB", "UK", "UNITED KINGDOM", "GREAT BRITAIN", "IE", "IRELAND", "DE", "GERMANY", "FR", "FRANCE",
             "NL", "NETHERLANDS", "BE", "BELGIUM", "LU", "LUXEMBOURG", "ES", "SPAIN", "PT", "PORTUGAL", "IT", "ITALY",
             "CH", "SWITZERLAND", "AT", "AUSTRIA", "SE", "SWEDEN", "NO", "NORWAY", "DK", "DENMARK", "FI", "FINLAND",
             "IS", "ICELAND", "PL", "POLAND", "CZ", "CZECH REPUBLIC", "CZECHIA", "HU", "HUNGARY", "RO", "ROMANIA",
             "GR", "GREECE", "IL", "ISRAEL", "AE", "UNITED ARAB EMIRATES", "SA", "SAUDI ARABIA", "ZA", "SOUTH AFRICA",
             "NG", "NIGERIA", "KE", "KENYA", "EG", "EGYPT", "TR", "TURKEY", "EE", "ESTONIA", "LV", "LATVIA",
             "LT", "LITHUANIA"),
}
REGION_OF_COUNTRY: dict[str, str] = {c: r for r, names in _COUNTRY_REGION.items() for c in names}
"""Country (ISO 3166 alpha-2 code or English name, upper case) -> region."""


def region_of(country: object) -> str:
    """The region (REGIONS, 'other' or 'unknown') of one country value, the Python twin of
    `region_sql`: ISO code or English name in any case; 'unknown' when missing or blank, 'other'
    when the table does not know it."""
    if not isinstance(country, str) or not country.strip():
        return "unknown"
    return REGION_OF_COUNTRY.get(country.strip().upper(), "other")


def region_expr(country: Any) -> Any:
    """The Ibis twin of `region_sql`, for portable queries (the DuckDB or the Spark engine): the
    region of the string column `country` by the same table and the same rule (blank -> 'unknown',
    upper(trim) looked up, else 'other'). Written beside `region_sql` and `region_of` so the three
    change together; tests/test_vocabulary.py checks they agree on every country of the table."""
    import ibis

    c = country.cast("string").strip()
    return ibis.cases((c.isnull() | (c == ""), "unknown"), else_=c.upper().substitute(REGION_OF_COUNTRY, else_="other"))


def region_sql(country: str) -> str:
    """SQL expression of the region (REGIONS, 'other' or 'unknown') of the column `country`
    (ISO code or English name, any case). The argument is a column expression of the caller's
    query, never user input; the names are this module's constants."""
    cases = " ".join(f"WHEN '{c}' THEN '{r}'" for c, r in REGION_OF_COUNTRY.items())
    return (f"(CASE WHEN nullif(trim({country}), '') IS NULL THEN 'unknown' "
            f"ELSE coalesce(CASE upper(trim({country})) {cases} END, 'other') END)")


DEFAULT_INFLUENCE_WINDOW_DAYS = 90
"""Sourced vs influenced: a channel influenced an opportunity when the account had a touch of it
at most this many days before the opportunity was created."""

CAMPAIGN_LEVELS: tuple[str, ...] = ("program", "campaign")
DEFAULT_CAMPAIGN_LEVEL = "program"
"""Reports by campaign: 'program' rolls each campaign's spend and credit up to its top parent
(Campaign.ParentId), where spend is often booked while touches carry the child's id; 'campaign'
shows each campaign on its own, its ROI computed over itself and its children."""

UNATTRIBUTED = "(unattributed)"
"""The channel of a conversion no eligible touch explains: shown, never dropped."""

USD_RATES: dict[str, float] = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CAD": 0.73, "AUD": 0.66, "NZD": 0.60,
    "CHF": 1.13, "JPY": 0.0067, "SEK": 0.095, "NOK": 0.093, "DKK": 0.145, "INR": 0.012,
    "SGD": 0.74, "BRL": 0.18, "MXN": 0.055, "ZAR": 0.055, "PLN": 0.25, "HKD": 0.128,
}
"""The shipped default conversion rates to USD (approximate 2024 averages): used where no dated
rate covers an amount's date (dated rates: `revline fx load`, revline.store.fx, the one conversion
rule every reader uses). Attribution shares do not depend on rates, only cross-currency sums do.
A currency with neither a default nor a dated rate is an error at attribution time."""


def usd_sql(amount: str, currency: str) -> str:
    """SQL expression converting the column `amount` in `currency` to USD with the default
    USD_RATES only (NULL amount: 0; NULL currency: USD; a currency without a rate: NULL). Kept for
    callers without a date; money shown to users goes through revline.store.fx
    (`opportunities_usd_sql`, `spend_usd_sql`), which applies dated rates. Both arguments are
    column expressions of the caller's query, never user input."""
    cases = " ".join(f"WHEN '{c}' THEN {r}" for c, r in USD_RATES.items())
    return f"(coalesce({amount}, 0) * CASE upper(coalesce({currency}, 'USD')) {cases} END)"


__all__ = [
    "ALL_REVENUE", "ALL_SEGMENTS", "CAMPAIGN_LEVELS", "DEFAULT_CAMPAIGN_LEVEL", "DEFAULT_INFLUENCE_WINDOW_DAYS",
    "DEFAULT_REVENUE_TYPE", "DEFAULT_SEGMENT", "FUNNEL_REVENUE_TYPE", "REGIONS", "REGION_OF_COUNTRY", "region_expr", "region_of", "region_sql",
    "ATTRIBUTED_REVENUE_TYPES", "LEAD_MILESTONES", "MILESTONES", "OPPORTUNITY_MILESTONES",
    "REVENUE_TYPES", "UNATTRIBUTED", "USD_RATES", "usd_sql",
]
