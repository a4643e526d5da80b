"""The SQLite tables of the key-value space and the record-key log, and the SQL that reads and writes them.

Layout (beside the collections' tables; :mod:`sqlitevec_store.stores`):

``sqlitevec_store_app_tables``
    What app-state layout the file holds: one row ``('app_state', version,
    created_at)``. A version above :data:`APP_SCHEMA_VERSION` is refused
    (written by a newer sqlitevec-store); a lower one is migrated by
    :data:`APP_MIGRATIONS` when written to.
``sqlitevec_store_kv``
    ``(namespace, key)`` primary key (``WITHOUT ROWID``: the entries are
    stored in key order), ``value`` (a BLOB: raw bytes, or UTF-8 JSON text
    when ``is_json`` is 1) and ``updated_at`` (seconds since the epoch).
``sqlitevec_store_record_keys``
    LangChain's record manager: ``(namespace, key)`` primary key,
    ``group_id`` (the source document, or NULL) and ``updated_at``; indexes
    on ``(namespace, updated_at)`` and ``(namespace, group_id)``.
``sqlitevec_store_record_clock``
    ``(namespace, last)``: the largest time the namespace's clock gave, so it
    never goes backwards.

Every value is bound; lists of keys travel as one JSON array
(``IN (SELECT value FROM json_each(?))``), so a call with 100,000 keys is
one statement with two parameters.
"""

from __future__ import annotations

from collections.abc import Callable

from .ddl import quote_identifier

__all__ = [
    "APP_MIGRATIONS",
    "APP_SCHEMA_VERSION",
    "APP_STATE_ROW",
    "APP_TABLES_TABLE",
    "CLOCK_STEP",
    "CLOCK_TABLE",
    "KV_TABLE",
    "OWNED_NAMES",
    "RECORD_KEYS_TABLE",
    "app_set_version_sql",
    "app_version_sql",
    "create_app_tables_sql",
    "create_sql",
    "kv_count_sql",
    "kv_delete_sql",
    "kv_get_sql",
    "kv_namespaces_sql",
    "kv_page_sql",
    "kv_put_sql",
    "object_exists_sql",
    "range_sql",
    "rk_clock_read_sql",
    "rk_clock_write_sql",
    "rk_delete_sql",
    "rk_exists_sql",
    "rk_get_sql",
    "rk_list_sql",
    "rk_namespaces_sql",
    "rk_page_sql",
    "rk_raise_clock_sql",
    "rk_update_sql",
]

#: Version of the app-state layout above (its own numbering, apart from a collection's ``SCHEMA_VERSION``).
APP_SCHEMA_VERSION = 1

APP_TABLES_TABLE = "sqlitevec_store_app_tables"
KV_TABLE = "sqlitevec_store_kv"
RECORD_KEYS_TABLE = "sqlitevec_store_record_keys"
CLOCK_TABLE = "sqlitevec_store_record_clock"

#: The record-key clock moves at least this far per reading (seconds), so two readings never tie: keys
#: stamped before a reading are always strictly older than it, even when the wall clock stands still
#: or goes back.
CLOCK_STEP = 1e-6

#: The row of :data:`APP_TABLES_TABLE` naming this layout.
APP_STATE_ROW = "app_state"

#: Every name in ``sqlite_master`` the app state owns (a file holding one of them without
#: :data:`APP_TABLES_TABLE`'s row has someone else's table there: never adopted).
OWNED_NAMES = (
    KV_TABLE,
    RECORD_KEYS_TABLE,
    f"{RECORD_KEYS_TABLE}_updated",
    f"{RECORD_KEYS_TABLE}_group",
    CLOCK_TABLE,
)

_APP = quote_identifier(APP_TABLES_TABLE)
_KV = quote_identifier(KV_TABLE)
_RK = quote_identifier(RECORD_KEYS_TABLE)
_CLOCK = quote_identifier(CLOCK_TABLE)

