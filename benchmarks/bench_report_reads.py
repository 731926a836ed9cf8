"""Time the read paths the dashboard and API call on every view: ROI tables and account funnels.

Why: both are portable Ibis expressions; on DuckDB building and compiling the expression cost
more than the query. Usage: python benchmarks/bench_report_reads.py STORE (a demo store with
attribution runs, e.g. `revline demo --size small`). Prints best of 3 for a cold pass (cache of
compiled SQL cleared, every call distinct) and a warm pass (the same calls again).
"""

from __future__ import annotations

import sys
import time

from revline.journeys.funnel import funnel
from revline.reports.roi import roi_table
from revline.store import connect

ROI_CALLS = [dict(by="channel"), dict(by="campaign"), dict(by="month"), dict(model="first_touch"),
             dict(by="channel", start="2024-01-01", end="2024-06-30"), dict(segment="emea"),
             dict(by="campaign", campaign_level="campaign")]
FUNNEL_CALLS = [dict(revenue_type=rt, start=s, end=e) for rt in ("new_business", "expansion", "renewal")
                for s, e in ((None, None), ("2023-01-01", None), (None, "2024-12-31"), ("2023-06-01", "2024-06-30"),
                             ("2024-01-01", "2024-03-31"))]


def _clear() -> None:
    try:
        from revline.store.compiled import clear
    except ImportError:  # before the cache existed
        return
    clear()


def main(store: str) -> None:
    con = connect(store, read_only=True)
    for name, fn, calls in (("roi_table x7", roi_table, ROI_CALLS), ("funnel x15", funnel, FUNNEL_CALLS)):
        cold, warm = [], []
        for _ in range(3):
            _clear()
            t = time.perf_counter()
            for kw in calls:
                fn(con, **kw)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            for kw in calls:
                fn(con, **kw)
            warm.append(time.perf_counter() - t)
        print(f"{name}: cold {min(cold):.2f} s, warm {min(warm):.2f} s (best of 3)")


if __name__ == "__main__":
    main(sys.argv[1])
