"""How the targets table is read: one company target per period.

Why here, below every reader: the revenue report, the funnel's pipeline coverage and the
forecast all compare against "the company's target of a period", and must agree on it. A
period's company target is its 'all' row, or the sum of its segments' rows when it has no 'all'
row (the regional rows break the 'all' one down; adding them on top would count it twice).
"""

from __future__ import annotations

COMPANY = "all"

# one row per target period: the 'all' row, else the sum of the segments' rows
COMPANY_TARGETS_SQL = f"""
    SELECT period_start, period_end, '{COMPANY}' AS segment,
           (CASE WHEN bool_or(segment = '{COMPANY}') THEN sum(revenue_target) FILTER (WHERE segment = '{COMPANY}')
                 ELSE sum(revenue_target) END)::DOUBLE AS revenue_target,
           (CASE WHEN bool_or(segment = '{COMPANY}') THEN sum(pipeline_target) FILTER (WHERE segment = '{COMPANY}')
                 ELSE sum(pipeline_target) END)::DOUBLE AS pipeline_target
    FROM targets GROUP BY period_start, period_end"""  # noqa: S608 - constants only

__all__ = ["COMPANY", "COMPANY_TARGETS_SQL"]
