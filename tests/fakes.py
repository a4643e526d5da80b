"""A deterministic fake embedder for fast tests (no model, no network)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FAKE_MODEL_ID = "tests/fake-embedder"


class FakeEmbedder:
    """Maps each text to a fixed pseudo-random unit vector derived from its hash.

    Equal texts get equal vectors; different texts get unrelated ones. Counts
    calls and texts so tests can assert batching and that nothing was embedded.
    """

    def __init__(self, dimension: int = 16, model_id: str | None = FAKE_MODEL_ID) -> None:
        self.dimension = dimension
        self.model_id = model_id
        self.document_calls = 0
        self.query_calls = 0
        self.texts_embedded = 0

    def vector(self, text: str) -> npt.NDArray[np.float32]:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dimension)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.document_calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self.vector(t) for t in texts])

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        self.query_calls += 1
        return self.vector(text)