#: ``APP_MIGRATIONS[v]``: the statements that bring the app state from version ``v`` to ``v + 1`` (none yet).
APP_MIGRATIONS: dict[int, Callable[[], list[str]]] = {}


def create_app_tables_sql() -> str:
    """The table recording the app-state layout's version."""
    return (
        f"CREATE TABLE IF NOT EXISTS {_APP} (\n"
        "  name TEXT PRIMARY KEY,\n"
        "  schema_version INTEGER NOT NULL,\n"
        "  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
        ")"
    )


def app_version_sql() -> str:
    """The recorded app-state version (parameter: the row name)."""
    return f"SELECT schema_version FROM {_APP} WHERE name = ?"


def app_set_version_sql() -> str:
    """Record a new app-state version (parameters: version, row name)."""
    return f"UPDATE {_APP} SET schema_version = ? WHERE name = ?"


def object_exists_sql() -> str:
    """Is a name taken in ``sqlite_master``? (parameter: the name)."""
    return "SELECT 1 FROM sqlite_master WHERE name = ?"


def create_sql() -> list[str]:
    """The app-state tables (no ``IF NOT EXISTS``: a table of that name that is not ours makes it fail)."""
    return [
        f"CREATE TABLE {_KV} (\n"
        "  namespace TEXT NOT NULL,\n"
        "  key TEXT NOT NULL,\n"
        "  value BLOB NOT NULL,\n"
        "  is_json INTEGER NOT NULL CHECK (is_json IN (0, 1)),\n"
        "  updated_at REAL NOT NULL,\n"
        "  PRIMARY KEY (namespace, key)\n"
        ") WITHOUT ROWID",
        f"CREATE TABLE {_RK} (\n"
        "  namespace TEXT NOT NULL,\n"
        "  key TEXT NOT NULL,\n"
        "  group_id TEXT,\n"
        "  updated_at REAL NOT NULL,\n"
        "  PRIMARY KEY (namespace, key)\n"
        ") WITHOUT ROWID",
        f"CREATE INDEX {quote_identifier(OWNED_NAMES[2])} ON {_RK} (namespace, updated_at)",
        f"CREATE INDEX {quote_identifier(OWNED_NAMES[3])} ON {_RK} (namespace, group_id)",
        f"CREATE TABLE {_CLOCK} (namespace TEXT PRIMARY KEY, last REAL NOT NULL) WITHOUT ROWID",
        f"INSERT INTO {_APP} (name, schema_version) VALUES ('{APP_STATE_ROW}', {APP_SCHEMA_VERSION})",
    ]


def range_sql(prefix_end: str | None, after: str | None) -> str:
    """The key condition of a prefix scan: ``key >= :prefix`` and, when given, ``< :end`` and ``> :after``."""
    sql = "key >= :prefix"
    if prefix_end is not None:
        sql += " AND key < :end"
    if after is not None:
        sql += " AND key > :after"
    return sql


def kv_put_sql() -> str:
    """Upsert one entry (parameters: namespace, key, value, is_json, updated_at)."""
    return (
        f"INSERT INTO {_KV} (namespace, key, value, is_json, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (namespace, key) DO UPDATE SET "
        "value = excluded.value, is_json = excluded.is_json, updated_at = excluded.updated_at"
    )


def kv_get_sql() -> str:
    """The entries among a JSON array of keys (parameters: namespace, keys)."""
    return f"SELECT key, value, is_json FROM {_KV} WHERE namespace = ? AND key IN (SELECT value FROM json_each(?))"


def kv_delete_sql() -> str:
    """Delete a JSON array of keys (parameters: namespace, keys)."""
    return f"DELETE FROM {_KV} WHERE namespace = ? AND key IN (SELECT value FROM json_each(?))"


def kv_page_sql(condition: str, *, values: bool) -> str:
    """Keys (and values) in a range, in key order (parameters: ``:namespace``, the range's, ``:limit``)."""
    columns = "key, value, is_json" if values else "key"
    return f"SELECT {columns} FROM {_KV} WHERE namespace = :namespace AND {condition} ORDER BY key LIMIT :limit"


