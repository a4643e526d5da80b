"""The database: open and close a file, transactions, and the collections it holds.

:class:`Database` wraps one storage backend (today
:class:`~sqlitevec_store.backends.sqlite.backend.SqliteBackend`: one SQLite
connection, opened here or passed in, made fork-safe there) and the RAM-copy
cache its collections share (:class:`~sqlitevec_store.search.cache.IndexCache`).
Registry work (list, create, drop, migrate) is delegated to the backend;
:class:`~sqlitevec_store.collection.Collection` holds the public verbs.

Guarantees (see the README's "Guarantees" table):

* **Atomic writes.** :meth:`atomic` is one transaction (a savepoint when
  nested); one :meth:`Collection.upsert` call is one transaction, whatever its
  size.
* **Exact filtered search** and cosine **scores**: see :class:`Collection`.
* **Keyword index.** Kept in sync with the records in the same transaction;
  collections written by schema version 1 get it when a writable database is
  opened (:meth:`migrate`).
* **Threads.** A :class:`Database` may be shared between threads; access to
  its connection is serialized by a lock. After ``os.fork()`` a file database
  reopens its connection in the child instead of sharing the parent's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from .backends.base import NamespaceSize, StorageBackend, async_backend
from .backends.postgres.connection import is_postgres_url
from .backends.sqlite.backend import SqliteBackend
from .backends.sqlite.connection import DEFAULT_BUSY_TIMEOUT_MS, Connection
from .collection import Collection
from .embeddings.cache import EmbeddingCache
from .errors import CollectionNotFoundError, DimensionMismatchError, InvalidInputError
from .options import IndexOptions
from .records import CollectionInfo, check_count
from .registry import DEFAULT_COLLECTION, validate_collection_name
from .search.cache import IndexCache
from .search.kernels import DEFAULT_OVERSAMPLE
from .stores.kv import KeyValueStore
from .stores.record_keys import RecordKeys
from .validation import check_dimension

__all__ = ["DEFAULT_COLLECTION", "AppStateSummary", "Database"]


class AppStateSummary(NamedTuple):
    """The namespaces of a database's key-value space and record-key log, by name."""

    key_value: list[NamespaceSize]
    record_keys: list[NamespaceSize]


