"""Shared pytest fixtures. Keep additive: each area adds its own fixtures below its own heading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# ------------------------------------------------------------------ api/ (revline serve)
API_WRITE_KEY = "test-write-key-0123456789"
API_READ_KEY = "test-read-key-0123456789"

# A small hand-made company: three accounts, three people, five touches, three deals, two target
# quarters, spend for three channels and two attribution models. Tests derive expected numbers
# from these rows, never from hard-coded results.
API_FIXTURE = {
    "accounts": [
        ("A1", "Acme Corp", "acme.com", "manufacturing"),
        ("A2", "Globex", "globex.com", "energy"),
        ("A3", "Initech 100%_off", "initech.com", "software"),
    ],
    "people": [("P1", "A1", "ann@acme.com"), ("P2", "A1", "bob@acme.com"), ("P3", "A2", "cy@globex.com")],
    "touchpoints": [  # id, occurred_at, person, account, channel, campaign, touch_type
        ("T1", "2026-01-05 10:00:00", "P1", "A1", "paid_search", "C1", "page_view"),
        ("T2", "2026-01-20 09:00:00", "P1", "A1", "email", "C2", "email_click"),
        ("T3", "2026-02-01 15:00:00", "P2", "A1", "webinar", "C3", "webinar"),
        ("T4", "2026-02-10 11:00:00", "P3", "A2", "paid_social", "C4", "page_view"),
        ("T5", "2026-02-15 12:00:00", None, "A2", "events", None, "event"),
    ],
    "opportunities": [  # id, account, revenue_type, amount, created, closed, is_closed, is_won
        ("O1", "A1", "new_business", 100000.0, "2026-02-01 00:00:00", "2026-03-15 00:00:00", True, True),
        ("O2", "A2", "new_business", 50000.0, "2026-02-20 00:00:00", "2026-04-10 00:00:00", True, True),
        ("O3", "A2", "expansion", 20000.0, "2026-03-01 00:00:00", None, False, False),
    ],
    "stage_events": [
        ("person", "P1", "lead", "2026-01-05 10:00:00"), ("person", "P1", "mql", "2026-01-20 09:00:00"),
        ("person", "P1", "sql", "2026-01-25 00:00:00"), ("person", "P2", "lead", "2026-02-01 15:00:00"),
        ("person", "P3", "lead", "2026-02-10 11:00:00"), ("person", "P3", "mql", "2026-02-12 00:00:00"),
        ("opportunity", "O1", "opportunity", "2026-02-01 00:00:00"), ("opportunity", "O1", "won", "2026-03-15 00:00:00"),
        ("opportunity", "O2", "opportunity", "2026-02-20 00:00:00"), ("opportunity", "O2", "won", "2026-04-10 00:00:00"),
        ("opportunity", "O3", "opportunity", "2026-03-01 00:00:00"),
    ],
    "targets": [("2026-01-01", "2026-03-31", "all", 120000.0, 300000.0), ("2026-04-01", "2026-06-30", "all", 150000.0, 200000.0)],
    "spend": [("2026-01-15", "paid_search", "C1", 10000.0), ("2026-02-15", "paid_social", "C4", 5000.0),
              ("2026-01-20", "email", "C2", 1000.0)],
    # model -> milestone -> opportunity -> touchpoints sharing its credit (per the model's rule)
    "ledger": {
        "linear": {"won": {"O1": ["T1", "T2", "T3"], "O2": ["T4", "T5"]},
                   "opportunity": {"O1": ["T1", "T2", "T3"], "O2": ["T4", "T5"], "O3": []}},
        "first_touch": {"won": {"O1": ["T1"], "O2": ["T4"]},
                        "opportunity": {"O1": ["T1"], "O2": ["T4"], "O3": []}},
    },
}


def fill_api_store(db: Path) -> None:
    """Write API_FIXTURE into a new store, the ledger through the shared ledger writer."""
    import pandas as pd

    from revline.attribution.ledger import UNATTRIBUTED, write_ledger
    from revline.store import connect

    f = API_FIXTURE
    con = connect(db)
    con.executemany("INSERT INTO accounts (account_id, name, domain, industry) VALUES (?, ?, ?, ?)", f["accounts"])
    con.executemany("INSERT INTO people (person_id, account_id, email) VALUES (?, ?, ?)", f["people"])
    con.executemany(
        "INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel, campaign_id, touch_type) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", f["touchpoints"])
    con.executemany(
        "INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, created_at, closed_at, is_closed, is_won) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", f["opportunities"])
    con.executemany("INSERT INTO stage_events (object_type, object_id, stage, entered_at) VALUES (?, ?, ?, ?)",
                    f["stage_events"])
    con.executemany("INSERT INTO targets VALUES (?, ?, ?, ?, ?)", f["targets"])
    con.executemany("INSERT INTO spend (date, channel, campaign_id, spend) VALUES (?, ?, ?, ?)", f["spend"])
    touches = {t[0]: t for t in f["touchpoints"]}
    opps = {o[0]: o for o in f["opportunities"]}
    for model, milestones in f["ledger"].items():
        for milestone, paths in milestones.items():
            rows = []
            for opp, tps in paths.items():
                amount, revenue_type = opps[opp][3], opps[opp][2]
                if not tps:
                    rows.append(dict(conversion_id=opp, touchpoint_id=None, credit=1.0, revenue_credit=amount,
                                     channel=UNATTRIBUTED, revenue_type=revenue_type))
                for tp in tps:
                    t = touches[tp]
                    rows.append(dict(conversion_id=opp, touchpoint_id=tp, credit=1 / len(tps),
                                     revenue_credit=amount / len(tps), channel=t[4], campaign_id=t[5],
                                     occurred_at=pd.Timestamp(t[1]), revenue_type=revenue_type))
            # as the attribution runner does: one run over all revenue types ('all') and one per type
            frame = pd.DataFrame(rows)
            write_ledger(con, frame, model=model, milestone=milestone, revenue_type="all")
            for revenue_type, part in frame.groupby("revenue_type"):
                write_ledger(con, part, model=model, milestone=milestone, revenue_type=revenue_type)
    from revline.journeys import build

    build(con)  # the milestones table, as the pipeline would after ingest
    con.close()


@pytest.fixture(scope="session")
def api_store_template(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("api-template") / "template.duckdb"
    fill_api_store(db)
    return db


@pytest.fixture
def api_store(api_store_template, tmp_path) -> Path:
    """A private copy of the filled store (tests may write to it)."""
    import shutil

    db = tmp_path / "store.duckdb"
    shutil.copy(api_store_template, db)
    return db


@pytest.fixture
def api_client(api_store, request):
    """A TestClient on the filled store, lifespan running; yields (client, app). Touchpoint derivation
    is off unless parametrized indirectly with True (it costs a fixed ~0.3 s per flush)."""
    from fastapi.testclient import TestClient

    from revline.api.app import create_app

    app = create_app(api_store, write_key=API_WRITE_KEY, read_key=API_READ_KEY, segment_seconds=0.05,
                     derive=request.param if hasattr(request, "param") else False)
    with TestClient(app) as client:
        yield client, app
    from revline.api.app import close_app

    close_app(app)


# Browser tests drive Debian's Chromium (never a downloaded build): see shared recipes.
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    args = list(browser_type_launch_args.get("args", []))
    args += ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
    out = {**browser_type_launch_args, "args": args}
    if os.path.exists("/usr/bin/chromium"):
        out["executable_path"] = "/usr/bin/chromium"
    return out


# ------------------------------------------------------------------ portable transforms (Ibis)
# One fixture, parametrised by backend as Ibis's own test suite is: every portable transform runs on
# DuckDB and on local PySpark (marked `spark`), each backend loaded with the same canonical rows in
# its own shuffled order. tests/test_portability.py compares each backend with a DuckDB reference.
PORTABLE_TABLES = ("people", "touchpoints", "milestones", "stage_events", "opportunities", "opportunity_contacts", "fx_rates",
                   "accounts", "spend")
LEDGER_TABLES = ("credit_ledger", "attribution_runs")
"""Written by `portable_ledger` on the DuckDB store (and copied as they are to Spark): the reports' input."""


