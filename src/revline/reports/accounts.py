"""Accounts with their deal count and won revenue (USD): the account search of the API.

Why a report: "won revenue" must be the number every other screen shows, so it is summed with
the same USD conversion as `reports.revenue`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from revline.reports.tables import NotFound
from revline.store.fx import opportunities_usd_sql

_ACCOUNTS = r"""
    SELECT a.account_id, a.name, a.domain, a.industry,
           count(o.opportunity_id) AS opportunities,
           coalesce(sum(o.revenue_usd) FILTER (WHERE o.is_won), 0)::DOUBLE AS won_revenue
    FROM accounts a LEFT JOIN {opportunities} o ON o.account_id = a.account_id
    WHERE {where}
    GROUP BY ALL ORDER BY won_revenue DESC, a.name, a.account_id"""  # noqa: S608 - fixed expressions (usd_sql, constants); filters bound


def find_accounts(con: Any, search: str, limit: int = 20) -> pd.DataFrame:
    """Accounts whose id equals `search` or whose name or domain contains it (LIKE wildcards in
    `search` are literal)."""
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = r"a.account_id = ? OR a.name ILIKE ? ESCAPE '\' OR a.domain ILIKE ? ESCAPE '\'"
    return con.execute(_ACCOUNTS.format(where=where, opportunities=opportunities_usd_sql(con)) + " LIMIT ?", [search, pattern, pattern, limit]).df()


def account(con: Any, account_id: str) -> dict[str, Any]:
    """One account's summary row; NotFound when the store has no such account id."""
    df = con.execute(_ACCOUNTS.format(where="a.account_id = ?", opportunities=opportunities_usd_sql(con)), [account_id]).df()
    if df.empty:
        raise NotFound(f"no account with account_id '{account_id}'")
    return df.to_dict("records")[0]


__all__ = ["account", "find_accounts"]
