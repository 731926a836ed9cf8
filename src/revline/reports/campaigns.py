"""Campaigns by name, and their parent/child hierarchy (Campaign.ParentId).

Why a rollup: CRMs book spend on a program (the parent campaign) while the touches carry the
child campaign's id (each email send, each webinar of a series). Per campaign, the program then
shows spend and no revenue (-100 % ROI) and its children revenue at $0 spend. Reports by campaign
therefore read at a level the user picks (vocabulary.CAMPAIGN_LEVELS):

* 'program': every campaign's spend and credit move up to its top ancestor (a parent that is not
  in the campaigns table still counts as the top: its id is all we know of it);
* 'campaign': each campaign on its own, plus its hierarchy totals (itself and every descendant,
  as Salesforce's "in hierarchy" fields), on which its ROI is computed.

A cycle in ParentId (a data error) stops after MAX_DEPTH steps instead of looping.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from revline.reports.errors import ReportError
from revline.vocabulary import CAMPAIGN_LEVELS, DEFAULT_CAMPAIGN_LEVEL

MAX_DEPTH = 16

ANCESTORS_SQL = f"""
    WITH RECURSIVE up(campaign_id, ancestor_id, depth) AS (
        SELECT campaign_id, campaign_id, 0 FROM campaigns
        UNION ALL
        SELECT up.campaign_id, c.parent_id, up.depth + 1
        FROM up JOIN campaigns c ON c.campaign_id = up.ancestor_id
        WHERE nullif(c.parent_id, '') IS NOT NULL AND c.parent_id <> c.campaign_id AND up.depth < {MAX_DEPTH}
    )
    SELECT campaign_id, ancestor_id, min(depth) AS depth FROM up GROUP BY campaign_id, ancestor_id"""  # noqa: S608 - constants only
"""(campaign_id, ancestor_id, depth): every campaign with itself (depth 0) and each ancestor."""

PROGRAMS_SQL = (f"SELECT campaign_id, arg_max(ancestor_id, depth) AS program_id "  # noqa: S608 - constants only
                f"FROM ({ANCESTORS_SQL}) GROUP BY campaign_id")
"""(campaign_id, program_id): each campaign's top ancestor (itself when it has no parent)."""


def check_level(level: str | None) -> str:
    """The campaign level, DEFAULT_CAMPAIGN_LEVEL for None; ReportError naming the levels otherwise."""
    if level is None:
        return DEFAULT_CAMPAIGN_LEVEL
    if level not in CAMPAIGN_LEVELS:
        raise ReportError(f"campaign level must be one of {', '.join(CAMPAIGN_LEVELS)}, got {level!r}")
    return level


def ancestors(con: Any) -> pd.DataFrame:
    """`ANCESTORS_SQL` as a frame."""
    return con.execute(ANCESTORS_SQL).df()


def programs(con: Any) -> dict[str, str]:
    """campaign_id -> program_id (top ancestor) of every campaign in the store."""
    return dict(con.execute(PROGRAMS_SQL).fetchall())


def names(con: Any) -> dict[str, str]:
    """campaign_id -> name (campaigns without a name are left out: screens show their id)."""
    return dict(con.execute("SELECT campaign_id, name FROM campaigns WHERE nullif(trim(name), '') IS NOT NULL").fetchall())


def to_program(keys: pd.Series, con: Any) -> pd.Series:
    """Each campaign id replaced by its program's id (ids not in the campaigns table stay)."""
    top = programs(con)
    return keys.map(lambda k: top.get(k, k) if isinstance(k, str) else k)


def hierarchy_sums(own: pd.DataFrame, key: str, cols: list[str], con: Any) -> pd.DataFrame:
    """`own` (one row per campaign `key`, numeric `cols`) with `hierarchy_<col>` columns: each
    campaign's value plus every descendant's."""
    up = ancestors(con)[["campaign_id", "ancestor_id"]]
    m = own[[key, *cols]].merge(up, left_on=key, right_on="campaign_id", how="left")
    m["ancestor_id"] = m["ancestor_id"].where(m["ancestor_id"].notna(), m[key])
    tot = m.groupby("ancestor_id")[cols].sum().add_prefix("hierarchy_")
    out = own.merge(tot, left_on=key, right_index=True, how="left")
    for c in cols:
        out[f"hierarchy_{c}"] = out[f"hierarchy_{c}"].fillna(out[c])
    return out


def with_names(df: pd.DataFrame, key: str, con: Any, column: str = "campaign_name", at: int = 1) -> pd.DataFrame:
    """`df` with the campaign name of `key` inserted at position `at` (the id where there is none)."""
    known = names(con)
    df = df.copy()
    df.insert(min(at, len(df.columns)), column,
              [known.get(k, k) if isinstance(k, str) else k for k in df[key]])
    return df


__all__ = ["ANCESTORS_SQL", "MAX_DEPTH", "PROGRAMS_SQL", "ancestors", "check_level", "hierarchy_sums", "names",
           "programs", "to_program", "with_names"]
