"""revline.journeys: milestones of persons, accounts and opportunities, timelines and funnels.

`build(con)` fills `milestones` (run after `revline.identity.stitch`); `timeline(con, key)` and
`account_summary(con, account_id)` read one account or person; `funnel(con, ...)` the stages.
"""

from revline.journeys.build import build, milestones_sql
from revline.journeys.funnel import funnel, stage_dates
from revline.journeys.milestones import MILESTONE_COLUMNS, milestones_expr
from revline.journeys.summary import AccountSummary, account_summary
from revline.journeys.timeline import JourneyKey, resolve_key, timeline

__all__ = [
    "MILESTONE_COLUMNS",
    "AccountSummary",
    "JourneyKey",
    "account_summary",
    "build",
    "funnel",
    "milestones_expr",
    "milestones_sql",
    "resolve_key",
    "stage_dates",
    "timeline",
]
