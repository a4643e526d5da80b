"""A collection's async verbs: the same checks, results and guarantees as the sync ones.

:class:`AsyncCollection` (``collection.aio``) holds the awaitable twin of
each :class:`~sqlitevec_store.collection.Collection` verb; LangChain's and
LlamaIndex's async methods call it. On a backend with a native async driver
(:class:`~sqlitevec_store.backends.base.AsyncStorageBackend`: Postgres,
through psycopg's async API and an ``AsyncConnectionPool`` per event loop)
every statement is awaited on the event loop, so concurrent requests need no
worker thread each. On a file (SQLite has no async driver) each method runs
its sync twin in a worker thread (``asyncio.to_thread``).

Each async method shares its argument checks and result shaping with its
sync twin (:mod:`sqlitevec_store.queries` and the collection's ``fits``,
``keyword_query`` and ``model_id_to_record``); only the calls to storage
are awaited here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .backends.base import AsyncStorageBackend, ScoredRow, async_backend
from .errors import CollectionNotFoundError, DatabaseError
from .filters import Filter
from .options import HybridOptions, IndexOptions
from .queries import WRITE_CHUNK_SIZE, FindQuery, MmrQuery, chain, deletion, hybrid_arguments, parallel_records
from .records import CollectionInfo, Hit, Record, chunks
from .search.hits import fused_hits, keyword_hit, row_hits, vector_hit
from .validation import Batch, check_batches, check_dimension, check_k, check_strings, vector_matrix

if TYPE_CHECKING:
    from .collection import Collection

__all__ = ["AsyncCollection", "CollectionCall"]


@dataclass(frozen=True)
class CollectionCall:
    """One collection verb with its arguments, to run on a collection or await on its async twin.

    What an adapter builds once for a sync/async pair of its own methods:
    ``call.run(collection)`` calls ``collection.<verb>(*args, **kwargs)``,
    ``await call.arun(collection)`` awaits ``collection.aio.<verb>(...)``.
    """

    verb: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def run(self, collection: Collection) -> Any:
        """Call the verb on ``collection``."""
        return getattr(collection, self.verb)(*self.args, **self.kwargs)

    async def arun(self, collection: Collection) -> Any:
        """Await the verb on ``collection.aio``."""
        return await getattr(collection.aio, self.verb)(*self.args, **self.kwargs)


class AsyncCollection:
    """The async face of a :class:`~sqlitevec_store.collection.Collection`: ``await collection.aio.search(...)``.

    Every method is the awaitable twin of the collection's method of the same
    name, with the same arguments, checks, results and errors.

    Args:
        collection: The collection (``Collection.aio`` makes this once per collection).

    """

    def __init__(self, collection: Collection) -> None:
        """Wrap ``collection``."""
        self._col = collection
        self.name = collection.name

    def __repr__(self) -> str:
        return f"AsyncCollection({self.name!r}, path={self._col.db.path!r})"

    # -- plumbing -----------------------------------------------------------------

    def _native(self) -> AsyncStorageBackend | None:
        """The backend when it has an async driver (``None``: run the sync method in a worker thread)."""
        return async_backend(self._col.db.backend)

    @asynccontextmanager
    async def _aguard(self, backend: AsyncStorageBackend) -> AsyncIterator[None]:
        """Async ``_guard``: a collection dropped meanwhile is reported as such."""
        try:
            yield
        except DatabaseError as exc:
            if backend.missing_storage(exc) and await backend.acollection_info(self.name) is None:
                raise CollectionNotFoundError(f"No collection named {self.name!r} in this database") from exc
            raise

    async def _ainfo(self, backend: AsyncStorageBackend) -> CollectionInfo:
        info = await backend.acollection_info(self.name)
        if info is None:
            raise CollectionNotFoundError(f"No collection named {self.name!r} in this database")
        return info

    # -- registry -------------------------------------------------------------------

    async def info(self) -> CollectionInfo:
        """Async :meth:`Collection.info`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(self._col.info)
        return await self._ainfo(backend)

    # -- writing --------------------------------------------------------------------

    async def add(
        self,
        texts: Iterable[str],
        vectors: Iterable[Sequence[float] | npt.NDArray[Any]],
        *,
        metadatas: Iterable[Mapping[str, Any] | None] | None = None,
        ids: Iterable[str | None] | None = None,
    ) -> list[str]:
        """Async :meth:`Collection.add`."""
        return await self.upsert(parallel_records(texts, vectors, metadatas, ids))

    async def upsert(self, records: Iterable[Record] | Batch) -> list[str]:
        """Async :meth:`Collection.upsert`: one transaction, checked before writing."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(self._col.upsert, records)
        batches = check_batches(records, WRITE_CHUNK_SIZE)
        first = next(batches, None)
        if first is None:
            return []
        assert first.vectors is not None
        dimension = check_dimension(int(first.vectors.shape[1]), "the vectors' dimension")
        async with backend.aatomic():
            info = await self._ainfo(backend)
            if info.dimension != dimension:
                await backend.aset_dimension(info, dimension, len(first))
                info = await self._ainfo(backend)
            model_id = self._col.model_id_to_record(info)
            if model_id is not None:
                await backend.aset_model_id(info, model_id)
            return await backend.awrite(info, chain(first, batches))

    async def delete(
        self,
        ids: Iterable[str] | None = None,
        *,
        filter: Filter | None = None,
        doc_ids: Iterable[str] | None = None,
    ) -> int:
        """Async :meth:`Collection.delete`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(self._col.delete, ids, filter=filter, doc_ids=doc_ids)
        parts = deletion(ids, doc_ids, filter)
        if parts is None:
            return 0
        deleted = 0
        async with self._aguard(backend), backend.aatomic():
            info = await self._ainfo(backend)
            for id_chunk, doc_chunk in parts:
                deleted += await backend.adelete(info, ids=id_chunk, doc_ids=doc_chunk, filter=filter)
        return deleted

    async def clear(self) -> int:
        """Async :meth:`Collection.clear`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(self._col.clear)
        async with self._aguard(backend), backend.aatomic():
            return await backend.aclear(await self._ainfo(backend))

    # -- reading --------------------------------------------------------------------

    async def count(self, filter: Filter | None = None) -> int:
        """Async :meth:`Collection.count`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(self._col.count, filter)
        async with self._aguard(backend), backend.asession():
            return await backend.acount(await self._ainfo(backend), filter)

    async def get(self, ids: Iterable[str], *, include_vectors: bool = False) -> list[Hit]:
        """Async :meth:`Collection.get`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(self._col.get, ids, include_vectors=include_vectors)
        id_list = check_strings(ids, "ids")
        found: dict[str, Hit] = {}
        async with self._aguard(backend), backend.asnapshot():
            info = await self._ainfo(backend)
            for chunk in chunks(dict.fromkeys(id_list), WRITE_CHUNK_SIZE):
                hits = await self._aselect(backend, info, include_vectors, {"ids": chunk})
                found.update((hit.id, hit) for hit in hits)
        return [found[i] for i in id_list if i in found]

    async def find(
        self,
        *,
        filter: Filter | None = None,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Hit]:
        """Async :meth:`Collection.find`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(
                self._col.find,
                filter=filter,
                ids=ids,
                doc_ids=doc_ids,
                limit=limit,
                offset=offset,
                include_vectors=include_vectors,
            )
        query = FindQuery.of(filter, ids, doc_ids, limit, offset)
        async with self._aguard(backend), backend.asnapshot():
            return await self._aselect(backend, await self._ainfo(backend), include_vectors, query.arguments())

    @staticmethod
    async def _aselect(
        backend: AsyncStorageBackend, info: CollectionInfo, include_vectors: bool, conditions: dict[str, Any]
    ) -> list[Hit]:
        found = await backend.aselect(info, **conditions)
        vectors = await backend.avectors(info, [row.pk for row in found]) if include_vectors else {}
        return row_hits(found, vectors)

    # -- search ---------------------------------------------------------------------

    async def search(
        self,
        vector: Sequence[float] | npt.NDArray[Any],
        *,
        k: int = 4,
        filter: Filter | None = None,
        include_vectors: bool = False,
        ef_search: int | None = None,
    ) -> list[Hit]:
        """Async :meth:`Collection.search`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(
                self._col.search, vector, k=k, filter=filter, include_vectors=include_vectors, ef_search=ef_search
            )
        k = check_k(k)
        options = self._col.options_for(ef_search)
        query: npt.NDArray[np.float32] = vector_matrix([vector], "query vector")[0]
        found = await self._anearest(backend, query, k, filter, include_vectors, options=options)
        return [vector_hit(row, include_vectors) for row in found]

    async def _anearest(
        self,
        backend: AsyncStorageBackend,
        query: npt.NDArray[np.float32],
        k: int,
        filter: Filter | None,
        include_vectors: bool,
        *,
        options: IndexOptions,
    ) -> list[ScoredRow]:
        col = self._col
        async with self._aguard(backend), backend.asession():
            cached = col.search_entry  # no async write is open here: the entry may be reused (see Collection)
            info = cached or await self._ainfo(backend)
            col.remember_search_entry(info, reuse=True)
            if not col.fits(info, query, filter):
                return []
            try:
                return await backend.aknn(info, query, k, filter, include_vectors, options=options)
            except DatabaseError as exc:
                if not col.forget_stale_entry(cached, exc):
                    raise
            info = await self._ainfo(backend)
            if not col.fits(info, query, filter):
                return []
            return await backend.aknn(info, query, k, filter, include_vectors, options=options)

    async def mmr(
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
        """Async :meth:`Collection.mmr`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(
                self._col.mmr,
                vector,
                k=k,
                fetch_k=fetch_k,
                lambda_mult=lambda_mult,
                filter=filter,
                include_vectors=include_vectors,
                ef_search=ef_search,
            )
        plan = MmrQuery.of(vector, k, fetch_k, lambda_mult)
        options = self._col.options_for(ef_search)
        candidates = await self._anearest(backend, plan.query, plan.fetch_k, filter, True, options=options)
        return plan.picked(candidates, include_vectors)

    async def keyword_search(
        self, text: str, *, k: int = 4, filter: Filter | None = None, raw: bool = False
    ) -> list[Hit]:
        """Async :meth:`Collection.keyword_search`."""
        backend = self._native()
        if backend is None:
            return await asyncio.to_thread(self._col.keyword_search, text, k=k, filter=filter, raw=raw)
        k, match = self._col.keyword_query(text, k, filter, raw)
        if match is None:
            return []
        async with self._aguard(backend), backend.asession():
            info = await self._ainfo(backend)
            await backend.aensure_keyword_index(info)
            found = await backend.akeyword_search(info, match, k, filter, raw=raw)
        return [keyword_hit(row) for row in found]

    async def hybrid_search(
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
        """Async :meth:`Collection.hybrid_search`."""
        options = options or HybridOptions(alpha, fetch_k, fusion)
        backend = self._native()
        if backend is None:
            hybrid = self._col.hybrid_search
            return await asyncio.to_thread(
                hybrid, vector, text, k=k, filter=filter, options=options, ef_search=ef_search
            )
        k, options = hybrid_arguments(text, k, options)
        candidates = options.candidates(k)
        self._col.options_for(ef_search)  # checked before anything is read
        await backend.aensure_keyword_index(await self._ainfo(backend))  # before the snapshot: it may build
        async with backend.asnapshot():
            dense = await self.search(vector, k=candidates, filter=filter, ef_search=ef_search)
            keyword = await self.keyword_search(text, k=candidates, filter=filter)
        return fused_hits(dense, keyword, options, k)
