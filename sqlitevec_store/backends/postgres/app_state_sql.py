"""The Postgres tables of the key-value space and the record-key log, and their SQL.

The same layout as in the file (:mod:`sqlitevec_store.backends.sqlite.app_state_sql`),
in the schema of the collections:

``sqlitevec_store_app_tables``
    ``('app_state', version, created_at)``: the layout's version.
``sqlitevec_store_kv``
    ``(namespace, key)`` primary key, ``value`` (``bytea``: raw bytes, or
    UTF-8 JSON text when ``is_json``), ``updated_at`` (seconds since the epoch).
``sqlitevec_store_record_keys``
    ``(namespace, key)`` primary key, ``group_id``, ``updated_at``; indexes
    on ``(namespace, updated_at)`` and ``(namespace, group_id)``.
``sqlitevec_store_record_clock``
    ``(namespace, last)``: the clock never goes below ``last``.

Namespaces and keys are ``text COLLATE "C"``: byte order of UTF-8, which is
code point order, as SQLite compares them, so a prefix is a key range and
scans come back in the same order from both. Lists travel as arrays (``=
ANY(%s)``, ``unnest``): one statement whatever their length. Times come
from the server's clock, shared by every client of the database.
"""

from __future__ import annotations

from .ddl import quote_identifier

__all__ = [
    "APP_SCHEMA_VERSION",
    "APP_STATE_ROW",
    "APP_TABLES_TABLE",
    "CLOCK_STEP",
    "CLOCK_TABLE",
    "KV_TABLE",
    "OWNED_NAMES",
    "RECORD_KEYS_TABLE",
    "app_tables_sql",
    "app_version_sql",
    "create_sql",
    "kv_count_sql",
    "kv_delete_sql",
    "kv_get_sql",
    "kv_namespaces_sql",
    "kv_page_sql",
    "kv_put_sql",
    "range_sql",
    "rk_clock_read_sql",
    "rk_clock_tick_sql",
    "rk_delete_sql",
    "rk_exists_sql",
    "rk_get_sql",
    "rk_list_sql",
    "rk_clock_last_sql",
    "rk_namespaces_sql",
    "rk_page_sql",
    "rk_put_sql",
    "rk_raise_clock_sql",
    "rk_update_sql",
    "server_time_sql",
    "table_exists_sql",
]

#: Version of this layout (the same numbering as the file's).
APP_SCHEMA_VERSION = 1

APP_TABLES_TABLE = "sqlitevec_store_app_tables"
KV_TABLE = "sqlitevec_store_kv"
RECORD_KEYS_TABLE = "sqlitevec_store_record_keys"
CLOCK_TABLE = "sqlitevec_store_record_clock"
APP_STATE_ROW = "app_state"

#: The clock moves at least this far per reading (as in the file), so two readings never tie.
CLOCK_STEP = 1e-6

#: The relations the app state owns (one of them present without the version row is someone else's).
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
_NOW = "extract(epoch FROM clock_timestamp())::double precision"


def table_exists_sql() -> str:
    """Whether a relation of this name is in the current schema (parameter: the name).

    A scan of ``pg_class`` under the statement's snapshot, not ``to_regclass``: that looks the name up in
    the session's catalog cache, which can still miss a table another session committed while this one
    waited for the registry lock (seen: concurrent first writes refused their own tables as foreign).
    """
    return (
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = %s)"
    )


def app_tables_sql() -> str:
    """The version table (idempotent: made under the registry lock)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {_APP} (name text PRIMARY KEY, schema_version integer NOT NULL, "
        "created_at text NOT NULL)"
    )


def app_version_sql() -> str:
    """The recorded version (parameter: the row name)."""
    return f"SELECT schema_version FROM {_APP} WHERE name = %s"


def create_sql() -> list[str]:
    """The tables (no ``IF NOT EXISTS``: never adopt a relation that is not ours) and the version row."""
    return [
        f'CREATE TABLE {_KV} (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, '
        "value bytea NOT NULL, is_json boolean NOT NULL, updated_at double precision NOT NULL, "
        "PRIMARY KEY (namespace, key))",
        f'CREATE TABLE {_RK} (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, '
        "group_id text, updated_at double precision NOT NULL, PRIMARY KEY (namespace, key))",
        f"CREATE INDEX {quote_identifier(OWNED_NAMES[2])} ON {_RK} (namespace, updated_at)",
        f"CREATE INDEX {quote_identifier(OWNED_NAMES[3])} ON {_RK} (namespace, group_id)",
        f'CREATE TABLE {_CLOCK} (namespace text COLLATE "C" PRIMARY KEY, last double precision NOT NULL)',
        f"INSERT INTO {_APP} (name, schema_version, created_at) VALUES ('{APP_STATE_ROW}', {APP_SCHEMA_VERSION}, "
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))",
    ]


def range_sql(has_end: bool, has_after: bool) -> str:
    """A prefix scan's key condition (parameters ``%(prefix)s`` and, as asked, ``%(end)s``, ``%(after)s``)."""
    sql = "key >= %(prefix)s"
    if has_end:
        sql += " AND key < %(end)s"
    if has_after:
        sql += " AND key > %(after)s"
    return sql


def kv_put_sql() -> str:
    """Upsert entries from parallel arrays (parameters: namespace, keys, values, is_json flags)."""
    return (
        f"INSERT INTO {_KV} (namespace, key, value, is_json, updated_at) "
        f"SELECT %s, k, v, j, {_NOW} FROM unnest(%s::text[], %s::bytea[], %s::boolean[]) AS u(k, v, j) "
        "ON CONFLICT (namespace, key) DO UPDATE SET "
        "value = excluded.value, is_json = excluded.is_json, updated_at = excluded.updated_at"
    )


