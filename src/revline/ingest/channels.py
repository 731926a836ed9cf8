"""Channel grouping: rules (TOML/YAML) -> one SQL CASE expression evaluated inside DuckDB.

Why generate SQL: millions of touches are grouped in one vectorised pass, and the same rule
file documents the grouping for the user (src/revline/ingest/channel_rules.toml).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml

from revline.ingest.sqlfrag import lit, snake

CHANNELS: tuple[str, ...] = (
    "paid_search", "paid_social", "display", "organic_search", "organic_social", "email", "referral",
    "direct", "events", "webinar", "content", "partner", "direct_mail", "tv", "sales_outreach", "other",
)
_FIELDS = ("source", "medium", "campaign_type", "referrer", "lead_source")


class ChannelRuleError(ValueError):
    """A rule file that cannot be used; names the file and the rule."""


def _load_file(path: Path) -> dict:
    text = Path(path).read_text()
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        return tomllib.loads(text)
    if suffix in (".yaml", ".yml"):
        return yaml.safe_load(text) or {}
    if suffix == ".json":
        return json.loads(text)
    raise ChannelRuleError(f"{path}: channel rules must be .toml, .yaml or .json")


def default_rules() -> list[dict]:
    """The channel rules shipped with revline (channel_rules.toml), in match order."""
    text = resources.files("revline.ingest").joinpath("channel_rules.toml").read_text()
    return tomllib.loads(text)["rule"]


def load_rules(user_file: Path | None = None) -> list[dict]:
    """User rules first (so they override), then the defaults unless `replace_defaults`."""
    rules = default_rules()
    if user_file is None:
        return rules
    data = _load_file(Path(user_file))
    user = data.get("rule") or data.get("rules") or []
    for i, rule in enumerate(user, 1):
        ch = rule.get("channel")
        if not ch:
            raise ChannelRuleError(f"{user_file}: rule {i} has no 'channel'")
        if not any(k in rule for k in (*_FIELDS, *(f + "_regex" for f in _FIELDS), "empty")):
            raise ChannelRuleError(f"{user_file}: rule {i} ({ch}) has no condition")
    return list(user) if data.get("replace_defaults") else [*user, *rules]


def rules_fingerprint(rules: list[dict]) -> int:
    """A 60-bit fingerprint of the effective rules (user rules and defaults, in match order):
    ingest records it per file, and reads a file again when the rules it was read with changed."""
    text = json.dumps(rules, sort_keys=True, default=str)
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def _norm_values(values: Iterable[str], field: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        v = str(v).strip().lower()
        if field != "referrer":
            v = "_".join(filter(None, "".join(c if c.isalnum() else " " for c in v).split()))
        out.append(v)
    return out


CHANNEL_INPUTS = ("_ch_source", "_ch_medium", "_ch_referrer", "_ch_type", "_ch_lead_source")


def channel_inputs(source: str = "NULL", medium: str = "NULL", referrer: str = "NULL", campaign_type: str = "NULL",
                   lead_source: str = "NULL") -> str:
    """Select-list computing the normalised rule inputs once per row (see `channel_sql`).
    `lead_source`: a CRM's own source field (Salesforce LeadSource, HubSpot Original/Latest Source)."""
    lead = "NULL::VARCHAR" if lead_source == "NULL" else f"nullif({snake(lead_source)}, '')"
    return (
        f"nullif({snake(source)}, '') AS _ch_source, nullif({snake(medium)}, '') AS _ch_medium, "
        f"nullif(regexp_extract(lower(trim({referrer})), '^(?:[a-z][a-z0-9+.-]*://)?(?:www\\.)?([^/:?#]+)', 1), '') AS _ch_referrer, "
        f"nullif({snake(campaign_type)}, '') AS _ch_type, "
        f"{lead} AS _ch_lead_source"
    )


def channel_sql(rules: list[dict] | None = None) -> str:
    """SQL CASE over the columns made by `channel_inputs`: first matching rule wins, else 'other'.

    Why two steps: DuckDB evaluates every CASE branch's expressions separately, so normalising
    the inputs once (instead of inside each of ~40 rules) makes grouping cheap per row."""
    rules = default_rules() if rules is None else rules
    cols = dict(zip(("source", "medium", "referrer", "campaign_type", "lead_source"), CHANNEL_INPUTS))
    whens = []
    for rule in rules:
        conds = []
        for f in _FIELDS:
            col = cols[f]
            if f in rule:
                vals = _norm_values(rule[f], f)
                if f == "referrer":
                    conds.append(
                        "(" + " OR ".join(f"{col} = {lit(v)} OR ends_with({col}, {lit('.' + v)})" for v in vals) + ")"
                    )
                else:
                    conds.append(f"{col} IN ({', '.join(lit(v) for v in vals)})")
            if f + "_regex" in rule:
                conds.append(f"regexp_matches({col}, {lit(rule[f + '_regex'])})")
        if rule.get("empty"):
            conds.append(" AND ".join(f"{c} IS NULL" for c in CHANNEL_INPUTS))
        if conds:
            whens.append(f"WHEN {' AND '.join(f'coalesce({c}, false)' for c in conds)} THEN {lit(rule['channel'])}")
    return "(CASE " + " ".join(whens) + " ELSE 'other' END)"


def channel_case(
    source: str = "NULL",
    medium: str = "NULL",
    referrer: str = "NULL",
    campaign_type: str = "NULL",
    rules: list[dict] | None = None,
    lead_source: str = "NULL",
) -> str:
    """One self-contained SQL expression for the channel (a scalar subquery over the inputs);
    handy for small tables. Large tables use `channel_inputs` + `channel_sql` in two layers."""
    return f"(SELECT {channel_sql(rules)} FROM (SELECT {channel_inputs(source, medium, referrer, campaign_type, lead_source)}))"  # noqa: S608 - rule values quoted by lit in channel_sql; inputs are column expressions
