"""The async connections of one Postgres database: one small pool per event loop (the sync pool: `connection.new_pool`).

An async connection belongs to the event loop it was opened in, while a
program may run several loops over its life (``asyncio.run`` per request in
a script, LlamaIndex's ``asyncio_run`` helpers, a test suite).
:class:`AsyncPools` keeps one small pool per running loop, made on first
use, and closes the pools of loops that have been closed. These pools run no
background task (see :class:`_LoopPool`), so a loop can always shut down.

Every connection is in autocommit mode (the backend issues ``BEGIN`` and
``COMMIT`` itself), gets pgvector's binary adapters, is read-only on the
server when the database was opened read-only, and is checked before it is
handed out (the async ones: when they sat idle a few seconds).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .connection import IDLE_CHECK_SECONDS, aprepare_connection

__all__ = ["AsyncPools"]

logger = logging.getLogger("sqlitevec_store")


class _LoopPool:
    """The async connections of one event loop: idle ones kept for reuse, at most ``size`` in use.

    No background task: psycopg_pool's ``AsyncConnectionPool`` runs worker
    tasks that a loop closed by ``asyncio.run`` must cancel, which can hang
    that loop's shutdown; these connections are only ever touched by the
    calls that hold them.
    """

    def __init__(self, url: str, read_only: bool, size: int) -> None:
        self._url = url
        self._read_only = read_only
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[Any, float]] = []
        self.closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection for the block: an idle one (checked if idle a while) or a new one."""
        if self.closed:
            raise RuntimeError("this async pool is closed")
        async with self._slots:
            conn = await self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)

    async def _take(self) -> Any:
        while self._idle:
            conn, since = self._idle.pop()
            if conn.closed or conn.broken:
                continue
            if time.monotonic() - since < IDLE_CHECK_SECONDS:
                return conn
            try:
                await conn.execute("")
            except Exception:  # a dead connection: drop it and try the next
                await _aclose_quietly(conn)
                continue
            return conn
        from psycopg import AsyncConnection

        conn = await AsyncConnection.connect(self._url, autocommit=True)
        try:
            await aprepare_connection(conn, read_only=self._read_only)
        except BaseException:
            await _aclose_quietly(conn)
            raise
        return conn

    def _give_back(self, conn: Any) -> None:
        from psycopg.pq import TransactionStatus

        if self.closed or conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
            conn.pgconn.finish()  # closes the socket at once (no await needed, none possible during teardown)
            return
        self._idle.append((conn, time.monotonic()))

    async def aclose(self) -> None:
        """Close the idle connections (those in use close when given back)."""
        self.closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await _aclose_quietly(conn)

    def close_now(self) -> None:
        """Close the idle connections without the loop (its loop is closed or elsewhere)."""
        self.closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.pgconn.finish()


async def _aclose_quietly(conn: Any) -> None:
    try:
        await conn.close()
    except Exception as exc:
        logger.debug("closing an async connection failed: %s", exc)


class AsyncPools:
    """One pool of async connections per event loop, made on first use in that loop.

    Args:
        url: The libpq URL.
        read_only: Connections are read-only on the server.
        size: Connections in use at once at most, per loop.

    """

    def __init__(self, url: str, *, read_only: bool, size: int) -> None:
        """Open nothing yet."""
        self._url = url
        self._read_only = read_only
        self._size = size
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._lock = threading.Lock()

    def pool(self) -> _LoopPool:
        """The running loop's pool (made now when it has none)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            pool = self._pools.get(loop)
            if pool is None:
                for closed in [other for other in self._pools if other.is_closed()]:
                    self._pools.pop(closed).close_now()
                pool = self._pools[loop] = _LoopPool(self._url, self._read_only, self._size)
        return pool

    def abandon(self) -> None:
        """Forget every pool without closing it (a forked child: the parent's sessions are not ours to end)."""
        with self._lock:
            self._pools.clear()

    async def aclose(self) -> None:
        """Close the running loop's pool, and the others as :meth:`close` does."""
        loop = asyncio.get_running_loop()
        with self._lock:
            pool = self._pools.pop(loop, None)
        if pool is not None:
            await pool.aclose()
        self.close()

    def close(self) -> None:
        """Close every pool's idle connections (without awaiting: the sockets are closed at once)."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close_now()
