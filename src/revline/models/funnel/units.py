"""The units a funnel counts, one row each, with the date each stage was reached and its splits.

Three levels, each with an explicit unit:
- lead: a CRM person. Stages lead, mql, sql (the person's milestones), then opportunity and won:
  the person reaches `opportunity` when a deal of the revenue type is *sourced* by them — its
  primary contact (Salesforce: the lead that converted into it), else its contact with the
  earliest funnel stage, else (a deal without contacts) the person of its account with the
  earliest funnel stage — and `won` when such a deal is won. One person per deal, so the
  opportunity and won counts are deals, as a CRM's lead-conversion report counts them.
- opportunity: a deal. Stages: `opportunity` (created), the CRM's own stages from its stage
  history in their usual order, then `won`. Lost deals leave from the furthest stage reached.
- account: as `revline.journeys.funnel` (the same stage dates, so the same counts).

Counting is cumulative everywhere ("reached stage k or a later one"; see journeys/funnel.py for
why), so counts never grow from one stage to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from revline.journeys.funnel import funnel_stages, stage_dates
from revline.models.funnel.segments import UNKNOWN, region, size_band
from revline.store.sql import lit
from revline.store.dimensions import DEFAULT_DIMENSIONS, NO_VALUE, available_dimensions, dimension_sql
from revline.store.fx import opportunities_usd_sql
from revline.vocabulary import FUNNEL_REVENUE_TYPE, REVENUE_TYPES

Level = Literal["lead", "opportunity", "account"]
LEVELS: tuple[str, ...] = ("lead", "opportunity", "account")
LEAD_STAGES: tuple[str, ...] = ("lead", "mql", "sql", "opportunity", "won")
PERSON_STAGES: tuple[str, ...] = ("lead", "mql", "sql")
TERMINAL: tuple[str, ...] = ("opportunity", "won", "lost")  # not CRM stages in the opportunity order
ALL = "all"
SPLIT_COLUMNS: tuple[str, ...] = ("channel", "source", "revenue_type", "industry", "size_band", "region", "cohort")


@dataclass(frozen=True)
class Units:
    """One funnel's units: stage dates (index unit_id, columns in stage order), the time a unit
    left without winning (`lost_at`), its splits and its amount in USD (deals only: at the close
    date's rate, the creation date's while open, as revline.store.fx converts every amount)."""

    level: str
    revenue_types: tuple[str, ...]
    stages: tuple[str, ...]
    dates: pd.DataFrame
    lost_at: pd.Series
    splits: pd.DataFrame
    amount_usd: pd.Series

    def entered(self) -> pd.Series:
        """The first recorded stage date of each unit (its cohort date)."""
        return self.dates.min(axis=1)

    def subset(self, keep: pd.Series) -> Units:
        """The units where `keep` is true."""
        idx = keep[keep].index
        return Units(self.level, self.revenue_types, self.stages, self.dates.loc[idx], self.lost_at.loc[idx],
                     self.splits.loc[idx], self.amount_usd.loc[idx])


def revenue_types_of(revenue_type: str | None, level: str) -> tuple[str, ...]:
    """The revenue types a funnel covers: one, or every one for "all" (lead and opportunity levels)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if revenue_type in (None, ""):
        return (FUNNEL_REVENUE_TYPE,)
    if revenue_type == ALL:
        return tuple(REVENUE_TYPES)
    if revenue_type not in REVENUE_TYPES:
        raise ValueError(f"revenue_type must be one of {', '.join(REVENUE_TYPES)} or all, got {revenue_type!r}")
    return (revenue_type,)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(lit(v) for v in values)


def _wide(long: pd.DataFrame, index: pd.Index, stages: tuple[str, ...]) -> pd.DataFrame:
    """Long (unit_id, stage, at) rows as one column per stage, on `index`, earliest time each."""
    if len(long):
        wide = long.groupby(["unit_id", "stage"])["at"].min().unstack("stage")
    else:
        wide = pd.DataFrame(index=pd.Index([], name="unit_id"))
    wide = wide.reindex(index=index, columns=list(stages))
    wide.columns.name = None
    return wide.astype("datetime64[ns]")


