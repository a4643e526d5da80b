"""Postgres connections: URL detection, the psycopg pool, pgvector's binary format, driver errors.

psycopg 3 and psycopg-pool are the ``postgres`` extra; they are imported only
when a ``postgresql://`` URL is opened. Every pooled connection runs in
autocommit mode (the backend issues ``BEGIN``/``COMMIT`` itself, so it knows
exactly where each transaction starts and ends) and gets binary adapters for
pgvector's ``vector`` type: a float32 numpy array goes out as ``vector`` and
comes back as one, with no text formatting on either side.
"""

from __future__ import annotations

import logging
import re
import struct
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import numpy.typing as npt

from ...errors import DatabaseError, DatabaseFullError, MissingDependencyError, ReadOnlyFileError

__all__ = [
    "IDLE_CHECK_SECONDS",
    "aprepare_connection",
    "is_postgres_url",
    "import_psycopg",
    "new_pool",
    "prepare_connection",
    "redacted_url",
    "translate_driver_error",
    "translated_driver_errors",
]

logger = logging.getLogger("sqlitevec_store")

_URL = re.compile(r"postgres(ql)?(\+psycopg)?://", re.IGNORECASE)

#: A pooled connection that sat idle this long (seconds) is checked (one empty statement) before it is handed out.
IDLE_CHECK_SECONDS = 5.0

#: pgvector's binary header: dimension (uint16) and an unused uint16, big-endian; then float4 values.
_HEADER = struct.Struct(">HH")


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) URL rather than a file path."""
    return isinstance(value, str) and _URL.match(value) is not None


def redacted_url(url: str) -> str:
    """``url`` fit to print: its password, in the user part or as ``?password=``, shown as ``***``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and all(key != "password" for key, _ in query):
        return url
    if parts.password is not None:
        user, host = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}")
    if any(key == "password" for key, _ in query):
        hidden = [(key, "***" if key == "password" else value) for key, value in query]
        parts = parts._replace(query=urlencode(hidden, safe="*/"))
    query_part = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query_part}"


def libpq_url(url: str) -> str:
    """``url`` as libpq reads it (SQLAlchemy's ``postgresql+psycopg://`` spelling accepted)."""
    return re.sub(r"^postgres(ql)?\+psycopg://", "postgresql://", url, flags=re.IGNORECASE)


def import_psycopg() -> Any:
    """The ``psycopg`` module, or a :class:`MissingDependencyError` naming the extra to install."""
    try:
        import psycopg
        import psycopg_pool  # noqa: F401 - checked here, used by the backend
    except ImportError as exc:
        raise MissingDependencyError(
            "A postgresql:// URL needs psycopg 3 and psycopg-pool: pip install 'sqlitevec-store[postgres]'"
        ) from exc
    return psycopg


def vector_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    """Pgvector's binary form of one vector."""
    return _HEADER.pack(len(vector), 0) + np.asarray(vector, dtype=">f4").tobytes()


def vector_from_bytes(data: bytes | bytearray | memoryview) -> npt.NDArray[np.float32]:
    """A float32 array from pgvector's binary form."""
    dimension, _ = _HEADER.unpack_from(data)
    return np.frombuffer(data, dtype=">f4", count=dimension, offset=_HEADER.size).astype(np.float32)


def _no_vector_type() -> DatabaseError:
    return DatabaseError(
        "The database has no 'vector' type: pgvector is not installed in it "
        "(CREATE EXTENSION vector needs a role allowed to create extensions)"
    )


def _register_vector(conn: Any, info: Any) -> None:
    """Register the ``vector`` binary dumper (numpy arrays) and loader on ``conn`` (sync or async)."""
    from psycopg import adapt, pq

    class VectorDumper(adapt.Dumper):
        format = pq.Format.BINARY
        oid = info.oid

        def dump(self, obj: Any) -> bytes:
            return vector_bytes(obj)

    class VectorLoader(adapt.Loader):
        format = pq.Format.BINARY

        def load(self, data: Any) -> npt.NDArray[np.float32]:
            return vector_from_bytes(data)

    info.register(conn)
    conn.adapters.register_dumper(np.ndarray, VectorDumper)
    conn.adapters.register_loader(info.oid, VectorLoader)


def prepare_connection(conn: Any, *, read_only: bool) -> None:
    """Register the ``vector`` binary adapters on ``conn`` (and make it read-only when asked).

    Raises:
        DatabaseError: The database has no ``vector`` type (pgvector is not installed in it).
    """
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise _no_vector_type()
    _register_vector(conn, info)
    if read_only:
        conn.execute("SET default_transaction_read_only = on")


