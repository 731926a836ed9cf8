"""How fast does identity stitching + journeys run on a synthetic graph of N persons?

Prints figures (no peer exists for this step in the same run): nodes, edges, seconds, nodes/s.
Each person has two cookies, a login, an email, and for half of them a CRM lead, for a quarter
a contact the lead converted into; three touches per person; 10% group calls; 10% free mail.

    .venv/bin/python benchmarks/stitch_scale.py --persons 200000
"""

from __future__ import annotations

import argparse
import time

from revline.identity import stitch
from revline.journeys import build
from revline.store import connect


def populate(con, n: int) -> None:
    n_acc = max(n // 20, 1)
    con.execute(f"INSERT INTO accounts (account_id, domain) SELECT '001' || i, 'company' || i || '.com' FROM range({n_acc}) t(i)")  # noqa: S608 - sizes are ints
    con.execute(
        f"""
        CREATE TEMP TABLE _p AS SELECT i,
            'anon-a-' || i AS a1, 'anon-b-' || i AS a2, 'user-' || i AS u,
            'p' || i || '@' || CASE WHEN i % 10 = 0 THEN 'gmail.com' ELSE 'company' || (i % {n_acc}) || '.com' END AS email,
            CASE WHEN i % 2 = 0 THEN '00Q' || i END AS lead, CASE WHEN i % 4 = 0 THEN '003' || i END AS contact,
            TIMESTAMP '2024-01-01' + to_minutes((i * 7) % 500000) AS ts
        FROM range({n}) t(i)
        """  # noqa: S608 - sizes are ints
    )
    con.execute(
        """
        INSERT INTO identity_links
        SELECT 'anonymous_id', a1, 'user_id', u, 'segment:identify', ts FROM _p
        UNION ALL SELECT 'anonymous_id', a2, 'user_id', u, 'segment:identify', ts FROM _p
        UNION ALL SELECT 'user_id', u, 'email', email, 'segment:identify', ts FROM _p
        UNION ALL SELECT 'crm_lead_id', lead, 'email', email, 'salesforce', ts FROM _p WHERE lead IS NOT NULL
        UNION ALL SELECT 'crm_lead_id', lead, 'crm_contact_id', contact, 'salesforce:lead_conversion', ts FROM _p WHERE contact IS NOT NULL
        """
    )
    con.execute(
        """
        INSERT INTO people (person_id, account_id, email, created_at, source_system)
        SELECT lead, NULL, email, ts, 'salesforce' FROM _p WHERE lead IS NOT NULL
        UNION ALL SELECT contact, '001' || (i % 7), email, ts, 'salesforce' FROM _p WHERE contact IS NOT NULL
        """
    )
    con.execute(
        """
        INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, anonymous_id, identity_type, identity_value)
        SELECT 't' || i || '-' || k, ts - to_days(k), 'direct', CASE WHEN k = 2 THEN a2 ELSE a1 END, 'anonymous_id',
               CASE WHEN k = 2 THEN a2 ELSE a1 END
        FROM _p, range(3) r(k)
        """
    )
    con.execute(
        f"""
        INSERT INTO events (message_id, type, anonymous_id, user_id, group_id, occurred_at)
        SELECT 'g' || i, 'group', a1, u, 'company' || ((i + 1) % {n_acc}) || '.com', ts FROM _p WHERE i % 10 = 3
        """  # noqa: S608 - sizes are ints
    )
    con.execute(
        """
        INSERT INTO stage_events SELECT 'person', coalesce(contact, lead), 'mql', ts, 'salesforce' FROM _p WHERE lead IS NOT NULL
        """
    )
    con.execute("DROP TABLE _p")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=200_000)
    ap.add_argument("--db", default=":memory:")
    args = ap.parse_args()
    con = connect(args.db)
    t0 = time.perf_counter()
    populate(con, args.persons)
    t1 = time.perf_counter()
    report = stitch(con)
    t2 = time.perf_counter()
    counts = build(con)
    t3 = time.perf_counter()
    again = stitch(con)
    t4 = time.perf_counter()
    print(f"persons generated   {args.persons:>12,}  ({t1 - t0:.1f}s to populate)")
    print(f"identities (nodes)  {report.identities:>12,}")
    print(f"edges               {report.edges:>12,}")
    print(f"persons found       {report.persons:>12,}  (expected {args.persons:,})")
    print(f"touchpoints         {report.touchpoints:>12,}")
    print(f"stitch              {t2 - t1:>12.2f}s  ({report.identities / (t2 - t1):,.0f} identities/s)")
    print(f"journeys build      {t3 - t2:>12.2f}s  ({sum(counts.values()):,} milestones)")
    print(f"re-stitch (no-op)   {t4 - t3:>12.2f}s  (persons {again.persons:,})")
    print(f"account sources     {report.account_sources}")


if __name__ == "__main__":
    main()