def portable_rows(seed: int = 11) -> dict[str, list[dict]]:
    """A few dozen random accounts with people, touches, lead/MQL events and opportunities."""
    import random
    from datetime import datetime, timedelta

    t0 = datetime(2024, 1, 1)
    rng = random.Random(seed)
    rows: dict[str, list[dict]] = {t: [] for t in PORTABLE_TABLES}
    tp = 0
    for a in range(25):
        acc = f"A{a:02d}"
        rows["accounts"].append({"account_id": acc, "name": acc.lower(),
                                 "country": rng.choice(["US", "de", " Japan ", "BR", None, "", "Atlantis"])})
        people = [f"{acc}P{i}" for i in range(rng.randint(1, 3))]
        rows["people"] += [{"person_id": p, "account_id": acc} for p in people]
        for _ in range(rng.randint(0, 8)):
            who = rng.choice([*people, *people, None])
            rows["touchpoints"].append({
                "touchpoint_id": f"t{tp:04d}", "occurred_at": t0 + timedelta(hours=rng.randrange(0, 24 * 90, 6)),
                "person_id": who, "account_id": acc if who is None else None,
                "channel": rng.choice(["paid_search", "email", "webinar", "events", "direct"]),
                "campaign_id": rng.choice(["c1", "c2", None]), "touch_type": rng.choice(["page_view", "form_fill"]),
            })
            tp += 1
        for stage, day in (("first_touch", 0), ("lead", 5), ("mql", 30), ("sql", 45)):
            if rng.random() < 0.75 - day / 100:  # fewer accounts at each later stage (some skip one)
                rows["milestones"].append({"object_type": "account", "object_id": acc, "account_id": acc,
                                           "milestone": stage, "occurred_at": t0 + timedelta(days=day + rng.randint(0, 30),
                                                                                             hours=rng.randint(0, 23))})
        for p in people:
            if rng.random() < 0.6:
                rows["milestones"].append({"object_type": "person", "object_id": p, "person_id": p, "account_id": acc,
                                           "milestone": "lead", "occurred_at": t0 + timedelta(days=rng.randint(0, 60))})
            if rng.random() < 0.7:
                rows["stage_events"].append({"object_type": "person", "object_id": p, "stage": "mql",
                                             "entered_at": t0 + timedelta(days=rng.randint(40, 90))})
        for o in range(rng.randint(0, 2)):
            created = t0 + timedelta(days=rng.randint(10, 80))
            won = rng.random() < 0.6
            oid = f"{acc}O{o}"
            rows["opportunities"].append({
                "opportunity_id": oid, "account_id": acc, "revenue_type": rng.choice(["new_business", "renewal"]),
                "amount": float(rng.randint(1, 50) * 1000), "currency": rng.choice(["USD", "EUR"]),
                "probability": rng.random(), "created_at": created, "closed_at": created + timedelta(days=rng.randint(1, 40)),
                "is_closed": won, "is_won": won,
            })
            rows["milestones"].append({"object_type": "opportunity", "object_id": oid, "account_id": acc,
                                       "milestone": "opportunity", "occurred_at": created})
            if won:
                rows["milestones"].append({"object_type": "opportunity", "object_id": oid, "account_id": acc,
                                           "milestone": "won", "occurred_at": rows["opportunities"][-1]["closed_at"]})
            for p in rng.sample(people, rng.randint(0, len(people))):
                rows["opportunity_contacts"].append({"opportunity_id": oid, "person_id": p, "role": "x", "is_primary": False})
    # dated EUR rates from mid-January (earlier days take the default rate), the last one holding on
    rows["fx_rates"] += [{"date": (t0 + timedelta(days=d)).date(), "currency": "EUR", "rate": r, "source": "test"}
                         for d, r in ((14, 1.05), (15, 1.07), (40, 1.11), (41, 1.09), (75, 1.12))]
    for day in range(0, 90, 3):
        for ch, camp in [("paid_search", "c1"), ("paid_search", ""), ("email", "c2"), ("events", "c3")]:
            if rng.random() < 0.7:
                rows["spend"].append({"date": (t0 + timedelta(days=day)).date(), "channel": ch, "campaign_id": camp,
                                      "spend": rng.randint(1, 400) * 2.5, "impressions": rng.choice([None, 1000]),
                                      "clicks": 10, "currency": rng.choice(["USD", "EUR"])})
    return rows


