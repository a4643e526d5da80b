"""The storage interface :class:`~sqlitevec_store.collection.Collection` and ``Database`` talk to.

A backend owns one database connection and everything engine-specific: SQL
text, transactions, vector and keyword indexes, the change log. The core
(``database.py``, ``collection.py``, ``search/``) checks input, keeps the RAM
copy of the vectors and shapes results; it reaches storage only through
:class:`StorageBackend`. Methods take a collection's checked
:class:`~sqlitevec_store.records.CollectionInfo` (or its name for registry
work) and the filter *tree* (:mod:`sqlitevec_store.filters`); compiling the
tree is the backend's job. Rows come back as :class:`StoredRow`.

Guarantees each method must keep (the core's own guarantees rest on them):

* ``session``/``atomic``/``snapshot``: ``session`` serializes access (threads
  share one backend) and raises every driver error as a
  :class:`~sqlitevec_store.errors.DatabaseError` subclass. ``atomic`` is one
  write transaction (nested: a savepoint), rolled back on any exception;
  ``snapshot`` is a read transaction (inside a write it joins it), so several
  calls see one state. ``sees_committed_state`` is false inside a write.
* Registry (``collection_info``, ``collections``, ``create_collection``,
  ``drop_collection``, ``set_dimension``, ``set_model_id``, ``migrate``):
  entries are checked with :func:`sqlitevec_store.registry.info_from_row`;
  create never adopts storage it did not make, drop never drops it;
  ``migrate`` moves each collection in its own transaction.
* ``write``: inside the caller's ``atomic``; upserts by id (a replaced record
  keeps its place in insertion order), stores the unit vectors as given, and
  records every update/delete in the change feed.
* ``delete``/``clear``: all given conditions hold (AND); atomic; feed updated.
* ``select``/``count``/``rows``: insertion (pk) order; filters with the one
  semantics of :mod:`sqlitevec_store.filters`.
* ``page``: keyset paging for streaming a whole collection (migration): the
  next ``limit`` records above a pk, in pk order, each call O(``limit``)
  however far in (an index seek, never an ``OFFSET`` scan); pks are positive,
  so ``after_pk=0`` starts at the beginning, and the last pk of a page starts
  the next. Run it with ``vectors`` inside one ``snapshot`` to read a page's
  records and vectors in one state.
* ``knn``: the exact ``k`` nearest among rows matching the filter, never fewer
  when at least ``k`` match (a filter restricts the scan before the top-k
  cut); distances are cosine distances ``1 - cos`` in ``[0, 2]``; ties by pk.
* ``matching``/``matching_among``: the pks the filter matches (among the given
  candidates), same semantics as every other filtered call.
* Change feed (``change_token``, ``change_state``, ``changed_since``,
  ``vectors``, ``all_vectors``): ``change_token`` is cheap and changes
  whenever anything may have changed (this process's writes, other
  processes' commits, a reconnect); ``change_state``/``changed_since`` name
  the pks updated or deleted since a sequence number and those inserted above
  a pk, or say (epoch, oldest) that a copy must reload in full.
* ``keyword_search``: BM25, exact top-``k`` under the filter, ``score`` the
  BM25 score (higher is better); ``ensure_keyword_index`` builds a missing
  index or raises :class:`~sqlitevec_store.errors.SchemaError` saying why not.
* ``stats``/``compact``/``vacuum``/``file_stats``: counts and space; compact
  and vacuum change no record.
* ``app_state``: the key-value space and the record-key log beside the
  collections (:class:`AppStateStorage`), in the same database and the same
  transactions (``atomic`` covers them too).

Two backends implement it: ``backends/sqlite`` (a file) and
``backends/postgres`` (Postgres + pgvector, selected by a ``postgresql://``
URL). A backend with a native async driver also implements
:class:`AsyncStorageBackend` (the Postgres one: psycopg's async API); the
core's ``a...`` methods use it, and run the sync methods in a worker thread
for a backend without one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from ..filters import Filter
from ..options import IndexOptions
from ..records import CollectionInfo
from ..validation import Batch

__all__ = [
    "AppStateStorage",
    "AsyncAppStateStorage",
    "AsyncStorageBackend",
    "ChangeState",
    "ChangeToken",
    "CollectionStats",
    "KeyRow",
    "NamespaceSize",
    "RecordKeyRow",
    "ScoredRow",
    "StorageBackend",
    "StoredRow",
    "StoredValue",
    "VectorRows",
    "async_app_state",
    "async_backend",
    "kv_pages",
    "record_key_pages",
]


class StoredRow(NamedTuple):
    """One record as stored: its internal key and the record's columns (JSON as text)."""

    pk: int
    id: str
    text: str
    metadata: str
    doc_id: str | None
    extra: str | None


