"""Opportunity type picklists -> revenue_type, with a default map the user can override.

Why a map and not rules in code: every org names its picklist differently (Salesforce default
"Existing Customer - Upgrade", HubSpot "existingbusiness", many orgs "Upsell"); the user's
file (--type-map) is merged over these defaults. Keys compare in snake form.

Why some types are "ambiguous": HubSpot's two default deal types are newbusiness and
existingbusiness, and existingbusiness does not tell a renewal from an upsell. For such a type
the deal's pipeline or name decides when it tells ("Renewals" pipeline, "Acme - upsell 50
seats"); otherwise the map's value is an assumption, counted and named in the ingest summary
("214 existingbusiness deals mapped to renewal; set --type-map to change").
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
    "existingbusiness": "renewal",  # ambiguous: see AMBIGUOUS_TYPES
    "Existing Business": "renewal",
    "Existing Customer - Downgrade": "contraction",
    "Downgrade": "contraction",
    "Contraction": "contraction",
}


# Raw types that do not say which revenue type they are (keys in snake form, see _key): the deal's
# pipeline and name are read first (TYPE_HINTS), the map's value is the assumption otherwise.
AMBIGUOUS_TYPES: frozenset[str] = frozenset({"existingbusiness", "existing_business"})

# What a pipeline or deal name says, tried in this order on the lowercased text (regular
# expressions): "Renewal + upsell" is a renewal that grew, so renewal comes first.
TYPE_HINTS: tuple[tuple[str, str], ...] = (
    ("renewal", r"renew"),
    ("contraction", r"downgrade|down-?sell|contraction|reduction"),
    ("expansion", r"up-?sell|up-?grade|expan|cross-?sell|add-?on|additional (seats|licen[cs]es|users)"),
)


def _key(value: str) -> str:
    return "_".join(filter(None, "".join(c if c.isalnum() else " " for c in value.lower()).split()))


def read_type_map_file(path: Path) -> dict:
    """A TOML/YAML/JSON file of raw type -> revenue type (optionally under a `type_map` key)."""
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        user = tomllib.loads(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        user = yaml.safe_load(text) or {}
    else:
        user = json.loads(text)
    return user.get("type_map", user)


def parse_type_map(items: list[str]) -> dict[str, str | None]:
    """`--type-map` values: files (read_type_map_file) and `raw=type` pairs (comma-separated or
    repeated; `raw=` maps to no revenue type), merged in order. Raises ValueError on anything else."""
    out: dict[str, str | None] = {}
    for item in items:
        path = Path(item)
        if path.is_file():
            out.update(read_type_map_file(path))
            continue
        for part in filter(None, (p.strip() for p in item.split(","))):
            raw, sep, rtype = part.partition("=")
            if not sep or not raw.strip():
                raise ValueError(f"--type-map {item!r}: not a file, and not raw=type (e.g. existingbusiness=expansion)")
            out[raw.strip()] = rtype.strip() or None
    return out


def load_type_map(source: Path | dict | None = None) -> dict[str, str | None]:
    """Defaults merged with a user mapping (a dict, or a TOML/YAML/JSON file of raw -> type; a
    type of None/null says "no revenue type", reported as unmapped)."""
    merged: dict[str, str | None] = {_key(k): v for k, v in DEFAULT_TYPE_MAP.items()}
    if source is None:
        return merged
    if isinstance(source, dict):
        user = source
    else:
        user = read_type_map_file(Path(source))
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


def ambiguous_sql(expr: str) -> str:
    """SQL predicate: the raw type is one of AMBIGUOUS_TYPES."""
    return f"coalesce({snake(expr)} IN ({', '.join(lit(k) for k in sorted(AMBIGUOUS_TYPES))}), false)"


def type_hint_sql(texts: list[str]) -> str:
    """SQL: the revenue type the first of `texts` (column expressions: pipeline, deal name) that
    tells one says (TYPE_HINTS), else NULL."""
    whens = " ".join(
        f"WHEN regexp_matches(lower(coalesce({t}, '')), {lit(rx)}) THEN {lit(rtype)}"
        for t in texts for rtype, rx in TYPE_HINTS
    )
    return f"(CASE {whens} ELSE NULL END)"


def revenue_type_sql(expr: str, type_map: Mapping[str, str | None], hint_texts: list[str]) -> str:
    """SQL: the revenue type of a raw type; for an ambiguous one the pipeline/name hint first
    (`hint_texts`), then the map (the assumption the ingest summary reports)."""
    mapped = revenue_type_case(expr, type_map)
    return f"(CASE WHEN {ambiguous_sql(expr)} THEN coalesce({type_hint_sql(hint_texts)}, {mapped}) ELSE {mapped} END)"