def kv_count_sql(condition: str, *, delete: bool = False) -> str:
    """Count (or delete) the keys in a range (parameters: ``:namespace`` and the range's)."""
    verb = "DELETE" if delete else "SELECT count(*)"
    return f"{verb} FROM {_KV} WHERE namespace = :namespace AND {condition}"


def kv_namespaces_sql() -> str:
    """Every namespace of the key-value space: name, entries, value bytes."""
    return f"SELECT namespace, count(*), sum(length(value)) FROM {_KV} GROUP BY namespace ORDER BY namespace"


def rk_clock_read_sql() -> str:
    """The namespace's last clock value (parameter: namespace)."""
    return f"SELECT last FROM {_CLOCK} WHERE namespace = ?"


def rk_clock_write_sql() -> str:
    """Raise the namespace's clock to a time, never lower it (parameters: namespace, time)."""
    return (
        f"INSERT INTO {_CLOCK} (namespace, last) VALUES (?, ?) "
        "ON CONFLICT (namespace) DO UPDATE SET last = max(last, excluded.last)"
    )


def rk_update_sql() -> str:
    """Stamp one key (parameters: namespace, key, group_id, updated_at)."""
    return (
        f"INSERT INTO {_RK} (namespace, key, group_id, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (namespace, key) DO UPDATE SET group_id = excluded.group_id, updated_at = excluded.updated_at"
    )


def rk_exists_sql() -> str:
    """The recorded keys among a JSON array (parameters: namespace, keys)."""
    return f"SELECT key FROM {_RK} WHERE namespace = ? AND key IN (SELECT value FROM json_each(?))"


def rk_delete_sql() -> str:
    """Forget a JSON array of keys (parameters: namespace, keys)."""
    return f"DELETE FROM {_RK} WHERE namespace = ? AND key IN (SELECT value FROM json_each(?))"


def rk_list_sql(*, before: bool, after: bool, groups: bool, limit: bool) -> str:
    """Recorded keys by time range and groups, in key order.

    Parameters: ``:namespace`` and, as asked, ``:before``, ``:after``,
    ``:groups`` (a JSON array), ``:limit``.
    """
    sql = f"SELECT key FROM {_RK} WHERE namespace = :namespace"
    if before:
        sql += " AND updated_at < :before"
    if after:
        sql += " AND updated_at > :after"
    if groups:
        sql += " AND group_id IN (SELECT value FROM json_each(:groups))"
    sql += " ORDER BY key"
    if limit:
        sql += " LIMIT :limit"
    return sql


def rk_page_sql(*, first: bool) -> str:
    """Recorded keys as stored, in key order: from the first (``""`` and up) or above one.

    Parameters: namespace, the key to start after (``""`` for the first page), limit.
    """
    above = ">=" if first else ">"
    return f"SELECT key, group_id, updated_at FROM {_RK} WHERE namespace = ? AND key {above} ? ORDER BY key LIMIT ?"


def rk_get_sql() -> str:
    """The stored rows among a JSON array of keys (parameters: namespace, keys)."""
    return (
        f"SELECT key, group_id, updated_at FROM {_RK} WHERE namespace = ? AND key IN (SELECT value FROM json_each(?))"
    )


def rk_raise_clock_sql() -> str:
    """Raise the clock to a time if it is below (parameters: namespace, time)."""
    return (
        f"INSERT INTO {_CLOCK} (namespace, last) VALUES (?, ?) "
        "ON CONFLICT (namespace) DO UPDATE SET last = max(last, excluded.last)"
    )


def rk_namespaces_sql() -> str:
    """Every namespace of the record-key log: name, keys, 0."""
    return f"SELECT namespace, count(*), 0 FROM {_RK} GROUP BY namespace ORDER BY namespace"
