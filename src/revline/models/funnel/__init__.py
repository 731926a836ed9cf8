"""revline.models.funnel: the funnel at the level asked for — leads (people), opportunities
(deals) or accounts — with conversion rates and Wilson intervals, time in stage (velocity), win
rate, leakage (where units stall or die) and pipeline coverage, split by channel, source,
revenue type, segment (industry, size band, region) or cohort month.

`funnel_report(con, level, by, revenue_type, start, end, as_of)` gives every output as
DataFrames, each row stamped with its definition; `units(con, level, revenue_type)` the units
themselves. docs/funnel.md defines every figure.
"""

from revline.models.funnel.coverage import coverage
from revline.models.funnel.measures import leakage, stage_table, time_in_stage, win_rate
from revline.models.funnel.model import (
    LEVELS,
    SPLITS,
    Definition,
    FunnelReport,
    funnel_frame,
    funnel_report,
    resolve_split,
)
from revline.models.funnel.units import Units, units

__all__ = [
    "LEVELS", "SPLITS", "Definition", "FunnelReport", "Units", "coverage", "funnel_frame", "funnel_report",
    "leakage", "resolve_split", "stage_table", "time_in_stage", "units", "win_rate",
]
