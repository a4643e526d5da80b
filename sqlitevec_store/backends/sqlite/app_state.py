"""The key-value space and record-key log in the SQLite file (:class:`~..base.AppStateStorage`).

The tables (:mod:`.app_state_sql`) are made by the first write, in its
transaction; until then every read finds nothing. Writes run in the
backend's ``atomic`` (a savepoint inside the caller's), reads in its
``session``, so they share the connection, the lock and the error
translation of the collections, and a caller's ``db.atomic()`` block can
write records, key-value entries and record keys in one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from ...errors import InvalidInputError, SchemaError
from ...stores.keys import range_params
from ..base import KeyRow, NamespaceSize, RecordKeyRow, StoredValue
from . import app_state_sql as sql
from . import statements
from .connection import Connection
from .ddl import create_registry_sql

__all__ = ["SqliteAppState"]


class _Backend(Protocol):
    """What this module uses of :class:`.backend.SqliteBackend`."""

    path: str | None

    @property
    def read_only(self) -> bool: ...

    def session(self) -> AbstractContextManager[Connection]: ...

    def atomic(self) -> AbstractContextManager[Connection]: ...

    def snapshot(self) -> AbstractContextManager[Connection]: ...


class SqliteAppState:
    """App state of one SQLite backend; see :class:`~sqlitevec_store.backends.base.AppStateStorage`."""

    def __init__(self, backend: _Backend) -> None:
        """Serve ``backend``'s file."""
        self._backend = backend

    # -- tables -----------------------------------------------------------------

    def _version(self, conn: Connection) -> int | None:
        """The file's app-state version; ``None`` when it has none (reads find nothing)."""
        if conn.execute(statements.registry_exists_sql(), (sql.APP_TABLES_TABLE,)).fetchone() is None:
            return None
        row = conn.execute(sql.app_version_sql(), (sql.APP_STATE_ROW,)).fetchone()
        if row is None:
            return None
        version = row[0]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SchemaError(f"{self._where}: the app-state version {version!r} was not written by sqlitevec-store")
        if version > sql.APP_SCHEMA_VERSION:
            raise SchemaError(
                f"{self._where} holds app state of layout version {version}, newer than this "
                f"sqlitevec-store knows ({sql.APP_SCHEMA_VERSION}); upgrade sqlitevec-store"
            )
        return version

    @property
    def _where(self) -> str:
        return self._backend.path or "the database"

    def _readable(self, conn: Connection) -> bool:
        return self._version(conn) is not None

    def _ensure(self, conn: Connection) -> None:
        """Inside a write: make (or migrate) the tables."""
        version = self._version(conn)
        if version == sql.APP_SCHEMA_VERSION:
            return
        if version is None:
            taken = [
                name
                for name in sql.OWNED_NAMES
                if conn.execute(sql.object_exists_sql(), (name,)).fetchone() is not None
            ]
            if taken:
                raise SchemaError(
                    f"{self._where} holds {', '.join(taken)}, not written by sqlitevec-store; "
                    "refusing to store key-value entries or record keys beside it"
                )
            conn.execute(create_registry_sql())  # the file is ours from now on (WAL, checks)
            conn.execute(sql.create_app_tables_sql())
            for statement in sql.create_sql():
                conn.execute(statement)
            return
        for step in range(version, sql.APP_SCHEMA_VERSION):
            for statement in sql.APP_MIGRATIONS[step]():
                conn.execute(statement)
        conn.execute(sql.app_set_version_sql(), (sql.APP_SCHEMA_VERSION, sql.APP_STATE_ROW))

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """The backend's ``atomic``, with the tables made (or migrated) first."""
        with self._backend.atomic() as conn:
            self._ensure(conn)
            yield conn

    # -- key-value space ----------------------------------------------------------

    def kv_put(self, namespace: str, items: Sequence[tuple[str, StoredValue]]) -> None:
        """Upsert ``items`` in one transaction."""
        now = time.time()
        with self._writing() as conn:
            conn.executemany(sql.kv_put_sql(), [(namespace, k, v.data, int(v.is_json), now) for k, v in items])

    def kv_get(self, namespace: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        """The stored entries among ``keys``."""
        with self._backend.session() as conn:
            if not keys or not self._readable(conn):
                return {}
            rows = conn.execute(sql.kv_get_sql(), (namespace, json.dumps(list(keys)))).fetchall()
        return {key: StoredValue(bytes(data), bool(is_json)) for key, data, is_json in rows}

    def kv_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Delete ``keys``; how many existed."""
        return self._delete_keys(sql.kv_delete_sql(), namespace, keys)

    def kv_page(self, namespace: str, prefix: str, after: str | None, limit: int, *, values: bool) -> list[KeyRow]:
        """Up to ``limit`` keys above ``after`` under ``prefix``, in key order."""
        params = range_params(namespace, prefix, after)
        statement = sql.kv_page_sql(sql.range_sql(params.get("end"), after), values=values)
        with self._backend.session() as conn:
            if not self._readable(conn):
                return []
            rows = conn.execute(statement, {**params, "limit": limit}).fetchall()
        if values:
            return [KeyRow(key, StoredValue(bytes(data), bool(is_json))) for key, data, is_json in rows]
        return [KeyRow(row[0], None) for row in rows]

    def kv_count(self, namespace: str, prefix: str) -> int:
        """How many keys start with ``prefix``."""
        params = range_params(namespace, prefix, None)
        with self._backend.session() as conn:
            if not self._readable(conn):
                return 0
            return int(conn.execute(sql.kv_count_sql(sql.range_sql(params.get("end"), None)), params).fetchone()[0])

    def kv_clear(self, namespace: str, prefix: str) -> int:
        """Delete every key starting with ``prefix``; how many."""
        params = range_params(namespace, prefix, None)
        return self._delete(sql.kv_count_sql(sql.range_sql(params.get("end"), None), delete=True), params)

    def kv_namespaces(self) -> list[NamespaceSize]:
        """Every namespace holding keys."""
        with self._backend.session() as conn:
            if not self._readable(conn):
                return []
            rows = conn.execute(sql.kv_namespaces_sql()).fetchall()
        return [NamespaceSize(name, int(count), int(size or 0)) for name, count, size in rows]

    # -- record-key log -------------------------------------------------------------

    def _clock(self, conn: Connection, namespace: str) -> float:
        row = conn.execute(sql.rk_clock_read_sql(), (namespace,)).fetchone()
        return max(time.time(), float(row[0]) + sql.CLOCK_STEP) if row is not None else time.time()

    def rk_now(self, namespace: str) -> float:
        """The namespace's clock (stored, so it never goes backwards; only read on a read-only file)."""
        if self._backend.read_only:
            with self._backend.session() as conn:
                return self._clock(conn, namespace) if self._readable(conn) else time.time()
        with self._writing() as conn:
            return self._tick(conn, namespace)

    def _tick(self, conn: Connection, namespace: str) -> float:
        now = self._clock(conn, namespace)
        conn.execute(sql.rk_clock_write_sql(), (namespace, now))
        return now

    def rk_update(
        self, namespace: str, keys: Sequence[str], group_ids: Sequence[str | None], time_at_least: float | None
    ) -> float:
        """Stamp ``keys`` with the clock in one transaction; the time used."""
        with self._writing() as conn:
            now = self._tick(conn, namespace)
            if time_at_least is not None and time_at_least > now:
                raise InvalidInputError(
                    f"time_at_least ({time_at_least}) is ahead of the record manager's clock ({now}): "
                    "it must come from this namespace's get_time()"
                )
            conn.executemany(
                sql.rk_update_sql(), [(namespace, k, g, now) for k, g in zip(keys, group_ids, strict=True)]
            )
        return now

    def rk_exists(self, namespace: str, keys: Sequence[str]) -> set[str]:
        """The recorded keys among ``keys``."""
        with self._backend.session() as conn:
            if not keys or not self._readable(conn):
                return set()
            return {row[0] for row in conn.execute(sql.rk_exists_sql(), (namespace, json.dumps(list(keys))))}

    def rk_list(
        self,
        namespace: str,
        *,
        before: float | None,
        after: float | None,
        group_ids: Sequence[str] | None,
        limit: int | None,
    ) -> list[str]:
        """Recorded keys by time range and groups, in key order."""
        params: dict[str, Any] = {"namespace": namespace, "before": before, "after": after, "limit": limit}
        if group_ids is not None:
            params["groups"] = json.dumps(list(group_ids))
        statement = sql.rk_list_sql(
            before=before is not None, after=after is not None, groups=group_ids is not None, limit=limit is not None
        )
        with self._backend.session() as conn:
            if not self._readable(conn):
                return []
            used = {name: value for name, value in params.items() if f":{name}" in statement}
            return [row[0] for row in conn.execute(statement, used)]

    def rk_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Forget ``keys``; how many were recorded."""
        return self._delete_keys(sql.rk_delete_sql(), namespace, keys)

    def _delete_keys(self, statement: str, namespace: str, keys: Sequence[str]) -> int:
        """Run a delete of ``keys`` (bound as one JSON array); how many rows went."""
        return self._delete(statement, (namespace, json.dumps(list(keys)))) if keys else 0

    def _delete(self, statement: str, params: Sequence[Any] | dict[str, Any]) -> int:
        """Run a delete; how many rows went. Writes nothing (makes no tables) when there are none to delete from."""
        with self._backend.session() as conn:
            if not self._readable(conn):
                return 0
        with self._writing() as conn:
            return int(conn.execute(statement, params).rowcount)

    def rk_namespaces(self) -> list[NamespaceSize]:
        """Every namespace holding recorded keys."""
        with self._backend.session() as conn:
            if not self._readable(conn):
                return []
            rows = conn.execute(sql.rk_namespaces_sql()).fetchall()
        return [NamespaceSize(name, int(count), 0) for name, count, _ in rows]

    def rk_page(self, namespace: str, after: str | None, limit: int) -> tuple[list[RecordKeyRow], float | None]:
        """Up to ``limit`` recorded keys above ``after``, as stored, and the clock's last value."""
        with self._backend.snapshot() as conn:
            if not self._readable(conn):
                return [], None
            statement = sql.rk_page_sql(first=after is None)
            rows = conn.execute(statement, (namespace, "" if after is None else after, limit)).fetchall()
            clock = conn.execute(sql.rk_clock_read_sql(), (namespace,)).fetchone()
        return [RecordKeyRow(k, g, float(t)) for k, g, t in rows], None if clock is None else float(clock[0])

    def rk_get(self, namespace: str, keys: Sequence[str]) -> list[RecordKeyRow]:
        """The stored rows of the recorded keys among ``keys``."""
        with self._backend.session() as conn:
            if not keys or not self._readable(conn):
                return []
            rows = conn.execute(sql.rk_get_sql(), (namespace, json.dumps(list(keys)))).fetchall()
        return [RecordKeyRow(k, g, float(t)) for k, g, t in rows]

    def rk_put(self, namespace: str, rows: Sequence[RecordKeyRow], clock: float | None) -> None:
        """Write ``rows`` as given; raise the clock to ``clock`` and every time written."""
        latest = max([row.updated_at for row in rows] + ([clock] if clock is not None else []), default=None)
        if latest is None:
            return
        with self._writing() as conn:
            conn.executemany(sql.rk_update_sql(), [(namespace, r.key, r.group_id, r.updated_at) for r in rows])
            conn.execute(sql.rk_raise_clock_sql(), (namespace, latest))
