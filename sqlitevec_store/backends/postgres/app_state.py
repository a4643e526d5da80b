"""The key-value space and record-key log on Postgres (:class:`~..base.AsyncAppStateStorage`).

Each operation is written once as steps (:mod:`.steps`) and run by the
backend's driver on a sync connection or, for the ``a...`` methods, an async
one, like every collection operation (:mod:`.operations`). Writes run in an
``atomic`` block (a savepoint inside the caller's), so a caller's
``db.atomic()`` covers records, entries and record keys together.

The tables (:mod:`.app_state_sql`) are made by the first write, under the
registry's advisory lock; until then reads find nothing. Once a read has seen
them they are not looked for again, unless a statement finds them gone
(``42P01``: dropped by hand, or made by a transaction that rolled back):
a read then finds nothing, and a write makes them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from ...errors import InvalidInputError, SchemaError
from ...stores.keys import range_params
from ..base import KeyRow, NamespaceSize, RecordKeyRow, StoredValue
from . import app_state_sql as sql
from .ddl import REGISTRY_LOCK_KEY
from .steps import Fetch, InTransaction, Query, Steps

__all__ = ["PostgresAppState"]

_T = TypeVar("_T")

_UNDEFINED_TABLE = "42P01"


def _undefined_table(exc: BaseException) -> bool:
    """Whether ``exc`` (or the driver error it wraps) says a table is missing."""
    return _UNDEFINED_TABLE in (getattr(exc, "sqlstate", None), getattr(exc.__cause__, "sqlstate", None))


class _Runner(Protocol):
    """What this module uses of the backend's driver."""

    path: str | None

    @property
    def read_only(self) -> bool: ...

    def _run(self, steps: Steps[_T]) -> _T: ...

    async def _arun(self, steps: Steps[_T]) -> _T: ...


