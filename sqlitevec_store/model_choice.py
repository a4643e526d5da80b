"""Which embedding model a collection is embedded with: the one rule, and the embedder it makes.

A collection records the model id its vectors came from (see
:func:`~sqlitevec_store.embeddings.canonical_model_id`). Whoever embeds for it
(the command line's ``index``, ``query`` and ``import``, or
:func:`sqlitevec_store.ingest.sync_files`' callers) may also name a model, a
backend, or bring vectors that name theirs. :func:`resolve_model` decides,
in one place:

* A collection that holds vectors is bound to its recorded model. A named
  model runs on the named backend, else on the backend the recorded id
  implies (``#onnx-int8``), else on torch, and must give the recorded id; a
  backend must make the recorded id's vectors; vectors brought along must
  come from it. Any disagreement is a :class:`ModelMismatchError`.
* A collection that holds no vectors yet (absent, or empty) has built
  nothing: the named model (on the named backend, else torch) wins, else the
  model of the vectors brought along, else the recorded one (on the named
  backend). When that differs from the recorded model, the choice says what
  it replaces.
* With nothing named or recorded, the model is ``None``; callers that must
  embed take :func:`default_model`.

:func:`make_embedder` turns the chosen id into an embedder; nothing is
loaded until the first text. :func:`embed_texts` embeds documents with it and
checks what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .embeddings import DEFAULT_MODEL, canonical_model_id, split_model_id
from .errors import ModelMismatchError, SqliteVecStoreError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Embedder",
    "ModelChoice",
    "default_model",
    "embed_texts",
    "make_embedder",
    "no_model_error",
    "resolve_model",
]

#: Texts per embedding call.
DEFAULT_BATCH_SIZE = 64


class Embedder(Protocol):
    """What ingestion and the command line need from an embedding model."""

    @property
    def model_id(self) -> str | None:
        """The canonical model id recorded in the collection."""

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed documents; an ``(n, dimension)`` array."""

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one query; a ``(dimension,)`` array."""


@dataclass(frozen=True)
class ModelChoice:
    """The outcome of :func:`resolve_model`.

    Attributes:
        model_id: The canonical id to embed with; ``None`` when nothing names
            or records one.
        replaces: The model an empty collection recorded and this choice
            replaces (it built nothing with it); ``None`` otherwise.

    """

    model_id: str | None
    replaces: str | None = None


def default_model(backend: str | None = None) -> str:
    """The canonical id of :data:`~sqlitevec_store.embeddings.DEFAULT_MODEL` on ``backend`` (default torch)."""
    return canonical_model_id(DEFAULT_MODEL, backend=backend or "torch")


def make_embedder(model_name: str, backend: str | None = None) -> Embedder:
    """The embedder for ``model_name`` (a model name, or a model id a collection records) on ``backend``.

    ``backend=None`` means the backend the id implies (``"onnx-int8"`` for an
    id ending in ``#onnx-int8``), else ``"torch"``. Constructing it loads
    nothing; the model is loaded on the first text.

    Args:
        model_name: A sentence-transformers name or folder, or a recorded model id.
        backend: ``"torch"``, ``"onnx"`` or ``"onnx-int8"``, or ``None``.

    Returns:
        A :class:`~sqlitevec_store.embeddings.SentenceTransformerEmbedder`.

    """
    from .embeddings import SentenceTransformerEmbedder

    name, implied = split_model_id(model_name)
    return SentenceTransformerEmbedder(name, backend=backend or implied or "torch")  # type: ignore[arg-type]


def embed_texts(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Embed ``texts`` as documents, checking that one row came back per text.

    Raises:
        SqliteVecStoreError: The embedder returned another shape.

    """
    vectors = np.asarray(embedder.embed_documents(list(texts)), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise SqliteVecStoreError(f"The embedder returned {vectors.shape} vectors for {len(texts)} texts")
    return vectors


def no_model_error(collection_name: str) -> ModelMismatchError:
    """The error for a collection that holds vectors but records no model, when nothing names one."""
    return ModelMismatchError(
        f"Collection {collection_name!r} holds vectors but records no embedding model; "
        "name the model that made them with --model."
    )


def resolve_model(
    collection_name: str,
    *,
    recorded: str | None,
    built: bool,
    requested: str | None = None,
    backend: str | None = None,
    vectors_from: str | None = None,
) -> ModelChoice:
    """The model to embed with for one collection (the rule in the module docstring).

    Args:
        collection_name: The collection, for messages.
        recorded: The model id the collection records (``None``: none, or no collection).
        built: Whether the collection holds vectors.
        requested: A model the caller names (``--model``), a name or an id.
        backend: The backend the caller names (``--backend``).
        vectors_from: The canonical model id of vectors the caller brings (an import file's).

    Returns:
        The chosen model, and the recorded one it replaces, if any.

    Raises:
        ModelMismatchError: If what is named, recorded and brought disagree.

    """
    if built:
        return ModelChoice(_built_model(collection_name, recorded, requested, backend, vectors_from))
    wanted = canonical_model_id(requested, backend=backend or "torch") if requested is not None else None
    if wanted is not None and vectors_from is not None and wanted != vectors_from:
        raise _conflict(collection_name, recorded, wanted, vectors_from)
    if wanted is None and vectors_from is not None and backend is not None:
        _check_backend(vectors_from, backend)
    if wanted is not None or vectors_from is not None:
        model = wanted or vectors_from
    elif recorded is not None and backend is not None:
        model = canonical_model_id(split_model_id(recorded)[0], backend=backend)
    else:
        model = recorded
    replaces = recorded if recorded is not None and model is not None and model != recorded else None
    return ModelChoice(model, replaces)


def _built_model(
    name: str, recorded: str | None, requested: str | None, backend: str | None, vectors_from: str | None
) -> str | None:
    """The model of a collection that holds vectors: the recorded one, checked against the rest."""
    implied = split_model_id(recorded)[1] if recorded is not None else None
    if recorded is not None and backend is not None:
        # only a backend whose vectors the collection holds may embed its queries and documents
        made = canonical_model_id(split_model_id(recorded)[0], backend=backend)
        if made != recorded:
            raise ModelMismatchError(
                f"Collection {name!r} was built with the embedding model {recorded!r}; --backend {backend} "
                f"makes {made!r} vectors. Use --backend {implied or 'torch'}"
                + ("" if implied else " or onnx")
                + ", or leave --backend out."
            )
    # a named model runs on the named backend, else on the backend the recorded id implies
    wanted = canonical_model_id(requested, backend=backend or implied or "torch") if requested is not None else None
    if recorded is not None and wanted is not None and wanted != recorded:
        raise ModelMismatchError(
            f"Collection {name!r} was built with the embedding model {recorded!r}, "
            f"not {wanted!r}; leave out --model to use the collection's model."
        )
    model = recorded or wanted
    if vectors_from is not None and model is not None and vectors_from != model:
        raise _conflict(name, recorded, wanted, vectors_from)
    if model is None and vectors_from is not None and backend is not None:
        _check_backend(vectors_from, backend)
    return model or vectors_from


def _check_backend(model_id: str, backend: str) -> None:
    """Refuse a backend that does not make ``model_id``'s vectors."""
    made = canonical_model_id(split_model_id(model_id)[0], backend=backend)
    if made != model_id:
        raise ModelMismatchError(f"--backend {backend} makes {made!r} vectors, but this import is for {model_id!r}.")


def _conflict(name: str, recorded: str | None, wanted: str | None, vectors_from: str) -> ModelMismatchError:
    return ModelMismatchError(
        f"Conflicting embedding models: collection {name!r} "
        f"{'records ' + repr(recorded) if recorded else 'records none'}, --model is {wanted!r}, "
        f"the file's vectors come from {vectors_from}."
    )
