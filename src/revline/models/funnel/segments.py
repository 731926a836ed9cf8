"""Segment labels of an account: size band and region, from the canonical firmographics.

Why fixed bands and the shared country table: splits must mean the same thing on every store and
every screen, and the targets of a real plan are set by region and by size band. A country the
table does not know is 'other', never silently put in some region.
"""

from __future__ import annotations

import pandas as pd

from revline.vocabulary import region_of

UNKNOWN = "(unknown)"
SIZE_BANDS: tuple[tuple[int, str], ...] = (
    (50, "1-49"), (200, "50-199"), (1000, "200-999"), (5000, "1000-4999"), (2**62, "5000+"),
)


def size_band(employees: pd.Series) -> pd.Series:
    """Employee count as a band label; missing or non-positive counts are "(unknown)"."""
    e = pd.to_numeric(employees, errors="coerce")
    labels = pd.Series(UNKNOWN, index=employees.index, dtype=object)
    lower = 1
    for upper, label in SIZE_BANDS:
        labels[(e >= lower) & (e < upper)] = label
        lower = upper
    return labels


def region(country: pd.Series) -> pd.Series:
    """A country name or ISO code as its region (revline.vocabulary.region_of, the rule the reports'
    segment filter and the targets' regional rows use): NA, EMEA, APAC, LATAM; 'other' for a
    country the table does not know, 'unknown' without a country."""
    values = country.astype(object).where(country.notna(), None)
    return pd.Series([region_of(v) for v in values], index=country.index, dtype=object)
