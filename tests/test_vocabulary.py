"""The shared vocabulary: one definition, and the API's enums agree with it."""

from __future__ import annotations

import ast
import pathlib
from typing import get_args

import revline
from revline import vocabulary
from revline.api.responses import Milestone, RevenueType

SRC = pathlib.Path(revline.__file__).parent


def test_the_api_enums_are_the_vocabulary():
    assert get_args(RevenueType) == vocabulary.REVENUE_TYPES
    assert get_args(Milestone) == vocabulary.MILESTONES


def test_no_module_declares_its_own_copy():
    """REVENUE_TYPES, MILESTONES, USD_RATES, UNATTRIBUTED and DbOption are assigned a value once
    each (re-binding an imported name is allowed)."""
    names = {"REVENUE_TYPES", "MILESTONES", "LEAD_MILESTONES", "USD_RATES", "UNATTRIBUTED", "DbOption"}
    seen: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            value = getattr(node, "value", None)
            for t in targets:
                if isinstance(t, ast.Name) and t.id in names and not isinstance(value, ast.Name):
                    seen.setdefault(t.id, []).append(str(path.relative_to(SRC)))
    assert {k: len(v) for k, v in seen.items()} == dict.fromkeys(names, 1), seen


def test_usd_sql_uses_the_rates():
    import duckdb

    got = duckdb.sql(f"SELECT {vocabulary.usd_sql('a', 'c')} FROM (VALUES (100.0, 'eur'), (NULL, 'JPY'), (5.0, NULL)) t(a, c)")
    assert [r[0] for r in got.fetchall()] == [100.0 * vocabulary.USD_RATES["EUR"], 0.0, 5.0]


def test_region_of_is_region_sql():
    """The Python and the SQL region of a country agree, on known names, codes, case, blanks and
    countries the table does not know (spaces only: DuckDB's trim and str.strip differ on tabs)."""
    import duckdb
    from hypothesis import given, settings
    from hypothesis import strategies as st

    known = list(vocabulary.REGION_OF_COUNTRY)
    values = st.one_of(st.none(), st.sampled_from(known).map(str.lower), st.sampled_from(known).map(lambda c: f" {c} "),
                       st.text(alphabet="abcxyzUSA ", max_size=8))

    @settings(max_examples=200, deadline=None)
    @given(st.lists(values, min_size=1, max_size=20))
    def check(countries):
        rows = duckdb.execute(f"SELECT {vocabulary.region_sql('c')} FROM (SELECT unnest(?::VARCHAR[]) AS c)",
                              [countries]).fetchall()
        assert [r[0] for r in rows] == [vocabulary.region_of(c) for c in countries]

    check()
    assert vocabulary.region_of("Atlantis") == "other" and vocabulary.region_of("") == "unknown"


def test_region_expr_is_region_sql_on_every_country():
    """The Ibis twin (`region_expr`, the portable segment filter of reports/segments.py) gives the
    region `region_sql` and `region_of` give, on every country of the table as written, in lower
    case and padded with spaces, and on blanks, NULL and countries the table does not know; every
    region (and 'other', 'unknown') is reached."""
    import duckdb
    import ibis

    known = list(vocabulary.REGION_OF_COUNTRY)
    countries = [*known, *(c.lower() for c in known), *(f"  {c.title()} " for c in known),
                 None, "", "   ", "Atlantis", "U S", "usa2"]
    con = duckdb.connect()
    con.execute("CREATE TABLE accounts AS SELECT unnest(?::VARCHAR[]) AS country, "
                "generate_subscripts(?::VARCHAR[], 1) AS i", [countries, countries])
    by_sql = [r[0] for r in con.execute(f"SELECT {vocabulary.region_sql('country')} FROM accounts ORDER BY i").fetchall()]
    be = ibis.duckdb.from_connection(con)
    t = be.table("accounts")
    by_ibis = t.select(t.i, region=vocabulary.region_expr(t.country)).order_by("i").execute()["region"].tolist()
    assert by_ibis == by_sql == [vocabulary.region_of(c) for c in countries]
    assert set(by_sql) == {*vocabulary.REGIONS, "other", "unknown"}


def test_no_module_keeps_its_own_region_table():
    """A country -> region mapping lives only in revline.vocabulary (retention once kept its own and
    called every unmapped country EMEA while the reports said 'other')."""
    regions = set(vocabulary.REGIONS)
    found = []
    for path in SRC.rglob("*.py"):
        if path.name == "vocabulary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            values = node.values if isinstance(node, ast.Dict) else [node.value] if isinstance(node, ast.DictComp) else []
            if any(isinstance(v, ast.Constant) and v.value in regions for v in values):
                found.append(str(path.relative_to(SRC)))
    assert found == []