# ---------------------------------------------------------------- opportunity stage order
def stage_order(events: pd.DataFrame) -> list[str]:
    """The CRM's stages in their usual order: the order in which deals entered them.

    Why pairwise (a Copeland ranking) rather than the mean position: renewals enter the pipeline
    at a later stage than new business and skip stages, so a stage's mean position mixes deals
    of different shapes; "how often did A come before B when a deal passed both" does not.
    `events` has columns unit_id, stage, at (first entry of each stage per deal)."""
    stages = sorted(events["stage"].unique().tolist()) if len(events) else []
    if len(stages) < 2:
        return stages
    e = events[["unit_id", "stage", "at"]]
    pairs = e.merge(e, on="unit_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["stage_a"] != pairs["stage_b"]]
    before = pairs[pairs["at_a"] < pairs["at_b"]].groupby(["stage_a", "stage_b"]).size()
    score = {s: 0.0 for s in stages}
    first_at = e.groupby("stage")["at"].median()
    for a in stages:
        for b in stages:
            if a >= b:
                continue
            ab, ba = int(before.get((a, b), 0)), int(before.get((b, a), 0))
            if ab > ba:
                score[a] += 1
            elif ba > ab:
                score[b] += 1
            else:
                score[a] += 0.5
                score[b] += 0.5
    return sorted(stages, key=lambda s: (-score[s], first_at.get(s, pd.NaT), s))


# ---------------------------------------------------------------- per level
def _opportunities(con: duckdb.DuckDBPyConnection, types: tuple[str, ...]) -> pd.DataFrame:
    return con.execute(
        f"""SELECT opportunity_id, account_id, coalesce(revenue_type, 'new_business') AS revenue_type,
                   created_at, closed_at, coalesce(is_won, FALSE) AS is_won,
                   coalesce(is_closed, FALSE) OR coalesce(is_won, FALSE) AS is_closed,
                   revenue_usd::DOUBLE AS amount_usd
            FROM {opportunities_usd_sql(con)} o
            WHERE coalesce(revenue_type, 'new_business') IN ({_in(types)})""",  # noqa: S608 - quoted by lit
    ).df().set_index("opportunity_id")


def _opportunity_units(con: duckdb.DuckDBPyConnection, types: tuple[str, ...]) -> tuple:
    opp = _opportunities(con, types)
    hist = con.execute(
        f"""SELECT e.object_id AS unit_id, e.stage, min(e.entered_at) AS at
            FROM stage_events e JOIN opportunities o ON o.opportunity_id = e.object_id
            WHERE e.object_type = 'opportunity' AND e.stage NOT IN ({_in(TERMINAL)})
              AND coalesce(o.revenue_type, 'new_business') IN ({_in(types)})
            GROUP BY 1, 2""",  # noqa: S608 - quoted by lit
    ).df()
    ms = con.execute(
        f"""SELECT m.object_id AS unit_id, m.milestone AS stage, min(m.occurred_at) AS at
            FROM milestones m JOIN opportunities o ON o.opportunity_id = m.object_id
            WHERE m.object_type = 'opportunity' AND m.milestone IN ({_in(TERMINAL)})
              AND coalesce(o.revenue_type, 'new_business') IN ({_in(types)})
            GROUP BY 1, 2""",  # noqa: S608 - quoted by lit
    ).df()
    stages = ("opportunity", *stage_order(hist), "won")
    long = pd.concat([hist, ms[ms["stage"] != "lost"]], ignore_index=True)
    dates = _wide(long, opp.index, stages)
    lost = ms[ms["stage"] == "lost"].set_index("unit_id")["at"].reindex(opp.index)
    lost = pd.to_datetime(lost).where(dates["won"].isna())
    deal = pd.Series(opp.index, index=opp.index, dtype=object)
    return stages, dates, lost, opp["account_id"], opp["revenue_type"], opp["amount_usd"], deal


def _lead_units(con: duckdb.DuckDBPyConnection, types: tuple[str, ...]) -> tuple:
    person_stages = _in(PERSON_STAGES)
    people = con.execute(
        f"""SELECT DISTINCT object_id AS unit_id FROM milestones
            WHERE object_type = 'person' AND milestone IN ({person_stages})""",  # noqa: S608 - quoted by lit
    ).df()
    long = con.execute(
        f"""SELECT object_id AS unit_id, milestone AS stage, min(occurred_at) AS at FROM milestones
            WHERE object_type = 'person' AND milestone IN ({person_stages}) GROUP BY 1, 2""",  # noqa: S608
    ).df()
    # the person who sourced each deal: primary contact, else the earliest-staged contact, else the
    # earliest-staged person of the deal's account
    sourced = con.execute(
        f"""
        WITH opp AS (
            SELECT opportunity_id, account_id, created_at, closed_at, coalesce(is_won, FALSE) AS is_won,
                   coalesce(is_closed, FALSE) OR coalesce(is_won, FALSE) AS is_closed
            FROM opportunities WHERE coalesce(revenue_type, 'new_business') IN ({_in(types)})),
        staged AS (
            SELECT object_id AS person_id, any_value(account_id) AS account_id, min(occurred_at) AS first_at
            FROM milestones WHERE object_type = 'person' AND milestone IN ({person_stages}) GROUP BY 1),
        candidates AS (
            SELECT oc.opportunity_id, oc.person_id, 0 AS via, NOT coalesce(oc.is_primary, FALSE) AS not_primary,
                   s.first_at
            FROM opportunity_contacts oc JOIN opp USING (opportunity_id)
            LEFT JOIN staged s ON s.person_id = oc.person_id
            UNION ALL
            SELECT opp.opportunity_id, s.person_id, 1, TRUE, s.first_at
            FROM opp JOIN staged s ON s.account_id = opp.account_id
            WHERE NOT EXISTS (SELECT 1 FROM opportunity_contacts oc WHERE oc.opportunity_id = opp.opportunity_id)),
        pick AS (
            SELECT *, row_number() OVER (PARTITION BY opportunity_id
                                         ORDER BY via, not_primary, first_at NULLS LAST, person_id) AS rn
            FROM candidates)
        SELECT pick.person_id AS unit_id, opp.opportunity_id, opp.created_at, opp.closed_at, opp.is_won, opp.is_closed
        FROM pick JOIN opp USING (opportunity_id) WHERE pick.rn = 1""",  # noqa: S608 - quoted by lit
    ).df()
    index = pd.Index(sorted(set(people["unit_id"]) | set(sourced["unit_id"])), name="unit_id")
    created = sourced[["unit_id", "created_at"]].rename(columns={"created_at": "at"}).assign(stage="opportunity")
    won = sourced[sourced["is_won"]][["unit_id", "closed_at"]].rename(columns={"closed_at": "at"}).assign(stage="won")
    dates = _wide(pd.concat([long, created, won], ignore_index=True), index, LEAD_STAGES)
    open_or_won = sourced[sourced["is_won"] | ~sourced["is_closed"]]["unit_id"].unique()
    lost_rows = sourced[sourced["is_closed"] & ~sourced["is_won"] & ~sourced["unit_id"].isin(open_or_won)]
    lost = pd.to_datetime(lost_rows.groupby("unit_id")["closed_at"].min().reindex(index))
    account = con.execute("SELECT person_id, account_id FROM people").df().set_index("person_id")["account_id"]
    account = account[~account.index.duplicated()].reindex(index)
    kind = pd.Series(types[0] if len(types) == 1 else ALL, index=index, dtype=object)
    first = sourced.sort_values(["created_at", "opportunity_id"]).drop_duplicates("unit_id")
    deal = first.set_index("unit_id")["opportunity_id"].reindex(index).astype(object)
    return LEAD_STAGES, dates, lost, account, kind, pd.Series(np.nan, index=index), deal


def _account_units(con: duckdb.DuckDBPyConnection, types: tuple[str, ...]) -> tuple:
    if len(types) > 1:
        return _accounts_any_deal(con, types)
    rt = types[0]
    stages = funnel_stages(rt)
    dates = stage_dates(con, rt)
    dates.index.name = "unit_id"
    lost_rows = con.execute(
        """SELECT account_id AS unit_id, min(closed_at) AS at FROM opportunities
           WHERE coalesce(revenue_type, 'new_business') = ? AND account_id IS NOT NULL
           GROUP BY 1 HAVING bool_and(coalesce(is_closed, FALSE) AND NOT coalesce(is_won, FALSE))""",
        [rt],
    ).df()
    lost = pd.to_datetime(lost_rows.set_index("unit_id")["at"].reindex(dates.index))
    index = dates.index
    return stages, dates, lost, pd.Series(index, index=index, dtype=object), \
        pd.Series(rt, index=index, dtype=object), pd.Series(np.nan, index=index), _first_deal(con, types, index)


def _first_deal(con: duckdb.DuckDBPyConnection, types: tuple[str, ...], accounts: pd.Index) -> pd.Series:
    """Each account's first deal of the revenue types (its owner and product stand for the account's
    when the account row has none)."""
    rows = con.execute(
        f"""SELECT account_id, opportunity_id FROM (
                SELECT account_id, opportunity_id,
                       row_number() OVER (PARTITION BY account_id ORDER BY created_at NULLS LAST, opportunity_id) AS rn
                FROM opportunities WHERE account_id IS NOT NULL
                  AND coalesce(revenue_type, 'new_business') IN ({_in(types)})) WHERE rn = 1""",  # noqa: S608 - quoted by lit
    ).df()
    return rows.set_index("account_id")["opportunity_id"].reindex(accounts).astype(object)


def _accounts_any_deal(con: duckdb.DuckDBPyConnection, types: tuple[str, ...]) -> tuple:
    """Accounts over every revenue type: opportunity = their first deal of any type, won = their
    first win, lost = every deal closed lost (the per-type funnels start earlier for new business)."""
    rows = con.execute(
        f"""SELECT account_id AS unit_id, min(created_at) AS opportunity,
                   min(closed_at) FILTER (WHERE coalesce(is_won, FALSE)) AS won,
                   CASE WHEN bool_and(coalesce(is_closed, FALSE) AND NOT coalesce(is_won, FALSE))
                        THEN max(closed_at) END AS lost
            FROM opportunities WHERE account_id IS NOT NULL
              AND coalesce(revenue_type, 'new_business') IN ({_in(types)})
            GROUP BY 1 ORDER BY 1""",  # noqa: S608 - quoted by lit
    ).df().set_index("unit_id")
    stages = ("opportunity", "won")
    index = rows.index
    return stages, rows[list(stages)], rows["lost"], pd.Series(index, index=index, dtype=object), \
        pd.Series(ALL, index=index, dtype=object), pd.Series(np.nan, index=index), _first_deal(con, types, index)


def _first_touch(con: duckdb.DuckDBPyConnection, object_type: str) -> pd.DataFrame:
    """Channel and source of each person's or account's first touch."""
    return con.execute(
        """SELECT m.object_id, any_value(t.channel) AS channel, any_value(t.source) AS source
           FROM milestones m LEFT JOIN touchpoints t ON t.touchpoint_id = m.touchpoint_id
           WHERE m.object_type = ? AND m.milestone = 'first_touch' GROUP BY 1""",
        [object_type],
    ).df().set_index("object_id")


_OWN_TABLE = {"lead": ("people", "person_id"), "account": ("accounts", "account_id"),
              "opportunity": ("opportunities", "opportunity_id")}


def _dimensions(con: duckdb.DuckDBPyConnection, level: str, ids: pd.Index, deal: pd.Series) -> pd.DataFrame:
    """Promoted dimensions (owner, product, ...; revline.store.dimensions) as split columns: the
    unit's own value (the person's, account's or deal's), else the value of the deal it stands
    for (the deal a person sourced, an account's first deal); '(none)' without either. Owner and
    product are always there (all '(none)' in a store without them), so asking for them is never
    an error."""
    table, key = _OWN_TABLE[level]
    obj = {"people": "person", "accounts": "account", "opportunities": "opportunity"}[table]
    out = pd.DataFrame({name: NO_VALUE for name in DEFAULT_DIMENSIONS}, index=ids, dtype=object)
    try:
        names = sorted(set(available_dimensions(con, obj)) | set(available_dimensions(con, "opportunity")))
    except duckdb.Error:  # a store from before dimensions (schema < 11): nothing promoted
        return out
    for name in names:
        if name in SPLIT_COLUMNS or name == "account_id":
            continue  # computed splits keep their meaning; the dimension is in `revline report --by`
        own = con.execute(
            f"SELECT {key} AS id, {dimension_sql(name, 't')} AS v FROM {table} t WHERE {dimension_sql(name, 't')} IS NOT NULL"  # noqa: S608 - table/key constants, name checked by dimension_sql
        ).df().drop_duplicates("id").set_index("id")["v"]
        deals = con.execute(
            f"SELECT opportunity_id AS id, {dimension_sql(name, 'o')} AS v FROM opportunities o "  # noqa: S608 - name checked by dimension_sql
            f"WHERE {dimension_sql(name, 'o')} IS NOT NULL"
        ).df().drop_duplicates("id").set_index("id")["v"]
        value = own.reindex(ids).astype(object)
        via_deal = deals.reindex(deal.reindex(ids).to_numpy()).astype(object)
        via_deal.index = ids
        out[name] = value.where(value.notna(), via_deal).fillna(NO_VALUE).astype(object)
    return out


def units(con: duckdb.DuckDBPyConnection, level: str = "lead", revenue_type: str | None = FUNNEL_REVENUE_TYPE) -> Units:
    """Every unit of `level` with its stage dates and splits (see the module doc for the units)."""
    types = revenue_types_of(revenue_type, level)
    build = {"lead": _lead_units, "opportunity": _opportunity_units, "account": _account_units}[level]
    stages, dates, lost, account, kind, amount, deal = build(con, types)
    dates = dates.astype("datetime64[ns]")  # also when empty, so every date operation below is typed
    lost = pd.Series(lost, dtype="datetime64[ns]")
    accounts = con.execute("SELECT account_id, industry, employees, country FROM accounts").df()
    accounts = accounts.drop_duplicates("account_id").set_index("account_id")
    firm = accounts.reindex(account.to_numpy())
    firm.index = dates.index
    touch = _first_touch(con, "person" if level == "lead" else "account")
    key = dates.index.to_numpy() if level == "lead" else account.to_numpy()
    ft = touch.reindex(key)
    ft.index = dates.index
    entered = pd.to_datetime(dates.min(axis=1)).astype("datetime64[ns]")
    splits = pd.DataFrame({
        "account_id": account,
        "channel": ft["channel"].fillna("(no touch)").astype(object),
        "source": ft["source"].fillna("(none)").astype(object),
        "revenue_type": kind,
        "industry": firm["industry"].fillna(UNKNOWN).astype(object),
        "size_band": size_band(firm["employees"]),
        "region": region(firm["country"]),
        "cohort": entered.dt.strftime("%Y-%m").fillna(UNKNOWN).astype(object),
    }, index=dates.index)
    splits = splits.join(_dimensions(con, level, dates.index, deal))
    return Units(level, types, tuple(stages), dates, lost.reindex(dates.index), splits,
                 amount.reindex(dates.index).astype(float))
