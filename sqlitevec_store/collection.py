"""A collection's public verbs: write, read, delete and search, delegating to the storage backend.

:class:`Collection` checks its arguments (:mod:`sqlitevec_store.validation`),
reads its registry entry once per call, and hands the work to the backend
(:mod:`sqlitevec_store.backends.base`) and to the RAM-copy cache
(:mod:`sqlitevec_store.search.cache`); it holds no SQL.

Guarantees (the README's "Guarantees" table): one :meth:`Collection.upsert`
is one transaction, checked whole before anything is written; a filtered
search returns the exact top-``k`` among matching rows; scores are cosine
(vector) or BM25-based (keyword, hybrid), see :class:`~sqlitevec_store.records.Hit`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .backends.base import ScoredRow, StorageBackend
from .collection_async import AsyncCollection
from .errors import (
    CollectionNotFoundError,
    DatabaseError,
    DimensionMismatchError,
    InvalidInputError,
    InvalidInputTypeError,
    ModelMismatchError,
)
from .filters import Filter
from .options import ENGINE_INDEX_TYPES, HybridOptions, IndexOptions
from .queries import WRITE_CHUNK_SIZE, FindQuery, MmrQuery, chain, deletion, hybrid_arguments, parallel_records
from .records import CollectionInfo, Hit, Record, chunks
from .registry import validate_collection_name
from .search.hits import fused_hits, keyword_hit, row_hits, vector_hit
from .search.kernels import DEFAULT_OVERSAMPLE
from .validation import Batch, check_batches, check_dimension, check_encodable, check_k, check_strings, vector_matrix

if TYPE_CHECKING:
    from .database import Database

__all__ = ["WRITE_CHUNK_SIZE", "Collection"]


class Collection:
    """A named set of records in a :class:`Database`. Light: create freely.

    Use :meth:`Database.collection` rather than this constructor.

    How vector searches run (``index_type``; a choice of this process, not
    stored in the file, see :mod:`sqlitevec_store.search.vector_index`):

    * ``"flat"`` (default): exact. The first search reads the collection's
      vectors into RAM (``4 * dimension`` bytes each: ~155 MB per 100,000
      vectors of 384 dimensions) and later searches scan that copy with numpy.
      Before every search the copy is brought in step with the file, so writes
      by other connections and processes are seen; it reads only what changed
      (schema version 3's change log). Every :class:`Collection` of one
      :class:`Database` shares the copy.
    * ``"rescore"``: approximate. As ``"flat"``, plus 1-bit codes; a search
      ranks the codes, then the best ``k * oversample`` candidates by exact
      distance.
    * ``"vec0"``: exact, sqlite-vec's own KNN inside SQLite. No RAM copy and
      no load time; slower per search on large collections. Searches inside a
      write transaction always take this path (they must see uncommitted rows).

    On Postgres (a ``postgresql://`` database) every search runs in the
    database, with no RAM copy: ``"flat"`` and ``"vec0"`` scan exactly,
    ``"hnsw"`` and ``"rescore"`` walk pgvector's HNSW index (built by the first
    such search), never returning fewer than ``k`` when ``k`` match.

    Every type honours filters exactly (the ``k`` best among matching rows)
    and reports the same distances.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        model_id: str | None = None,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
        options: IndexOptions | None = None,
    ) -> None:
        """Bind to an existing collection and check the caller's model id against it."""
        self.options = options or IndexOptions(index_type, oversample)
        self.db = db
        self.name = validate_collection_name(name)
        self.model_id = model_id
        if self.index_type in ENGINE_INDEX_TYPES and not self._backend.searches_in_engine:
            raise InvalidInputError(
                f"index_type={self.index_type!r} needs a Postgres database (pgvector); "
                "on a file use 'rescore' (approximate) or 'flat' (exact)"
            )
        info = self.info()
        # A search in the engine (Postgres) reuses a committed entry once it has a dimension: see _nearest.
        committed = info.dimension is not None and self._backend.sees_committed_state()
        self.search_entry: CollectionInfo | None = info if committed else None
        if model_id is not None and info.model_id is not None and info.model_id != model_id:
            raise ModelMismatchError(
                f"Collection {info.name!r} was built with the embedding model {info.model_id!r}; "
                f"it cannot be used with {model_id!r}. Use the same model, or another collection."
            )

    @property
    def index_type(self) -> str:
        """How vector searches run: ``"flat"``, ``"rescore"`` or ``"vec0"``."""
        return self.options.index_type

    @property
    def oversample(self) -> int:
        """For ``"rescore"``: candidates ranked exactly per result."""
        return self.options.oversample

    @functools.cached_property
    def aio(self) -> AsyncCollection:
        """The async methods: ``await collection.aio.search(vector, k=4)``, and every other verb.

        On Postgres they await psycopg's async API (no worker thread); on a
        file each runs the sync method in a worker thread (SQLite has no async
        driver). See :class:`~sqlitevec_store.collection_async.AsyncCollection`.
        """
        return AsyncCollection(self)

    @property
    def _backend(self) -> StorageBackend:
        return self.db.backend

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, path={self.db.path!r})"

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Report a collection dropped meanwhile as such (other storage errors pass as they are)."""
        try:
            yield
        except DatabaseError as exc:
            if self._backend.missing_storage(exc) and not self.db.has_collection(self.name):
                raise CollectionNotFoundError(f"No collection named {self.name!r} in this database") from exc
            raise

    # -- registry ---------------------------------------------------------

    def info(self) -> CollectionInfo:
        """The collection's registry entry, as the file holds it now.

        Raises:
            CollectionNotFoundError: It was dropped.

        """
        info = self._backend.collection_info(self.name)
        if info is None:
            raise CollectionNotFoundError(f"No collection named {self.name!r} in this database")
        return info

    @property
    def dimension(self) -> int | None:
        """The vector dimension, or ``None`` before the first vectors."""
        return self.info().dimension

    # -- writing ----------------------------------------------------------

    def add(
        self,
        texts: Iterable[str],
        vectors: Iterable[Sequence[float] | npt.NDArray[Any]],
        *,
        metadatas: Iterable[Mapping[str, Any] | None] | None = None,
        ids: Iterable[str | None] | None = None,
    ) -> list[str]:
        """Upsert parallel lists of texts, vectors, metadata and ids.

        Every iterable is consumed fully; their lengths must agree.

        Returns:
            The ids, in input order (generated UUIDs where none was given).

        """
        return self.upsert(parallel_records(texts, vectors, metadatas, ids))

    def upsert(self, records: Iterable[Record] | Batch) -> list[str]:
        """Add records, replacing any with the same id (text, metadata and vector).

        ``records`` may be any iterable, a generator included: it is consumed
        in chunks of :data:`WRITE_CHUNK_SIZE`, so memory stays bounded however
        many records arrive. The whole call is still one transaction: each
        chunk is validated before it is written, and a bad record anywhere
        rolls back every chunk before it, leaving the file as it was. A
        :class:`~sqlitevec_store.validation.Batch` with vectors (from
        :func:`~sqlitevec_store.validation.check_texts`) was checked when it
        was built and is written without a second check.

        Returns:
            The ids, in input order.

        Raises:
            InvalidInputTypeError: A text is not a string, metadata is not a
                dict of JSON values, an id is not a string.
            InvalidInputError: Duplicate ids in the call, NaN/infinite/zero
                vectors, non-finite metadata numbers, a Batch without vectors.
            DimensionMismatchError: A vector's length differs from the
                collection's dimension (or from the rest of the call).
            ModelMismatchError: The collection was built with another named model.
        """
        batches = check_batches(records, WRITE_CHUNK_SIZE)
        # The first chunk is validated before the transaction starts: the
        # common small call never touches the file when it is refused.
        first = next(batches, None)
        if first is None:
            return []
        assert first.vectors is not None  # check_batches yields only batches with vectors
        dimension = check_dimension(int(first.vectors.shape[1]), "the vectors' dimension")
        with self._backend.atomic():
            info = self._claim(dimension, len(first))
            return self._backend.write(info, chain(first, batches))

    def _claim(self, dimension: int, incoming: int) -> CollectionInfo:
        """Inside the write: fix the dimension and model id on first write, or check them; the entry after."""
        info = self.info()
        if info.dimension != dimension:
            self._backend.set_dimension(info, dimension, incoming)
            info = self.info()  # read again (and its new vector table checked) inside the write
        model_id = self.model_id_to_record(info)
        if model_id is not None:
            self._backend.set_model_id(info, model_id)
            info = dataclasses.replace(info, model_id=model_id)
        return info

    def model_id_to_record(self, info: CollectionInfo) -> str | None:
        """This collection's model id when the entry has none yet; a different recorded one is refused."""
        if self.model_id is None or info.model_id == self.model_id:
            return None
        if info.model_id is not None:
            raise ModelMismatchError(
                f"Collection {info.name!r} was built with {info.model_id!r}, not {self.model_id!r}"
            )
        return self.model_id

    def delete(
        self,
        ids: Iterable[str] | None = None,
        *,
        filter: Filter | None = None,
        doc_ids: Iterable[str] | None = None,
    ) -> int:
        """Delete records by ids, by source-document ids, and/or by filter (all must hold).

        With none of them, nothing is deleted (use :meth:`clear` to empty the
        collection).

        Returns:
            The number of records deleted.

        """
        parts = deletion(ids, doc_ids, filter)
        if parts is None:
            return 0
        deleted = 0
        with self._guard(), self._backend.atomic():
            info = self.info()  # read inside the write: the dimension may have been set meanwhile
            for id_chunk, doc_chunk in parts:
                deleted += self._backend.delete(info, ids=id_chunk, doc_ids=doc_chunk, filter=filter)
        return deleted

    def clear(self) -> int:
        """Delete every record; keep the collection, its dimension and model.

        Returns:
            The number of records deleted.

        """
        with self._guard(), self._backend.atomic():
            return self._backend.clear(self.info())

    # -- reading ----------------------------------------------------------

    def count(self, filter: Filter | None = None) -> int:
        """Number of records (matching ``filter``)."""
        with self._guard():
            return self._backend.count(self.info(), filter)

    def get(self, ids: Iterable[str], *, include_vectors: bool = False) -> list[Hit]:
        """Records by id, in input order; missing ids are skipped.

        The returned hits have ``distance`` 0 and ``similarity`` 1 (no query).
        """
        id_list = check_strings(ids, "ids")
        found: dict[str, Hit] = {}
        with self._guard(), self._backend.snapshot():
            info = self.info()
            for chunk in chunks(dict.fromkeys(id_list), WRITE_CHUNK_SIZE):
                found.update((hit.id, hit) for hit in self._select(info, ids=chunk, include_vectors=include_vectors))
        return [found[i] for i in id_list if i in found]

    def find(
        self,
        *,
        filter: Filter | None = None,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Hit]:
        """Records matching every given condition, in insertion order.

        Args:
            filter: A metadata filter.
            ids: Restrict to these ids.
            doc_ids: Restrict to these source-document ids.
            limit: At most this many (``None``: all).
            offset: Skip this many first.
            include_vectors: Return the stored vectors too.

        Raises:
            InvalidInputError: ``limit`` < 1, ``offset`` < 0, or either above
                :data:`~sqlitevec_store.records.MAX_COUNT` (2**63 - 1).

        """
        query = FindQuery.of(filter, ids, doc_ids, limit, offset)
        with self._guard(), self._backend.snapshot():
            return self._select(self.info(), include_vectors=include_vectors, **query.arguments())

    def _select(
        self,
        info: CollectionInfo,
        *,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Hit]:
        found = self._backend.select(info, ids=ids, doc_ids=doc_ids, filter=filter, limit=limit, offset=offset)
        vectors = self._backend.vectors(info, [row.pk for row in found]) if include_vectors else {}
        return row_hits(found, vectors)

    # -- maintenance --------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for this collection.

        Returns:
            ``count`` (records), ``dimension``, ``model_id``, ``vector_slots``
            (slots sqlite-vec has allocated), ``unused_slots`` (allocated but
            empty: holes left by deletions plus the unfilled tail of the last
            chunk, which later inserts fill) and ``reclaimable_slots`` (what
            :meth:`compact` would free: the slots beyond the whole chunks that
            the live vectors need, at the chunk size compact would choose).
        """
        with self._guard():
            info = self.info()
            stats = self._backend.stats(info)
        slots = stats.vector_slots
        return {
            "name": info.name,
            "count": stats.records,
            "dimension": info.dimension,
            "model_id": info.model_id,
            "vector_slots": slots,
            "unused_slots": max(slots - stats.records, 0),
            "reclaimable_slots": max(slots - self._backend.slots_needed(stats.records), 0),
        }

    def compact(self) -> dict[str, int]:
        """Rebuild the vector table so deleted vectors no longer take space.

        sqlite-vec frees a chunk of vectors only when every slot in it is
        deleted; scattered deletions leave holes. This copies the live vectors
        into a fresh ``vec0`` table in one transaction (searches from other
        connections see the old or the new table, never a mix), with the chunk
        size that fits their number (``backends.sqlite.ddl.vec0_chunk_size_for``:
        a collection that shrank, or a small one in a file written before chunk
        sizes were chosen, gets smaller chunks). The freed pages go to SQLite's
        free list and are reused by later writes; call :meth:`Database.vacuum`
        afterwards to shrink the file itself.

        Returns:
            ``slots_before`` and ``slots_after``.
        """
        before = self.stats()["vector_slots"]
        info = self.info()
        if info.dimension is None:
            return {"slots_before": 0, "slots_after": 0}
        with self._guard():
            self._backend.compact(info)
        return {"slots_before": before, "slots_after": self.stats()["vector_slots"]}

    # -- search -----------------------------------------------------------

    def search(
        self,
        vector: Sequence[float] | npt.NDArray[Any],
        *,
        k: int = 4,
        filter: Filter | None = None,
        include_vectors: bool = False,
        ef_search: int | None = None,
    ) -> list[Hit]:
        """The ``k`` records nearest to ``vector`` by cosine distance, nearest first.

        With a filter, the result is the exact top-``k`` among the matching
        records (fewer only when fewer match); with ``index_type="rescore"``
        it is approximate among them. Equal distances are ordered by insertion
        (with ``index_type="vec0"``, sqlite-vec picks among them).

        ``ef_search`` sets this search's HNSW candidate list on Postgres
        (``index_type="hnsw"``/``"rescore"``; 1 to 1,000), over the
        collection's ``IndexOptions.ef_search``; searches that walk no HNSW
        index (exact ones, any search on a file) check it and ignore it.

        Raises:
            InvalidInputError: ``k`` < 1 or above
                :data:`~sqlitevec_store.records.MAX_COUNT` (2**63 - 1; any
                ``k`` up to it works, returning every match when fewer), a
                NaN/infinite/zero query, or ``ef_search`` outside 1-1,000.
            DimensionMismatchError: The query's length is not the collection's dimension.

        """
        k = check_k(k)
        options = self.options_for(ef_search)
        query: npt.NDArray[np.float32] = vector_matrix([vector], "query vector")[0]
        found = self._nearest(query, k, filter, include_vectors, options)
        return [vector_hit(row, include_vectors) for row in found]

    def options_for(self, ef_search: int | None) -> IndexOptions:
        """The collection's index options, with one search's ``ef_search`` (checked) when given."""
        return self.options if ef_search is None else dataclasses.replace(self.options, ef_search=ef_search)

    def _nearest(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        filter: Filter | None,
        include_vectors: bool,
        options: IndexOptions | None = None,
    ) -> list[ScoredRow]:
        """The search itself, for a unit-length query: the RAM copy when it may be used, else the backend's KNN."""
        backend = self._backend
        with self._guard():
            if self.index_type != "vec0" and not backend.searches_in_engine and backend.sees_committed_state():
                with backend.snapshot():
                    info = self.info()
                    if not self.fits(info, query, filter):
                        return []
                    cache = self.db.index_cache
                    index = cache.synced(backend, info, backend.change_token(), self.index_type == "rescore")
                    return cache.search(
                        backend,
                        info,
                        index,
                        query,
                        k=k,
                        filter=filter,
                        index_type=self.index_type,
                        oversample=self.oversample,
                        include_vectors=include_vectors,
                    )
            with backend.session():  # one connection for the entry and the search (a server backend's pool)
                # Outside a write, reuse the entry of an earlier search: once it has a dimension, only a drop
                # changes what a search reads from it, and a dropped table fails the search (read again then).
                reuse = backend.searches_in_engine and backend.sees_committed_state()
                cached = self.search_entry if reuse else None
                info = cached or self.info()
                self.remember_search_entry(info, reuse=reuse)
                if not self.fits(info, query, filter):
                    return []
                try:
                    return backend.knn(info, query, k, filter, include_vectors, options=options or self.options)
                except DatabaseError as exc:
                    if not self.forget_stale_entry(cached, exc):
                        raise
                info = self.info()  # dropped since that search, maybe made again: search as found now
                if not self.fits(info, query, filter):
                    return []
                return backend.knn(info, query, k, filter, include_vectors, options=options or self.options)

    def remember_search_entry(self, info: CollectionInfo, *, reuse: bool) -> None:
        """Keep ``info`` for later searches when it may be reused (read outside a write, with a dimension)."""
        if reuse and self.search_entry is None and info.dimension is not None:
            self.search_entry = info

    def forget_stale_entry(self, cached: CollectionInfo | None, exc: DatabaseError) -> bool:
        """After a failed search: forget a reused entry; whether a drop made it stale (then search once more)."""
        if cached is None:
            return False
        self.search_entry = None
        return self._backend.missing_storage(exc)

    def fits(self, info: CollectionInfo, query: npt.NDArray[np.float32], filter: Filter | None) -> bool:
        """Whether the collection has vectors to search; a query of another dimension, or a bad filter, is refused."""
        if info.dimension is None:
            return False
        if len(query) != info.dimension:
            raise DimensionMismatchError(
                f"Collection {self.name!r} holds {info.dimension}-dimensional vectors; the query has {len(query)}"
            )
        if filter is not None:
            self._backend.check_filter(filter)
        return True

    def keyword_search(
        self,
        text: str,
        *,
        k: int = 4,
        filter: Filter | None = None,
        raw: bool = False,
    ) -> list[Hit]:
        """The ``k`` records best matching ``text`` by BM25 (SQLite FTS5), best first.

        Plain text (the default) is never parsed as FTS5 syntax: each
        whitespace-separated word becomes a quoted FTS5 string, common English
        stopwords are dropped, and the rest are ORed
        (``backends.sqlite.keywords.keyword_match_expression``), so a record
        matching any word can be found and BM25 ranks those matching more and
        rarer words first. Text without any word (``""``, ``"?!"``) finds
        nothing. Only the first distinct words holding ``MAX_QUERY_TERMS``
        (128) tokens are used, so a long text (a pasted page, 1 MB) answers as
        fast as a 128-word one; the rest of it is ignored.

        Args:
            text: The query.
            k: How many hits at most.
            filter: A metadata filter; the result is the exact top-``k``
                among matching records.
            raw: Pass ``text`` to FTS5 as a query in its own syntax (``AND``,
                ``NEAR``, ``"phrases"``, ``prefix*``). A raw query may be at most
                ``MAX_RAW_QUERY_LENGTH`` (10,000) characters long and hold at
                most ``MAX_QUERY_TERMS`` (128) terms.

        Returns:
            Hits whose ``score`` is the BM25 score (higher is better) and
            ``similarity`` ``score / (1 + score)``; see :class:`Hit`.

        Raises:
            InvalidInputError: ``raw`` and ``text`` is not a valid FTS5 query
                (a column other than ``text`` included), or is over a limit.
            SchemaError: The collection predates the keyword index and the
                database is open read-only.

        """
        k, match = self.keyword_query(text, k, filter, raw)
        if match is None:
            return []
        self._backend.ensure_keyword_index(self.info())
        with self._guard():
            found = self._backend.keyword_search(self.info(), match, k, filter, raw=raw)
        return [keyword_hit(row) for row in found]

    def keyword_query(self, text: str, k: int, filter: Filter | None, raw: bool) -> tuple[int, str | None]:
        """A keyword search's ``k`` and engine query (``None``: no words, nothing found), arguments checked."""
        k = check_k(k)
        if not isinstance(text, str):
            raise InvalidInputTypeError(f"query text must be a string, got {type(text).__name__}")
        match = self._backend.keyword_query(text, raw=raw)
        check_encodable(text, "query text")
        if match is not None and filter is not None:
            self._backend.check_filter(filter)
        return k, match

    def hybrid_search(
        self,
        vector: Sequence[float] | npt.NDArray[Any],
        text: str,
        *,
        k: int = 4,
        filter: Filter | None = None,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
        options: HybridOptions | None = None,
        ef_search: int | None = None,
    ) -> list[Hit]:
        """Vector and keyword search fused into one ranking, best first.

        Takes the ``fetch_k`` nearest records by vector and the ``fetch_k``
        best by BM25 (both exact under ``filter``), and fuses them
        (:mod:`sqlitevec_store.search.fusion`):

        * ``fusion="relative_score"`` (default): ``alpha * vector + (1 -
          alpha) * keyword`` over min-max normalized scores; ``alpha=None``
          means :data:`fusion.DEFAULT_ALPHA` (0.7, the best fusion measured on
          benchmarks/hybrid_quality.py).
        * ``fusion="rrf"``: reciprocal rank fusion with ``c = 60``
          (:data:`fusion.RRF_K`), weights ``alpha`` and ``1 - alpha`` (0.5
          each when ``alpha`` is ``None``).

        ``alpha`` follows LlamaIndex's convention: 1 is pure vector search, 0
        pure keyword search.

        Args:
            vector: The query embedding.
            text: The query text (plain words; see :meth:`keyword_search`).
            k: How many hits at most.
            filter: A metadata filter; every hit matches it.
            alpha: The weight of the vector side in ``[0, 1]``, or ``None``
                for the default.
            fetch_k: Candidates per ranking (default
                ``max(k, DEFAULT_HYBRID_FETCH_K)``; at least ``k``).
            fusion: ``"relative_score"`` or ``"rrf"``.
            options: ``alpha``, ``fetch_k`` and ``fusion`` as one object (wins over them).
            ef_search: The vector side's HNSW candidate list on Postgres (see :meth:`search`).

        Returns:
            Hits whose ``similarity`` and ``score`` are the fused score in
            ``[0, 1]`` (1: ranked first by both) and ``distance`` is
            ``1 - score``.

        """
        k, options = hybrid_arguments(text, k, options or HybridOptions(alpha, fetch_k, fusion))
        candidates = options.candidates(k)
        self.options_for(ef_search)  # checked before anything is read
        self._backend.ensure_keyword_index(self.info())
        with self._backend.snapshot():
            dense = self.search(vector, k=candidates, filter=filter, ef_search=ef_search)
            keyword = self.keyword_search(text, k=candidates, filter=filter)
        return fused_hits(dense, keyword, options, k)

    def mmr(
        self,
        vector: Sequence[float] | npt.NDArray[Any],
        *,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        include_vectors: bool = False,
        ef_search: int | None = None,
    ) -> list[Hit]:
        """Maximal marginal relevance: ``k`` hits that are relevant and diverse.

        Takes the ``fetch_k`` nearest (matching) records, then picks greedily
        the one maximizing ``lambda_mult * sim(query, d) - (1 - lambda_mult) *
        max sim(d, picked)``. ``lambda_mult`` 1 is plain relevance, 0 maximal
        diversity. Hits carry their distance to the query. ``ef_search``: as
        for :meth:`search`, for the ``fetch_k`` nearest.
        """
        plan = MmrQuery.of(vector, k, fetch_k, lambda_mult)
        options = self.options_for(ef_search)
        return plan.picked(self._nearest(plan.query, plan.fetch_k, filter, True, options), include_vectors)
