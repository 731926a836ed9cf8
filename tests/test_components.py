"""Label propagation (identity.components) finds the components scipy finds on DuckDB and on local PySpark.

The Ibis rounds must give every node the smallest code of its component, exactly what
`graph.representatives` (scipy, the default stitcher) gives: on random graphs (hypothesis), on
adversarial shapes (a long chain coded backwards, a star), and on the demo tiny company's real
identity graph; and a whole stitch with `components="propagation"` must write the same store.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.identity.components import representatives_expr
from revline.identity.graph import representatives
from revline.identity.stitch import CODED_EDGES, coded_graph, stitch
from revline.store.sqlsteps import DuckSteps
from revline.ingest import load_files
from revline.store import connect, ibis_backend

_names = itertools.count()


class Graphs:
    """Puts a graph (nodes 0..n-1, edge arrays) into one backend as two tables."""

    def __init__(self, kind: str, request: Any) -> None:
        self.kind = kind
        if kind == "duckdb":
            self.con = duckdb.connect()
            self.be = ibis_backend(self.con)
        else:
            import ibis

            self.spark = request.getfixturevalue("spark_session")
            self.be = ibis.pyspark.connect(self.spark)

    def tables(self, n: int, left: np.ndarray, right: np.ndarray) -> tuple[Any, Any]:
        i = next(_names)
        frames = {f"nodes_{i}": pd.DataFrame({"code": np.arange(n, dtype=np.int64)}),
                  f"edges_{i}": pd.DataFrame({"l": np.asarray(left, dtype=np.int64), "r": np.asarray(right, dtype=np.int64)})}
        for name, df in frames.items():
            if self.kind == "duckdb":
                self.con.register(name, df)
            else:
                ddl = ", ".join(f"`{c}` BIGINT" for c in df.columns)
                self.spark.createDataFrame(df.astype(object), schema=ddl).createOrReplaceTempView(name)
        return self.be.table(f"nodes_{i}"), self.be.table(f"edges_{i}")

    def solve(self, n: int, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, int]:
        found = representatives_expr(*self.tables(n, left, right))
        try:
            df = found.labels.to_pandas().sort_values("code")
        finally:
            found.release()
        assert df["code"].tolist() == list(range(n)), "every node once"
        return df["label"].to_numpy(dtype=np.int64), found.rounds


# PySpark: the three graph tests take ~70 s together on local[2] (each round is a few Spark jobs).
@pytest.fixture(scope="module", params=["duckdb", pytest.param("pyspark", marks=pytest.mark.spark)])
def graphs(request) -> Graphs:
    return Graphs(request.param, request)


@st.composite
def graph(draw: Any) -> tuple[int, np.ndarray, np.ndarray]:
    n = draw(st.integers(0, 40))
    if n == 0:
        return 0, np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))
    return n, np.array([a for a, _ in pairs], np.int64), np.array([b for _, b in pairs], np.int64)


def test_random_graphs_equal_scipy(graphs):
    examples = 30 if graphs.kind == "duckdb" else 2  # Spark runs a few jobs per round: keep it small

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(graph())
    def check(g: tuple[int, np.ndarray, np.ndarray]) -> None:
        n, left, right = g
        labels, _ = graphs.solve(n, left, right)
        np.testing.assert_array_equal(labels, representatives(n, left, right))

    check()


def test_long_chains_and_stars_settle_in_few_rounds(graphs):
    n = 2000 if graphs.kind == "duckdb" else 64  # Spark: ~10 s a round on this machine
    backwards = np.arange(n - 1)[::-1].copy()  # the smallest code at the far end of a chain
    shuffled = np.random.default_rng(3).permutation(n)
    for left, right in [(backwards, backwards + 1), (shuffled[:-1], shuffled[1:]),
                        (np.full(n - 1, n - 1), np.arange(n - 1))]:
        labels, rounds = graphs.solve(n, left, right)
        np.testing.assert_array_equal(labels, representatives(n, left, right))
        assert labels.max() == 0 and rounds <= 25, rounds  # a path of n nodes in O(log n) rounds, not n


@pytest.fixture(scope="module")
def ingested(simulated_company, tmp_path_factory):
    """The demo tiny company's files loaded into a store, not yet stitched."""
    files = simulated_company(config="default", size="tiny", seed=11)[1]
    db = tmp_path_factory.mktemp("components") / "ingested.duckdb"
    con = connect(db)
    load_files(con, [files])
    con.close()
    return db


def test_demo_identity_graph_equal_scipy(graphs, ingested, tmp_path):
    db = tmp_path / "graph.duckdb"
    shutil.copy(ingested, db)
    con = connect(db)
    try:
        n, _ = coded_graph(DuckSteps(con), "scipy")
        edges = con.execute(CODED_EDGES).df()
    finally:
        con.close()
    assert n > 1000 and len(edges) > 1000
    labels, _ = graphs.solve(n, edges["l"].to_numpy(), edges["r"].to_numpy())
    expected = representatives(n, edges["l"].to_numpy(), edges["r"].to_numpy())
    np.testing.assert_array_equal(labels, expected)
    assert len(np.unique(expected)) < n, "the demo graph merges identities"


def test_stitch_by_propagation_writes_the_same_store(ingested, tmp_path):
    reports, dbs = {}, {}
    for method in ("scipy", "propagation"):
        dbs[method] = tmp_path / f"{method}.duckdb"
        shutil.copy(ingested, dbs[method])
        con = connect(dbs[method])
        try:
            reports[method] = replace(stitch(con, components=method), seconds=0.0)
        finally:
            con.close()
    assert reports["scipy"] == reports["propagation"]
    assert reports["scipy"].persons > 100
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{dbs['scipy']}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{dbs['propagation']}' AS b (READ_ONLY)")
        for t in ("identities", "people", "touchpoints", "opportunity_contacts", "stage_events", "identity_links"):
            diff = con.execute(f"SELECT (SELECT count(*) FROM (FROM a.{t} EXCEPT ALL FROM b.{t})) + "
                               f"(SELECT count(*) FROM (FROM b.{t} EXCEPT ALL FROM a.{t}))").fetchone()
            assert diff == (0,), t
    finally:
        con.close()


def test_unknown_method_is_refused(ingested, tmp_path):
    db = tmp_path / "s.duckdb"
    shutil.copy(ingested, db)
    con = connect(db)
    try:
        with pytest.raises(ValueError, match="one of scipy, propagation"):
            stitch(con, components="graphx")
        assert con.execute("SELECT count(*) FROM identities").fetchone() == (0,)
    finally:
        con.close()
