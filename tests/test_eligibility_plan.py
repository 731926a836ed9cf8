"""The conversions' eligibility compiles to hash joins on DuckDB, never a nested loop.

Why a plan test: a left join on `object_type = 'person' AND object_id = person_id` ran as
DuckDB's blockwise nested loop (people x stage events), 18 of 30 CPU seconds of every rule model's
credits at 1.3M touchpoints and growing as n^2 (benchmarks/bench_spark_scale.py). Results stay
equal either way, so only the plan shows it.
"""

from __future__ import annotations

import pytest

from conftest import duckdb_portable_store
from revline.attribution.eligibility import SCOPES, conversions, eligible_touches, milestone_events
from revline.attribution.positions import with_positions
from revline.store import ibis_backend


@pytest.fixture(scope="module")
def be():
    con = duckdb_portable_store(0)
    yield ibis_backend(con)
    con.close()


def _plan(be, expr) -> str:
    return "\n".join(str(v) for row in be.con.execute("EXPLAIN " + str(be.compile(expr))).fetchall() for v in row)


def test_milestone_events_join_people_by_hash(be):
    plan = _plan(be, milestone_events(be))
    assert "HASH_JOIN" in plan
    assert "NESTED_LOOP" not in plan and "NL_JOIN" not in plan, plan


@pytest.mark.parametrize("milestone", ["won", "mql", "lead"])
@pytest.mark.parametrize("scope", SCOPES)
def test_eligible_touches_have_no_nested_loop(be, milestone, scope):
    conv, keys = conversions(be, milestone, scope=scope)
    plan = _plan(be, with_positions(eligible_touches(be, conv, keys)))
    assert "NESTED_LOOP" not in plan and "NL_JOIN" not in plan, plan