class ScoredRow(NamedTuple):
    """A row found by a search: ``score`` is a cosine distance (``knn``) or a BM25 score (``keyword_search``)."""

    row: StoredRow
    score: float
    vector: npt.NDArray[np.float32] | None = None


class VectorRows(NamedTuple):
    """Every vector of a collection: ``pks[i]`` owns ``matrix[i]``; ``max_pk`` the largest pk ever seen."""

    pks: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]
    max_pk: int


class ChangeToken(NamedTuple):
    """Cheap "did anything change": equal tokens mean nothing changed in between."""

    serial: int
    connection: int
    data_version: int
    total_changes: int


class ChangeState(NamedTuple):
    """Where a collection's change log stands: ``epoch`` (``None``: no log), oldest and newest sequence."""

    epoch: int | None
    oldest: int
    newest: int


class CollectionStats(NamedTuple):
    """Record count and allocated vector slots of one collection."""

    records: int
    vector_slots: int


class StoredValue(NamedTuple):
    """One key-value entry as stored: its bytes, and whether they are JSON text (UTF-8) or raw bytes."""

    data: bytes
    is_json: bool


class KeyRow(NamedTuple):
    """One key of a namespace and (when asked for) its value."""

    key: str
    value: StoredValue | None


class RecordKeyRow(NamedTuple):
    """One key of the record-key log as stored (for copying a log exactly)."""

    key: str
    group_id: str | None
    updated_at: float


class NamespaceSize(NamedTuple):
    """A namespace of the key-value space or the record-key log: how many entries, how many value bytes."""

    namespace: str
    entries: int
    value_bytes: int


