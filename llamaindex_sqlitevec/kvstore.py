"""``SQLiteVecKVStore``: LlamaIndex's key-value store in the same file as the vectors.

A ``BaseKVStore`` over the core's key-value space
(:class:`sqlitevec_store.KeyValueStore`), so the document store, the index
store and the ingestion cache LlamaIndex builds on a key-value store
(:mod:`llamaindex_sqlitevec.storage`, ``IngestionCache``) live in the file
that holds the vectors. No SQL here: every call goes to the core.

* **Collections.** LlamaIndex's ``collection`` argument (``"data"`` by
  default, as upstream; the docstore uses ``"docstore/data"``,
  ``"docstore/metadata"``, ...) is the core namespace
  ``namespace_prefix + collection``. The default prefix ``"llama_index/"``
  keeps these entries apart from LangChain's and the embedding cache's in a
  shared file, and ``sqlitevec-store stats`` lists them under those names.
* **Values** are JSON dicts, given back as new dicts (changing one never
  changes the store). Anything but a dict is refused (``TypeError``), as are
  NaN and infinities, which JSON cannot hold.
* **Transactions.** Each call is one transaction (``put_all`` of any size
  included); inside ``with kvstore.atomic():`` every call joins one
  transaction, with the vector store's writes too when they share the
  database.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llama_index.core.storage.kvstore.types import DEFAULT_BATCH_SIZE, DEFAULT_COLLECTION, BaseKVStore

from sqlitevec_store import Database, KeyValueStore
from sqlitevec_store.errors import InvalidInputError, InvalidInputTypeError
from sqlitevec_store.opening import open_database
from sqlitevec_store.records import check_count

if TYPE_CHECKING:
    from .base import SQLiteVecVectorStore

__all__ = ["DEFAULT_NAMESPACE_PREFIX", "SQLiteVecKVStore", "database_location"]

#: Put before every LlamaIndex collection name to make the core namespace.
DEFAULT_NAMESPACE_PREFIX = "llama_index/"

_SQLITE_URI_PREFIX = "sqlite://"


def database_location(uri: str | os.PathLike[str]) -> str:
    """What :class:`~sqlitevec_store.Database` opens for ``uri``.

    A file path, ``":memory:"`` and a ``postgresql://`` URL are used as they
    are; a SQLAlchemy-style ``sqlite:///relative.db`` or
    ``sqlite:////absolute.db`` names its file, and ``sqlite://`` alone an
    in-memory database (the forms LlamaIndex's SQL stores take).

    Raises:
        InvalidInputTypeError: ``uri`` is not a string or path.
        InvalidInputError: An empty string.

    """
    if not isinstance(uri, (str, os.PathLike)):
        raise InvalidInputTypeError(f"uri must be a str or Path, got {type(uri).__name__}")
    location = os.fspath(uri)
    if not location:
        raise InvalidInputError("uri must not be empty")
    if location.startswith(_SQLITE_URI_PREFIX):
        path = location[len(_SQLITE_URI_PREFIX) :]
        if path in ("", "/", "/:memory:"):
            return ":memory:"
        if not path.startswith("/"):
            raise InvalidInputError(f"A sqlite URI has three slashes before its path (sqlite:///file.db), got {uri!r}")
        return path[1:]
    return location


class SQLiteVecKVStore(BaseKVStore):
    """LlamaIndex key-value store in a SQLite file (or a Postgres schema), beside the vectors.

    Give it the file the vector store uses (or share that store's database
    with :meth:`from_vector_store` / ``database=``) and build the document
    store, index store and ingestion cache on it: the whole app is one file.

    Args:
        db_path: A file path, ``":memory:"``, or a ``postgresql://`` URL.
        connection: An open ``sqlite3``/``sqlean`` connection to use instead
            (not closed by :meth:`close`).
        database: An open :class:`~sqlitevec_store.Database` to share, e.g. a
            vector store's ``client`` (not closed by :meth:`close`).
        namespace_prefix: Put before every collection name to make the core
            namespace (``""``: the collection names themselves).

    Example:
        .. code-block:: python

            from llama_index.core.ingestion import IngestionCache
            from llamaindex_sqlitevec import SQLiteVecKVStore, SQLiteVecVectorStore

            vector_store = SQLiteVecVectorStore("app.db")
            kvstore = SQLiteVecKVStore.from_vector_store(vector_store)  # same file, same connection
            kvstore.put("greeting", {"text": "hello"})
            cache = IngestionCache(cache=kvstore, collection="pipeline_cache")

    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        connection: Any = None,
        database: Database | None = None,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> None:
        """Open ``db_path`` (``":memory:"`` when nothing is given), wrap ``connection``, or share ``database``."""
        if not isinstance(namespace_prefix, str):
            raise InvalidInputTypeError(f"namespace_prefix must be a string, got {type(namespace_prefix).__name__}")
        self._db, self._owns_db = open_database(db_path=db_path, connection=connection, database=database)
        self._prefix = namespace_prefix
        self._spaces: dict[str, KeyValueStore] = {}

    @classmethod
    def from_uri(
        cls, uri: str | os.PathLike[str], *, namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX
    ) -> SQLiteVecKVStore:
        """A store on ``uri``: a file path, ``":memory:"``, ``sqlite:///file.db``, or a ``postgresql://`` URL."""
        return cls(database_location(uri), namespace_prefix=namespace_prefix)

    @classmethod
    def from_params(
        cls,
        *,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any = None,
        database: Database | None = None,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> SQLiteVecKVStore:
        """A store on one of ``db_path``, ``connection`` or ``database`` (see the class docstring)."""
        return cls(db_path, connection=connection, database=database, namespace_prefix=namespace_prefix)

    @classmethod
    def from_vector_store(
        cls, vector_store: SQLiteVecVectorStore, *, namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX
    ) -> SQLiteVecKVStore:
        """A store sharing ``vector_store``'s database: one file, one connection, one transaction scope."""
        return cls(database=vector_store.client, namespace_prefix=namespace_prefix)

    @property
    def client(self) -> Database:
        """The core :class:`~sqlitevec_store.Database` (share it with a vector store via ``database=``)."""
        return self._db

    @property
    def namespace_prefix(self) -> str:
        """What is put before each collection name to make its core namespace."""
        return self._prefix

    def namespace(self, collection: str) -> KeyValueStore:
        """The core key-value namespace holding ``collection``."""
        space = self._spaces.get(collection)
        if space is None:
            if not isinstance(collection, str) or not collection:
                raise InvalidInputError(f"collection must be a non-empty string, got {collection!r}")
            space = self._spaces[collection] = self._db.key_value(self._prefix + collection)
        return space

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction for every write in the block (those of stores sharing the database too)."""
        with self._db.atomic():
            yield

    def close(self) -> None:
        """Close the database if this store opened it. Idempotent."""
        if self._owns_db:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteVecKVStore({self._db.path!r}, namespace_prefix={self._prefix!r})"

    # -- writes -------------------------------------------------------------------

    def put(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        """Store ``val`` under ``key`` in ``collection``, replacing what was there."""
        self.namespace(collection).put(key, _checked_dict(val))

    async def aput(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        """Async :meth:`put`."""
        await self.namespace(collection).aput(key, _checked_dict(val))

    def put_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Store every pair in one transaction, all checked before any is written.

        ``batch_size`` (any positive number) is accepted for LlamaIndex's
        callers; the pairs are one transaction whatever it is.
        """
        check_count(batch_size, "batch_size")
        self.namespace(collection).put_many(_checked_pairs(kv_pairs))

    async def aput_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Async :meth:`put_all`."""
        check_count(batch_size, "batch_size")
        await self.namespace(collection).aput_many(_checked_pairs(kv_pairs))

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Delete ``key`` from ``collection``; whether it was there."""
        return self.namespace(collection).delete(key)

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Async :meth:`delete`."""
        return await self.namespace(collection).adelete(key)

    # -- reads --------------------------------------------------------------------

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        """The value of ``key`` in ``collection``, or ``None``."""
        return _stored_dict(self.namespace(collection).get(key), key)

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        """Async :meth:`get`."""
        return _stored_dict(await self.namespace(collection).aget(key), key)

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Every entry of ``collection``, by key (in code point order)."""
        return {key: _dict(value, key) for key, value in self.namespace(collection).items()}

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Async :meth:`get_all`."""
        return {key: _dict(value, key) async for key, value in self.namespace(collection).aitems()}


def _checked_dict(val: object) -> dict[str, Any]:
    if not isinstance(val, dict):
        raise InvalidInputTypeError(f"A LlamaIndex key-value store holds dicts, got {type(val).__name__}")
    return val


def _checked_pairs(kv_pairs: Iterable[Any]) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(kv_pairs, (str, bytes, dict)):
        raise InvalidInputTypeError("kv_pairs must be a list of (key, value) pairs")
    checked = []
    for pair in kv_pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidInputTypeError(f"Each of kv_pairs must be a (key, value) pair, got {pair!r:.80}")
        checked.append((pair[0], _checked_dict(pair[1])))
    return checked


def _dict(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"The entry {key!r} is not a dict (written by something other than LlamaIndex?)")
    return value


def _stored_dict(value: object, key: str) -> dict[str, Any] | None:
    return None if value is None else _dict(value, key)
