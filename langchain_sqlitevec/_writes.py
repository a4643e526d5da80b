"""The store's write methods: add texts and documents, delete by id or filter.

:class:`WriteMethods` is the part of
:class:`~langchain_sqlitevec.SQLiteVecVectorStore` that writes. Each sync/async
pair has one implementation: an add call is checked into one plan before
anything is embedded; the sync method embeds it with ``embed_documents``, the
async one with ``aembed_documents`` (an :class:`~._embedder.EmbeddingPlan`
says which calls to make, for both). The async methods write through the
core's async verbs (``collection.aio``): on Postgres, psycopg's async API;
on a file, a worker thread.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from sqlitevec_store import Collection, EmbeddingCache, parse_filter_dict
from sqlitevec_store.validation import Batch, check_texts

from ._arguments import AddOptions, reject_unknown
from ._documents import DocumentParts
from ._embedder import EmbeddingPlan, aembed, aembed_cached, embed, embed_cached

__all__ = ["WriteMethods"]


@dataclass(frozen=True)
class _AddPlan:
    """An add call checked before anything is embedded: its batch, and how to embed the batch's texts."""

    batch: Batch
    embedding: EmbeddingPlan


class WriteMethods(VectorStore):
    """Writes to a core collection: how :class:`~langchain_sqlitevec.SQLiteVecVectorStore` stores documents.

    A subclass opens the collection (:attr:`collection`), sets the embedding
    model (``_embedding``), the embedding cache (``_embedding_cache``, or
    ``None`` to embed every text) and the default of ``show_progress``.
    """

    _embedding: Embeddings
    _embedding_cache: EmbeddingCache | None
    show_progress: bool

    @property
    @abstractmethod
    def collection(self) -> Collection:
        """The core collection written to."""

    # -- writing ------------------------------------------------------------

    def _plan_add(
        self,
        texts: Iterable[str],
        metadatas: Iterable[dict[str, Any] | None] | None,
        ids: Iterable[str | None] | None,
        kwargs: dict[str, Any],
        method: str,
    ) -> _AddPlan:
        """Check an add call's keywords and batch (the core's :func:`~sqlitevec_store.validation.check_texts`)."""
        options = AddOptions.pop(kwargs, method, show_progress=self.show_progress)
        batch = check_texts(texts, metadatas, ids)
        return _AddPlan(batch, EmbeddingPlan(batch.texts, options.batch_size, options.show_progress))

    def _vectors(self, plan: _AddPlan) -> list[list[float]]:
        """The batch's vectors: from the cache where it has them (when there is one), else from the model."""
        if self._embedding_cache is None:
            return embed(self._embedding, plan.embedding)
        return embed_cached(self._embedding, plan.embedding, self._embedding_cache)

    async def _avectors(self, plan: _AddPlan) -> list[list[float]]:
        """Async :meth:`_vectors`."""
        if self._embedding_cache is None:
            return await aembed(self._embedding, plan.embedding)
        return await aembed_cached(self._embedding, plan.embedding, self._embedding_cache)

    def _write(self, plan: _AddPlan, vectors: list[list[float]]) -> list[str]:
        """Check the vectors against the batch (count, values) and write it in one transaction."""
        return self.collection.upsert(plan.batch.with_vectors(vectors))

    async def _awrite(self, plan: _AddPlan, vectors: list[list[float]]) -> list[str]:
        """Async :meth:`_write`."""
        return await self.collection.aio.upsert(plan.batch.with_vectors(vectors))

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
        every text is stored or none is. With ``cache_embeddings=True`` (see
        the constructor) only texts the database's embedding cache lacks are
        embedded, each distinct text once.

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
        plan = self._plan_add(texts, metadatas, ids, kwargs, "add_texts")
        if not plan.batch:
            return []
        return self._write(plan, self._vectors(plan))

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: Iterable[dict[str, Any] | None] | None = None,
        *,
        ids: Iterable[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async :meth:`add_texts`: embeds with ``aembed_documents``, writes through the core's async verbs."""
        plan = self._plan_add(texts, metadatas, ids, kwargs, "aadd_texts")
        if not plan.batch:
            return []
        return await self._awrite(plan, await self._avectors(plan))

    def add_documents(self, documents: Iterable[Document], **kwargs: Any) -> list[str]:
        """Add documents; ``ids=`` wins over ``Document.id``, which wins over a generated UUID.

        Args:
            documents: The documents (any iterable, consumed fully). They are not modified.
            **kwargs: ``ids``, ``batch_size`` and ``show_progress``, as for :meth:`add_texts`.

        Returns:
            The ids, in input order.

        """
        parts = DocumentParts.of(documents, kwargs.pop("ids", None))
        return self.add_texts(parts.texts, parts.metadatas, ids=parts.ids, **kwargs)

    async def aadd_documents(self, documents: Iterable[Document], **kwargs: Any) -> list[str]:
        """Async :meth:`add_documents`."""
        parts = DocumentParts.of(documents, kwargs.pop("ids", None))
        return await self.aadd_texts(parts.texts, parts.metadatas, ids=parts.ids, **kwargs)

    def delete(
        self, ids: Iterable[str] | None = None, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> bool | None:
        """Delete documents by id, by filter, or both (documents matching both).

        With neither, nothing is deleted and ``False`` is returned. Ids that
        are not stored are ignored. ``filter={}`` matches every document.

        Returns:
            ``True`` once the deletion is done, ``False`` if nothing was selected.

        """
        if not self._deletes(ids, filter, kwargs, "delete"):
            return False
        self.collection.delete(ids, filter=parse_filter_dict(filter))
        return True

    @staticmethod
    def _deletes(ids: Iterable[str] | None, filter: Mapping[str, Any] | None, kwargs: Any, method: str) -> bool:
        """Whether a delete call selects anything (its keywords checked)."""
        reject_unknown(kwargs, method)
        return ids is not None or filter is not None

    async def adelete(
        self, ids: Iterable[str] | None = None, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> bool | None:
        """Async :meth:`delete`."""
        if not self._deletes(ids, filter, kwargs, "delete"):
            return False
        await self.collection.aio.delete(ids, filter=parse_filter_dict(filter))
        return True
