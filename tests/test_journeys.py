"""Journeys: milestones on a hand example, timelines, account summary, funnel, DuckDB vs PySpark."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pandas as pd
import pytest

from revline.identity import stitch
from revline.journeys import account_summary, build, funnel, milestones_expr, resolve_key, timeline
from revline.journeys.milestones import MILESTONE_COLUMNS, TABLES_READ
from revline.store import connect


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _hand_store():
    """Two accounts. Acme: a cookie that becomes contact c1, a second contact c2, a new-business
    win, an expansion, a renewal won and later one lost. Beta: a lead joined by email domain,
    a lost new-business opportunity."""
    con = connect(":memory:")
    con.execute("INSERT INTO accounts (account_id, name, domain) VALUES ('A', 'Acme', 'acme.com'), ('B', 'Beta', 'www.beta.io')")
    con.execute(
        """INSERT INTO people (person_id, account_id, email, created_at, source_system) VALUES
        ('003c1', 'A', 'c1@acme.com', '2024-01-05', 'salesforce'),
        ('003c2', 'A', 'c2@acme.com', '2023-12-15', 'salesforce'),
        ('00Ql1', NULL, 'bob@beta.io', '2024-01-02', 'salesforce')"""
    )
    con.execute("INSERT INTO identity_links VALUES ('anonymous_id', 'a1', 'email', 'c1@acme.com', 'segment:identify', '2024-01-01')")
    con.execute(
        """INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, touch_type, campaign_id, anonymous_id, identity_type, identity_value) VALUES
        ('t0', '2023-11-01', 'paid_search', 'page_view', 'cmp1', 'a1', 'anonymous_id', 'a1'),
        ('t1', '2024-01-01', 'email', 'email_click', 'cmp2', NULL, 'crm_contact_id', '003c1'),
        ('t2', '2023-12-15', 'webinar', 'webinar', 'cmp3', NULL, 'crm_contact_id', '003c2'),
        ('t3', '2024-01-01', 'events', 'event', NULL, NULL, 'crm_lead_id', '00Ql1'),
        ('t9', '2023-10-01', 'direct', 'page_view', NULL, 'a9', 'anonymous_id', 'a9')"""
    )
    con.execute(
        """INSERT INTO stage_events VALUES
        ('person', '003c1', 'lead', '2024-01-05', 'sf'), ('person', '003c1', 'mql', '2024-01-10', 'sf'),
        ('person', '003c2', 'mql', '2024-01-08', 'sf'), ('person', '003c1', 'sql', '2024-02-01', 'sf'),
        ('person', '00Ql1', 'lead', '2024-01-02', 'sf'),
        ('opportunity', 'o1', 'opportunity', '2024-02-15', 'sf')"""
    )
    con.execute(
        """INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, created_at, closed_at, is_closed, is_won) VALUES
        ('o1', 'A', 'new_business', 1000, '2024-02-15', '2024-04-01', true, true),
        ('o2', 'A', 'renewal', 1100, '2025-03-01', '2025-04-01', true, true),
        ('o3', 'A', 'expansion', 300, '2024-09-01', '2024-10-01', true, true),
        ('o4', 'B', 'new_business', 500, '2024-03-01', '2024-05-01', true, false),
        ('o5', 'A', 'renewal', 1100, '2026-03-01', '2026-04-01', true, false),
        ('o6', 'B', NULL, 700, '2024-06-01', NULL, false, false)"""
    )
    con.execute("INSERT INTO opportunity_contacts VALUES ('o1', '003c1', 'Champion', true)")
    stitch(con)
    build(con)
    return con


@pytest.fixture(scope="module")
def hand():
    con = _hand_store()
    yield con
    con.close()


def _milestones(con, object_type: str) -> set[tuple]:
    return set(
        con.execute(
            "SELECT object_id, milestone, occurred_at, coalesce(touchpoint_id, opportunity_id) "
            "FROM milestones WHERE object_type = ?",
            [object_type],
        ).fetchall()
    )


def test_person_milestones_on_hand_example(hand):
    assert _milestones(hand, "person") == {
        ("003c1", "first_touch", _ts("2023-11-01"), "t0"),  # the cookie became c1
        ("003c1", "lead", _ts("2024-01-05"), None),
        ("003c1", "mql", _ts("2024-01-10"), None),
        ("003c1", "sql", _ts("2024-02-01"), None),
        ("003c2", "first_touch", _ts("2023-12-15"), "t2"),
        ("003c2", "mql", _ts("2024-01-08"), None),
        ("00Ql1", "first_touch", _ts("2024-01-01"), "t3"),
        ("00Ql1", "lead", _ts("2024-01-02"), None),
        ("a9", "first_touch", _ts("2023-10-01"), "t9"),  # anonymous visitors have journeys too
    }


def test_account_milestones_on_hand_example(hand):
    assert _milestones(hand, "account") == {
        ("A", "first_touch", _ts("2023-11-01"), "t0"),
        ("A", "lead", _ts("2024-01-05"), None),
        ("A", "mql", _ts("2024-01-08"), None),  # earliest among its people (c2)
        ("A", "sql", _ts("2024-02-01"), None),
        ("A", "opportunity", _ts("2024-02-15"), "o1"),
        ("A", "won", _ts("2024-04-01"), "o1"),
        ("A", "expansion", _ts("2024-10-01"), "o3"),
        ("A", "renewal", _ts("2025-04-01"), "o2"),
        ("A", "churn", _ts("2026-04-01"), "o5"),  # a lost renewal
        ("B", "first_touch", _ts("2024-01-01"), "t3"),  # the lead joined Beta by email domain
        ("B", "lead", _ts("2024-01-02"), None),
        ("B", "opportunity", _ts("2024-03-01"), "o4"),
        ("B", "lost", _ts("2024-05-01"), "o4"),
    }
    # the account mql names the person who reached it
    assert hand.execute(
        "SELECT person_id FROM milestones WHERE object_type = 'account' AND milestone = 'mql'"
    ).fetchone() == ("003c2",)


def test_opportunity_milestones_on_hand_example(hand):
    got = _milestones(hand, "opportunity")
    assert ("o1", "opportunity", _ts("2024-02-15"), "o1") in got
    assert ("o1", "won", _ts("2024-04-01"), "o1") in got
    assert ("o4", "lost", _ts("2024-05-01"), "o4") in got
    assert ("o6", "opportunity", _ts("2024-06-01"), "o6") in got
    assert not any(oid == "o6" and m in ("won", "lost") for oid, m, _, _ in got)  # still open
    assert len(got) == 6 + 5  # six created, five closed


def test_build_is_repeatable(hand):
    before = hand.execute("SELECT * FROM milestones ORDER BY ALL").fetchall()
    build(hand)
    assert hand.execute("SELECT * FROM milestones ORDER BY ALL").fetchall() == before


def test_timeline_by_domain_is_ordered_and_complete(hand):
    df = timeline(hand, "https://www.ACME.com")
    assert df.attrs["key"].kind == "account" and df.attrs["key"].matched_by == "domain"
    assert df["occurred_at"].is_monotonic_increasing
    touches = df[df.kind == "touch"]
    assert set(touches.touchpoint_id) == {"t0", "t1", "t2"}
    assert set(df.loc[df.kind == "milestone", "milestone"]) >= {"first_touch", "mql", "won", "renewal", "churn"}
    # at an equal instant the touch comes before the milestone it caused
    first = df[df.occurred_at == _ts("2023-11-01")]
    assert first.kind.tolist()[0] == "touch"


def test_timeline_by_email_and_person(hand):
    by_email = timeline(hand, "C1@acme.com")
    by_id = timeline(hand, "003c1")
    assert by_email.attrs["key"].id == by_id.attrs["key"].id == "003c1"
    pd.testing.assert_frame_equal(by_email, by_id)
    assert set(by_id.loc[by_id.kind == "touch", "touchpoint_id"]) == {"t0", "t1"}
    # the person's opportunity (contact role) shows on the person's timeline
    assert "o1" in set(by_id.opportunity_id.dropna())


def test_unknown_key_is_a_clear_error(hand):
    with pytest.raises(KeyError, match="nobody.example"):
        resolve_key(hand, "nobody.example")


def test_journey_key_by_account_name_with_candidates_when_ambiguous(tmp_path):
    import subprocess
    import sys

    from revline.journeys.timeline import AmbiguousKey

    db = tmp_path / "names.duckdb"
    con = connect(db)
    con.execute(
        "INSERT INTO accounts (account_id, name, domain) VALUES ('001A', 'Acme Corp', 'acme.com'), "
        "('001B', 'Acme Labs', 'acmelabs.io'), ('001C', 'Globex GmbH', 'globex.de'), ('001D', 'Initech [EU]', NULL), "
        "('001E', 'ACME, Inc.', 'acme.us')"
    )
    assert (resolve_key(con, "acme corp").id, resolve_key(con, "acme corp").matched_by) == ("001A", "name")
    assert resolve_key(con, "GLOBEX").id == "001C"  # normalised: legal suffix and case aside
    assert resolve_key(con, "Labs").id == "001B"  # the only name containing it
    assert resolve_key(con, "acme.com").matched_by == "domain"  # a domain still wins over names
    with pytest.raises(AmbiguousKey) as err:
        resolve_key(con, "Acme")
    # "Acme Corp" and "ACME, Inc." are both "acme" once legal suffixes are set aside
    assert sorted(c[0] for c in err.value.candidates) == ["001A", "001E"]
    with pytest.raises(KeyError, match="account name"):
        resolve_key(con, "Umbrella")
    con.close()
    run = lambda key: subprocess.run([sys.executable, "-m", "revline", "journey", key, "--db", str(db)],  # noqa: E731
                                     capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "COLUMNS": "200"})
    res = run("Acme")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "matches 2 accounts" in res.stdout and "001A  Acme Corp  (acme.com)" in res.stdout and "001E  ACME, Inc.  (acme.us)" in res.stdout
    res = run("Initech [EU]")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "account 001D (matched by name)" in res.stdout


def test_account_summary(hand):
    s = account_summary(hand, "A")
    assert (s.name, s.people, s.touches, s.opportunities) == ("Acme", 2, 3, 4)
    assert s.won_revenue == 1000 + 1100 + 300
    assert s.won_by_revenue_type == {"expansion": 300.0, "new_business": 1000.0, "renewal": 1100.0}
    assert s.days_first_touch_to_won == (_ts("2024-04-01") - _ts("2023-11-01")).days
    assert s.touches_by_channel == {"email": 1, "paid_search": 1, "webinar": 1}
    with pytest.raises(KeyError):
        account_summary(hand, "nope")


def test_funnel_new_business(hand):
    f = funnel(hand).set_index("stage")
    assert list(f.index) == ["first_touch", "lead", "mql", "sql", "opportunity", "won"]
    # Beta skipped mql/sql but reached an opportunity: it passed them (cumulative funnel)
    assert f["count"].tolist() == [2, 2, 2, 2, 2, 1]
    assert f.loc["opportunity", "conversion_to_next"] == 0.5
    # days in a stage run to the next *recorded* stage: Acme's lead 01-05 -> mql 01-08 (3 days);
    # Beta skipped mql and sql, so its lead (01-02) ran to its opportunity (03-01, 59 days)
    assert f.loc["lead", "days_median"] == (3 + 59) / 2
    assert (f.loc["lead", "days_n"], f.loc["mql", "recorded"], f.loc["mql", "count"]) == (2, 1, 2)
    ft_to_lead = [(_ts("2024-01-05") - _ts("2023-11-01")).days, 1]
    assert f.loc["first_touch", "days_median"] == sum(ft_to_lead) / 2
    # ... or to the day the account was lost: Acme won 04-01 after 46 days; Beta lost o4 but still
    # has o6 open (a deal without a revenue type is new business), so it has not left the stage
    assert f.loc["opportunity", "days_median"] == 46 and f.loc["opportunity", "days_n"] == 1
    assert f.loc["won", "days_n"] == 0 and pd.isna(f.loc["won", "days_median"])
    assert pd.isna(f.loc["won", "conversion_to_next"])
    assert (f["out_of_order"] == 0).all()
    lo, hi = f.loc["opportunity", ["conversion_low", "conversion_high"]]
    assert 0 < lo < 0.5 < hi < 1


def test_funnel_window_and_revenue_types(hand):
    only_beta = funnel(hand, start="2023-12-01", end="2025-01-01").set_index("stage")
    assert only_beta.loc["first_touch", "count"] == 1 and only_beta.loc["won", "count"] == 0
    renewal = funnel(hand, revenue_type="renewal").set_index("stage")
    assert renewal["count"].tolist() == [1, 1]
    # Acme's renewal o2 was won: its lost renewal o5 does not end the stage (not every deal was lost)
    assert renewal.loc["opportunity", "days_median"] == (_ts("2025-04-01") - _ts("2025-03-01")).days
    with pytest.raises(ValueError, match="revenue_type"):
        funnel(hand, revenue_type="upsell")


# --- DuckDB vs PySpark ---------------------------------------------------------------------


def _random_store(seed: int = 7):
    """Stitched tables with many same-day ties, so tie-breaking must agree across engines."""
    rnd = random.Random(seed)
    con = connect(":memory:")
    accounts = [f"A{i}" for i in range(8)]
    con.executemany("INSERT INTO accounts (account_id, domain) VALUES (?, ?)", [(a, f"{a.lower()}.com") for a in accounts])
    day0 = datetime(2024, 1, 1)
    people, touches, stages, opps = [], [], [], []
    for i in range(40):
        pid = f"003p{i:02d}"
        people.append((pid, rnd.choice(accounts + [None]), f"p{i}@{rnd.choice(accounts).lower()}.com", "sf"))
        for j in range(rnd.randint(0, 6)):
            touches.append((f"t{i:02d}_{j}", day0 + timedelta(days=rnd.randint(0, 20)),
                            rnd.choice(["email", "direct", "paid_search"]), "crm_contact_id", pid))
        for stage in ("lead", "mql", "sql"):
            if rnd.random() < 0.6:
                stages.append(("person", pid, stage, day0 + timedelta(days=rnd.randint(0, 30))))
    for k in range(15):
        created = day0 + timedelta(days=rnd.randint(0, 40))
        closed = rnd.random() < 0.7
        opps.append((f"o{k:02d}", rnd.choice(accounts), rnd.choice(["new_business", "renewal", "expansion", None]),
                     created, created + timedelta(days=rnd.randint(0, 30)) if closed else None, closed,
                     closed and rnd.random() < 0.5))
    for a in range(60):
        touches.append((f"anon{a}", day0 + timedelta(days=rnd.randint(0, 20)), "display", "anonymous_id", f"anon{a % 25}"))
    rnd.shuffle(touches)
    rnd.shuffle(stages)
    con.executemany("INSERT INTO people (person_id, account_id, email, source_system) VALUES (?, ?, ?, ?)", people)
    con.executemany(
        "INSERT INTO touchpoints (touchpoint_id, occurred_at, channel, identity_type, identity_value) VALUES (?, ?, ?, ?, ?)", touches
    )
    con.executemany("INSERT INTO stage_events (object_type, object_id, stage, entered_at) VALUES (?, ?, ?, ?)", stages)
    con.executemany(
        "INSERT INTO opportunities (opportunity_id, account_id, revenue_type, created_at, closed_at, is_closed, is_won) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", opps
    )
    stitch(con)
    return con


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    df = df[list(MILESTONE_COLUMNS)].copy()
    df["occurred_at"] = pd.to_datetime(df["occurred_at"]).astype("datetime64[us]")
    for c in MILESTONE_COLUMNS:
        if c != "occurred_at":
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df.sort_values(list(MILESTONE_COLUMNS), na_position="first").reset_index(drop=True)


@pytest.fixture(scope="module")
def spark(spark_session):
    """The suite's one Spark session (tests/conftest.py). A session of this module's own would be the
    same JVM session (getOrCreate) and stopping it here killed it under the other Spark tests."""
    return spark_session


@pytest.mark.spark
def test_milestones_same_on_duckdb_and_pyspark(spark, tmp_path):
    import ibis

    con = _random_store()
    build(con)
    duck = _sorted(con.execute("SELECT * FROM milestones").df())
    for name in TABLES_READ:
        path = tmp_path / f"{name}.parquet"
        # shuffle the physical order too: the result may not depend on it
        con.execute(f"COPY (SELECT * FROM {name} ORDER BY random()) TO '{path}' (FORMAT parquet)")
        spark.read.parquet(str(path)).repartition(2).createOrReplaceTempView(name)
    con.close()
    backend = ibis.pyspark.connect(spark)
    expr = milestones_expr({name: backend.table(name) for name in TABLES_READ})
    on_spark = _sorted(expr.to_pandas())
    assert len(duck) > 100
    pd.testing.assert_frame_equal(on_spark, duck, check_dtype=False)


def test_funnel_end_day_is_included(hand):
    """`end` names a whole day, included, as in every report (revenue, the level funnel): Acme's
    renewal opportunity created on 2025-03-01 counts in a window ending that day."""
    from datetime import date

    from revline.models.funnel import funnel_report

    for end in ("2025-03-01", date(2025, 3, 1), datetime(2025, 3, 1, 0, 0)):
        f = funnel(hand, start="2025-03-01", end=end, revenue_type="renewal").set_index("stage")
        assert f.loc["opportunity", "count"] == 1, end
    assert funnel(hand, start="2025-02-01", end="2025-02-28", revenue_type="renewal")["count"].sum() == 0
    assert funnel(hand, start="2025-03-02", end="2025-12-31", revenue_type="renewal")["count"].sum() == 0
    # a deal created during the end day, after midnight
    hand.execute("UPDATE milestones SET occurred_at = TIMESTAMP '2025-03-01 17:45' WHERE object_id = 'o2' AND milestone = 'opportunity'")
    try:
        f = funnel(hand, start="2025-03-01", end="2025-03-01", revenue_type="renewal").set_index("stage")
        assert f.loc["opportunity", "count"] == 1
    finally:
        hand.execute("UPDATE milestones SET occurred_at = TIMESTAMP '2025-03-01' WHERE object_id = 'o2' AND milestone = 'opportunity'")
    # the account funnel and the level funnel agree on windows ending on a day someone entered
    for rt, start, end in (("new_business", "2024-01-01", "2024-01-01"), ("new_business", "2023-11-01", "2023-12-31"),
                           ("renewal", "2025-03-01", "2025-03-01")):
        level = funnel_report(hand, "account", start=start, end=end, revenue_type=rt).stages
        ours = funnel(hand, start=start, end=end, revenue_type=rt)
        assert list(ours["count"]) == list(level["count"]) and ours["count"].iloc[0] == 1, (rt, start, end)
