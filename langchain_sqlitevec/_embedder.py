"""Calling the LangChain embedding model: the batches of a write, progress, the declared dimension.

:class:`EmbeddingPlan` says once which calls a batch of texts takes and
reports progress; :func:`embed` runs it with ``embed_documents`` and
:func:`aembed` with ``aembed_documents``, so the sync and async add paths
share every rule. :func:`check_embedding` holds an embedding against the
collection it is opened on without calling it.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterable
from dataclasses import dataclass, replace

from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings, FakeEmbeddings

from sqlitevec_store import CollectionInfo, DimensionMismatchError, EmbeddingCache, UncheckedModelWarning
from sqlitevec_store.progress import Progress
from sqlitevec_store.records import chunks, is_int

__all__ = [
    "PROGRESS_BATCH_SIZE",
    "EmbeddingPlan",
    "aembed",
    "aembed_cached",
    "check_embedding",
    "declared_dimension",
    "embed",
    "embed_cached",
]

#: Texts per embedding call when progress is shown and no ``batch_size`` was given.
PROGRESS_BATCH_SIZE = 64

#: The calls of a plan: yields each call's texts, is sent that call's vectors, returns them all.
EmbeddingCalls = Generator[list[str], list[list[float]], list[list[float]]]


@dataclass(frozen=True)
class EmbeddingPlan:
    """How a batch of texts is embedded: in which calls to the model, with or without progress.

    Attributes:
        texts: The texts, in order.
        batch_size: Texts per call (``None``: all in one call, or
            :data:`PROGRESS_BATCH_SIZE` per call when progress is shown).
        show_progress: Report progress on stderr.

    """

    texts: list[str]
    batch_size: int | None
    show_progress: bool

    def calls(self) -> EmbeddingCalls:
        """Yield the texts of each call in turn; send back that call's vectors.

        Returns (as the generator's value) every vector the model returned, in
        order; the caller checks them against the texts
        (:meth:`~sqlitevec_store.validation.Batch.with_vectors`).
        """
        texts = self.texts
        batches: Iterable[list[str]]
        if self.batch_size is None and not self.show_progress:
            batches = [texts]
        else:
            batches = chunks(texts, self.batch_size or PROGRESS_BATCH_SIZE)
        vectors: list[list[float]] = []
        with Progress(len(texts), f"Embedding {len(texts)} texts", enabled=self.show_progress) as progress:
            for batch in batches:
                vectors.extend((yield batch))
                progress.update(len(batch))
        return vectors


def embed(embedding: Embeddings, plan: EmbeddingPlan) -> list[list[float]]:
    """Run ``plan`` with ``embedding.embed_documents``; the vectors of every text, in order."""
    calls = plan.calls()
    try:
        batch = next(calls)
        while True:
            batch = calls.send(list(embedding.embed_documents(batch)))
    except StopIteration as done:
        vectors: list[list[float]] = done.value
        return vectors


async def aembed(embedding: Embeddings, plan: EmbeddingPlan) -> list[list[float]]:
    """Run ``plan`` with ``await embedding.aembed_documents``; the vectors of every text, in order."""
    calls = plan.calls()
    try:
        batch = next(calls)
        while True:
            batch = calls.send(list(await embedding.aembed_documents(batch)))
    except StopIteration as done:
        vectors: list[list[float]] = done.value
        return vectors


def embed_cached(embedding: Embeddings, plan: EmbeddingPlan, cache: EmbeddingCache) -> list[list[float]]:
    """Run ``plan`` through ``cache``: cached vectors reused, only the missing distinct texts embedded (and cached).

    The missing texts are embedded as ``plan`` says (its batch size and
    progress), with ``embedding.embed_documents``; see
    :meth:`sqlitevec_store.EmbeddingCache.embed`.
    """
    got = cache.embed(plan.texts, lambda todo: embed(embedding, replace(plan, texts=todo)))
    vectors: list[list[float]] = got.vectors.tolist()
    return vectors


async def aembed_cached(embedding: Embeddings, plan: EmbeddingPlan, cache: EmbeddingCache) -> list[list[float]]:
    """Async :func:`embed_cached`, with ``aembed_documents``."""

    async def missing(todo: list[str]) -> list[list[float]]:
        return await aembed(embedding, replace(plan, texts=todo))

    got = await cache.aembed(plan.texts, missing)
    vectors: list[list[float]] = got.vectors.tolist()
    return vectors


def declared_dimension(embedding: Embeddings) -> int | None:
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
    return value if is_int(value) and value >= 1 else None


def check_embedding(embedding: Embeddings, info: CollectionInfo, model_id: str | None, *, warn_unchecked: bool) -> None:
    """Refuse an embedding of another dimension; warn when the recorded model cannot be checked.

    Embeds nothing: the dimension is the one the embedding declares (see
    :func:`declared_dimension`); an embedding that declares none is only
    checked at its first vectors.

    Args:
        embedding: The store's embedding.
        info: The collection the store opened.
        model_id: The model id the store records and checks (``None``: none).
        warn_unchecked: Warn when the collection records a model and
            ``model_id`` is ``None`` because the embedding has none.

    Raises:
        DimensionMismatchError: The declared dimension is not the collection's.

    """
    declared = declared_dimension(embedding)
    if info.dimension is not None and declared is not None and declared != info.dimension:
        raise DimensionMismatchError(
            f"Collection {info.name!r} holds {info.dimension}-dimensional vectors "
            f"(model {info.model_id or 'not recorded'}), but {type(embedding).__name__} "
            f"makes {declared}-dimensional ones. Use the collection's model, or another collection."
        )
    if warn_unchecked and model_id is None and info.model_id is not None:
        warnings.warn(
            f"Collection {info.name!r} was built with the embedding model {info.model_id!r}, but "
            f"{type(embedding).__name__} has no model_id, so it cannot be checked against it. "
            f"Pass model_id={info.model_id!r} if it is that model (or model_id=None to silence this).",
            UncheckedModelWarning,
            stacklevel=3,
        )
