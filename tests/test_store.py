"""Schema creation and migration of the one-roof store."""

from __future__ import annotations

import duckdb
import pytest

from revline.store import CANONICAL_TABLES, SCHEMA_VERSION, connect, current_version, migrate
from revline.store import schema as schema_mod
from revline.store.migrations import SchemaTooNewError


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_init_creates_every_canonical_table(tmp_path):
    con = connect(tmp_path / "s.duckdb")
    assert set(CANONICAL_TABLES) <= _tables(con)
    assert current_version(con) == SCHEMA_VERSION
    cols = {r[0] for r in con.execute("DESCRIBE credit_ledger").fetchall()}
    assert {"model", "conversion_id", "touchpoint_id", "milestone", "credit", "revenue_credit",
            "revenue_type", "channel", "campaign_id", "run_id"} <= cols


def test_ledger_table_is_the_ledger_contract(tmp_path):
    """The table the migrations build has exactly the columns and types declared once in
    revline.attribution.ledger.COLUMNS (migrations are frozen history, so they are checked, not derived)."""
    from revline.attribution.ledger import COLUMNS

    con = connect(tmp_path / "s.duckdb")
    got = [(name, ty) for name, ty, *_ in con.execute("DESCRIBE credit_ledger").fetchall()]
    assert got == [(c.name, c.sql) for c in COLUMNS]


def test_v8_renames_the_ledger_key_and_keeps_the_rows():
    con = duckdb.connect(":memory:")
    migrate(con, target=7)
    con.execute("INSERT INTO credit_ledger (model, opportunity_id, touchpoint_id, milestone, credit, revenue_credit, "
                "channel, run_id) VALUES ('m', 'P1', 't1', 'lead', 1.0, 0.0, 'email', 'r1')")
    assert migrate(con) == list(range(8, SCHEMA_VERSION + 1))
    assert con.execute("SELECT conversion_id, conversion_type, credit FROM credit_ledger").fetchall() == [
        ("P1", "opportunity", 1.0)]


def test_new_store_uses_the_pinned_duckdb_format_and_an_old_one_keeps_its_own(tmp_path):
    from revline.store.connection import STORAGE_VERSION

    # the format follows the pinned DuckDB: bumping the pin means choosing the format again
    assert STORAGE_VERSION == "v{}.{}.0".format(*duckdb.__version__.split(".")[:2])
    con = connect(tmp_path / "new.duckdb")
    assert schema_mod.storage_version(con).startswith(STORAGE_VERSION)
    # nothing set on the returned connection: plain duckdb can open the same file beside it
    other = duckdb.connect(str(tmp_path / "new.duckdb"))
    assert other.execute("SELECT count(*) FROM events").fetchone() == (0,)
    other.close()
    con.close()
    duckdb.connect(str(tmp_path / "old.duckdb")).close()  # DuckDB's default, 1.0-compatible format
    con = connect(tmp_path / "old.duckdb")
    assert schema_mod.storage_version(con).startswith("v1.0.0")
    assert current_version(con) == SCHEMA_VERSION


def test_reopen_is_idempotent_and_keeps_rows(tmp_path):
    path = tmp_path / "s.duckdb"
    con = connect(path)
    con.execute("INSERT INTO accounts (account_id, name) VALUES ('a1', 'Acme')")
    con.close()
    con = connect(path)
    assert con.execute("SELECT name FROM accounts").fetchall() == [("Acme",)]
    assert migrate(con) == []


def test_migration_from_older_version_keeps_data(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    con = connect(path)
    con.execute("INSERT INTO accounts (account_id, name) VALUES ('a1', 'Acme')")
    con.close()
    # A later release appends a migration; the old file must move forward without loss.
    v2 = (SCHEMA_VERSION + 1, ["ALTER TABLE accounts ADD COLUMN segment VARCHAR",
                               "UPDATE accounts SET segment = 'smb'"])
    monkeypatch.setattr(schema_mod, "MIGRATIONS", [*schema_mod.MIGRATIONS, v2])
    import revline.store.migrations as mig
    monkeypatch.setattr(mig, "MIGRATIONS", schema_mod.MIGRATIONS)
    con = duckdb.connect(str(path))
    assert mig.migrate(con) == [v2[0]]
    assert con.execute("SELECT account_id, segment FROM accounts").fetchall() == [("a1", "smb")]
    assert mig.current_version(con) == v2[0]


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    connect(path).close()
    import revline.store.migrations as mig
    bad = (SCHEMA_VERSION + 1, ["CREATE TABLE half_done (x INT)", "THIS IS NOT SQL"])
    monkeypatch.setattr(mig, "MIGRATIONS", [*schema_mod.MIGRATIONS, bad])
    con = duckdb.connect(str(path))
    with pytest.raises(duckdb.Error):
        mig.migrate(con)
    assert "half_done" not in _tables(con)
    assert mig.current_version(con) == SCHEMA_VERSION


def test_newer_file_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    con = connect(path)
    con.execute("UPDATE schema_meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaTooNewError):
        connect(path)


def test_env_and_flag_resolution(tmp_path, monkeypatch):
    from revline.store import resolve_db_path
    monkeypatch.setenv("REVLINE_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path(None) == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "flag.duckdb") == tmp_path / "flag.duckdb"
    monkeypatch.delenv("REVLINE_DB")
    assert str(resolve_db_path(None)) == "revline.duckdb"


def test_transaction_commits_or_rolls_back_everything():
    from revline.store import transaction

    con = connect(":memory:")
    con.execute("CREATE TABLE t (x INT)")
    with transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(KeyboardInterrupt):
        with transaction(con):
            con.execute("INSERT INTO t VALUES (2)")
            raise KeyboardInterrupt
    assert con.execute("SELECT list(x) FROM t").fetchone()[0] == [1]


def test_setting_is_put_back_even_when_the_block_fails():
    from revline.store.settings import setting

    con = connect(":memory:")
    con.execute("SET TimeZone = 'Europe/Berlin'")
    with pytest.raises(RuntimeError):
        with setting(con, "TimeZone", "UTC"), setting(con, "preserve_insertion_order", False):
            assert con.execute("SELECT current_setting('TimeZone'), current_setting('preserve_insertion_order')"
                               ).fetchone() == ("UTC", False)
            raise RuntimeError
    assert con.execute("SELECT current_setting('TimeZone'), current_setting('preserve_insertion_order')"
                       ).fetchone() == ("Europe/Berlin", True)
