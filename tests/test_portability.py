"""The portable transforms give the same rows on every backend, and read exactly what they declare.

`portable_backend` (tests/conftest.py) is parametrised by backend, as Ibis's own suite is: DuckDB,
and local PySpark under the `spark` marker. Every backend holds the same canonical rows in its
own shuffled order, and each transform's result must equal a DuckDB reference loaded in a third
order: every rule model's credits (all models in one `credited_touches`, as the runner uses it),
the unattributed rows, one full `attribute` ledger, the journeys' milestones and the channel
paths Markov and Shapley are fitted on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import pytest

from conftest import PORTABLE_TABLES, duckdb_portable_store
from revline.attribution import attribute
from revline.attribution.config import BUILTIN_MODELS
from revline.attribution.eligibility import (
    SCOPES,
    Target,
    conversions,
    eligible_touches,
    lead_conversions,
    milestone_events,
    opportunity_conversions,
    scoped_touches,
)
from revline.attribution.paths import paths_expr, paths_frame
from revline.attribution.positions import with_positions
from revline.attribution.rules import credited_touches, unattributed_rows
from revline.journeys.milestones import MILESTONE_COLUMNS, TABLES_READ, milestones_expr
from revline.store import ibis_backend
from revline.store.portable import PORTABLE, tables_read

CASES = [("won", "account", None), ("opportunity", "contact_roles", 30.0), ("lead", "account", None),
         ("mql", "person", None)]


@pytest.fixture(scope="module")
def reference():
    con = duckdb_portable_store(0)
    yield ibis_backend(con)
    con.close()


def _frame(expr: Any, sort: list[str]) -> pd.DataFrame:
    df = expr.to_pandas()
    for c in df.columns:
        if str(df[c].dtype).startswith("datetime"):
            df[c] = df[c].astype("datetime64[us]")
    return df.sort_values(sort, na_position="first").reset_index(drop=True)


def _credits(be: Any, milestone: str, scope: str, lookback: float | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    conv, keys = conversions(be, milestone, scope=scope, lookback_days=lookback)
    p = with_positions(eligible_touches(be, conv, keys))
    credited = credited_touches(p, BUILTIN_MODELS, half_life_days=5.0)
    cols = ["conversion_id", "touchpoint_id", "touch_position", "amount_usd"] + [f"credit__{m}" for m in BUILTIN_MODELS]
    return (_frame(credited.select(*cols), ["conversion_id", "touchpoint_id"]),
            _frame(unattributed_rows(conv, p), ["conversion_id"]))


@pytest.mark.parametrize("milestone,scope,lookback", CASES)
def test_credits_equal_the_reference(portable_backend, reference, milestone, scope, lookback):
    (dc, dl), (bc, bl) = _credits(reference, milestone, scope, lookback), _credits(portable_backend, milestone, scope, lookback)
    assert len(dc) > 5, "the fixture must exercise real journeys"
    pd.testing.assert_frame_equal(bc, dc, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(bl, dl, check_dtype=False, rtol=1e-9)


def test_full_ledger_of_one_model_equal(portable_backend, reference):
    frames = [_frame(attribute(be, "w_shaped", "won", revenue_type="new_business"), ["conversion_id", "touchpoint_id"])
              for be in (reference, portable_backend)]
    assert frames[0]["conversion_id"].nunique() > 3
    pd.testing.assert_frame_equal(frames[1], frames[0], check_dtype=False, rtol=1e-9)


def test_milestones_equal(portable_backend, reference):
    frames = [_frame(milestones_expr({n: be.table(n) for n in TABLES_READ}), list(MILESTONE_COLUMNS))
              for be in (reference, portable_backend)]
    assert set(frames[0]["object_type"]) == {"person", "account", "opportunity"}
    pd.testing.assert_frame_equal(frames[1], frames[0], check_dtype=False)


@pytest.mark.parametrize("milestone,scope,lookback", [*CASES, ("opportunity", "person", None)])
def test_paths_equal_the_reference(portable_backend, reference, milestone, scope, lookback):
    target = Target(milestone, None, scope, lookback)  # type: ignore[arg-type]
    ref, got = (paths_frame(paths_expr(be, target)) for be in (reference, portable_backend))
    assert ref["total_conversions"].sum() > 3 and ref["total_null"].sum() > 0 and (ref["path"].str.count(">") > 1).any()
    pd.testing.assert_frame_equal(got, ref, check_dtype=False, rtol=1e-9)


# ---------------------------------------------------------------- what each transform reads
class _Recording:
    """A backend that remembers which tables a transform asked it for."""

    def __init__(self, be: Any) -> None:
        self.be, self.names = be, set()

    def table(self, name: str) -> Any:
        self.names.add(name)
        return self.be.table(name)


class _RecordingTables(Mapping[str, Any]):
    """The table mapping `milestones_expr` takes, recording each table it reads."""

    def __init__(self, rec: _Recording) -> None:
        self.rec = rec

    def __getitem__(self, name: str) -> Any:
        return self.rec.table(name)

    def __contains__(self, name: object) -> bool:
        return name in PORTABLE_TABLES

    def __iter__(self) -> Iterator[str]:
        return iter(PORTABLE_TABLES)

    def __len__(self) -> int:
        return len(PORTABLE_TABLES)


def _calls(ref: Any) -> dict[str, list]:
    """Per portable transform, calls that take every branch reading a table."""
    conv, keys = conversions(ref, "won")
    return {
        "revline.attribution.eligibility.milestone_events": [milestone_events],
        "revline.attribution.eligibility.opportunity_conversions":
            [lambda be, s=s: opportunity_conversions(be, Target("won", scope=s)) for s in SCOPES],
        "revline.attribution.eligibility.lead_conversions":
            [lambda be, s=s: lead_conversions(be, Target("mql", scope=s)) for s in SCOPES],
        "revline.attribution.eligibility.scoped_touches": [scoped_touches],
        "revline.attribution.eligibility.conversions":
            [lambda be, m=m, s=s: conversions(be, m, scope=s) for m in ("won", "lead") for s in SCOPES],
        "revline.attribution.eligibility.eligible_touches": [lambda be: eligible_touches(be, conv, keys)],
        "revline.attribution.runner.attribute":
            [lambda be, m=m, s=s: attribute(be, "linear", m, scope=s) for m in ("won", "lead") for s in SCOPES],
        "revline.journeys.milestones.milestones_expr": [lambda be: milestones_expr(_RecordingTables(be))],
        "revline.attribution.paths.paths_expr":
            [lambda be, m=m, s=s: paths_expr(be, Target(m, scope=s)) for m in ("won", "lead") for s in SCOPES],  # type: ignore[arg-type]
    }


def test_every_portable_transform_reads_what_it_declares(reference):
    calls = _calls(reference)
    assert set(calls) == set(PORTABLE), "a new portable transform needs its calls here"
    for name, fns in calls.items():
        seen: set[str] = set()
        for fn in fns:
            rec = _Recording(reference)
            fn(rec)
            seen |= rec.names
        assert seen == tables_read(PORTABLE[name]), name
