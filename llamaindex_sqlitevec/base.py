"""``SQLiteVecVectorStore``: a LlamaIndex vector store in one SQLite file (sqlite-vec).

A thin adapter over :mod:`sqlitevec_store`: configuration is pydantic fields,
the open :class:`~sqlitevec_store.Database` and collection are private
attributes, every read and write goes through the core (no SQL here), and the
async methods await the core's async verbs (``collection.aio``: on Postgres,
psycopg's async API; on a file, a worker thread).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from sqlitevec_store import (
    DEFAULT_COLLECTION,
    DEFAULT_OVERSAMPLE,
    Collection,
    Comparison,
    Database,
    DimensionMismatchError,
    Filter,
    Hit,
    InvalidInputError,
    Op,
    Record,
    UncheckedModelWarning,
)
from sqlitevec_store.collection_async import CollectionCall
from sqlitevec_store.opening import open_database
from sqlitevec_store.options import HybridOptions, IndexOptions
from sqlitevec_store.records import MAX_COUNT, check_count

from .filters import metadata_filters_to_core, restrict
from .nodes import hit_to_node, is_tracked_node, node_to_record

__all__ = ["DEFAULT_MMR_PREFETCH_FACTOR", "SQLiteVecVectorStore"]

#: MMR re-ranks this many times ``similarity_top_k`` nearest nodes unless told otherwise.
DEFAULT_MMR_PREFETCH_FACTOR = 4.0

#: The LlamaIndex default ``mmr_threshold`` (the MMR lambda).
DEFAULT_MMR_THRESHOLD = 0.5

_SUPPORTED_MODES = (
    VectorStoreQueryMode.DEFAULT,
    VectorStoreQueryMode.MMR,
    VectorStoreQueryMode.TEXT_SEARCH,
    VectorStoreQueryMode.HYBRID,
)


class SQLiteVecVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store backed by one SQLite file with sqlite-vec.

    Nodes are stored with their text, their metadata (nested values and
    lists allowed), their ``ref_doc_id`` in an indexed column, and everything
    else LlamaIndex needs to rebuild them (relationships, node type,
    templates...) in a bookkeeping field kept apart from the metadata, so a
    LangChain user of the same file sees exactly the metadata that was given.
    Rows written without that bookkeeping (through LangChain or the core)
    come back as :class:`~llama_index.core.schema.TextNode`.

    Filtering is exact and happens before the top-k cut, so a selective filter
    returns ``similarity_top_k`` nodes whenever that many match. Filters follow
    LlamaIndex's own semantics (``build_metadata_filter_fn``); see
    :mod:`llamaindex_sqlitevec.filters` for the details and the few
    differences. ``similarities`` are cosine similarities ``1 - d``, where
    ``d`` is the cosine distance the LangChain adapter reports for the same
    file.

    Keyword and hybrid search use the FTS5 (BM25) index each collection keeps
    beside its vectors:

    * ``VectorStoreQueryMode.TEXT_SEARCH``: BM25 over ``query.query_str`` (no
      embedding needed), ``sparse_top_k`` nodes (``similarity_top_k`` when
      ``None``). ``similarities`` are BM25 scores squashed into ``[0, 1)``
      as ``s / (1 + s)``.
    * ``VectorStoreQueryMode.HYBRID``: the vector and keyword rankings fused
      by the core's ``hybrid_search``. ``alpha`` weighs the vector side (1:
      pure vector, 0: pure keyword; ``None``: 0.7, the best on the project's
      benchmark, over min-max normalized scores); ``hybrid_top_k`` nodes are
      returned (``similarity_top_k`` when ``None``); each side contributes
      ``sparse_top_k`` candidates (when ``None``: ``max(20, top k)``).
      ``similarities`` are the fused scores in ``[0, 1]``, the same numbers
      the LangChain adapter's ``hybrid_search_with_score`` returns. Pass
      ``hybrid_fusion="rrf"`` as a query keyword for reciprocal rank fusion.
      ``index.as_retriever(vector_store_query_mode="hybrid", alpha=0.5)``
      works.

    ``query.node_ids`` and ``query.doc_ids`` restrict the search; an empty list
    means no restriction. ``VectorStoreIndex.as_retriever()`` always passes as
    ``node_ids`` the ids of the ``IndexNode``/``ImageNode`` objects it tracks,
    which would wrongly restrict a plain retrieval to those nodes. So when
    every given id names a stored ``IndexNode`` or ``ImageNode``, the list is
    taken to be that bookkeeping and ignored; pass ``strict_node_ids=True`` as
    a query keyword (``vector_store_kwargs`` of a retriever) to restrict to
    such nodes on purpose.

    Args:
        db_path: A file path, ``":memory:"``, or a ``postgresql://`` URL (Postgres + pgvector).
        collection_name: The collection in the file (created if missing).
        embed_dim: The embedding dimension, if known (checked against an
            existing collection; otherwise the first nodes set it).
        model_id: The canonical id of the embedding model, e.g.
            ``SentenceTransformerEmbedding().model_id``. Recorded in the file
            (when the collection is created, or on the first write to a
            collection that has none); opening a collection recorded with
            another model raises :class:`~sqlitevec_store.ModelMismatchError`.
            ``None`` records and checks nothing; opening a collection that
            records a model with ``None`` warns once
            (:class:`~sqlitevec_store.UncheckedModelWarning`), naming the model.
        connection: An open ``sqlite3``/``sqlean`` connection to use instead of
            ``db_path`` (it is not closed by :meth:`close`). Async methods need
            one opened with ``check_same_thread=False``.
        database: An open :class:`~sqlitevec_store.Database` to share (not
            closed by :meth:`close`).
        index_type: How searches run: ``"flat"`` (exact; the vectors are
            scanned from a copy in RAM, ~155 MB per 100K vectors of 384
            dimensions), ``"rescore"`` (approximate: 1-bit codes, then exact
            rescoring of ``k * oversample`` candidates) or ``"vec0"`` (exact,
            sqlite-vec's own KNN, no RAM copy). See
            :class:`sqlitevec_store.Collection`.
        oversample: Candidates per result for ``"rescore"``.

    Example:
        .. code-block:: python

            from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
            from llamaindex_sqlitevec import SentenceTransformerEmbedding, SQLiteVecVectorStore

            embed_model = SentenceTransformerEmbedding()  # all-MiniLM-L6-v2, offline
            store = SQLiteVecVectorStore("rag.db", model_id=embed_model.model_id)
            index = VectorStoreIndex.from_documents(
                SimpleDirectoryReader("docs").load_data(),
                storage_context=StorageContext.from_defaults(vector_store=store),
                embed_model=embed_model,
            )
            # Later, without re-embedding anything:
            index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
            nodes = index.as_retriever(similarity_top_k=3).retrieve("How do I restore a backup?")
            store.close()

    """

    stores_text: bool = True
    flat_metadata: bool = False

    db_path: str = Field(default=":memory:", description="SQLite file path, ':memory:', or a postgresql:// URL.")
    collection_name: str = Field(default=DEFAULT_COLLECTION, description="Collection name inside the file.")
    embed_dim: int | None = Field(default=None, description="Embedding dimension, if known.")
    model_id: str | None = Field(default=None, description="Canonical id of the embedding model.")
    index_type: str = Field(default="flat", description="How searches run: 'flat', 'rescore' or 'vec0'.")
    oversample: int = Field(default=DEFAULT_OVERSAMPLE, description="Candidates per result for 'rescore'.")

    _db: Database = PrivateAttr()
    _collection: Collection = PrivateAttr()
    _owns_db: bool = PrivateAttr(default=True)
    _index: IndexOptions = PrivateAttr()

    def __init__(
        self,
        db_path: str | os.PathLike[str] = ":memory:",
        *,
        collection_name: str = DEFAULT_COLLECTION,
        embed_dim: int | None = None,
        model_id: str | None = None,
        connection: Any = None,
        database: Database | None = None,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
        **kwargs: Any,
    ) -> None:
        if connection is not None and database is not None:
            raise InvalidInputError("Pass either connection= or database=, not both")
        index = IndexOptions(index_type, oversample)  # checked before anything is opened
        fields: dict[str, Any] = {
            "db_path": os.fspath(db_path),
            "collection_name": collection_name,
            "embed_dim": embed_dim,
            "model_id": model_id,
            "index_type": index.index_type,
            "oversample": index.oversample,
        }
        # The parent's synthesized __init__ does not know this class's fields.
        super().__init__(**fields, **kwargs)
        self._index = index
        # A connection or a database is used instead of db_path, which then names the database's file.
        adopting = connection is not None or database is not None
        self._db, self._owns_db = open_database(
            db_path=None if adopting else self.db_path, connection=connection, database=database
        )
        if self._db.path is not None:
            self.db_path = self._db.path
        try:
            self._collection = self._open_collection()
        except BaseException:
            self.close()
            raise

    def _open_collection(self) -> Collection:
        db, name, index = self._db, self.collection_name, self._index
        if not db.has_collection(name):
            return db.create_collection(
                name,
                dimension=self.embed_dim,
                model_id=self.model_id,
                options=index,
            )
        collection = db.collection(name, model_id=self.model_id, create=False, options=index)
        info = collection.info()
        if self.embed_dim is not None and info.dimension is not None and info.dimension != self.embed_dim:
            raise DimensionMismatchError(
                f"Collection {info.name!r} holds {info.dimension}-dimensional vectors, not embed_dim={self.embed_dim}"
            )
        if self.model_id is None and info.model_id is not None:
            warnings.warn(
                f"Collection {info.name!r} was built with the embedding model {info.model_id!r}, but this "
                "store was opened without model_id, so the embed model cannot be checked against it. "
                f"Pass model_id={info.model_id!r} (e.g. SentenceTransformerEmbedding().model_id) if it is that model.",
                UncheckedModelWarning,
                stacklevel=3,
            )
        return collection

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex (de)serialization."""
        return "SQLiteVecVectorStore"

    @property
    def client(self) -> Database:
        """The core :class:`~sqlitevec_store.Database`."""
        return self._db

    @property
    def collection(self) -> Collection:
        """The core :class:`~sqlitevec_store.Collection` this store reads and writes."""
        return self._collection

    def close(self) -> None:
        """Close the database if this store opened it. Idempotent."""
        if self._owns_db:
            self._db.close()

    # -- writing ------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert nodes (with their embeddings) by node id, in one transaction.

        A node id given twice keeps its last version. Every node is validated
        before anything is written.

        Returns:
            The node ids, in input order.

        Raises:
            ValueError: A node has no embedding, or metadata that is not JSON.

        """
        self._collection.upsert(_records(nodes))
        return [node.node_id for node in nodes]

    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Async :meth:`add`."""
        await self._collection.aio.upsert(_records(nodes))
        return [node.node_id for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node whose ``ref_doc_id`` is ``ref_doc_id``."""
        self._collection.delete(doc_ids=[ref_doc_id])

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await self._collection.aio.delete(doc_ids=[ref_doc_id])

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes that have one of ``node_ids`` and match ``filters``.

        With neither, nothing is deleted. An empty ``MetadataFilters`` matches
        every node, as in LlamaIndex.
        """
        if node_ids is None and filters is None:
            return
        tree = metadata_filters_to_core(filters)
        if node_ids is None and tree is None:
            self._collection.clear()
        else:
            self._collection.delete(node_ids, filter=tree)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Async :meth:`delete_nodes`."""
        if node_ids is None and filters is None:
            return
        tree = metadata_filters_to_core(filters)
        if node_ids is None and tree is None:
            await self._collection.aio.clear()
        else:
            await self._collection.aio.delete(node_ids, filter=tree)

    def clear(self) -> None:
        """Delete every node; the collection, its dimension and model stay."""
        self._collection.clear()

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self._collection.aio.clear()

    # -- reading ------------------------------------------------------------

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """Nodes by id and/or filter (all nodes when neither is given).

        With ``node_ids``, nodes come in that order (missing ids are skipped);
        otherwise in insertion order.
        """
        hits = self._collection.find(ids=node_ids, filter=metadata_filters_to_core(filters))
        return _nodes_in_order(hits, node_ids)

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """Async :meth:`get_nodes`."""
        hits = await self._collection.aio.find(ids=node_ids, filter=metadata_filters_to_core(filters))
        return _nodes_in_order(hits, node_ids)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes nearest to ``query.query_embedding``.

        Args:
            query: The query: embedding, ``query_str``, ``similarity_top_k``,
                ``filters``, ``doc_ids``, ``node_ids``, ``mode`` (default, MMR,
                text search or hybrid; see the class docstring),
                ``mmr_threshold``, ``alpha``, ``sparse_top_k``, ``hybrid_top_k``.
            **kwargs: Options below.

        Keyword Args:
            mmr_threshold: MMR lambda when ``query.mmr_threshold`` is not set
                (default 0.5: 1 is pure relevance, 0 maximal diversity).
            mmr_prefetch_k: MMR re-ranks this many nearest nodes (at least
                ``similarity_top_k``: MMR returns ``similarity_top_k`` nodes,
                as LlamaIndex's ``SimpleVectorStore`` does).
            mmr_prefetch_factor: ... or this many times ``similarity_top_k``
                (default 4; give at most one of the two).
            strict_node_ids: Always restrict to ``query.node_ids`` (see the class
                docstring).
            hybrid_fusion: ``"relative_score"`` (default) or ``"rrf"``.
            ef_search: This query's HNSW candidate list on Postgres
                (``index_type="hnsw"``; 1 to 1,000), over the store's; ignored
                by exact searches and on a file.

        Raises:
            InvalidInputError: (a ``ValueError``) No query embedding or text
                where the mode needs one, an unsupported mode (the message
                names the supported ones), bad MMR or hybrid parameters, or a
                filter the store cannot evaluate exactly
                (``UnsupportedFilterError``).

        """
        plan = self._plan_query(query, kwargs)
        tracked = plan.ids_to_check is not None and self._only_tracked_nodes(plan.ids_to_check)
        return _query_result(plan.call(tracked).run(self._collection))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async :meth:`query`."""
        plan = self._plan_query(query, kwargs)
        tracked = plan.ids_to_check is not None and await self._aonly_tracked_nodes(plan.ids_to_check)
        return _query_result(await plan.call(tracked).arun(self._collection))

    def _plan_query(self, query: VectorStoreQuery, kwargs: dict[str, Any]) -> _QueryPlan:
        """Check a query and choose the core search it runs (before anything is read)."""
        mode = VectorStoreQueryMode(query.mode)
        if mode not in _SUPPORTED_MODES:
            raise InvalidInputError(
                f"SQLiteVecVectorStore does not support query mode {mode.value!r}; "
                "supported: " + ", ".join(m.value for m in _SUPPORTED_MODES)
            )
        if mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.HYBRID) and not isinstance(
            query.query_str, str
        ):
            raise InvalidInputError(f"SQLiteVecVectorStore.query needs query.query_str in {mode.value} mode")
        if query.query_embedding is None and mode != VectorStoreQueryMode.TEXT_SEARCH:
            raise InvalidInputError("SQLiteVecVectorStore.query needs query.query_embedding")
        hybrid = None
        if mode == VectorStoreQueryMode.HYBRID:
            # Checked before the filters are translated and anything is read.
            hybrid = HybridOptions(
                alpha=query.alpha, fetch_k=query.sparse_top_k, fusion=kwargs.get("hybrid_fusion", "relative_score")
            )
        metadata = (metadata_filters_to_core(query.filters), self._doc_ids_filter(query.doc_ids))
        node_ids = list(dict.fromkeys(query.node_ids)) if query.node_ids else None
        strict = bool(kwargs.get("strict_node_ids", False))
        top_k = query.similarity_top_k
        first: str | list[float]
        options: dict[str, Any]
        if mode == VectorStoreQueryMode.TEXT_SEARCH:
            assert query.query_str is not None
            k = query.sparse_top_k if query.sparse_top_k is not None else top_k
            verb, first, options = "keyword_search", query.query_str, {"k": k}
        elif hybrid is not None:
            assert query.query_str is not None and query.query_embedding is not None
            k = query.hybrid_top_k if query.hybrid_top_k is not None else top_k
            verb, first = "hybrid_search", query.query_embedding
            options = {"text": query.query_str, "k": k, "options": hybrid}
        elif mode == VectorStoreQueryMode.MMR:
            assert query.query_embedding is not None
            threshold = query.mmr_threshold if query.mmr_threshold is not None else kwargs.get("mmr_threshold")
            verb, first = "mmr", query.query_embedding
            options = {
                "k": top_k,
                "fetch_k": _mmr_fetch_k(top_k, kwargs.get("mmr_prefetch_k"), kwargs.get("mmr_prefetch_factor")),
                "lambda_mult": DEFAULT_MMR_THRESHOLD if threshold is None else threshold,
            }
        else:
            assert query.query_embedding is not None
            verb, first, options = "search", query.query_embedding, {"k": top_k}
        if verb != "keyword_search":
            options["ef_search"] = self._collection.options_for(kwargs.get("ef_search")).ef_search
        return _QueryPlan(verb, first, options, metadata, node_ids, strict)

    @staticmethod
    def _doc_ids_filter(doc_ids: list[str] | None) -> Filter | None:
        if not doc_ids:
            return None
        return Comparison("doc_id", Op.IN, list(dict.fromkeys(doc_ids)), field="doc_id")

    def _only_tracked_nodes(self, ids: list[str]) -> bool:
        """Whether every id names a stored IndexNode/ImageNode (VectorStoreIndex's bookkeeping)."""
        first = self._collection.get(ids[:1])  # one read first: most queries' ids are not bookkeeping
        if not _all_tracked(ids[:1], first):
            return False
        return _all_tracked(ids, self._collection.get(ids) if len(ids) > 1 else first)

    async def _aonly_tracked_nodes(self, ids: list[str]) -> bool:
        """Async :meth:`_only_tracked_nodes`."""
        first = await self._collection.aio.get(ids[:1])
        if not _all_tracked(ids[:1], first):
            return False
        return _all_tracked(ids, await self._collection.aio.get(ids) if len(ids) > 1 else first)


