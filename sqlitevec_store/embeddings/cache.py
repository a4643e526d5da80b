"""The embedding cache: document vectors by (model id, SHA-256 of the exact text), in the database itself.

Unchanged text is never embedded twice: ``sqlitevec-store index`` (and
:func:`sqlitevec_store.ingest.sync_files`), LangChain's store when asked
(``SQLiteVecVectorStore(..., cache_embeddings=True)``) and LlamaIndex's
``CachedEmbedding`` wrapper look every text up first and send only the
missing ones to the model. Re-indexing a folder after editing one
paragraph embeds that paragraph's chunk, and reuses every other vector.

* **Key.** The namespace ``sqlitevec_store.embeddings/<model id>`` of the
  key-value space (:class:`~sqlitevec_store.stores.kv.KeyValueStore`), key
  the hex SHA-256 of the text's UTF-8 bytes. Two models never share a
  vector; a model's id must change when its vectors do (the canonical ids of
  :func:`~sqlitevec_store.embeddings.canonical_model_id` do: ``#onnx-int8``
  is its own id).
* **Value.** The vector as the model gave it, little-endian float32 bytes.
* **When written.** Right after the model returns, in its own transaction,
  before the records that use the vectors are written: a run killed in
  between reuses them on the next run.
* **Size.** About ``4 x dimension`` bytes plus 100 per distinct text, kept
  until cleared (:meth:`EmbeddingCache.clear`, ``sqlitevec-store stats``
  shows it); vectors of deleted records stay, so the cache can serve a text
  that comes back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, InvalidInputTypeError
from ..stores.kv import KeyValueStore

if TYPE_CHECKING:
    from ..database import Database

__all__ = ["NAMESPACE_PREFIX", "CachedVectors", "CachingEmbedder", "EmbeddingCache", "text_key"]

#: The key-value namespaces of the cache: this prefix and the model id.
NAMESPACE_PREFIX = "sqlitevec_store.embeddings/"

_STORED_DTYPE = np.dtype("<f4")


def text_key(text: str) -> str:
    """The cache key of ``text``: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CachedVectors:
    """What :meth:`EmbeddingCache.embed` gave: one vector per text, and how many the model computed.

    Attributes:
        vectors: ``(len(texts), dimension)`` float32, in the texts' order.
        embedded: Distinct texts the model embedded in this call.
        reused: Texts answered from the cache (or repeated within the call).

    """

    vectors: npt.NDArray[np.float32]
    embedded: int
    reused: int


class EmbeddingCache:
    """Document vectors of one model, stored in the database (see the module docstring).

    Args:
        db: The database.
        model_id: The model's id (a canonical id for the bundled models, any
            stable name for others, e.g. ``"openai/text-embedding-3-small"``).

    Example:
        >>> cache = Database(":memory:").embedding_cache("my-model")
        >>> got = cache.embed(["a", "b"], lambda texts: [[1.0, 0.0]] * len(texts))
        >>> got.embedded, cache.embed(["a"], lambda texts: []).reused
        (2, 1)

    """

    def __init__(self, db: Database, model_id: str) -> None:
        """Name the model; nothing is written until vectors are stored."""
        if not isinstance(model_id, str):
            raise InvalidInputTypeError(f"model_id must be a string, got {type(model_id).__name__}")
        if not model_id:
            raise InvalidInputError("model_id must not be empty: the cache is keyed by it")
        self._model_id = model_id
        self._kv = KeyValueStore(db, NAMESPACE_PREFIX + model_id)

    @property
    def model_id(self) -> str:
        """The model whose vectors are cached."""
        return self._model_id

    def __repr__(self) -> str:
        return f"EmbeddingCache({self._kv.database.path!r}, model_id={self._model_id!r})"

    def __len__(self) -> int:
        return self._kv.count()

    def clear(self) -> int:
        """Forget every vector of this model; how many."""
        return self._kv.clear()

    # -- lookups and writes -----------------------------------------------------------

    def lookup(self, texts: Sequence[str]) -> list[npt.NDArray[np.float32] | None]:
        """The cached vector of each text (``None`` where missing), in order."""
        return [_vector(value) for value in self._kv.get_many([text_key(_text(t)) for t in texts])]

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts among ``texts`` that have no cached vector, in order."""
        todo, _ = self._plan(texts, self.lookup(texts))
        return todo

    def store(self, texts: Sequence[str], vectors: Any) -> None:
        """Cache one vector per text (one transaction)."""
        self._kv.put_many(_entries([_text(t) for t in texts], _matrix(vectors, len(texts))))

    def _plan(self, texts: Sequence[str], found: list[Any]) -> tuple[list[str], dict[str, int]]:
        """The distinct texts to embed, and each missing text's row among them."""
        missing: dict[str, int] = {}
        for text, value in zip(texts, found, strict=True):
            if value is None and text not in missing:
                missing[text] = len(missing)
        return list(missing), missing

    def _assemble(
        self, texts: Sequence[str], found: list[Any], missing: dict[str, int], new: npt.NDArray[np.float32]
    ) -> CachedVectors:
        rows: list[npt.NDArray[np.float32]] = []
        for text, value in zip(texts, found, strict=True):
            cached = _vector(value)
            rows.append(new[missing[text]] if cached is None else cached)
        if not rows:
            return CachedVectors(np.zeros((0, 0), dtype=np.float32), 0, 0)
        dimensions = {row.shape[0] for row in rows}
        if len(dimensions) > 1:
            raise InvalidInputError(
                f"The cache of {self._model_id!r} holds vectors of dimensions {sorted(dimensions)}: the model's "
                "vectors changed under the same id; clear the cache (EmbeddingCache.clear) or use a new model id"
            )
        matrix = np.vstack(rows).astype(np.float32, copy=False)
        return CachedVectors(matrix, len(missing), len(texts) - len(missing))

    def embed(self, texts: Sequence[str], embed: Callable[[list[str]], Any]) -> CachedVectors:
        """Vectors for ``texts``: cached ones reused, the rest from ``embed`` (distinct texts, once) and cached.

        Args:
            texts: The texts, in order.
            embed: Embeds a list of texts: one vector (a row) per text.

        Raises:
            InvalidInputError: ``embed`` gave another number of vectors than texts.

        """
        texts = [_text(t) for t in texts]
        found = self._kv.get_many([text_key(t) for t in texts])
        todo, missing = self._plan(texts, found)
        new = _matrix(embed(todo), len(todo)) if todo else np.zeros((0, 0), dtype=np.float32)
        if todo:
            self._kv.put_many(_entries(todo, new))
        return self._assemble(texts, found, missing, new)

    async def aembed(self, texts: Sequence[str], embed: Callable[[list[str]], Awaitable[Any]]) -> CachedVectors:
        """Async :meth:`embed` (``embed`` is awaited)."""
        texts = [_text(t) for t in texts]
        found = await self._kv.aget_many([text_key(t) for t in texts])
        todo, missing = self._plan(texts, found)
        new = _matrix(await embed(todo), len(todo)) if todo else np.zeros((0, 0), dtype=np.float32)
        if todo:
            await self._kv.aput_many(_entries(todo, new))
        return self._assemble(texts, found, missing, new)


