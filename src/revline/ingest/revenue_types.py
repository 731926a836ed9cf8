"""Opportunity type picklists -> revenue_type, with a default map the user can override.

Why a map and not rules in code: every org names its picklist differently (Salesforce default
"Existing Customer - Upgrade", HubSpot "existingbusiness", many orgs "Upsell"); the user's
file (--type-map) is merged over these defaults. Keys compare in snake form.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path

import yaml

from revline.ingest.sqlfrag import lit, snake
from revline.vocabulary import REVENUE_TYPES

DEFAULT_TYPE_MAP: dict[str, str] = {
    "New Customer": "new_business",
    "New Business": "new_business",
    "newbusiness": "new_business",
    "New": "new_business",
    "Renewal": "renewal",
    "Existing Customer - Replacement": "renewal",
    "Existing Customer - Upgrade": "expansion",
    "Upsell": "expansion",
    "Expansion": "expansion",
    "Cross-sell": "expansion",
    "existingbusiness": "expansion",
    "Existing Customer - Downgrade": "contraction",
    "Downgrade": "contraction",
    "Contraction": "contraction",
}


def _key(value: str) -> str:
    return "_".join(filter(None, "".join(c if c.isalnum() else " " for c in value.lower()).split()))


def load_type_map(source: Path | dict | None = None) -> dict[str, str | None]:
    """Defaults merged with a user mapping (a dict, or a TOML/YAML/JSON file of raw -> type; a
    type of None/null says "no revenue type", reported as unmapped)."""
    merged: dict[str, str | None] = {_key(k): v for k, v in DEFAULT_TYPE_MAP.items()}
    if source is None:
        return merged
    if isinstance(source, dict):
        user = source
    else:
        path = Path(source)
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            user = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            user = yaml.safe_load(text) or {}
        else:
            user = json.loads(text)
        user = user.get("type_map", user)
    for raw, rtype in user.items():
        if rtype is not None and rtype not in REVENUE_TYPES:
            raise ValueError(f"type map: {raw!r} -> {rtype!r}; revenue_type must be one of {REVENUE_TYPES}")
        merged[_key(str(raw))] = rtype
    return merged


def revenue_type_case(expr: str, type_map: Mapping[str, str | None]) -> str:
    """SQL CASE: raw type -> revenue_type, NULL for unmapped values (reported, not guessed)."""
    whens = " ".join(
        f"WHEN {lit(k)} THEN {lit(v) if v else 'NULL'}" for k, v in type_map.items()
    )
    return f"(CASE {snake(expr)} {whens} ELSE NULL END)"