class _QueryPlan(NamedTuple):
    """A checked query: the core search it runs and the restrictions of its filter."""

    verb: str  # the Collection method (collection.aio has its async twin)
    first: Any  # its first argument: the query embedding or text
    options: dict[str, Any]  # its other arguments, the filter aside
    restrictions: tuple[Filter | None, Filter | None]  # metadata filters, doc ids
    node_ids: list[str] | None  # the query's node ids, deduplicated
    strict: bool  # restrict to node_ids even when they name VectorStoreIndex bookkeeping

    @property
    def ids_to_check(self) -> list[str] | None:
        """Node ids that may be VectorStoreIndex bookkeeping (read before the search), or ``None``."""
        return None if self.strict else self.node_ids

    def call(self, tracked: bool) -> CollectionCall:
        """The core call; ``tracked``: the node ids name only IndexNodes/ImageNodes, so they restrict nothing."""
        ids = None if tracked or not self.node_ids else Comparison("id", Op.IN, self.node_ids, field="id")
        return CollectionCall(self.verb, (self.first,), {**self.options, "filter": restrict(*self.restrictions, ids)})


def _all_tracked(ids: list[str], hits: list[Hit]) -> bool:
    """Whether ``hits`` holds every id, each a tracked node (IndexNode/ImageNode)."""
    return len(hits) == len(ids) and all(is_tracked_node(hit) for hit in hits)


