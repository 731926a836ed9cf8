"""Cost of dated FX conversion at read time (revline.store.fx) against the fixed default rates.

Builds an in-memory store with --opportunities deals in five currencies over seven years and
--days daily rates for three of them, then times `actuals` (won revenue and pipeline created,
each converted at its own date) with and without dated rates, best of --repeat. Why measured:
conversion happens on every read (an ASOF join) instead of in a stored amount_usd column that
would have to be recomputed whenever rates or deals change; this says what that costs.

    .venv/bin/python benchmarks/bench_fx.py --opportunities 200000 --days 3000
"""

from __future__ import annotations

import argparse
import os
import time

from revline.reports.revenue import actuals
from revline.store import connect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opportunities", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=2_500)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    con = connect(":memory:")
    con.execute(
        "INSERT INTO opportunities (opportunity_id, amount, currency, created_at, closed_at, is_closed, is_won) "
        "SELECT 'o' || i, 100 + i % 900, ['USD', 'EUR', 'BRL', 'GBP', 'JPY'][1 + i % 5], "
        "TIMESTAMP '2016-01-01' + to_days((i * 7919 % 2500)::INT), "
        "TIMESTAMP '2016-01-01' + to_days((i * 7919 % 2500 + 30 + i % 60)::INT), TRUE, i % 3 = 0 "
        "FROM range(?) t(i)", [a.opportunities])

    def best() -> float:
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            actuals(con)
            times.append(time.perf_counter() - t)
        return min(times)

    fixed = best()
    con.execute("INSERT INTO fx_rates SELECT DATE '2015-06-01' + d::INT, c, 0.1 + d / 10000, 'bench' "
                "FROM range(?) t(d), (VALUES ('EUR'), ('BRL'), ('GBP')) v(c)", [a.days])
    dated = best()
    load = os.getloadavg()[0]
    print(f"{a.opportunities:,} opportunities, {3 * a.days:,} dated rates: actuals() fixed rates {fixed:.3f} s, "
          f"dated rates {dated:.3f} s (x{dated / fixed:.1f}); load average {load:.1f}")


if __name__ == "__main__":
    main()