class PostgresAppState:
    """App state of one Postgres backend's schema; see :class:`~sqlitevec_store.backends.base.AppStateStorage`."""

    def __init__(self, runner: _Runner) -> None:
        """Serve ``runner``'s schema (the backend's driver runs the steps)."""
        self._runner = runner
        self._ready = False

    @property
    def is_async(self) -> bool:
        """True: the ``a...`` methods run on psycopg's async API."""
        return True

    # -- tables -----------------------------------------------------------------------

    def _readable(self) -> Steps[bool]:
        if self._ready:
            return True
        exists = yield Query(sql.table_exists_sql(), (sql.APP_TABLES_TABLE,), Fetch.ONE)
        if not exists[0]:
            return False
        row = yield Query(sql.app_version_sql(), (sql.APP_STATE_ROW,), Fetch.ONE)
        if row is None:
            return False
        version = row[0]
        if version > sql.APP_SCHEMA_VERSION:
            raise SchemaError(
                f"{self._runner.path} holds app state of layout version {version}, newer than this "
                f"sqlitevec-store knows ({sql.APP_SCHEMA_VERSION}); upgrade sqlitevec-store"
            )
        self._ready = True
        return True

    def _ensure(self) -> Steps[None]:
        """Inside a write: make the tables unless they are there."""
        if (yield from self._readable()):
            return
        yield Query("SELECT pg_advisory_xact_lock(%s)", (REGISTRY_LOCK_KEY,))
        if (yield from self._readable()):  # another process made them meanwhile
            return
        taken = []
        for name in sql.OWNED_NAMES:
            row = yield Query(sql.table_exists_sql(), (name,), Fetch.ONE)
            if row[0]:
                taken.append(name)
        if taken:
            raise SchemaError(
                f"{self._runner.path} holds {', '.join(taken)}, not written by sqlitevec-store; "
                "refusing to store key-value entries or record keys beside it"
            )
        yield Query(sql.app_tables_sql())
        for statement in sql.create_sql():
            yield Query(statement)
        self._ready = False  # cached only once a read sees them committed (this transaction may roll back)

    def _read(self, query: Query, empty: Any) -> Steps[Any]:
        """``query``'s result, or ``empty`` when there are no tables."""
        if not (yield from self._readable()):
            return empty
        try:
            return (yield query)
        except Exception as exc:
            if not _undefined_table(exc):
                raise
            self._ready = False
            return empty

    def _write(self, query: Query) -> Steps[Any]:
        """In a write transaction: make the tables if needed, then run ``query``."""

        def steps() -> Steps[Any]:
            yield from self._ensure()
            return (yield from self._checked(query))

        try:
            result = yield InTransaction(steps(), write=True)
        except Exception as exc:
            if not _undefined_table(exc):
                raise
            # the tables a read had seen are gone (made by a block that rolled back, or dropped): the savepoint
            # rolled back; make them again, once
            result = yield InTransaction(steps(), write=True)
        return result

    def _checked(self, query: Query) -> Steps[Any]:
        try:
            return (yield query)
        except Exception as exc:
            if _undefined_table(exc):
                self._ready = False
            raise

    # -- operations (steps) ---------------------------------------------------------

    def _kv_put(self, namespace: str, items: Sequence[tuple[str, StoredValue]]) -> Steps[None]:
        keys = [key for key, _ in items]
        data = [value.data for _, value in items]
        flags = [value.is_json for _, value in items]
        yield from self._write(Query(sql.kv_put_sql(), (namespace, keys, data, flags)))

    def _kv_get(self, namespace: str, keys: Sequence[str]) -> Steps[dict[str, StoredValue]]:
        if not keys:
            return {}
        rows = yield from self._read(Query(sql.kv_get_sql(), (namespace, list(keys)), Fetch.ALL), [])
        return {key: StoredValue(bytes(data), bool(is_json)) for key, data, is_json in rows}

    def _delete(self, statement: str, params: Any) -> Steps[int]:
        """Run a delete; how many rows went. Writes nothing (makes no tables) when there are none to delete from."""
        if not (yield from self._readable()):
            return 0
        count = yield from self._write(Query(statement, params, Fetch.ROWCOUNT))
        return int(count)

    def _kv_delete(self, namespace: str, keys: Sequence[str]) -> Steps[int]:
        if not keys:
            return 0
        return (yield from self._delete(sql.kv_delete_sql(), (namespace, list(keys))))

    def _kv_page(self, namespace: str, prefix: str, after: str | None, limit: int, values: bool) -> Steps[list[KeyRow]]:
        params = range_params(namespace, prefix, after)
        condition = sql.range_sql("end" in params, after is not None)
        query = Query(sql.kv_page_sql(condition, values=values), {**params, "limit": limit}, Fetch.ALL)
        rows = yield from self._read(query, [])
        if values:
            return [KeyRow(key, StoredValue(bytes(data), bool(is_json))) for key, data, is_json in rows]
        return [KeyRow(row[0], None) for row in rows]

    def _kv_count(self, namespace: str, prefix: str, *, delete: bool) -> Steps[int]:
        params = range_params(namespace, prefix, None)
        statement = sql.kv_count_sql(sql.range_sql("end" in params, False), delete=delete)
        if delete:
            return (yield from self._delete(statement, params))
        row = yield from self._read(Query(statement, params, Fetch.ONE), (0,))
        return int(row[0])

    def _namespaces(self, statement: str) -> Steps[list[NamespaceSize]]:
        rows = yield from self._read(Query(statement, None, Fetch.ALL), [])
        return [NamespaceSize(name, int(count), int(size)) for name, count, size in rows]

    def _tick(self, namespace: str) -> Steps[float]:
        row = yield from self._checked(Query(sql.rk_clock_tick_sql(), (namespace,), Fetch.ONE))
        return float(row[0])

    def _now(self, namespace: str) -> Steps[float]:
        if self._runner.read_only:
            if not (yield from self._readable()):
                row = yield Query(sql.server_time_sql(), None, Fetch.ONE)
                return float(row[0])
            row = yield from self._read(Query(sql.rk_clock_read_sql(), (namespace,), Fetch.ONE), None)
            return float(row[0])

        def steps() -> Steps[float]:
            yield from self._ensure()
            return (yield from self._tick(namespace))

        now = yield InTransaction(steps(), write=True)
        return float(now)

    def _rk_update(
        self, namespace: str, keys: Sequence[str], group_ids: Sequence[str | None], time_at_least: float | None
    ) -> Steps[float]:
        def steps() -> Steps[float]:
            yield from self._ensure()
            now = yield from self._tick(namespace)
            if time_at_least is not None and time_at_least > now:
                raise InvalidInputError(
                    f"time_at_least ({time_at_least}) is ahead of the record manager's clock ({now}): "
                    "it must come from this namespace's get_time()"
                )
            yield from self._checked(Query(sql.rk_update_sql(), (namespace, now, list(keys), list(group_ids))))
            return now

        now = yield InTransaction(steps(), write=True)
        return float(now)

    def _rk_exists(self, namespace: str, keys: Sequence[str]) -> Steps[set[str]]:
        if not keys:
            return set()
        rows = yield from self._read(Query(sql.rk_exists_sql(), (namespace, list(keys)), Fetch.ALL), [])
        return {row[0] for row in rows}

    def _rk_list(
        self,
        namespace: str,
        before: float | None,
        after: float | None,
        group_ids: Sequence[str] | None,
        limit: int | None,
    ) -> Steps[list[str]]:
        params: dict[str, Any] = {"namespace": namespace}
        if before is not None:
            params["before"] = before
        if after is not None:
            params["after"] = after
        if group_ids is not None:
            params["groups"] = list(group_ids)
        if limit is not None:
            params["limit"] = limit
        statement = sql.rk_list_sql(
            before=before is not None, after=after is not None, groups=group_ids is not None, limit=limit is not None
        )
        rows = yield from self._read(Query(statement, params, Fetch.ALL), [])
        return [row[0] for row in rows]

    def _rk_delete(self, namespace: str, keys: Sequence[str]) -> Steps[int]:
        if not keys:
            return 0
        return (yield from self._delete(sql.rk_delete_sql(), (namespace, list(keys))))

    def _rk_page(self, namespace: str, after: str | None, limit: int) -> Steps[tuple[list[RecordKeyRow], float | None]]:
        def steps() -> Steps[tuple[list[RecordKeyRow], float | None]]:
            if not (yield from self._readable()):
                return [], None
            query = Query(sql.rk_page_sql(first=after is None), (namespace, after or "", limit), Fetch.ALL)
            rows = yield from self._checked(query)
            clock = yield Query(sql.rk_clock_last_sql(), (namespace,), Fetch.ONE)
            return [RecordKeyRow(k, g, float(t)) for k, g, t in rows], None if clock is None else float(clock[0])

        result = yield InTransaction(steps(), write=False)
        return result  # type: ignore[no-any-return]

    def _rk_get(self, namespace: str, keys: Sequence[str]) -> Steps[list[RecordKeyRow]]:
        if not keys:
            return []
        rows = yield from self._read(Query(sql.rk_get_sql(), (namespace, list(keys)), Fetch.ALL), [])
        return [RecordKeyRow(k, g, float(t)) for k, g, t in rows]

    def _rk_put(self, namespace: str, rows: Sequence[RecordKeyRow], clock: float | None) -> Steps[None]:
        latest = max([row.updated_at for row in rows] + ([clock] if clock is not None else []), default=None)
        if latest is None:
            return

        def steps() -> Steps[None]:
            yield from self._ensure()
            keys, groups, times = [r.key for r in rows], [r.group_id for r in rows], [r.updated_at for r in rows]
            yield from self._checked(Query(sql.rk_put_sql(), (namespace, keys, groups, times)))
            yield Query(sql.rk_raise_clock_sql(), (namespace, latest))

        yield InTransaction(steps(), write=True)

    # -- sync -------------------------------------------------------------------------

    def kv_put(self, namespace: str, items: Sequence[tuple[str, StoredValue]]) -> None:
        """Upsert ``items`` (one statement, one transaction)."""
        self._runner._run(self._kv_put(namespace, items))

    def kv_get(self, namespace: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        """The stored entries among ``keys``."""
        return self._runner._run(self._kv_get(namespace, keys))

    def kv_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Delete ``keys``; how many existed."""
        return self._runner._run(self._kv_delete(namespace, keys))

    def kv_page(self, namespace: str, prefix: str, after: str | None, limit: int, *, values: bool) -> list[KeyRow]:
        """Up to ``limit`` keys above ``after`` under ``prefix``, in key order."""
        return self._runner._run(self._kv_page(namespace, prefix, after, limit, values))

    def kv_count(self, namespace: str, prefix: str) -> int:
        """How many keys start with ``prefix``."""
        return self._runner._run(self._kv_count(namespace, prefix, delete=False))

    def kv_clear(self, namespace: str, prefix: str) -> int:
        """Delete every key starting with ``prefix``; how many."""
        return self._runner._run(self._kv_count(namespace, prefix, delete=True))

    def kv_namespaces(self) -> list[NamespaceSize]:
        """Every namespace holding keys."""
        return self._runner._run(self._namespaces(sql.kv_namespaces_sql()))

    def rk_now(self, namespace: str) -> float:
        """The namespace's clock (the server's time, never below a value it gave before)."""
        return self._runner._run(self._now(namespace))

    def rk_update(
        self, namespace: str, keys: Sequence[str], group_ids: Sequence[str | None], time_at_least: float | None
    ) -> float:
        """Stamp ``keys`` with the clock in one transaction; the time used."""
        return self._runner._run(self._rk_update(namespace, keys, group_ids, time_at_least))

    def rk_exists(self, namespace: str, keys: Sequence[str]) -> set[str]:
        """The recorded keys among ``keys``."""
        return self._runner._run(self._rk_exists(namespace, keys))

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
        return self._runner._run(self._rk_list(namespace, before, after, group_ids, limit))

    def rk_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Forget ``keys``; how many were recorded."""
        return self._runner._run(self._rk_delete(namespace, keys))

    def rk_namespaces(self) -> list[NamespaceSize]:
        """Every namespace holding recorded keys."""
        return self._runner._run(self._namespaces(sql.rk_namespaces_sql()))

    def rk_page(self, namespace: str, after: str | None, limit: int) -> tuple[list[RecordKeyRow], float | None]:
        """Up to ``limit`` recorded keys above ``after``, as stored, and the clock's last value (one snapshot)."""
        return self._runner._run(self._rk_page(namespace, after, limit))

    def rk_get(self, namespace: str, keys: Sequence[str]) -> list[RecordKeyRow]:
        """The stored rows of the recorded keys among ``keys``."""
        return self._runner._run(self._rk_get(namespace, keys))

    def rk_put(self, namespace: str, rows: Sequence[RecordKeyRow], clock: float | None) -> None:
        """Write ``rows`` as given; raise the clock to ``clock`` and every time written."""
        self._runner._run(self._rk_put(namespace, rows, clock))

    # -- async ------------------------------------------------------------------------

    async def akv_put(self, namespace: str, items: Sequence[tuple[str, StoredValue]]) -> None:
        """Async :meth:`kv_put`."""
        await self._runner._arun(self._kv_put(namespace, items))

    async def akv_get(self, namespace: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        """Async :meth:`kv_get`."""
        return await self._runner._arun(self._kv_get(namespace, keys))

    async def akv_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Async :meth:`kv_delete`."""
        return await self._runner._arun(self._kv_delete(namespace, keys))

    async def akv_page(
        self, namespace: str, prefix: str, after: str | None, limit: int, *, values: bool
    ) -> list[KeyRow]:
        """Async :meth:`kv_page`."""
        return await self._runner._arun(self._kv_page(namespace, prefix, after, limit, values))

    async def akv_count(self, namespace: str, prefix: str) -> int:
        """Async :meth:`kv_count`."""
        return await self._runner._arun(self._kv_count(namespace, prefix, delete=False))

    async def akv_clear(self, namespace: str, prefix: str) -> int:
        """Async :meth:`kv_clear`."""
        return await self._runner._arun(self._kv_count(namespace, prefix, delete=True))

    async def ark_now(self, namespace: str) -> float:
        """Async :meth:`rk_now`."""
        return await self._runner._arun(self._now(namespace))

    async def ark_update(
        self, namespace: str, keys: Sequence[str], group_ids: Sequence[str | None], time_at_least: float | None
    ) -> float:
        """Async :meth:`rk_update`."""
        return await self._runner._arun(self._rk_update(namespace, keys, group_ids, time_at_least))

    async def ark_exists(self, namespace: str, keys: Sequence[str]) -> set[str]:
        """Async :meth:`rk_exists`."""
        return await self._runner._arun(self._rk_exists(namespace, keys))

    async def ark_list(
        self,
        namespace: str,
        *,
        before: float | None,
        after: float | None,
        group_ids: Sequence[str] | None,
        limit: int | None,
    ) -> list[str]:
        """Async :meth:`rk_list`."""
        return await self._runner._arun(self._rk_list(namespace, before, after, group_ids, limit))

    async def ark_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Async :meth:`rk_delete`."""
        return await self._runner._arun(self._rk_delete(namespace, keys))
