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