class AppStateStorage(Protocol):
    """The key-value space and record-key log of a database (:mod:`sqlitevec_store.stores`).

    Tables are made by the first write (a read of a database without them
    finds nothing); each write method is one transaction, or joins the
    caller's ``atomic``. Keys order by code point (SQLite's ``BINARY``,
    Postgres's ``"C"`` collation), so a prefix is a key range on both.

    Key-value space: ``kv_put`` upserts, ``kv_get`` returns the stored
    entries among ``keys``, ``kv_page`` returns keys (and values) above
    ``after`` under ``prefix`` in key order (keyset paging), ``kv_count`` and
    ``kv_clear`` count and delete under a prefix.

    Record-key log (LangChain's record manager): ``rk_now`` is a clock per
    namespace that only moves forward: the larger of the database's clock (the
    server's, on Postgres) and the last time it gave plus one microsecond,
    stored (read-only databases only read it). ``rk_update`` stamps keys with
    ``rk_now`` in the same transaction and refuses a ``time_at_least`` above
    it; ``rk_list`` filters by time range (``updated_at > after``, ``<
    before``) and group ids, in key order.
    """

    def kv_put(self, namespace: str, items: Sequence[tuple[str, StoredValue]]) -> None:
        """Upsert ``items`` (one transaction)."""

    def kv_get(self, namespace: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        """The stored entries among ``keys``."""
        ...

    def kv_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Delete ``keys``; how many existed."""
        ...

    def kv_page(self, namespace: str, prefix: str, after: str | None, limit: int, *, values: bool) -> list[KeyRow]:
        """Up to ``limit`` keys above ``after`` starting with ``prefix``, in key order (with values when asked)."""
        ...

    def kv_count(self, namespace: str, prefix: str) -> int:
        """How many keys start with ``prefix``."""
        ...

    def kv_clear(self, namespace: str, prefix: str) -> int:
        """Delete every key starting with ``prefix``; how many."""
        ...

    def kv_namespaces(self) -> list[NamespaceSize]:
        """Every namespace holding keys, by name."""
        ...

    def rk_now(self, namespace: str) -> float:
        """The namespace's clock, in seconds since the epoch (never below a value it gave before)."""
        ...

    def rk_update(
        self, namespace: str, keys: Sequence[str], group_ids: Sequence[str | None], time_at_least: float | None
    ) -> float:
        """Stamp ``keys`` (with their group ids) with :meth:`rk_now`, in one transaction; the time used."""
        ...

    def rk_exists(self, namespace: str, keys: Sequence[str]) -> set[str]:
        """The keys among ``keys`` that are recorded."""
        ...

    def rk_list(
        self,
        namespace: str,
        *,
        before: float | None,
        after: float | None,
        group_ids: Sequence[str] | None,
        limit: int | None,
    ) -> list[str]:
        """Recorded keys updated after ``after`` and before ``before``, in the given groups, in key order."""
        ...

    def rk_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Forget ``keys``; how many were recorded."""
        ...

    def rk_namespaces(self) -> list[NamespaceSize]:
        """Every namespace holding recorded keys, by name (``value_bytes`` is 0)."""
        ...

    def rk_page(self, namespace: str, after: str | None, limit: int) -> tuple[list[RecordKeyRow], float | None]:
        """Up to ``limit`` recorded keys above ``after`` in key order, as stored, and the clock's last value."""
        ...

    def rk_get(self, namespace: str, keys: Sequence[str]) -> list[RecordKeyRow]:
        """The stored rows of the recorded keys among ``keys``."""
        ...

    def rk_put(self, namespace: str, rows: Sequence[RecordKeyRow], clock: float | None) -> None:
        """Write ``rows`` exactly as given (a copy), and raise the clock to ``clock`` and every time written."""


class AsyncAppStateStorage(AppStateStorage, Protocol):
    """:class:`AppStateStorage` with a native async driver (Postgres): the ``a...`` twins."""

    @property
    def is_async(self) -> bool:
        """True: the ``a...`` methods never block the event loop."""
        ...

    async def akv_put(self, namespace: str, items: Sequence[tuple[str, StoredValue]]) -> None:
        """Async :meth:`kv_put`."""

    async def akv_get(self, namespace: str, keys: Sequence[str]) -> dict[str, StoredValue]:
        """Async :meth:`kv_get`."""
        ...

    async def akv_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Async :meth:`kv_delete`."""
        ...

    async def akv_page(
        self, namespace: str, prefix: str, after: str | None, limit: int, *, values: bool
    ) -> list[KeyRow]:
        """Async :meth:`kv_page`."""
        ...

    async def akv_count(self, namespace: str, prefix: str) -> int:
        """Async :meth:`kv_count`."""
        ...

    async def akv_clear(self, namespace: str, prefix: str) -> int:
        """Async :meth:`kv_clear`."""
        ...

    async def ark_now(self, namespace: str) -> float:
        """Async :meth:`rk_now`."""
        ...

    async def ark_update(
        self, namespace: str, keys: Sequence[str], group_ids: Sequence[str | None], time_at_least: float | None
    ) -> float:
        """Async :meth:`rk_update`."""
        ...

    async def ark_exists(self, namespace: str, keys: Sequence[str]) -> set[str]:
        """Async :meth:`rk_exists`."""
        ...

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
        ...

    async def ark_delete(self, namespace: str, keys: Sequence[str]) -> int:
        """Async :meth:`rk_delete`."""
        ...


class StorageBackend(Protocol):
    """What the core needs from a storage engine; see the module docstring for each method's guarantees."""

    path: str | None

    @property
    def read_only(self) -> bool:
        """Whether writes are refused."""
        ...

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        ...

    @property
    def searches_in_engine(self) -> bool:
        """Whether every vector search runs in the engine (:meth:`knn`), never on a RAM copy."""
        ...

    @property
    def connection(self) -> Any:
        """The driver connection (for callers that run their own statements)."""
        ...

    def close(self) -> None:
        """Close the connection if the backend opened it. Idempotent."""

    def describe(self) -> str:
        """A short description for ``repr``."""
        ...

    @property
    def app_state(self) -> AppStateStorage:
        """The key-value space and record-key log of this database."""
        ...

    # -- transactions
    def session(self) -> AbstractContextManager[Any]:
        """Serialize access; driver errors become package errors."""
        ...

    def atomic(self) -> AbstractContextManager[Any]:
        """One write transaction (or savepoint when nested)."""
        ...

    def snapshot(self) -> AbstractContextManager[Any]:
        """One read transaction (joins an open one)."""
        ...

    def sees_committed_state(self) -> bool:
        """Whether reads now see only committed data."""
        ...

    # -- registry
    def collection_info(self, name: str) -> CollectionInfo | None:
        """The checked registry entry of ``name`` (``None``: no such collection)."""
        ...

    def collections(self) -> list[CollectionInfo]:
        """Every registry entry, values checked, by name."""
        ...

    def create_collection(self, name: str, dimension: int | None, model_id: str | None) -> None:
        """Register ``name`` and make its storage (inside ``atomic``)."""

    def drop_collection(self, name: str) -> bool:
        """Drop ``name``'s storage and entry; ``False`` when it does not exist."""
        ...

    def set_dimension(self, info: CollectionInfo, dimension: int, incoming: int) -> None:
        """Fix the dimension on first write, storage sized for ``incoming`` vectors (inside ``atomic``)."""

    def set_model_id(self, info: CollectionInfo, model_id: str) -> None:
        """Record the model id on first write by a named model (inside ``atomic``)."""

    def migrate(self, *, strict: bool) -> list[str]:
        """Bring collections of older schema versions up to date; the names migrated."""
        ...

    def missing_storage(self, exc: BaseException) -> bool:
        """Whether a package error says a collection's storage is gone (dropped meanwhile)."""
        ...

    def enable_wal(self) -> None:
        """Use write-ahead logging (or the engine's equivalent)."""

    # -- writes
    def write(self, info: CollectionInfo, batches: Iterable[Batch]) -> list[str]:
        """Upsert checked batches (inside ``atomic``); the ids in order."""
        ...

    def delete(
        self, info: CollectionInfo, *, ids: Sequence[str] | None, doc_ids: Sequence[str] | None, filter: Filter | None
    ) -> int:
        """Delete the records meeting every given condition; how many."""
        ...

    def clear(self, info: CollectionInfo) -> int:
        """Delete every record; how many."""
        ...

    # -- reads
    def count(self, info: CollectionInfo, filter: Filter | None) -> int:
        """How many records match."""
        ...

    def select(
        self,
        info: CollectionInfo,
        *,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[StoredRow]:
        """Records meeting every condition, in pk order."""
        ...

    def page(self, info: CollectionInfo, after_pk: int, limit: int) -> list[StoredRow]:
        """Up to ``limit`` records with pk > ``after_pk``, in pk order (keyset paging: O(limit) per call)."""
        ...

    def rows(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, StoredRow]:
        """Records by pk (missing ones left out)."""
        ...

    def vectors(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Stored unit vectors by pk (missing ones left out)."""
        ...

    # -- search
    def check_filter(self, filter: Filter) -> None:
        """Raise :class:`~sqlitevec_store.errors.UnsupportedFilterError` now if the filter cannot run here."""

    def knn(
        self,
        info: CollectionInfo,
        query: npt.NDArray[np.float32],
        k: int,
        filter: Filter | None,
        include_vectors: bool,
        *,
        options: IndexOptions | None = None,
    ) -> list[ScoredRow]:
        """The ``k`` nearest matching rows, nearest first (score: cosine distance).

        Exact, unless ``options`` ask for an engine index (``hnsw``); never fewer than ``k`` when ``k`` match.
        """
        ...

    def matching(self, info: CollectionInfo, filter: Filter) -> npt.NDArray[np.int64]:
        """Every pk the filter matches."""
        ...

    def matching_among(self, info: CollectionInfo, filter: Filter, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The pks among ``pks`` the filter matches."""
        ...

    def keyword_query(self, text: str, *, raw: bool) -> str | None:
        """The engine's query for ``text`` (plain words, or its own syntax when ``raw``); ``None``: no words."""
        ...

    def keyword_search(
        self, info: CollectionInfo, match: str, k: int, filter: Filter | None, *, raw: bool
    ) -> list[ScoredRow]:
        """The ``k`` best BM25 matches of a :meth:`keyword_query` result, best first."""
        ...

    def ensure_keyword_index(self, info: CollectionInfo) -> None:
        """Build a missing keyword index, or raise SchemaError saying why it cannot be."""

    # -- change feed
    def change_token(self) -> ChangeToken:
        """The cheap token (see module docstring)."""
        ...

    def change_state(self, info: CollectionInfo) -> ChangeState:
        """Where the collection's change log stands."""
        ...

    def changed_since(self, info: CollectionInfo, seq: int, max_pk: int) -> set[int]:
        """Pks updated/deleted after ``seq`` or inserted above ``max_pk``."""
        ...

    def all_vectors(self, info: CollectionInfo) -> VectorRows:
        """Every vector (for a RAM copy)."""
        ...

    # -- maintenance
    def stats(self, info: CollectionInfo) -> CollectionStats:
        """Record count and vector slots."""
        ...

    def compact(self, info: CollectionInfo) -> None:
        """Rebuild vector storage so deleted vectors take no space."""

    def slots_needed(self, count: int) -> int:
        """Vector slots ``count`` vectors take right after :meth:`compact`."""
        ...

    def vacuum(self) -> None:
        """Return free pages to the file system."""

    def file_stats(self) -> dict[str, int]:
        """Page size, page count, free pages, size in bytes."""
        ...


class AsyncStorageBackend(StorageBackend, Protocol):
    """A backend with a native async driver (Postgres: psycopg's async API): what the core's ``a...`` methods use.

    Each ``a...`` method keeps the guarantees of its sync namesake; the
    ``asession``/``aatomic``/``asnapshot`` blocks hold one connection per
    asyncio task. A backend without them (SQLite) has its sync methods run in
    a worker thread by the core instead.
    """

    @property
    def is_async(self) -> bool:
        """True: the ``a...`` methods exist and never block the event loop."""
        ...

    async def aclose(self) -> None:
        """Async :meth:`close`."""

    def asession(self) -> AbstractAsyncContextManager[Any]:
        """Async :meth:`session`."""
        ...

    def aatomic(self) -> AbstractAsyncContextManager[Any]:
        """Async :meth:`atomic`."""
        ...

    def asnapshot(self) -> AbstractAsyncContextManager[Any]:
        """Async :meth:`snapshot`."""
        ...

    async def acollection_info(self, name: str) -> CollectionInfo | None:
        """Async :meth:`collection_info`."""
        ...

    async def aset_dimension(self, info: CollectionInfo, dimension: int, incoming: int) -> None:
        """Async :meth:`set_dimension`."""

    async def aset_model_id(self, info: CollectionInfo, model_id: str) -> None:
        """Async :meth:`set_model_id`."""

    async def awrite(self, info: CollectionInfo, batches: Iterable[Batch]) -> list[str]:
        """Async :meth:`write`."""
        ...

    async def adelete(
        self, info: CollectionInfo, *, ids: Sequence[str] | None, doc_ids: Sequence[str] | None, filter: Filter | None
    ) -> int:
        """Async :meth:`delete`."""
        ...

    async def aclear(self, info: CollectionInfo) -> int:
        """Async :meth:`clear`."""
        ...

    async def acount(self, info: CollectionInfo, filter: Filter | None) -> int:
        """Async :meth:`count`."""
        ...

    async def aselect(
        self,
        info: CollectionInfo,
        *,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[StoredRow]:
        """Async :meth:`select`."""
        ...

    async def avectors(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Async :meth:`vectors`."""
        ...

    async def aknn(
        self,
        info: CollectionInfo,
        query: npt.NDArray[np.float32],
        k: int,
        filter: Filter | None,
        include_vectors: bool,
        *,
        options: IndexOptions | None = None,
    ) -> list[ScoredRow]:
        """Async :meth:`knn`."""
        ...

    async def akeyword_search(
        self, info: CollectionInfo, match: str, k: int, filter: Filter | None, *, raw: bool
    ) -> list[ScoredRow]:
        """Async :meth:`keyword_search`."""
        ...

    async def aensure_keyword_index(self, info: CollectionInfo) -> None:
        """Async :meth:`ensure_keyword_index`."""


def async_backend(backend: StorageBackend) -> AsyncStorageBackend | None:
    """``backend`` when it has a native async driver, else ``None`` (its sync methods go to a worker thread)."""
    if getattr(backend, "is_async", False) is True:
        return backend  # type: ignore[return-value]
    return None


def async_app_state(storage: AppStateStorage) -> AsyncAppStateStorage | None:
    """``storage`` when it has a native async driver, else ``None`` (its sync methods go to a worker thread)."""
    if getattr(storage, "is_async", False) is True:
        return storage  # type: ignore[return-value]
    return None


def kv_pages(
    storage: AppStateStorage, namespace: str, *, prefix: str = "", values: bool = True, size: int = 1000
) -> Iterator[list[KeyRow]]:
    """A namespace's keys (under ``prefix``) a page of ``size`` at a time, in key order (each page one read)."""
    after: str | None = None
    while True:
        page = storage.kv_page(namespace, prefix, after, size, values=values)
        if page:
            yield page
        if len(page) < size:
            return
        after = page[-1].key


def record_key_pages(
    storage: AppStateStorage, namespace: str, *, size: int = 1000
) -> Iterator[tuple[list[RecordKeyRow], float | None]]:
    """A namespace's recorded keys a page of ``size`` at a time, in key order, each with the clock read with it.

    The clock of the last page is the latest; an empty namespace gives one empty page (and its clock, if any).
    """
    after: str | None = None
    while True:
        page, clock = storage.rk_page(namespace, after, size)
        yield page, clock
        if len(page) < size:
            return
        after = page[-1].key
