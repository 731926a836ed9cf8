"""The rule-attribution transforms give the same ledger on DuckDB and on local PySpark.

Both backends receive the same canonical rows, each in a different shuffled order; every rule
model's credits (all models in one `credited_touches` expression, as the runner uses it), the
unattributed rows and one full single-model `attribute` ledger must agree.
"""

from __future__ import annotations

import random
from decimal import Decimal
from datetime import datetime, timedelta

import pandas as pd
import pytest

pytestmark = pytest.mark.spark

pyspark = pytest.importorskip("pyspark")

import ibis  # noqa: E402

import revline  # noqa: E402
from revline.attribution import attribute  # noqa: E402
from revline.attribution.config import BUILTIN_MODELS  # noqa: E402
from revline.attribution.eligibility import conversions, eligible_touches  # noqa: E402
from revline.attribution.positions import with_positions  # noqa: E402
from revline.attribution.rules import credited_touches, unattributed_rows  # noqa: E402
from revline.store import ibis_backend  # noqa: E402

T0 = datetime(2024, 1, 1)
TABLES = ("people", "touchpoints", "milestones", "stage_events", "opportunities", "opportunity_contacts")


def _fixture_rows(seed: int = 11) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    rows: dict[str, list[dict]] = {t: [] for t in TABLES}
    tp = 0
    for a in range(25):
        acc = f"A{a:02d}"
        people = [f"{acc}P{i}" for i in range(rng.randint(1, 3))]
        rows["people"] += [{"person_id": p, "account_id": acc} for p in people]
        for _ in range(rng.randint(0, 8)):
            who = rng.choice([*people, *people, None])
            rows["touchpoints"].append({
                "touchpoint_id": f"t{tp:04d}", "occurred_at": T0 + timedelta(hours=rng.randrange(0, 24 * 90, 6)),
                "person_id": who, "account_id": acc if who is None else None,
                "channel": rng.choice(["paid_search", "email", "webinar", "events", "direct"]),
                "campaign_id": rng.choice(["c1", "c2", None]), "touch_type": rng.choice(["page_view", "form_fill"]),
            })
            tp += 1
        for p in people:
            if rng.random() < 0.6:
                rows["milestones"].append({"object_type": "person", "object_id": p, "person_id": p, "account_id": acc,
                                           "milestone": "lead", "occurred_at": T0 + timedelta(days=rng.randint(0, 60))})
            if rng.random() < 0.7:
                rows["stage_events"].append({"object_type": "person", "object_id": p, "stage": "mql",
                                             "entered_at": T0 + timedelta(days=rng.randint(40, 90))})
        for o in range(rng.randint(0, 2)):
            created = T0 + timedelta(days=rng.randint(10, 80))
            won = rng.random() < 0.6
            oid = f"{acc}O{o}"
            rows["opportunities"].append({
                "opportunity_id": oid, "account_id": acc, "revenue_type": rng.choice(["new_business", "renewal"]),
                "amount": float(rng.randint(1, 50) * 1000), "currency": rng.choice(["USD", "EUR"]),
                "probability": rng.random(), "created_at": created, "closed_at": created + timedelta(days=rng.randint(1, 40)),
                "is_closed": won, "is_won": won,
            })
            for p in rng.sample(people, rng.randint(0, len(people))):
                rows["opportunity_contacts"].append({"opportunity_id": oid, "person_id": p, "role": "x", "is_primary": False})
    return rows


def _shuffled(rows: dict[str, list[dict]], seed: int) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    return {k: rng.sample(v, len(v)) for k, v in rows.items()}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    wh = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        SparkSession.builder.master("local[2]").appName("revline-portability")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.warehouse.dir", str(wh))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={wh}")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def backends(spark):
    rows = _fixture_rows()
    duck = revline.connect(":memory:")
    duck_rows = _shuffled(rows, 1)
    from attribution_data import insert

    for t in TABLES:
        insert(duck, t, duck_rows[t])
    spark_rows = _shuffled(rows, 2)
    for t in TABLES:
        # the Spark tables get exactly the DuckDB schema of the canonical table
        schema = duck.execute(f"SELECT * FROM {t} LIMIT 0").df()
        pdf = pd.DataFrame(spark_rows[t], columns=list(schema.columns)) if spark_rows[t] else schema
        pdf = pdf.astype({c: schema[c].dtype for c in schema.columns if str(schema[c].dtype).startswith("datetime")})
        types = duck.execute(
            f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{t}' ORDER BY ordinal_position"
        ).fetchall()
        ddl = ", ".join(f"`{c}` {_spark_type(str(ty))}" for c, ty in types)
        pdf = pdf.astype(object).where(pdf.notna(), None)
        for c, ty in types:
            if str(ty).startswith("DECIMAL"):
                pdf[c] = [None if v is None else Decimal(str(v)) for v in pdf[c]]
        spark.createDataFrame(pdf, schema=ddl).createOrReplaceTempView(t)
    yield ibis_backend(duck), ibis.pyspark.connect(spark)
    duck.close()


def _spark_type(duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith("DECIMAL"):
        return t
    return {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN",
            "INTEGER": "INT", "BIGINT": "BIGINT", "DATE": "DATE", "JSON": "STRING"}[t]


def _frame(expr, sort: list[str]) -> pd.DataFrame:
    df = expr.to_pandas()
    for c in df.columns:
        if str(df[c].dtype).startswith("datetime"):
            df[c] = df[c].astype("datetime64[us]")
    return df.sort_values(sort, na_position="first").reset_index(drop=True)


@pytest.mark.parametrize("milestone,scope,lookback", [
    ("won", "account", None), ("opportunity", "contact_roles", 30.0), ("lead", "account", None), ("mql", "person", None),
])
def test_credits_equal_on_duckdb_and_spark(backends, milestone, scope, lookback):
    results = []
    for be in backends:
        conv, keys = conversions(be, milestone, scope=scope, lookback_days=lookback)
        p = with_positions(eligible_touches(be, conv, keys))
        credited = credited_touches(p, BUILTIN_MODELS, half_life_days=5.0)
        cols = ["conversion_id", "touchpoint_id", "touch_position", "amount_usd"] + [f"credit__{m}" for m in BUILTIN_MODELS]
        lost = unattributed_rows(conv, p)
        results.append((
            _frame(credited.select(*cols), ["conversion_id", "touchpoint_id"]),
            _frame(lost, ["conversion_id"]),
        ))
    (dc, dl), (sc, sl) = results
    assert len(dc) > 5, "the fixture must exercise real journeys"
    pd.testing.assert_frame_equal(dc, sc, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(dl, sl, check_dtype=False, rtol=1e-9)


def test_full_ledger_of_one_model_equal(backends):
    frames = [
        _frame(attribute(be, "w_shaped", "won", revenue_type="new_business"), ["conversion_id", "touchpoint_id"])
        for be in backends
    ]
    assert frames[0]["conversion_id"].nunique() > 3
    pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False, rtol=1e-9)
