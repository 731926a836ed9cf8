"""Segment labels of an account: size band and region, from the canonical firmographics.

Why fixed bands and a small country table: splits must mean the same thing on every store, and
the targets of a real plan are set by region (NA, LATAM, EMEA, APAC) and by size band. A country
this table does not know is "(unknown)", never silently put in some region.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNKNOWN = "(unknown)"
SIZE_BANDS: tuple[tuple[int, str], ...] = (
    (50, "1-49"), (200, "50-199"), (1000, "200-999"), (5000, "1000-4999"), (2**62, "5000+"),
)

_REGIONS: dict[str, tuple[str, ...]] = {
    "NA": ("united states", "us", "usa", "united states of america", "canada", "ca"),
    "LATAM": ("mexico", "mx", "brazil", "br", "argentina", "ar", "chile", "cl", "colombia", "co", "peru", "pe",
              "uruguay", "uy"),
    "EMEA": ("united kingdom", "uk", "gb", "great britain", "england", "ireland", "ie", "germany", "de", "france",
             "fr", "netherlands", "nl", "belgium", "be", "luxembourg", "lu", "spain", "es", "portugal", "pt",
             "italy", "it", "switzerland", "ch", "austria", "at", "sweden", "se", "norway", "no", "denmark", "dk",
             "finland", "fi", "iceland", "is", "poland", "pl", "czechia", "czech republic", "cz", "hungary", "hu",
             "romania", "ro", "greece", "gr", "turkey", "türkiye", "tr", "israel", "il", "united arab emirates",
             "uae", "ae", "saudi arabia", "sa", "south africa", "za", "nigeria", "ng", "kenya", "ke", "egypt", "eg",
             "estonia", "ee", "latvia", "lv", "lithuania", "lt", "ukraine", "ua"),
    "APAC": ("australia", "au", "new zealand", "nz", "japan", "jp", "china", "cn", "india", "in", "singapore", "sg",
             "hong kong", "hk", "south korea", "korea", "kr", "taiwan", "tw", "indonesia", "id", "malaysia", "my",
             "philippines", "ph", "thailand", "th", "vietnam", "vn"),
}
REGION_OF: dict[str, str] = {name: region for region, names in _REGIONS.items() for name in names}


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
    """A country name or ISO code as NA, LATAM, EMEA or APAC; others "(unknown)"."""
    key = country.astype("string").str.strip().str.lower()
    out = key.map(REGION_OF)
    return pd.Series(np.where(out.isna(), UNKNOWN, out), index=country.index, dtype=object)