def _records(nodes: Sequence[BaseNode]) -> list[Record]:
    """The nodes as core records, a node id given twice keeping its last version."""
    return list({node.node_id: node_to_record(node) for node in nodes}.values())


def _nodes_in_order(hits: list[Hit], node_ids: list[str] | None) -> list[BaseNode]:
    """Hits as nodes: in the order of ``node_ids`` when given (missing ones skipped), else as found."""
    if node_ids is not None:
        by_id = {hit.id: hit for hit in hits}
        hits = [by_id[i] for i in dict.fromkeys(node_ids) if i in by_id]
    return [hit_to_node(hit) for hit in hits]


def _query_result(hits: list[Hit]) -> VectorStoreQueryResult:
    return VectorStoreQueryResult(
        nodes=[hit_to_node(hit) for hit in hits],
        similarities=[hit.similarity for hit in hits],
        ids=[hit.id for hit in hits],
    )


def _mmr_fetch_k(top_k: int, prefetch_k: Any, prefetch_factor: Any) -> int:
    """Candidates for MMR; the core raises it to ``top_k`` when lower (MMR returns ``top_k`` nodes)."""
    if prefetch_k is not None and prefetch_factor is not None:
        raise InvalidInputError("Give mmr_prefetch_k or mmr_prefetch_factor, not both")
    if prefetch_k is not None:
        return check_count(prefetch_k, "mmr_prefetch_k")  # checked here to name the keyword
    top_k = check_count(top_k, "similarity_top_k")
    factor = DEFAULT_MMR_PREFETCH_FACTOR if prefetch_factor is None else prefetch_factor
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 1 <= factor < math.inf:
        raise InvalidInputError(f"mmr_prefetch_factor must be a finite number >= 1, got {prefetch_factor!r}")
    # More candidates than any collection holds means all of them.
    return int(min(top_k * factor, MAX_COUNT))