def portable_ledger(con) -> None:
    """Rule-model runs on a `duckdb_portable_store` (the ROI's ledger): two models at won and
    opportunity per revenue type and for all types, and at mql."""
    from revline.attribution import run_models

    run_models(con, models=["linear", "w_shaped"], milestones=["won", "opportunity", "mql"],
               revenue_types=["new_business", "renewal", "all"])


def _shuffled(rows: dict[str, list[dict]], seed: int) -> dict[str, list[dict]]:
    import random

    rng = random.Random(seed)
    return {k: rng.sample(v, len(v)) for k, v in rows.items()}


def duckdb_portable_store(seed: int, rows_seed: int = 11):
    """A DuckDB store holding `portable_rows(rows_seed)` inserted in the order of shuffle `seed`."""
    import revline
    from attribution_data import insert

    con = revline.connect(":memory:")
    rows = _shuffled(portable_rows(rows_seed), seed)
    for t in PORTABLE_TABLES:
        insert(con, t, rows[t])
    return con


def _spark_type(duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith("DECIMAL"):
        return t
    return {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN",
            "INTEGER": "INT", "BIGINT": "BIGINT", "DATE": "DATE", "JSON": "STRING"}[t]


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    pytest.importorskip("pyspark")
    from revline.store.engine import local_builder

    wh = tmp_path_factory.mktemp("spark-warehouse")
    session = local_builder("revline-portability", "local[2]", wh, 2).config("spark.ui.enabled", "false").getOrCreate()
    yield session
    session.stop()


@pytest.fixture(scope="module", params=["duckdb", pytest.param("pyspark", marks=pytest.mark.spark)])
def portable_backend(request):
    """An Ibis backend holding `portable_rows()` and the `portable_ledger` runs on them: DuckDB
    (shuffle 1) or local PySpark (shuffle 2, tables with exactly the DuckDB canonical schema)."""
    from decimal import Decimal

    import ibis
    import pandas as pd

    from revline.store import ibis_backend

    duck = duckdb_portable_store(1)
    portable_ledger(duck)
    if request.param == "duckdb":
        yield ibis_backend(duck)
        duck.close()
        return
    spark = request.getfixturevalue("spark_session")
    rows = _shuffled(portable_rows(), 2)
    rows.update(_shuffled({t: duck.execute(f"SELECT * FROM {t}").df().to_dict("records") for t in LEDGER_TABLES}, 2))
    for t in (*PORTABLE_TABLES, *LEDGER_TABLES):
        schema = duck.execute(f"SELECT * FROM {t} LIMIT 0").df()
        pdf = pd.DataFrame(rows[t], columns=list(schema.columns)) if rows[t] else schema
        pdf = pdf.astype({c: schema[c].dtype for c in schema.columns if str(schema[c].dtype).startswith("datetime")})
        types = duck.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                             "ORDER BY ordinal_position", [t]).fetchall()
        ddl = ", ".join(f"`{c}` {_spark_type(str(ty))}" for c, ty in types)
        pdf = pdf.astype(object).where(pdf.notna(), None)
        for c, ty in types:
            if str(ty).startswith("DECIMAL"):
                pdf[c] = [None if v is None else Decimal(str(v)) for v in pdf[c]]
        spark.createDataFrame(pdf, schema=ddl).createOrReplaceTempView(t)
    duck.close()
    yield ibis.pyspark.connect(spark)


