"""Rows that name their account only by name ("Account Name", no "Account ID") get its id.

Why: report exports show the account's name, not its id, unless the analyst added the ID
column; without an id the opportunity would float free of its account and every account-based
journey would miss it. Matching is deterministic and reported, never fuzzy:
1. the exact name of one loaded account;
2. else the normalised name (case, punctuation and legal suffixes such as Inc, LLC, GmbH, Ltd
   ignored) of one loaded account;
3. else a new account with a deterministic id ('name:' + md5 of the normalised name), so the
   same name in a later export lands on the same account.
A name that matches several accounts at one step is left without an account and reported.
"""

from __future__ import annotations

from revline.ingest.context import Ctx
from revline.ingest.readers import _new_name
from revline.ingest.sqlfrag import lit
from revline.ingest.upsert import insert_new
from revline.store.rows import scalar

LEGAL_SUFFIXES = (
    "inc", "incorporated", "llc", "l l c", "ltd", "limited", "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv",
    "plc", "corp", "corporation", "co", "company", "srl", "spa", "oy", "ab", "as", "pty", "kg", "lp", "llp",
    "pte", "se", "kk",
)


def normalised_name(expr: str) -> str:
    """SQL: lowercase letters and digits, words separated by one space, legal suffixes dropped."""
    words = f"trim(regexp_replace(lower({expr}), '[^\\pL\\pN]+', ' ', 'g'))"
    suffixes = "|".join(s.replace(" ", "\\s") for s in LEGAL_SUFFIXES)
    # legal forms stand at the end ("Acme GmbH & Co. KG"): drop the trailing run of them
    return f"nullif(trim(regexp_replace(' ' || {words}, '(\\s({suffixes}))+$', '')), '')"


def resolve_account_names(ctx: Ctx, table: str, source_system: str) -> None:
    """Fill `account_id` of the rows of `table` that have only `account_name` (see module doc)."""
    con = ctx.con
    names = _new_name("acctnames")
    con.execute(
        f"CREATE TEMP TABLE {names} AS SELECT DISTINCT account_name AS name, {normalised_name('account_name')} AS norm "  # noqa: S608 - temp names from _new_name, this module's expressions, source through lit
        f"FROM {table} WHERE account_id IS NULL AND account_name IS NOT NULL"
    )
    if not scalar(con, f"SELECT count(*) FROM {names}"):  # noqa: S608 - temp names from _new_name, this module's expressions, source through lit
        con.execute(f"DROP TABLE {names}")
        return
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {names}_m AS "  # noqa: S608 - temp names from _new_name, this module's expressions, source through lit
        f"WITH exact AS (SELECT n.name, min(a.account_id) AS id, count(*) AS k FROM {names} n "
        f"  JOIN accounts a ON a.name = n.name GROUP BY n.name), "
        f"normed AS (SELECT n.name, min(a.account_id) AS id, count(*) AS k FROM {names} n "
        f"  JOIN accounts a ON {normalised_name('a.name')} = n.norm "
        f"  WHERE n.name NOT IN (SELECT name FROM exact) GROUP BY n.name) "
        f"SELECT n.name, n.norm, CASE WHEN e.k = 1 THEN e.id WHEN e.k IS NULL AND m.k = 1 THEN m.id "
        f"  WHEN e.k IS NULL AND m.k IS NULL AND n.norm IS NOT NULL THEN 'name:' || left(md5(n.norm), 16) END AS id, "
        f"CASE WHEN e.k = 1 THEN 'exact' WHEN e.k > 1 THEN 'ambiguous' WHEN m.k = 1 THEN 'normalised' "
        f"  WHEN m.k > 1 THEN 'ambiguous' WHEN n.norm IS NULL THEN 'ambiguous' ELSE 'created' END AS how "
        f"FROM {names} n LEFT JOIN exact e USING (name) LEFT JOIN normed m USING (name)"
    )
    created = insert_new(
        con, "accounts",
        f"SELECT id AS account_id, min(name) AS name, {lit(source_system)} AS source_system, min(name) AS _ord "  # noqa: S608 - temp names from _new_name, this module's expressions, source through lit
        f"FROM {names}_m WHERE how = 'created' GROUP BY id", ["account_id"], batch_unique=True,
    )
    con.execute(f"UPDATE {table} t SET account_id = m.id FROM {names}_m m WHERE t.account_id IS NULL "  # noqa: S608 - temp names from _new_name, this module's expressions, source through lit
                f"AND t.account_name = m.name AND m.id IS NOT NULL")
    counts = dict(con.execute(f"SELECT how, count(*) FROM {names}_m GROUP BY how").fetchall())  # noqa: S608 - temp names from _new_name, this module's expressions, source through lit
    for how, n in counts.items():
        ctx.report.account_names[how] += n
    ambiguous = [r[0] for r in con.execute(f"SELECT name FROM {names}_m WHERE how = 'ambiguous' ORDER BY name LIMIT 5").fetchall()]  # noqa: S608 - temp names from _new_name, this module's expressions, source through lit
    ctx.report.notes.append(
        f"{ctx.path}: accounts by name: {counts.get('exact', 0)} matched exactly, {counts.get('normalised', 0)} "
        f"by normalised name, {created} created"
        + (f", {counts['ambiguous']} matching several accounts left without one (e.g. {ambiguous})" if counts.get("ambiguous") else "")
    )
    con.execute(f"DROP TABLE {names}; DROP TABLE {names}_m")
