"""SQL text rules of the codebase (issue #20 D3): one quoting module, and one-row queries that
say so when they return no row."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

import revline
from revline.store.rows import one_row, scalar
from revline.store.sql import ident, lit

SRC = Path(revline.__file__).parent
# a copy of the quoting rule: doubling a quote character inside a str.replace
_QUOTING_COPY = re.compile(r"""\.replace\(\s*(['"])(['"])\1\s*,\s*(['"])\2\2\3\s*\)""")


def test_quotes_are_doubled_only_in_store_sql():
    copies = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "store" / "sql.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _QUOTING_COPY.search(line)
    ]
    assert copies == [], f"quote through revline.store.sql (ident, lit), not a copy: {copies}"


def test_the_pattern_finds_both_quoting_copies():
    assert _QUOTING_COPY.search("""s.replace("'", "''")""")
    assert _QUOTING_COPY.search("""s.replace('"', '""')""")
    assert not _QUOTING_COPY.search("""s.replace("'", "")""")


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_lit_round_trips_any_text(text):
    assert duckdb.connect().execute(f"SELECT {lit(text)}").fetchone()[0] == text


@given(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1))
def test_ident_round_trips_any_name(name):
    # (a NUL byte cannot be part of a DuckDB identifier at all; a lone surrogate is not UTF-8)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({ident(name)} INTEGER)")
    assert [r[0] for r in con.execute("DESCRIBE t").fetchall()] == [name]


def test_one_row_and_scalar_bind_parameters():
    con = duckdb.connect()
    assert one_row(con, "SELECT ?, ? + 1", [1, 1]) == (1, 2)
    assert scalar(con, "SELECT count(*) FROM range(?)", [5]) == 5


def test_one_row_names_the_query_that_returned_none():
    con = duckdb.connect()
    with pytest.raises(RuntimeError, match="SELECT 1 WHERE false"):
        one_row(con, "SELECT 1\n   WHERE false")