class Database:
    """One SQLite file (or in-memory database), or one Postgres schema, holding named collections.

    Args:
        database: A file path, ``":memory:"``, an open ``sqlite3`` /
            ``sqlean`` connection, or a ``postgresql://`` URL (Postgres with
            pgvector; needs the ``postgres`` extra). A passed connection is
            used as is (sqlite-vec is loaded into it) and is not closed by
            :meth:`close`. A URL's tables go to the first schema of its
            ``search_path`` (``?options=-csearch_path%3Dmyschema``).
        busy_timeout_ms: How long a write waits for another connection's lock (files).
        read_only: Open the file read-only.

    Raises:
        ExtensionLoadError: sqlite-vec cannot be loaded.
        SchemaError: The file holds a registry table this package did not write.

    Example:
        >>> db = Database(":memory:")
        >>> docs = db.collection("docs")
        >>> docs.upsert([Record("hello", [1.0, 0.0], {"lang": "en"}, id="a")])
        ['a']
        >>> [h.id for h in docs.search([1.0, 0.1], k=1)]
        ['a']
        >>> db.close()

    """

    def __init__(
        self,
        database: str | Path | Connection | Any = ":memory:",
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        read_only: bool = False,
    ) -> None:
        """Open (or adopt) the connection, check the registry, migrate older collections when writable."""
        busy_timeout_ms = check_count(busy_timeout_ms, "busy_timeout_ms", minimum=0)
        self._backend: StorageBackend
        if is_postgres_url(database):
            from .backends.postgres.backend import PostgresBackend

            self._backend = PostgresBackend(str(database), read_only=read_only)
        else:
            self._backend = SqliteBackend(database, busy_timeout_ms=busy_timeout_ms, read_only=read_only)
        self._cache = IndexCache()
        self.path: str | None = self._backend.path
        if not read_only:
            try:
                self.migrate(strict=False)
            except BaseException:
                self._backend.close()
                raise

    @property
    def backend(self) -> StorageBackend:
        """The storage backend (what :class:`Collection` talks to)."""
        return self._backend

    @property
    def index_cache(self) -> IndexCache:
        """The RAM copies of this database's collections, shared by every :class:`Collection` of it."""
        return self._cache

    @property
    def conn(self) -> Connection:
        """The live connection (reopened after ``fork`` for file databases)."""
        connection: Connection = self._backend.connection
        return connection

    def __repr__(self) -> str:
        if self._backend.closed:
            return f"Database({self.path!r}, closed)"
        mode = ", read_only=True" if self.read_only else ""
        return f"Database({self.path!r}{mode}, {self._backend.describe()})"

    def close(self) -> None:
        """Close the connection if this object opened it. Idempotent."""
        self._cache.clear()
        self._backend.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._backend.closed

    @property
    def read_only(self) -> bool:
        """Whether the database was opened read-only."""
        return self._backend.read_only

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """Async :meth:`close`: on Postgres it also awaits the closing of the running loop's async pool."""
        self._cache.clear()
        backend = async_backend(self._backend)
        if backend is None:
            self._backend.close()
        else:
            await backend.aclose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @contextmanager
    def atomic(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, or a savepoint when nested.

        Rolls back on any exception. When the caller's connection is already
        in a transaction, a savepoint is used and committing is left to the
        caller. SQLite errors (the block's own included) are raised as
        :class:`~sqlitevec_store.errors.DatabaseError`; when SQLite has
        already rolled the transaction back itself (a full disk, an I/O
        error), the error that made it do so is the one raised.
        """
        with self._backend.atomic() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction, so several statements see one state of the file."""
        with self._backend.snapshot() as conn:
            yield conn

    def migrate(self, *, strict: bool = True) -> list[str]:
        """Bring every collection written by an older schema version up to date.

        Each collection is migrated in its own transaction: the steps of
        ``backends.sqlite.ddl.MIGRATIONS`` from its version to the current
        ``SCHEMA_VERSION``, then the new version in the registry (a failure
        leaves that collection as it was). Opening a writable database calls
        this with ``strict=False``; collections of a newer version are left
        alone (opening them raises :class:`SchemaError`).

        Args:
            strict: Raise when a collection cannot be migrated (with
                ``False``, log a warning and go on; keyword search on it will
                try again and raise).

        Returns:
            The names of the collections migrated.
        """
        return self._backend.migrate(strict=strict)

    def enable_wal(self) -> None:
        """Switch this file to WAL journaling (done automatically for files this package created)."""
        self._backend.enable_wal()

    def vacuum(self) -> None:
        """Rebuild the file to return free pages to the file system (``VACUUM``).

        Needs free disk space of about the file's size, and waits for other
        connections' transactions. Run it after :meth:`Collection.compact` or
        large deletions.
        """
        self._backend.vacuum()

    def file_stats(self) -> dict[str, int]:
        """The file's ``page_size``, ``page_count``, ``free_pages`` and ``size_bytes``."""
        return self._backend.file_stats()

    # -- app state beside the collections -----------------------------------

    def key_value(self, namespace: str) -> KeyValueStore:
        """A namespace of this database's key-value space (bytes and JSON values; see :mod:`.stores.kv`)."""
        return KeyValueStore(self, namespace)

    def record_keys(self, namespace: str) -> RecordKeys:
        """A namespace of this database's record-key log (LangChain's record manager; :mod:`.stores.record_keys`)."""
        return RecordKeys(self, namespace)

    def embedding_cache(self, model_id: str) -> EmbeddingCache:
        """The cached document vectors of ``model_id`` in this database (see :mod:`.embeddings.cache`)."""
        return EmbeddingCache(self, model_id)

    def app_state(self) -> AppStateSummary:
        """What the key-value space and the record-key log hold, per namespace (``sqlitevec-store stats`` shows it)."""
        storage = self._backend.app_state
        return AppStateSummary(key_value=storage.kv_namespaces(), record_keys=storage.rk_namespaces())

    # -- registry -----------------------------------------------------------

    def collections(self) -> list[CollectionInfo]:
        """Every collection in the file, by name.

        Only the registry is read: a collection whose tables were damaged is
        listed, and opening it raises :class:`SchemaError`.

        Raises:
            SchemaError: A registry entry holds a value this package never
                writes (:meth:`drop_collection` still removes such a collection).

        """
        return self._backend.collections()

    def collection_names(self) -> list[str]:
        """The names of every collection in the file."""
        return [info.name for info in self.collections()]

    def has_collection(self, name: str) -> bool:
        """Whether a collection of this name exists (names are case-insensitive)."""
        validate_collection_name(name)
        return self._backend.collection_info(name) is not None

    def create_collection(
        self,
        name: str,
        *,
        dimension: int | None = None,
        model_id: str | None = None,
        exist_ok: bool = True,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
        options: IndexOptions | None = None,
    ) -> Collection:
        """Create a collection (or return the existing one when ``exist_ok``).

        Args:
            name: The collection name (see :data:`registry.COLLECTION_NAME_PATTERN`).
            dimension: The vector dimension, if known; otherwise the first
                batch of vectors sets it.
            model_id: The embedding model's canonical id, recorded now.
            exist_ok: Return an existing collection instead of raising.
            index_type: How searches run (see :class:`Collection`).
            oversample: For ``index_type="rescore"``: candidates per result.
            options: ``index_type`` and ``oversample`` as one object (wins over them).

        Raises:
            InvalidCollectionNameError: Bad name, or (for a new collection) one
                of the names its tables would take is already taken in the
                file by something no collection owns, such as your own table
                ``svs_<name>_fts``; nothing is written.
            InvalidInputError: The collection exists and ``exist_ok`` is false;
                ``dimension`` is not an integer from 1 to sqlite-vec's limit.
            DimensionMismatchError, ModelMismatchError: It exists with another
                dimension or model.

        """
        validate_collection_name(name)
        options = options or IndexOptions(index_type, oversample)
        if dimension is not None:
            check_dimension(dimension)
        with self._backend.atomic():
            info = self._backend.collection_info(name)
            if info is not None and not exist_ok:
                raise InvalidInputError(f"Collection {name!r} already exists")
            if info is None:
                self._backend.create_collection(name, dimension, model_id)
            elif dimension is not None and info.dimension not in (None, dimension):
                raise DimensionMismatchError(
                    f"Collection {info.name!r} has dimension {info.dimension}, not {dimension}"
                )
        return Collection(self, name, model_id=model_id, options=options)

    def collection(
        self,
        name: str = DEFAULT_COLLECTION,
        *,
        model_id: str | None = None,
        create: bool = True,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
        options: IndexOptions | None = None,
    ) -> Collection:
        """Open a collection, creating it if needed (unless ``create=False``).

        Opening never embeds anything: the dimension comes from the registry
        or, for a new collection, from the first batch of vectors.

        Args:
            name: The collection name.
            model_id: The canonical id of the embedding model the caller uses,
                or ``None`` when the caller brings its own vectors. A new
                collection records it at once; an existing one without a model
                id records it on the first write.
            create: Create a missing collection (registering it writes to the file).
            index_type: How searches run: ``"flat"`` (exact, default),
                ``"rescore"`` (approximate) or ``"vec0"`` (exact, no RAM copy);
                see :class:`Collection`.
            oversample: For ``"rescore"``: candidates ranked exactly per result.
            options: ``index_type`` and ``oversample`` as one object (wins over them).

        Raises:
            CollectionNotFoundError: Missing and ``create`` is false.
            ModelMismatchError: The collection was built with another named model.

        """
        validate_collection_name(name)
        options = options or IndexOptions(index_type, oversample)
        info = self._backend.collection_info(name)
        if info is None:
            if not create or self.read_only:
                hint = " (the database is open read-only)" if self.read_only else ""
                raise CollectionNotFoundError(f"No collection named {name!r} in this database{hint}")
            return self.create_collection(name, model_id=model_id, options=options)
        return Collection(self, info.name, model_id=model_id, options=options)

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> bool:
        """Delete a collection, its records and its tables.

        Only tables of the shape this package creates are dropped. A
        collection whose registry entry was damaged can still be dropped.

        Returns:
            Whether a collection was dropped.

        Raises:
            CollectionNotFoundError: Missing and ``missing_ok`` is false.
            SchemaError: One of the collection's table names holds a table this
                package did not create; nothing is dropped.

        """
        validate_collection_name(name)
        if not self._backend.drop_collection(name):
            if missing_ok:
                return False
            raise CollectionNotFoundError(f"No collection named {name!r} in this database")
        self._cache.forget(name)
        return True