async def aprepare_connection(conn: Any, *, read_only: bool) -> None:
    """:func:`prepare_connection` for a ``psycopg.AsyncConnection``."""
    from psycopg.types import TypeInfo

    info = await TypeInfo.fetch(conn, "vector")
    if info is None:
        raise _no_vector_type()
    _register_vector(conn, info)
    if read_only:
        await conn.execute("SET default_transaction_read_only = on")


@cache
def _pool_class() -> Any:
    """psycopg-pool's ``ConnectionPool`` that checks a connection only when it sat idle a while (made once)."""
    from psycopg_pool import ConnectionPool

    class IdleCheckedPool(ConnectionPool):
        """A pool whose check costs a round trip only for a connection idle over ``idle_check`` seconds.

        ``check=ConnectionPool.check_connection`` sends an empty statement on
        every checkout: one round trip per call, 0.1-0.2 ms of a 3-5 ms HNSW
        search (benchmarks/README.md). A connection handed back moments ago
        was working then; one that sat idle may have been closed meanwhile
        (server restart, ``idle_session_timeout``, a firewall), so it is
        checked and, if broken, replaced before anyone sees it. A connection
        lost in between still fails its call with a clear error, and the pool
        replaces it for the retry (as a connection lost in the middle of a
        call always did).
        """

        def __init__(self, *args: Any, idle_check: float, **kwargs: Any) -> None:
            self._idle_check = idle_check
            self._returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
            super().__init__(*args, check=self._check_if_idle, **kwargs)

        def _check_if_idle(self, conn: Any) -> None:
            returned = self._returned.get(conn)
            if returned is None or time.monotonic() - returned >= self._idle_check:
                self.check_connection(conn)

        def putconn(self, conn: Any) -> None:
            self._returned[conn] = time.monotonic()
            super().putconn(conn)

    return IdleCheckedPool


def new_pool(url: str, *, read_only: bool, size: int, idle_check: float | None = None) -> Any:
    """An open psycopg pool of autocommit connections with the ``vector`` adapters.

    Args:
        url: A libpq URL.
        read_only: Make every connection read-only on the server.
        size: Connections kept at most.
        idle_check: Check a connection before handing it out when it was idle this long (seconds; 0: always;
            default :data:`IDLE_CHECK_SECONDS`).
    """
    return _pool_class()(
        url,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True},
        configure=lambda conn: prepare_connection(conn, read_only=read_only),
        idle_check=IDLE_CHECK_SECONDS if idle_check is None else idle_check,
        open=True,
        name="sqlitevec-store",
    )


#: SQLSTATE classes and codes with a message of their own.
_DISK_FULL = "53100"
_READ_ONLY = "25006"
#: Connection exceptions (08) and operator intervention (57: a terminated backend, a server shutting down).
_LOST_CLASSES = ("08", "57P")


def translate_driver_error(exc: BaseException, where: str | None = None) -> DatabaseError:
    """The package error for a psycopg (or pool) exception; the caller raises it ``from exc``."""
    prefix = f"{where}: " if where else ""
    code = getattr(exc, "sqlstate", None) or ""
    message = str(exc).strip() or type(exc).__name__
    if code == _DISK_FULL:
        return DatabaseFullError(f"{prefix}{message}. Free disk space on the database server, then retry.")
    if code == _READ_ONLY:
        return ReadOnlyFileError(f"{prefix}{message}. This database was opened read-only.")
    import psycopg

    if type(exc).__name__ == "PoolTimeout":
        return DatabaseError(
            f"{prefix}{message}. Every connection of the pool stayed busy: more threads are working on this "
            "Database than its pool holds (8), or transactions are held open; retry, or share the work out."
        )
    lost = (
        code.startswith(_LOST_CLASSES)
        or (not code and isinstance(exc, psycopg.OperationalError))  # raised by the client: no server reply
    )
    if lost:
        return DatabaseError(
            f"{prefix}{message}. The connection to Postgres failed or was lost; nothing of the call was "
            "committed unless it returned. Retry the call: the pool opens a new connection."
        )
    return DatabaseError(f"{prefix}{message}")


def driver_errors() -> tuple[type[BaseException], ...]:
    """The exceptions psycopg and its pool raise."""
    import psycopg
    import psycopg_pool

    return (psycopg.Error, psycopg_pool.PoolTimeout)


@contextmanager
def translated_driver_errors(where: str | None = None) -> Iterator[None]:
    """Raise a driver error escaping the block as the package's :class:`DatabaseError`, caused by it."""
    try:
        yield
    except driver_errors() as exc:
        raise translate_driver_error(exc, where) from exc
