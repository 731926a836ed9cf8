"""The one-roof warehouse: schema, connection and migrations."""

from revline.store.connection import connect, ibis_backend, resolve_db_path
from revline.store.errors import StoreError
from revline.store.migrations import current_version, migrate
from revline.store.schema import CANONICAL_TABLES, SCHEMA_VERSION
from revline.store.transaction import atomic, transaction

__all__ = [
    "CANONICAL_TABLES",
    "SCHEMA_VERSION",
    "StoreError",
    "atomic",
    "connect",
    "current_version",
    "ibis_backend",
    "migrate",
    "resolve_db_path",
    "transaction",
]
