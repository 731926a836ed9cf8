"""One account at a glance: who is in it, how they arrived, where the revenue stands.

Why a typed record: the CLI, the report and the dashboard all show the same facts; a dataclass
keeps their names in one place and serialises with `as_dict()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import duckdb

from revline.journeys.timeline import python_time, stage_rank_sql
from revline.store.fx import opportunities_usd_sql
from revline.store.rows import one_row


@dataclass(frozen=True)
class AccountSummary:
    """The facts `revline account`, the report and the dashboard show for one account."""

    account_id: str
    name: str | None
    domain: str | None
    people: int
    known_people: int  # people with a CRM record (not only an anonymous visitor)
    touches: int
    first_touch_at: datetime | None
    last_touch_at: datetime | None
    touches_by_channel: dict[str, int] = field(default_factory=dict)
    milestones: dict[str, datetime] = field(default_factory=dict)  # account level, first time reached
    opportunities: int = 0
    open_pipeline: float = 0.0
    won_revenue: float = 0.0
    won_by_revenue_type: dict[str, float] = field(default_factory=dict)
    days_first_touch_to_won: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def account_summary(con: duckdb.DuckDBPyConnection, account_id: str) -> AccountSummary:
    """Facts of one account from the stitched tables and `milestones` (run journeys first)."""
    acct = con.execute("SELECT account_id, name, domain FROM accounts WHERE account_id = ?", [account_id]).fetchone()
    if acct is None:
        known = con.execute(
            "SELECT 1 FROM people WHERE account_id = ? UNION ALL SELECT 1 FROM opportunities WHERE account_id = ? LIMIT 1",
            [account_id, account_id],
        ).fetchone()
        if known is None:
            raise KeyError(f"no account {account_id!r} in accounts, people or opportunities")
        acct = (account_id, None, None)
    people, known_people = one_row(
        con,
        "SELECT count(*), count(*) FILTER (WHERE source_system IS DISTINCT FROM 'revline:identity') "
        "FROM people WHERE account_id = ?",
        [account_id],
    )
    touches, first_at, last_at = one_row(
        con, f"SELECT count(*), {python_time('min(occurred_at)')}, {python_time('max(occurred_at)')} "  # noqa: S608 - fixed SQL
        "FROM touchpoints WHERE account_id = ?", [account_id]
    )
    by_channel = dict(
        con.execute(
            "SELECT channel, count(*) FROM touchpoints WHERE account_id = ? GROUP BY 1 ORDER BY 2 DESC, 1",
            [account_id],
        ).fetchall()
    )
    milestones = dict(
        con.execute(
            f"SELECT milestone, {python_time('min(occurred_at)')} FROM milestones "  # noqa: S608 - fixed SQL
            "WHERE object_type = 'account' AND object_id = ? "
            f"GROUP BY 1 ORDER BY 2, {stage_rank_sql('milestone')}, 1",
            [account_id],
        ).fetchall()
    )
    # money in USD by the one conversion rule (store.fx), never raw amounts of mixed currencies
    opps = opportunities_usd_sql(con)
    n_opps, open_pipe, won = one_row(
        con,
        "SELECT count(*), coalesce(sum(pipeline_usd) FILTER (WHERE NOT coalesce(is_closed, false)), 0), "  # noqa: S608 - fixed SQL (store.fx)
        f"coalesce(sum(revenue_usd) FILTER (WHERE is_won), 0) FROM {opps} o WHERE account_id = ?",
        [account_id],
    )
    won_by_type = dict(
        con.execute(
            f"SELECT coalesce(revenue_type, 'new_business'), sum(revenue_usd) FROM {opps} o "  # noqa: S608 - fixed SQL (store.fx)
            "WHERE account_id = ? AND is_won GROUP BY 1 ORDER BY 1",
            [account_id],
        ).fetchall()
    )
    won_at = milestones.get("won")
    ft_at = milestones.get("first_touch") or first_at
    days = (won_at - ft_at).total_seconds() / 86400.0 if (won_at and ft_at) else None
    return AccountSummary(
        account_id=acct[0], name=acct[1], domain=acct[2], people=int(people), known_people=int(known_people),
        touches=int(touches), first_touch_at=first_at, last_touch_at=last_at,
        touches_by_channel={str(k): int(v) for k, v in by_channel.items()}, milestones=milestones,
        opportunities=int(n_opps), open_pipeline=float(open_pipe), won_revenue=float(won),
        won_by_revenue_type={str(k): float(v) for k, v in won_by_type.items()}, days_first_touch_to_won=days,
    )
