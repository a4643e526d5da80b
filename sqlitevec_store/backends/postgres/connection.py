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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import numpy.typing as npt

from ...errors import DatabaseError, DatabaseFullError, MissingDependencyError, ReadOnlyFileError

__all__ = [
    "aprepare_connection",
    "is_postgres_url",
    "import_psycopg",
    "prepare_connection",
    "redacted_url",
    "translate_driver_error",
    "translated_driver_errors",
]

logger = logging.getLogger("sqlitevec_store")

_URL = re.compile(r"postgres(ql)?(\+psycopg)?://", re.IGNORECASE)

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
