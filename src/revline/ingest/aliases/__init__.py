"""Alias maps: for each source object, the header names a naming convention uses per field.

Why declarative dicts: a new org's export with other column names needs one line here, not a
new reader. Headers are matched after `norm()` (lowercase, letters and digits only), so
`StageName`, `stage_name` and `Stage Name` meet; the first alias present in the file wins and
several present ones are coalesced left to right.
"""

from __future__ import annotations

import re

Aliases = dict[str, dict[str, list[str]]]  # object -> field -> header names


def norm(header: str) -> str:
    """Comparable form of a header: HubSpot API prefixes dropped, then letters and digits only."""
    h = header.strip()
    for prefix in ("properties.", "property_", "properties_"):
        if h.lower().startswith(prefix):
            h = h[len(prefix):]
    if h.lower().endswith(".value"):
        h = h[: -len(".value")]
    return re.sub(r"[^a-z0-9]", "", h.lower())


def resolve(headers: list[str], field_aliases: list[str]) -> list[str]:
    """The file's headers that carry this field, in alias order."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(norm(h), h)
    found = [by_norm[norm(a)] for a in field_aliases if norm(a) in by_norm]
    return list(dict.fromkeys(found))