def kv_get_sql() -> str:
    """The entries among an array of keys (parameters: namespace, keys)."""
    return f"SELECT key, value, is_json FROM {_KV} WHERE namespace = %s AND key = ANY(%s::text[])"


def kv_delete_sql() -> str:
    """Delete an array of keys (parameters: namespace, keys)."""
    return f"DELETE FROM {_KV} WHERE namespace = %s AND key = ANY(%s::text[])"


def kv_page_sql(condition: str, *, values: bool) -> str:
    """Keys (and values) in a range, in key order (parameters ``%(namespace)s``, the range's, ``%(limit)s``)."""
    columns = "key, value, is_json" if values else "key"
    return f"SELECT {columns} FROM {_KV} WHERE namespace = %(namespace)s AND {condition} ORDER BY key LIMIT %(limit)s"


def kv_count_sql(condition: str, *, delete: bool = False) -> str:
    """Count (or delete) the keys in a range."""
    verb = "DELETE" if delete else "SELECT count(*)"
    return f"{verb} FROM {_KV} WHERE namespace = %(namespace)s AND {condition}"


def kv_namespaces_sql() -> str:
    """Every namespace: name, entries, value bytes."""
    return (
        f"SELECT namespace, count(*), coalesce(sum(octet_length(value)), 0) FROM {_KV} "
        "GROUP BY namespace ORDER BY namespace"
    )


def server_time_sql() -> str:
    """The server's clock, in seconds since the epoch."""
    return f"SELECT {_NOW}"


def rk_clock_read_sql() -> str:
    """The clock without moving it (read-only databases; parameter: namespace)."""
    return f"SELECT greatest({_NOW}, coalesce((SELECT last + {CLOCK_STEP!r} FROM {_CLOCK} WHERE namespace = %s), 0))"


def rk_clock_tick_sql() -> str:
    """Move the clock to the server's time, never back, and return it (parameter: namespace)."""
    return (
        f"INSERT INTO {_CLOCK} AS c (namespace, last) VALUES (%s, {_NOW}) "
        f"ON CONFLICT (namespace) DO UPDATE SET last = greatest(c.last + {CLOCK_STEP!r}, excluded.last) RETURNING last"
    )


def rk_update_sql() -> str:
    """Stamp keys from parallel arrays (parameters: namespace, keys, group ids, time)."""
    return (
        f"INSERT INTO {_RK} (namespace, key, group_id, updated_at) "
        "SELECT %s, k, g, %s FROM unnest(%s::text[], %s::text[]) AS u(k, g) "
        "ON CONFLICT (namespace, key) DO UPDATE SET group_id = excluded.group_id, updated_at = excluded.updated_at"
    )


def rk_exists_sql() -> str:
    """The recorded keys among an array (parameters: namespace, keys)."""
    return f"SELECT key FROM {_RK} WHERE namespace = %s AND key = ANY(%s::text[])"


def rk_delete_sql() -> str:
    """Forget an array of keys (parameters: namespace, keys)."""
    return f"DELETE FROM {_RK} WHERE namespace = %s AND key = ANY(%s::text[])"


def rk_list_sql(*, before: bool, after: bool, groups: bool, limit: bool) -> str:
    """Recorded keys by time range and groups, in key order (named parameters as asked)."""
    sql = f"SELECT key FROM {_RK} WHERE namespace = %(namespace)s"
    if before:
        sql += " AND updated_at < %(before)s"
    if after:
        sql += " AND updated_at > %(after)s"
    if groups:
        sql += " AND group_id = ANY(%(groups)s::text[])"
    sql += " ORDER BY key"
    if limit:
        sql += " LIMIT %(limit)s"
    return sql


def rk_page_sql(*, first: bool) -> str:
    """Recorded keys as stored, in key order, from ``""`` (first) or above a key (parameters: namespace, key, limit)."""
    above = ">=" if first else ">"
    return f"SELECT key, group_id, updated_at FROM {_RK} WHERE namespace = %s AND key {above} %s ORDER BY key LIMIT %s"


def rk_get_sql() -> str:
    """The stored rows among an array of keys (parameters: namespace, keys)."""
    return f"SELECT key, group_id, updated_at FROM {_RK} WHERE namespace = %s AND key = ANY(%s::text[])"


def rk_clock_last_sql() -> str:
    """The clock's stored last value (parameter: namespace)."""
    return f"SELECT last FROM {_CLOCK} WHERE namespace = %s"


def rk_put_sql() -> str:
    """Write keys exactly as given, from parallel arrays (parameters: namespace, keys, group ids, times)."""
    return (
        f"INSERT INTO {_RK} (namespace, key, group_id, updated_at) "
        "SELECT %s, k, g, t FROM unnest(%s::text[], %s::text[], %s::double precision[]) AS u(k, g, t) "
        "ON CONFLICT (namespace, key) DO UPDATE SET group_id = excluded.group_id, updated_at = excluded.updated_at"
    )


def rk_raise_clock_sql() -> str:
    """Raise the clock to a time if it is below (parameters: namespace, time)."""
    return (
        f"INSERT INTO {_CLOCK} AS c (namespace, last) VALUES (%s, %s) "
        "ON CONFLICT (namespace) DO UPDATE SET last = greatest(c.last, excluded.last)"
    )


def rk_namespaces_sql() -> str:
    """Every namespace of the log: name, keys, 0."""
    return f"SELECT namespace, count(*), 0 FROM {_RK} GROUP BY namespace ORDER BY namespace"
