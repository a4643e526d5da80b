"""The store's reads: by id, similarity, maximal marginal relevance, keyword and hybrid search.

:class:`SearchMethods` is the part of
:class:`~langchain_sqlitevec.SQLiteVecVectorStore` that reads: ``get_by_ids``,
every search of LangChain's ``VectorStore`` interface and the store's keyword
and hybrid searches, over the core collection the store opened.

Each sync/async pair has one implementation: the method checks its arguments
and builds the core call waiting for its query vector (a ``_CoreSearch``);
the sync method embeds the query with ``embed_query`` and runs the call on
the core collection, the async one awaits ``aembed_query`` and awaits the
same call on the collection's async twin (``collection.aio``: on Postgres,
psycopg's async API; on a file, a worker thread).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from sqlitevec_store import Collection, Hit, parse_filter_dict
from sqlitevec_store.collection_async import CollectionCall
from sqlitevec_store.options import HybridOptions
from sqlitevec_store.records import is_int
from sqlitevec_store.validation import refuse_one_string

from ._arguments import reject_unknown
from ._documents import to_document

__all__ = ["Scored", "SearchMethods", "cosine_relevance_score"]

_T = TypeVar("_T")

#: Documents with their scores, as the ``*_with_score`` methods return them.
Scored = list[tuple[Document, float]]


@dataclass(frozen=True)
class _CoreSearch(Generic[_T]):
    """A core search with its arguments checked, waiting for the query vector.

    ``verb`` names a :class:`~sqlitevec_store.Collection` method taking the
    query vector first; ``collection.aio`` has its async twin of the same name.
    """

    verb: str
    shape: Callable[[list[Hit]], _T]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self, collection: Collection, vector: Sequence[float]) -> _T:
        """Run the search on ``collection``."""
        return self.shape(CollectionCall(self.verb, (vector,), self.kwargs).run(collection))

    async def arun(self, collection: Collection, vector: Sequence[float]) -> _T:
        """Await the search on ``collection``'s async twin."""
        return self.shape(await CollectionCall(self.verb, (vector,), self.kwargs).arun(collection))


def _by_distance(hits: list[Hit]) -> Scored:
    return [(to_document(hit), hit.distance) for hit in hits]


def _by_similarity(hits: list[Hit]) -> Scored:
    return [(to_document(hit), hit.similarity) for hit in hits]


def _hit_documents(hits: list[Hit]) -> list[Document]:
    return [to_document(hit) for hit in hits]


def _ef_search(kwargs: Mapping[str, Any], method: str) -> Any:
    """The ``ef_search`` keyword of a search (``None`` when absent; checked by the core); any other is refused."""
    rest = dict(kwargs)
    ef_search = rest.pop("ef_search", None)
    reject_unknown(rest, method)
    return ef_search


def cosine_relevance_score(distance: float) -> float:
    """Map a cosine distance ``d`` in ``[0, 2]`` to the cosine similarity ``1 - d``, clipped to ``[0, 1]``.

    The relevance PGVector and Chroma report, so a ``score_threshold`` carries
    over: unrelated texts score near 0 (not near 0.5, as ``1 - d/2`` would
    give), and opposite vectors (``d > 1``) score 0.
    """
    return min(1.0, max(0.0, 1.0 - distance))


def _documents(pairs: Scored) -> list[Document]:
    return [doc for doc, _ in pairs]


