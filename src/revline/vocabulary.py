"""The words every layer shares: milestones, revenue types, the unattributed label, currency rates.

Why a module below every package: ingest validates revenue types, attribution writes runs per
milestone and revenue type, the reports, the API and the demo read them back. One definition
keeps them from drifting apart (five copies of the revenue types had two different contents).
Nothing here imports from revline.
"""

from __future__ import annotations

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
    "ALL_REVENUE", "ATTRIBUTED_REVENUE_TYPES", "LEAD_MILESTONES", "MILESTONES", "OPPORTUNITY_MILESTONES",
    "REVENUE_TYPES", "UNATTRIBUTED", "USD_RATES", "usd_sql",
]
