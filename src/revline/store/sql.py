"""The one place a value or a name is quoted into SQL text.

Why here, at the bottom layer: every package builds some SQL (the store's settings, ingest's
generated expressions, identity's CASE lists), and a value that reaches DuckDB outside a bound
parameter must go through exactly one quoting rule, not a copy per package. Prefer `?`
parameters wherever DuckDB accepts them (table functions such as `read_csv(?)` do); these are
for the places it does not (DDL, generated CASE expressions, SET).
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ident(name: str) -> str:
    """A quoted identifier: headers from user files may hold spaces, dots, quotes or semicolons;
    double quotes inside are doubled, so the name can never end the identifier early."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(value: object) -> str:
    """A quoted string literal (single quotes doubled; DuckDB gives backslashes no meaning in
    '...' literals; a NUL byte becomes chr(0)). Booleans become true/false, as SET expects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if "\x00" in text:  # DuckDB's parser ends a literal at a NUL byte: spell it chr(0)
        return "(" + " || chr(0) || ".join(lit(part) for part in text.split("\x00")) + ")"
    return "'" + text.replace("'", "''") + "'"


def setting_name(name: str) -> str:
    """A DuckDB setting name, checked (SET takes no parameter or quoted name for it)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a setting name: {name!r}")
    return name