class CachingEmbedder:
    """An embedder (``model_id``, ``embed_documents``, ``embed_query``) whose documents go through a cache.

    For a caller of the core with its own embedder, e.g.
    ``CachingEmbedder(SentenceTransformerEmbedder(), db.embedding_cache(model_id))``
    (:func:`sqlitevec_store.ingest.sync_files` uses :meth:`EmbeddingCache.embed`
    directly, to load the model only on a miss). Queries are passed straight
    to the model. ``embedded`` and ``reused`` count the documents since it was made.
    """

    def __init__(self, embedder: Any, cache: EmbeddingCache) -> None:
        """Wrap ``embedder``; ``cache`` must be for its model id."""
        if getattr(embedder, "model_id", None) != cache.model_id:
            raise InvalidInputError(
                f"The cache is for {cache.model_id!r}, the embedder's model is {getattr(embedder, 'model_id', None)!r}"
            )
        self._embedder = embedder
        self._cache = cache
        self.embedded = 0
        self.reused = 0

    @property
    def model_id(self) -> str:
        """The wrapped embedder's model id."""
        return self._cache.model_id

    @property
    def wrapped(self) -> Any:
        """The embedder the misses go to."""
        return self._embedder

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Cached vectors where there are, the model's for the rest."""
        got = self._cache.embed(texts, self._embedder.embed_documents)
        self.embedded += got.embedded
        self.reused += got.reused
        return got.vectors

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """The model's query vector (queries are not cached here)."""
        vector: npt.NDArray[np.float32] = self._embedder.embed_query(text)
        return vector


def _entries(texts: Sequence[str], matrix: npt.NDArray[np.float32]) -> list[tuple[str, bytes]]:
    """The cache entries of checked texts and their vectors: key and little-endian float32 bytes."""
    return [(text_key(t), row.astype(_STORED_DTYPE).tobytes()) for t, row in zip(texts, matrix, strict=True)]


def _text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidInputTypeError(f"Texts must be strings, got {type(text).__name__}")
    return text


def _vector(value: object) -> npt.NDArray[np.float32] | None:
    if value is None:
        return None
    if not isinstance(value, bytes) or len(value) % 4:
        raise InvalidInputError("The embedding cache holds an entry that is not a float32 vector")
    return np.frombuffer(value, dtype=_STORED_DTYPE).astype(np.float32)


def _matrix(vectors: Any, count: int) -> npt.NDArray[np.float32]:
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"The embedding model gave something that is not a list of vectors: {exc}") from exc
    if count == 0:
        return matrix.reshape(0, 0) if matrix.size == 0 else matrix
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise InvalidInputError(
            f"The embedding model gave {matrix.shape[0] if matrix.ndim else 0} vectors for {count} texts"
        )
    if not np.isfinite(matrix).all():
        raise InvalidInputError("The embedding model gave a vector with NaN or infinite values")
    return matrix