# ------------------------------------------------------------------ simulated companies (forward models)
# Forecast, retention, funnel and scoring check themselves against the simulator's truth on more than
# one company. Building one (generate + ingest + stitch + journeys, no attribution) costs ~10 s on
# "small", so each (config, size, seed) is built once per session; tests copy the store if they write.
@pytest.fixture(scope="session")
def simulated_company(tmp_path_factory):
    """A factory: `simulated_company(config="default", size="small", seed=11)` gives (store path, source
    folder, ground truth dict). Read-only: copy the store (shutil.copy) before writing to it."""
    import json

    built: dict[tuple[str, str, int], tuple[Path, Path, dict]] = {}

    def make(config: str = "default", size: str = "small", seed: int = 11) -> tuple[Path, Path, dict]:
        key = (config, size, seed)
        if key not in built:
            from revline.demo.simulate import generate
            from revline.identity import stitch
            from revline.ingest import load_files
            from revline.journeys import build as build_journeys
            from revline.store import connect
            from revline.store.state import record_stitch

            root = tmp_path_factory.mktemp(f"company-{config}-{size}-{seed}")
            out = root / "files"
            generate(out, size=size, seed=seed, config=config)
            db = root / "store.duckdb"
            con = connect(db)
            load_files(con, [out])
            stitch(con)
            build_journeys(con)
            record_stitch(con)
            con.close()
            built[key] = (db, out, json.loads((out / "ground_truth.json").read_text()))
        return built[key]

    return make
