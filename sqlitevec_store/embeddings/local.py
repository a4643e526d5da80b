"""The local embedder: a lazily loaded sentence-transformers model, shared by every embedder in a process.

:class:`SentenceTransformerEmbedder` is what both adapters wrap. Nothing heavy
is imported until the first text is embedded: importing this module (or
constructing an embedder) never imports torch or sentence-transformers, and
never touches the network. Loaded models are kept in a per-process registry,
so two embedders of the same model (a LangChain and a LlamaIndex one, say)
load it once; a model that cannot be had offline is refused before torch is
imported. The ONNX backends are run by :mod:`.onnx_runtime` from the files
:mod:`.onnx_export` writes; see the package docstring for the backends.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, InvalidInputTypeError, SqliteVecStoreError
from .hub import _default_model_hint, _env_flag, _hub_reachable, _in_hub_cache, _quiet_loading
from .model_ids import DEFAULT_MODEL, Backend, bundled_model_path, canonical_model_id, configured_dimension
from .onnx_export import open_onnx_encoder
from .onnx_runtime import _ONNX_ENCODE_OPTIONS, _OnnxEncoder
from .query_cache import _QueryCache

logger = logging.getLogger("sqlitevec_store")

# Loaded models, shared by every embedder with the same source, device,
# backend and options in this process (the LangChain and LlamaIndex wrappers
# included), so a model is loaded once. Inference through one
# SentenceTransformer (or one ONNX Runtime session) from several threads is safe.
_MODELS: dict[tuple[str, str | None, str, str], Any] = {}
_MODELS_LOCK = threading.RLock()


def _reset_lock_after_fork() -> None:
    global _MODELS_LOCK  # noqa: PLW0603 - a fresh lock for the forked child
    _MODELS_LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


class SentenceTransformerEmbedder:
    """A lazily loaded, thread-safe sentence-transformers model.

    Args:
        model_name: A sentence-transformers model id or a local directory.
        device: ``"cpu"``, ``"cuda"``, ... (``None`` lets sentence-transformers choose).
            The ONNX backends run on the CPU only.
        normalize: Return unit-length vectors.
        batch_size: Texts per forward pass.
        query_prompt: Text prepended to queries (e.g. ``"query: "`` for E5 models).
        document_prompt: Text prepended to documents.
        show_progress: Show a progress bar while embedding.
        model_kwargs: Extra keyword arguments for ``SentenceTransformer(...)``
            (with an ONNX backend: used when the model is exported).
        encode_kwargs: Extra keyword arguments for ``encode`` (documents and queries).
            The ONNX backends accept ``batch_size``, ``normalize_embeddings``,
            ``show_progress_bar`` and ``prompt``.
        query_encode_kwargs: Extra keyword arguments for ``encode`` on queries only
            (override ``encode_kwargs``).
        backend: ``"torch"`` (default), ``"onnx"`` (same vectors, faster; needs
            the ``onnx`` extra) or ``"onnx-int8"`` (fastest, vectors differ
            slightly, so a different :attr:`model_id`). See the package docstring.
        query_cache_size: How many query vectors :meth:`embed_query` keeps, most
            recently used first (``0`` turns the cache off).

    Example:
        >>> embedder = SentenceTransformerEmbedder()   # nothing is loaded yet
        >>> embedder.model_id
        'sentence-transformers/all-MiniLM-L6-v2'
        >>> SentenceTransformerEmbedder(backend="onnx-int8").model_id
        'sentence-transformers/all-MiniLM-L6-v2#onnx-int8'

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
        backend: Backend = "torch",
        query_cache_size: int = 128,
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(query_cache_size, int) or isinstance(query_cache_size, bool) or query_cache_size < 0:
            raise InvalidInputError(f"query_cache_size must be a non-negative integer, got {query_cache_size!r}")
        self.model_name = model_name
        self.model_id = canonical_model_id(model_name, backend=backend)
        self.backend: Backend = backend
        self.device = device
        self.normalize = normalize
        self.batch_size = batch_size
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt
        self.show_progress = show_progress
        self.model_kwargs = dict(model_kwargs or {})
        self.encode_kwargs = dict(encode_kwargs or {})
        self.query_encode_kwargs = dict(query_encode_kwargs or {})
        if backend != "torch":
            unknown = sorted((set(self.encode_kwargs) | set(self.query_encode_kwargs)) - _ONNX_ENCODE_OPTIONS)
            if unknown:
                raise InvalidInputError(
                    f"backend={backend!r} does not support the encode options {unknown}; "
                    f"it supports {sorted(_ONNX_ENCODE_OPTIONS)}"
                )
            run_device = self.device if self.device is not None else self.model_kwargs.get("device")
            if run_device not in (None, "cpu"):
                raise InvalidInputError(f"backend={backend!r} runs on the CPU; got device={run_device!r}")
        self._query_cache = _QueryCache(query_cache_size)
        self._model: Any = None

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, device={self.device!r}, backend={self.backend!r})"

    @property
    def query_cache_size(self) -> int:
        """How many query vectors are kept (``0``: no cache)."""
        return self._query_cache.maxsize

    def _load_source(self) -> str:
        if canonical_model_id(self.model_name) == DEFAULT_MODEL:
            bundled = bundled_model_path()
            if bundled is not None:
                return str(bundled)
        return self.model_name

    def load(self) -> None:
        """Load the model now (otherwise the first text loads it)."""
        self.model  # noqa: B018 - the property loads it

    @property
    def model(self) -> Any:
        """The loaded model: a ``SentenceTransformer``, or the ONNX encoder for the ONNX backends."""
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
        key = (source, device, self.backend, repr(sorted(kwargs.items())))
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                kwargs = self._check_available(source, kwargs)
                if self.backend == "torch":
                    model = self._instantiate(source, device, kwargs)
                else:
                    model = self._instantiate_onnx(source, kwargs)
                _MODELS[key] = model
        return model

    def _check_available(self, source: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Fail at once, before torch is imported, when the model cannot be had without the network.

        A folder (the bundled default model included) always loads. A hub id
        is looked up in the Hugging Face cache; when it is there and the hub
        cannot be reached, it is loaded from the cache alone (rather than
        retried against the hub for over a minute). When it is not there and
        ``HF_HUB_OFFLINE`` is set or the hub cannot be reached, this raises.

        Returns:
            The loading options, with ``local_files_only=True`` added when the
            cache has to serve the model.

        """
        if os.path.isdir(source) or kwargs.get("local_files_only"):
            return kwargs
        cached = _in_hub_cache(source, kwargs)
        offline = _env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE")
        if cached:
            return kwargs if offline or _hub_reachable() else {**kwargs, "local_files_only": True}
        if offline:
            why = "HF_HUB_OFFLINE is set"
        elif not _hub_reachable():
            why = "the Hugging Face Hub cannot be reached (offline?)"
        else:
            return kwargs
        raise SqliteVecStoreError(
            f"The embedding model {self.model_name!r} is not on this machine (not a folder, not in the "
            f"Hugging Face cache) and cannot be downloaded: {why}.{_default_model_hint(self.model_name)}"
        )

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
                model = SentenceTransformer(source, device=device, **kwargs)
        except OSError as exc:
            detail = str(exc).strip().rstrip(".")
            hint = _default_model_hint(self.model_name)
            message = f"Could not load the embedding model {self.model_name!r}: {detail}.{hint}"
            raise SqliteVecStoreError(message) from exc
        model.eval()  # encode() does this on every call; the query fast path relies on it
        return model

    def _instantiate_onnx(self, source: str, kwargs: dict[str, Any]) -> _OnnxEncoder:
        return open_onnx_encoder(self.model_name, source, kwargs, backend=self.backend, quiet=not self.show_progress)

    @property
    def dimension(self) -> int:
        """The vector dimension (loads the model)."""
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def known_dimension(self) -> int | None:
        """The vector dimension if it is known without loading or running the model, else ``None``.

        Known once the model is loaded, or when the model is a local directory
        (the bundled default model included) whose configuration declares it
        (:func:`configured_dimension`, with ``truncate_dim`` applied). A model
        named by its Hub id and not yet loaded gives ``None``.
        """
        if self._model is not None:
            return self.dimension
        source = Path(self._load_source())
        if not (source / "modules.json").is_file():
            return None
        dimension = configured_dimension(source)
        truncate = self.model_kwargs.get("truncate_dim")
        if dimension is not None and isinstance(truncate, int) and not isinstance(truncate, bool) and truncate > 0:
            dimension = min(dimension, truncate)
        return dimension

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
        """Embed one query; returns a ``(dimension,)`` float32 array.

        Recent queries are answered from a small LRU cache (``query_cache_size``);
        the array returned is always the caller's own copy.
        """
        if not isinstance(text, str):
            raise InvalidInputTypeError(f"query must be a string, got {type(text).__name__}")
        cached = self._query_cache.get(text)
        if cached is not None:
            return cached
        vector = self._torch_query(text)
        if vector is None:
            vector = self._encode([text], self.query_prompt, self.query_encode_kwargs)[0]
        self._query_cache.put(text, vector)
        return vector

    def _torch_query(self, text: str) -> npt.NDArray[np.float32] | None:
        """One query through the SentenceTransformer's modules, without ``encode``'s per-call overhead.

        The same steps ``encode`` takes for a single text (preprocess, forward
        under ``inference_mode``, normalize), so the vector is bit-for-bit the
        one ``encode`` returns. ``None`` when the model is not a plain
        SentenceTransformer on the CPU or options are set that ``encode`` would
        apply (prompts, truncation, extra keyword arguments).
        """
        if self.backend != "torch" or self.encode_kwargs or self.query_encode_kwargs:
            return None
        model = self.model
        preprocess = getattr(model, "preprocess", None)
        device = getattr(model, "device", None)
        if (
            type(model).__name__ != "SentenceTransformer"
            or preprocess is None
            or getattr(device, "type", None) != "cpu"
            or getattr(model, "default_prompt_name", None) is not None
            or getattr(model, "truncate_dim", None) is not None
        ):
            return None
        import torch

        if model.training:
            model.eval()
        with torch.inference_mode():
            features = preprocess([self.query_prompt + text if self.query_prompt else text])
            embedding = model(features)["sentence_embedding"]
            if self.normalize:
                embedding = torch.nn.functional.normalize(embedding, p=2, dim=1)
        vector: npt.NDArray[np.float32] = np.asarray(embedding[0].numpy(), dtype=np.float32)
        return vector
