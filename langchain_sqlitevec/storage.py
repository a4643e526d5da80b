"""A LangChain ``ByteStore`` in the same database as the vectors.

:class:`SQLiteVecByteStore` is one namespace of the core key-value space
(:class:`sqlitevec_store.KeyValueStore`): what ``CacheBackedEmbeddings``
caches vectors in, and (through ``create_kv_docstore``) where
``ParentDocumentRetriever`` keeps its parent documents. No SQL here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.stores import ByteStore

from sqlitevec_store import Database, InvalidInputTypeError, KeyValueStore

from ._database import DatabaseHolder

__all__ = ["DEFAULT_NAMESPACE", "SQLiteVecByteStore"]

#: The namespace a byte store uses when none is given.
DEFAULT_NAMESPACE = "default"


def _as_bytes(value: object, key: str) -> bytes:
    """``value`` as bytes: ``bytes``, ``bytearray`` and ``memoryview`` are; anything else is refused."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidInputTypeError(f"SQLiteVecByteStore stores bytes; the value of {key!r} is {type(value).__name__}")


def _stored_bytes(value: object, key: str, namespace: str) -> bytes | None:
    """A value read back: bytes, or ``None`` when missing; a JSON value (written by other code) is refused."""
    if value is None or isinstance(value, bytes):
        return value
    raise InvalidInputTypeError(
        f"Key {key!r} of namespace {namespace!r} holds a JSON value, not bytes: "
        "the namespace is shared with a non-byte store; give the byte store a namespace of its own"
    )


class SQLiteVecByteStore(DatabaseHolder, ByteStore):
    """A LangChain ``ByteStore`` (``BaseStore[str, bytes]``) kept in a sqlitevec-store database.

    Keys are strings (at most 4,096 characters, no NUL); values are bytes.
    Each ``mset`` / ``mdelete`` is one transaction. ``yield_keys`` lists
    keys in code point order. Everything else in the database (vectors,
    record manager, other namespaces) is left alone.

    Setup:
        ```bash
        pip install "sqlitevec-store[langchain]"
        ```

    Instantiate:
        ```python
        from langchain_sqlitevec import SQLiteVecByteStore

        store = SQLiteVecByteStore(db_path="app.db", namespace="parents")
        # or in the vector store's own database (one file, one connection):
        store = SQLiteVecByteStore(database=vector_store.database, namespace="parents")
        ```

    Use:
        ```python
        store.mset([("a", b"1"), ("b", b"2")])
        store.mget(["a", "c"])             # [b"1", None]
        list(store.yield_keys(prefix="a"))  # ["a"]
        store.mdelete(["a"])
        ```

    Async:
        ``amget``, ``amset``, ``amdelete`` and ``ayield_keys`` (on Postgres
        through psycopg's async API, on a file in a worker thread).

    """

    def __init__(
        self,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any | None = None,
        database: Database | None = None,
    ) -> None:
        """Open the store; nothing is written until the first ``mset``.

        Args:
            namespace: Keeps these keys apart from other stores' in the same database.
            db_path: A database file, ``":memory:"`` (the default), or a ``postgresql://`` URL.
            connection: An open ``sqlite3`` / ``sqlean`` connection instead of ``db_path``.
            database: A core :class:`~sqlitevec_store.Database` (e.g. ``vector_store.database``)
                instead of ``db_path``; it is not closed by :meth:`close`.

        Raises:
            ValueError: A bad namespace, or more than one of ``db_path``,
                ``connection`` and ``database``.
            TypeError: An argument of the wrong type.

        """
        DatabaseHolder.__init__(self, db_path=db_path, connection=connection, database=database)
        try:
            self._kv: KeyValueStore = self._db.key_value(namespace)
        except BaseException:
            self.close()
            raise

    @property
    def namespace(self) -> str:
        """The namespace of the key-value space this store uses."""
        return self._kv.namespace

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self.namespace!r}, db_path={self._db.path!r})"

    # -- sync -------------------------------------------------------------------------

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """The value of each key (``None`` where missing), in order, read in one statement."""
        keys = list(keys)
        return [_stored_bytes(v, k, self.namespace) for k, v in zip(keys, self._kv.get_many(keys), strict=True)]

    def mset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Store every pair in one transaction (all checked first).

        Raises:
            TypeError: A value that is not bytes (``InvalidInputTypeError``).

        """
        self._kv.put_many(self._checked(key_value_pairs))

    def mdelete(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` in one transaction; missing keys are ignored."""
        self._kv.delete_many(keys)

    def yield_keys(self, *, prefix: str | None = None) -> Iterator[str]:
        """Every key (starting with ``prefix``), in code point order."""
        return self._kv.keys(prefix or "")

    # -- async ------------------------------------------------------------------------

    async def amget(self, keys: Sequence[str]) -> list[bytes | None]:
        """Async :meth:`mget`."""
        keys = list(keys)
        values = await self._kv.aget_many(keys)
        return [_stored_bytes(v, k, self.namespace) for k, v in zip(keys, values, strict=True)]

    async def amset(self, key_value_pairs: Sequence[tuple[str, bytes]]) -> None:
        """Async :meth:`mset`."""
        await self._kv.aput_many(self._checked(key_value_pairs))

    async def amdelete(self, keys: Sequence[str]) -> None:
        """Async :meth:`mdelete`."""
        await self._kv.adelete_many(keys)

    async def ayield_keys(self, *, prefix: str | None = None) -> AsyncIterator[str]:
        """Async :meth:`yield_keys`."""
        async for key in self._kv.akeys(prefix or ""):
            yield key

    @staticmethod
    def _checked(key_value_pairs: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        return [(key, _as_bytes(value, key)) for key, value in key_value_pairs]
