"""Retention and expansion: contracts rebuilt from opportunities, gross and net revenue retention,
logo churn, expansion and contraction by cohort and segment, and a contractual churn model that
gives each renewal a probability with an interval (docs/retention.md).

`renewals_due(con, as_of, start, end)` is the contract the bookings forecast depends on.
"""

from __future__ import annotations

from revline.models.retention.due import bookings_distribution, due_with_draws, renewals_due

__all__ = ["bookings_distribution", "due_with_draws", "renewals_due"]