class SearchMethods(VectorStore):
    """Reads from a core collection: how :class:`~langchain_sqlitevec.SQLiteVecVectorStore` answers queries.

    A subclass opens the collection (:attr:`collection`) and sets the
    embedding model (``_embedding``).
    """

    _embedding: Embeddings

    @property
    @abstractmethod
    def collection(self) -> Collection:
        """The core collection searched."""

    # -- one implementation per sync/async pair ------------------------------

    def _embedded(self, query: str, search: _CoreSearch[_T]) -> _T:
        """Embed ``query`` with ``embed_query`` and run ``search`` with its vector."""
        return search.run(self.collection, self._embedding.embed_query(query))

    async def _aembedded(self, query: str, search: _CoreSearch[_T]) -> _T:
        """Embed ``query`` with ``aembed_query``, then await ``search`` with its vector."""
        vector = await self._embedding.aembed_query(query)
        return await search.arun(self.collection, vector)

    # -- search -------------------------------------------------------------

    def _similarity(
        self, k: int, filter: Mapping[str, Any] | None, kwargs: Mapping[str, Any], method: str
    ) -> _CoreSearch[Scored]:
        """A nearest-neighbour search, checked, waiting for its query vector (``ef_search`` the one keyword taken)."""
        ef_search = _ef_search(kwargs, method)
        return _CoreSearch(
            "search", _by_distance, {"k": k, "filter": parse_filter_dict(filter), "ef_search": ef_search}
        )

    def similarity_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents nearest to ``query`` (among those matching ``filter``).

        Args:
            query: The query text.
            k: How many documents to return.
            filter: A metadata filter in the dict dialect (see the class docstring).
            **kwargs: Not accepted; present for the ``VectorStore`` interface.

        Raises:
            ValueError: An unknown filter operator (the message lists the supported ones).

        """
        return _documents(self.similarity_search_with_score(query, k, filter, **kwargs))

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search`."""
        return _documents(await self.asimilarity_search_with_score(query, k, filter, **kwargs))

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Scored:
        """The ``k`` nearest documents with their cosine distance to ``query`` (lower is closer)."""
        return self._embedded(query, self._similarity(k, filter, kwargs, "similarity_search_with_score"))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Scored:
        """Async :meth:`similarity_search_with_score`."""
        return await self._aembedded(query, self._similarity(k, filter, kwargs, "asimilarity_search_with_score"))

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents nearest to an embedding vector."""
        return _documents(self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs))

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search_by_vector`."""
        return _documents(await self.asimilarity_search_with_score_by_vector(embedding, k, filter, **kwargs))

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Scored:
        """The ``k`` documents nearest to an embedding vector, with their cosine distances."""
        return self._similarity(k, filter, kwargs, "similarity_search_with_score_by_vector").run(
            self.collection, embedding
        )

    async def asimilarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Scored:
        """Async :meth:`similarity_search_with_score_by_vector`."""
        search = self._similarity(k, filter, kwargs, "asimilarity_search_with_score_by_vector")
        return await search.arun(self.collection, embedding)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Cosine distance ``d`` in ``[0, 2]`` to relevance ``max(0, 1 - d)`` in ``[0, 1]`` (the cosine similarity)."""
        return cosine_relevance_score

    def _marginal(
        self,
        k: int,
        fetch_k: int,
        lambda_mult: float,
        filter: Mapping[str, Any] | None,
        *,
        kwargs: Mapping[str, Any],
        method: str,
    ) -> _CoreSearch[list[Document]]:
        """A maximal marginal relevance search, checked, waiting for its query vector.

        As LangChain's own stores (``InMemoryVectorStore``): MMR picks among the
        ``fetch_k`` nearest documents, so ``fetch_k < k`` returns ``fetch_k``
        documents. Bad values reach the core unchanged. ``ef_search`` is the one keyword taken.
        """
        ef_search = _ef_search(kwargs, method)
        tree = parse_filter_dict(filter)
        if is_int(k) and k >= 1 and is_int(fetch_k) and fetch_k >= 1:
            k = min(k, fetch_k)
        arguments = {"k": k, "fetch_k": fetch_k, "lambda_mult": lambda_mult, "filter": tree, "ef_search": ef_search}
        return _CoreSearch("mmr", _hit_documents, arguments)

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """``k`` documents chosen for relevance to ``query`` and diversity among themselves.

        Args:
            query: The query text.
            k: How many documents to return (at most ``fetch_k``, as in
                LangChain's ``InMemoryVectorStore``).
            fetch_k: How many nearest (matching) documents to choose from.
            lambda_mult: 1 for pure relevance, 0 for maximal diversity.
            filter: A metadata filter in the dict dialect.
            **kwargs: Not accepted; present for the ``VectorStore`` interface.

        """
        search = self._marginal(k, fetch_k, lambda_mult, filter, kwargs=kwargs, method="max_marginal_relevance_search")
        return self._embedded(query, search)

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search`."""
        search = self._marginal(k, fetch_k, lambda_mult, filter, kwargs=kwargs, method="amax_marginal_relevance_search")
        return await self._aembedded(query, search)

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Maximal marginal relevance search from an embedding vector."""
        return self._marginal(
            k, fetch_k, lambda_mult, filter, kwargs=kwargs, method="max_marginal_relevance_search_by_vector"
        ).run(self.collection, embedding)

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search_by_vector`."""
        search = self._marginal(
            k, fetch_k, lambda_mult, filter, kwargs=kwargs, method="amax_marginal_relevance_search_by_vector"
        )
        return await search.arun(self.collection, embedding)

    # -- keyword and hybrid search ---------------------------------------------

    def keyword_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> Scored:
        """The ``k`` documents best matching ``query`` by BM25, with scores in ``[0, 1)`` (higher is better).

        No embedding is computed. ``query`` is plain text (each word quoted,
        stopwords dropped, words ORed) unless ``raw`` is true, when it is an
        FTS5 query (``AND``, ``NEAR``, ``"phrase"``, ``prefix*``; a syntax
        error raises ``ValueError``).
        """
        return _by_similarity(self.collection.keyword_search(query, k=k, filter=parse_filter_dict(filter), raw=raw))

    def keyword_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> list[Document]:
        """The ``k`` documents best matching ``query`` by BM25 (see :meth:`keyword_search_with_score`)."""
        return _documents(self.keyword_search_with_score(query, k, filter, raw=raw))

    async def akeyword_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> Scored:
        """Async :meth:`keyword_search_with_score`."""
        hits = await self.collection.aio.keyword_search(query, k=k, filter=parse_filter_dict(filter), raw=raw)
        return _by_similarity(hits)

    async def akeyword_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> list[Document]:
        """Async :meth:`keyword_search`."""
        return _documents(await self.akeyword_search_with_score(query, k, filter, raw=raw))

    def _fused(
        self,
        query: str,
        *,
        k: int,
        filter: Mapping[str, Any] | None,
        alpha: float | None,
        fetch_k: int | None,
        fusion: str,
        ef_search: int | None,
    ) -> _CoreSearch[Scored]:
        """A hybrid search, checked, waiting for the vector of ``query``."""
        tree = parse_filter_dict(filter)
        options = HybridOptions(alpha, fetch_k, fusion)
        arguments = {"text": query, "k": k, "filter": tree, "options": options, "ef_search": ef_search}
        return _CoreSearch("hybrid_search", _by_similarity, arguments)

    def hybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
        ef_search: int | None = None,
    ) -> Scored:
        """Vector and keyword search fused, with the fused score in ``[0, 1]`` (higher is better).

        Args:
            query: The query text (embedded for the vector side, words for BM25).
            k: How many documents to return.
            filter: A metadata filter in the dict dialect; every result matches it.
            alpha: Weight of the vector side (1: pure vector, 0: pure keyword);
                ``None``: 0.7 for ``relative_score``, 0.5 for ``rrf``.
            fetch_k: Candidates per side (default 20, at least ``k``).
            fusion: ``"relative_score"`` (min-max normalized scores) or ``"rrf"``.
            ef_search: The vector side's HNSW candidate list on Postgres (``index_type="hnsw"``).

        """
        return self._embedded(
            query,
            self._fused(query, k=k, filter=filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion, ef_search=ef_search),
        )

    def hybrid_search(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
        ef_search: int | None = None,
    ) -> list[Document]:
        """Vector and keyword search fused (see :meth:`hybrid_search_with_score`)."""
        return _documents(
            self.hybrid_search_with_score(
                query, k, filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion, ef_search=ef_search
            )
        )

    async def ahybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
        ef_search: int | None = None,
    ) -> Scored:
        """Async :meth:`hybrid_search_with_score`."""
        return await self._aembedded(
            query,
            self._fused(query, k=k, filter=filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion, ef_search=ef_search),
        )

    async def ahybrid_search(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
        ef_search: int | None = None,
    ) -> list[Document]:
        """Async :meth:`hybrid_search`."""
        pairs = await self.ahybrid_search_with_score(
            query, k, filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion, ef_search=ef_search
        )
        return _documents(pairs)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id (with ``Document.id`` set), in the order of ``ids``; missing ids are skipped."""
        refuse_one_string(ids, "ids")  # dict.fromkeys would split it into characters
        return _hit_documents(self.collection.get(list(dict.fromkeys(ids))))

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        refuse_one_string(ids, "ids")
        return _hit_documents(await self.collection.aio.get(list(dict.fromkeys(ids))))
