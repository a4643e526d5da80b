"""The store's reads: by id, similarity, maximal marginal relevance, keyword and hybrid search.

:class:`SearchMethods` is the part of
:class:`~langchain_sqlitevec.SQLiteVecVectorStore` that reads: ``get_by_ids``,
every search of LangChain's ``VectorStore`` interface and the store's keyword
and hybrid searches, over the core collection the store opened.

Each sync/async pair has one implementation: the method checks its arguments
and builds the core call waiting for its query vector (a ``_VectorSearch``);
the sync method embeds the query with ``embed_query`` and runs the call, the
async one awaits ``aembed_query`` and runs the same call in a worker thread.
A pair with nothing to embed runs the sync method in a worker thread.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore

from sqlitevec_store import Collection, Filter, parse_filter_dict
from sqlitevec_store.options import HybridOptions
from sqlitevec_store.records import is_int
from sqlitevec_store.validation import refuse_one_string

from ._arguments import reject_unknown
from ._documents import to_document

__all__ = ["Scored", "SearchMethods", "cosine_relevance_score"]

_T = TypeVar("_T")

#: A search with its arguments checked, waiting for the query vector.
_VectorSearch = Callable[[Sequence[float]], _T]

#: Documents with their scores, as the ``*_with_score`` methods return them.
Scored = list[tuple[Document, float]]


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

    def _embedded(self, query: str, search: _VectorSearch[_T]) -> _T:
        """Embed ``query`` with ``embed_query`` and run ``search`` with its vector."""
        return search(self._embedding.embed_query(query))

    async def _aembedded(self, query: str, search: _VectorSearch[_T]) -> _T:
        """Embed ``query`` with ``aembed_query``, then run ``search`` in a worker thread."""
        vector = await self._embedding.aembed_query(query)
        return await run_in_executor(None, search, vector)

    # -- search -------------------------------------------------------------

    def _similarity(
        self, k: int, filter: Mapping[str, Any] | None, kwargs: Mapping[str, Any], method: str
    ) -> _VectorSearch[Scored]:
        """A nearest-neighbour search, checked, waiting for its query vector."""
        reject_unknown(kwargs, method)
        return partial(self._search, k=k, tree=parse_filter_dict(filter))

    def _search(self, vector: Sequence[float], *, k: int, tree: Filter | None) -> Scored:
        return [(to_document(hit), hit.distance) for hit in self.collection.search(vector, k=k, filter=tree)]

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
        return self._similarity(k, filter, kwargs, "similarity_search_with_score_by_vector")(embedding)

    async def asimilarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Scored:
        """Async :meth:`similarity_search_with_score_by_vector`."""
        search = self._similarity(k, filter, kwargs, "asimilarity_search_with_score_by_vector")
        return await run_in_executor(None, search, embedding)

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
    ) -> _VectorSearch[list[Document]]:
        """A maximal marginal relevance search, checked, waiting for its query vector.

        As LangChain's own stores (``InMemoryVectorStore``): MMR picks among the
        ``fetch_k`` nearest documents, so ``fetch_k < k`` returns ``fetch_k``
        documents. Bad values reach the core unchanged.
        """
        reject_unknown(kwargs, method)
        tree = parse_filter_dict(filter)
        if is_int(k) and k >= 1 and is_int(fetch_k) and fetch_k >= 1:
            k = min(k, fetch_k)
        return partial(self._mmr, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult, tree=tree)

    def _mmr(
        self, vector: Sequence[float], *, k: int, fetch_k: int, lambda_mult: float, tree: Filter | None
    ) -> list[Document]:
        hits = self.collection.mmr(vector, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult, filter=tree)
        return [to_document(hit) for hit in hits]

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
        )(embedding)

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
        return await run_in_executor(None, search, embedding)

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
        hits = self.collection.keyword_search(query, k=k, filter=parse_filter_dict(filter), raw=raw)
        return [(to_document(hit), hit.similarity) for hit in hits]

    def keyword_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> list[Document]:
        """The ``k`` documents best matching ``query`` by BM25 (see :meth:`keyword_search_with_score`)."""
        return _documents(self.keyword_search_with_score(query, k, filter, raw=raw))

    async def akeyword_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> Scored:
        """Async :meth:`keyword_search_with_score`."""
        return await run_in_executor(None, self.keyword_search_with_score, query, k, filter, raw=raw)

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
    ) -> _VectorSearch[Scored]:
        """A hybrid search, checked, waiting for the vector of ``query``."""
        tree = parse_filter_dict(filter)
        options = HybridOptions(alpha, fetch_k, fusion)
        return partial(self._hybrid, text=query, k=k, tree=tree, options=options)

    def _hybrid(
        self, vector: Sequence[float], *, text: str, k: int, tree: Filter | None, options: HybridOptions
    ) -> Scored:
        hits = self.collection.hybrid_search(vector, text, k=k, filter=tree, options=options)
        return [(to_document(hit), hit.similarity) for hit in hits]

    def hybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
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

        """
        return self._embedded(
            query, self._fused(query, k=k, filter=filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion)
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
    ) -> list[Document]:
        """Vector and keyword search fused (see :meth:`hybrid_search_with_score`)."""
        return _documents(self.hybrid_search_with_score(query, k, filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion))

    async def ahybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
    ) -> Scored:
        """Async :meth:`hybrid_search_with_score`."""
        return await self._aembedded(
            query, self._fused(query, k=k, filter=filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion)
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
    ) -> list[Document]:
        """Async :meth:`hybrid_search`."""
        pairs = await self.ahybrid_search_with_score(query, k, filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion)
        return _documents(pairs)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id (with ``Document.id`` set), in the order of ``ids``; missing ids are skipped."""
        refuse_one_string(ids, "ids")  # dict.fromkeys would split it into characters
        return [to_document(hit) for hit in self.collection.get(list(dict.fromkeys(ids)))]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        return await run_in_executor(None, self.get_by_ids, ids)
