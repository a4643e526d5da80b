"""How the Postgres backend runs its operations: transactions, and the steps on a sync or async connection.

:class:`Driver` is the part of :class:`~.backend.PostgresBackend` that holds
connections. ``session``/``atomic``/``snapshot`` take this thread's
connection from the sync pool (``BEGIN``/``SAVEPOINT``/``COMMIT``, ``REPEATABLE
READ`` for a snapshot); ``asession``/``aatomic``/``asnapshot`` do the same
for this asyncio task on an async connection of the running loop
(:mod:`.pools`). :meth:`Driver._run` and :meth:`Driver._arun` run one
operation of :mod:`.operations` (a generator of :mod:`.steps`) on either.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, contextmanager
from typing import Any, TypeVar

from ...errors import ReadOnlyError
from . import statements
from .connection import driver_errors, translated_driver_errors
from .pools import AsyncPools
from .steps import CopyRows, EfSearch, Fetch, Query, Step, Steps

__all__ = ["Driver"]

logger = logging.getLogger("sqlitevec_store")

_T = TypeVar("_T")


class _Held:
    """The connection a thread (or task) holds and the transaction it has open on it."""

    def __init__(self, conn: Any = None) -> None:
        self.conn = conn
        self.tx: str | None = None  # "write" (atomic) or "read" (snapshot)
        self.savepoints = 0


class _ThreadState(threading.local):
    held: _Held | None = None


# The async connection each backend's task holds: a mapping replaced (never mutated) on change, so
# tasks started inside a block see their parent's connection and no task sees another's.
_TASK_HELD: contextvars.ContextVar[dict[int, _Held] | None] = contextvars.ContextVar(
    "sqlitevec_store_pg_held", default=None
)


class Driver(ABC):
    """Transactions and the running of steps, for :class:`~.backend.PostgresBackend` (its base class)."""

    path: str | None
    _read_only: bool
    _pool: Any  # psycopg_pool.ConnectionPool of this process
    _apools: AsyncPools

    def __init__(self) -> None:
        """No connection held yet."""
        self._state = _ThreadState()
        # The hnsw.ef_search each pooled connection was last given (session level), so it is set only on change.
        self._ef_of: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    @abstractmethod
    def _here(self) -> None:
        """Raise if closed; in a forked child, open this process's own pools."""

    def _forget_held(self) -> None:
        """Forget every thread's connection (a forked child: they are the parent's)."""
        self._state = _ThreadState()

    # -- transactions (sync) ---------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Any]:
        """This thread's connection (taken from the pool for the outermost block); driver errors translated."""
        self._here()
        if self._state.held is not None:
            with translated_driver_errors(self.path):
                yield self._state.held.conn
            return
        with translated_driver_errors(self.path), self._pool.connection() as conn:
            self._state.held = _Held(conn)
            try:
                yield conn
            finally:
                self._state.held = None

    def atomic(self) -> AbstractContextManager[Any]:
        """A write transaction (``BEGIN`` ... ``COMMIT``), or a savepoint when nested; rolled back on any error."""
        self._refuse_read_only()
        return self._transaction(write=True)

    def snapshot(self) -> AbstractContextManager[Any]:
        """A ``REPEATABLE READ`` transaction, so several statements see one state (joins an open one)."""
        return self._transaction(write=False)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Any]:
        with self.session() as conn:
            held = self._state.held
            assert held is not None
            if not write and held.tx is not None:  # a snapshot joins the open transaction
                yield conn
                return
            opening, commit, undo = self._begin(held, write=write)
            conn.execute(opening)
            try:
                yield conn
            except BaseException:
                self._rollback(conn, undo)
                raise
            finally:
                self._end(held)
            conn.execute(commit)

    def _in_transaction(self) -> bool:
        held = self._state.held
        return held is not None and held.tx is not None

    def sees_committed_state(self) -> bool:
        """Whether this thread has no write transaction open."""
        held = self._state.held
        return held is None or held.tx != "write"

    def _refuse_read_only(self) -> None:
        if self._read_only:
            raise ReadOnlyError(f"{self.path} was opened read-only; open it without read_only=True to write")

    @staticmethod
    def _begin(held: _Held, *, write: bool) -> tuple[str, str, tuple[str, ...]]:
        """Start a transaction (or, for a nested write, a savepoint): its opening, commit and undo SQL."""
        if held.tx is None:
            held.tx = "write" if write else "read"
            opening = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ"
            return opening, "COMMIT", ("ROLLBACK",)
        held.savepoints += 1
        name = f"svs_sp_{held.savepoints}"
        release = f"RELEASE SAVEPOINT {name}"
        return f"SAVEPOINT {name}", release, (f"ROLLBACK TO SAVEPOINT {name}", release)

    @staticmethod
    def _end(held: _Held) -> None:
        if held.savepoints:
            held.savepoints -= 1
        else:
            held.tx = None

    def _rollback(self, conn: Any, sql: tuple[str, ...]) -> None:
        """Undo while an error propagates; an error of the rollback itself (a lost connection) is only logged."""
        try:
            for statement in sql:
                conn.execute(statement)
        except driver_errors() as exc:
            logger.warning("rollback failed after an error: %s", exc)

    # -- transactions (async) --------------------------------------------------------

    @asynccontextmanager
    async def asession(self) -> AsyncIterator[Any]:
        """This task's async connection (from the running loop's pool for the outermost block)."""
        self._here()
        held = (_TASK_HELD.get() or {}).get(id(self))
        if held is not None:
            with translated_driver_errors(self.path):
                yield held.conn
            return
        with translated_driver_errors(self.path):
            async with self._apools.pool().connection() as conn:
                token = _TASK_HELD.set({**(_TASK_HELD.get() or {}), id(self): _Held(conn)})
                try:
                    yield conn
                finally:
                    _TASK_HELD.reset(token)

    def _task_in_transaction(self) -> bool:
        """Whether this asyncio task has a transaction open on this backend."""
        held = (_TASK_HELD.get() or {}).get(id(self))
        return held is not None and held.tx is not None

    def _task_held(self) -> _Held:
        held = (_TASK_HELD.get() or {}).get(id(self))
        assert held is not None
        return held

    def aatomic(self) -> AbstractAsyncContextManager[Any]:
        """Async :meth:`atomic`."""
        self._refuse_read_only()
        return self._atransaction(write=True)

    def asnapshot(self) -> AbstractAsyncContextManager[Any]:
        """Async :meth:`snapshot`."""
        return self._atransaction(write=False)

    @asynccontextmanager
    async def _atransaction(self, *, write: bool) -> AsyncIterator[Any]:
        async with self.asession() as conn:
            held = self._task_held()
            if not write and held.tx is not None:
                yield conn
                return
            opening, commit, undo = self._begin(held, write=write)
            await conn.execute(opening)
            try:
                yield conn
            except BaseException:
                await self._arollback(conn, undo)
                raise
            finally:
                self._end(held)
            await conn.execute(commit)

    async def _arollback(self, conn: Any, sql: tuple[str, ...]) -> None:
        try:
            for statement in sql:
                await conn.execute(statement)
        except driver_errors() as exc:
            logger.warning("rollback failed after an error: %s", exc)

    # -- running steps -----------------------------------------------------------------

    def _run(self, steps: Steps[_T]) -> _T:
        """Drive an operation on this thread's connection."""
        with self.session() as conn:
            held = self._state.held
            assert held is not None
            try:
                step = steps.send(None)
                while True:
                    try:
                        result = self._do(conn, held, step)
                    except Exception as exc:  # the operation may handle it (a savepoint rolled back)
                        step = steps.throw(exc)
                    else:
                        step = steps.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                steps.close()

    def _do(self, conn: Any, held: _Held, step: Step) -> Any:
        if isinstance(step, Query):
            cursor = conn.execute(step.sql, step.params, binary=step.binary)
            return _fetched(cursor, step.fetch)
        if isinstance(step, CopyRows):
            with conn.cursor() as cursor, cursor.copy(step.sql) as copy:
                copy.set_types(list(step.types))
                for row in step.rows:
                    copy.write_row(row)
            return None
        if isinstance(step, EfSearch):
            query = self._ef_query(conn, held, step.ef)
            if query is not None:
                conn.execute(query.sql, query.params)
            return None
        with self.atomic() if step.write else self.snapshot():
            return self._run(step.steps)

    async def _arun(self, steps: Steps[_T]) -> _T:
        """Drive an operation on this task's async connection."""
        async with self.asession() as conn:
            held = self._task_held()
            try:
                step = steps.send(None)
                while True:
                    try:
                        result = await self._ado(conn, held, step)
                    except Exception as exc:  # the operation may handle it (a savepoint rolled back)
                        step = steps.throw(exc)
                    else:
                        step = steps.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                steps.close()

    async def _ado(self, conn: Any, held: _Held, step: Step) -> Any:
        if isinstance(step, Query):
            cursor = await conn.execute(step.sql, step.params, binary=step.binary)
            return await _afetched(cursor, step.fetch)
        if isinstance(step, CopyRows):
            async with conn.cursor() as cursor, cursor.copy(step.sql) as copy:
                copy.set_types(list(step.types))
                for row in step.rows:
                    await copy.write_row(row)
            return None
        if isinstance(step, EfSearch):
            query = self._ef_query(conn, held, step.ef)
            if query is not None:
                await conn.execute(query.sql, query.params)
            return None
        async with self.aatomic() if step.write else self.asnapshot():
            return await self._arun(step.steps)

    def _ef_query(self, conn: Any, held: _Held, ef: int) -> Query | None:
        """The statement giving the walk ``ef`` (for the transaction, or on the connection when it differs)."""
        if held.tx is not None:  # inside a transaction: for it alone (a rollback would undo a session value)
            return Query(statements.set_ef_search_sql(local=True), {"ef": str(ef)})
        if self._ef_of.get(conn) == ef:
            return None
        self._ef_of[conn] = ef
        return Query(statements.set_ef_search_sql(local=False), {"ef": str(ef)})


def _fetched(cursor: Any, fetch: Fetch) -> Any:
    if fetch is Fetch.ALL:
        return cursor.fetchall()
    if fetch is Fetch.ONE:
        return cursor.fetchone()
    if fetch is Fetch.ROWCOUNT:
        return cursor.rowcount
    return None


async def _afetched(cursor: Any, fetch: Fetch) -> Any:
    if fetch is Fetch.ALL:
        return await cursor.fetchall()
    if fetch is Fetch.ONE:
        return await cursor.fetchone()
    if fetch is Fetch.ROWCOUNT:
        return cursor.rowcount
    return None
