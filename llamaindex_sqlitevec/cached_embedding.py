"""``CachedEmbedding``: any LlamaIndex embedding, with its document vectors cached in the database.

Wraps a ``BaseEmbedding`` and the core's embedding cache
(:class:`sqlitevec_store.EmbeddingCache`: vectors keyed by model id and the
SHA-256 of the exact text, in the file that holds the vectors). Every
document text is looked up first and only the missing ones go to the model,
so ``VectorStoreIndex`` and ``IngestionPipeline`` never embed unchanged text
twice: after an edit, only the changed chunks are embedded. Queries pass
straight through to the wrapped model.

LlamaIndex's own ``BaseEmbedding.embeddings_cache`` keys a key-value store by
the raw text, without the model: two models would share an entry, and long
chunks make long keys. This cache keys by (model id, hash of the text).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from sqlitevec_store import Database, EmbeddingCache
from sqlitevec_store.embeddings.cache import CachedVectors
from sqlitevec_store.errors import InvalidInputError, InvalidInputTypeError
from sqlitevec_store.opening import open_database

if TYPE_CHECKING:
    from .base import SQLiteVecVectorStore

__all__ = ["CachedEmbedding"]


class CachedEmbedding(BaseEmbedding):
    """A ``BaseEmbedding`` whose document vectors are cached in the database, by model id and text.

    Args:
        embed_model: The embedding that computes the vectors the cache lacks
            (and every query vector).
        model_id: The id the vectors are cached under: it must change when the
            vectors do (another model, other options). Taken from
            ``embed_model.model_id`` when it has one (as
            :class:`~llamaindex_sqlitevec.SentenceTransformerEmbedding` does);
            otherwise required.
        db_path: A file path, ``":memory:"``, or a ``postgresql://`` URL.
        connection: An open ``sqlite3``/``sqlean`` connection (not closed by :meth:`close`).
        database: An open :class:`~sqlitevec_store.Database` to share, e.g. a
            vector store's ``client`` (not closed by :meth:`close`).

    Attributes:
        embedded: Distinct document texts the wrapped model embedded so far.
        reused: Document texts answered from the cache so far.

    Example:
        .. code-block:: python

            from llamaindex_sqlitevec import CachedEmbedding, SentenceTransformerEmbedding, SQLiteVecVectorStore

            vector_store = SQLiteVecVectorStore("app.db")
            embed_model = CachedEmbedding.from_vector_store(SentenceTransformerEmbedding(), vector_store)
            # VectorStoreIndex(..., embed_model=embed_model) / IngestionPipeline([..., embed_model])

    """

    model_id: str = Field(description="The id the document vectors are cached under.")

    _embed_model: BaseEmbedding = PrivateAttr()
    _cache: EmbeddingCache = PrivateAttr()
    _db: Database = PrivateAttr()
    _owns_db: bool = PrivateAttr(default=True)
    _embedded: int = PrivateAttr(default=0)
    _reused: int = PrivateAttr(default=0)

    def __init__(
        self,
        embed_model: BaseEmbedding,
        *,
        model_id: str | None = None,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any = None,
        database: Database | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(embed_model, BaseEmbedding):
            raise InvalidInputTypeError(
                f"embed_model must be a LlamaIndex BaseEmbedding, got {type(embed_model).__name__}"
            )
        model_id = model_id if model_id is not None else getattr(embed_model, "model_id", None)
        if not isinstance(model_id, str) or not model_id:
            raise InvalidInputError(
                f"CachedEmbedding needs model_id= for {type(embed_model).__name__}: the id its vectors are cached "
                "under (it must change when the vectors do)"
            )
        kwargs.setdefault("model_name", embed_model.model_name)
        kwargs.setdefault("embed_batch_size", embed_model.embed_batch_size)
        kwargs["model_id"] = model_id
        # The parent's synthesized __init__ does not know this class's fields.
        super().__init__(**kwargs)
        self._embed_model = embed_model
        self._db, self._owns_db = open_database(db_path=db_path, connection=connection, database=database)
        self._cache = self._db.embedding_cache(model_id)

    @classmethod
    def from_vector_store(
        cls, embed_model: BaseEmbedding, vector_store: SQLiteVecVectorStore, *, model_id: str | None = None
    ) -> CachedEmbedding:
        """``embed_model`` with its cache in ``vector_store``'s database (one file, one connection).

        ``model_id`` defaults to ``embed_model.model_id``, else to the model id
        the vector store records.
        """
        if model_id is None and getattr(embed_model, "model_id", None) is None:
            model_id = vector_store.model_id
        return cls(embed_model, model_id=model_id, database=vector_store.client)

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex (de)serialization."""
        return "CachedEmbedding"

    @property
    def embed_model(self) -> BaseEmbedding:
        """The embedding the misses and the queries go to."""
        return self._embed_model

    @property
    def cache(self) -> EmbeddingCache:
        """The core embedding cache."""
        return self._cache

    @property
    def embedded(self) -> int:
        """Distinct document texts the wrapped model embedded through this object."""
        return self._embedded

    @property
    def reused(self) -> int:
        """Document texts answered from the cache through this object."""
        return self._reused

    def close(self) -> None:
        """Close the database if this object opened it. Idempotent."""
        if self._owns_db:
            self._db.close()

    # -- documents: through the cache ---------------------------------------------

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[Embedding]:
        """Cached vectors where there are; the rest from the wrapped model in one batched call, then cached."""
        got = self._cache.embed(
            texts, lambda todo: self._embed_model.get_text_embedding_batch(todo, show_progress, **kwargs)
        )
        return self._counted(got)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Async :meth:`get_text_embedding_batch`."""
        got = await self._cache.aembed(
            texts, lambda todo: self._embed_model.aget_text_embedding_batch(todo, show_progress, **kwargs)
        )
        return self._counted(got)

    def _counted(self, got: CachedVectors) -> list[Embedding]:
        self._embedded += got.embedded
        self._reused += got.reused
        return cast(list[Embedding], got.vectors.tolist())

    def _get_text_embedding(self, text: str) -> Embedding:
        return self.get_text_embedding_batch([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self.get_text_embedding_batch(texts)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self.aget_text_embedding_batch([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self.aget_text_embedding_batch(texts)

    # -- queries: straight to the model --------------------------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed_model.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._embed_model.aget_query_embedding(query)
