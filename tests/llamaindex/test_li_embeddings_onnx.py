"""SentenceTransformerEmbedding with the ONNX backends: options, ids, vectors equal to torch's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llamaindex_sqlitevec import SentenceTransformerEmbedding
from sqlitevec_store import DEFAULT_MODEL
from tests.onnx_support import onnx_cache

__all__ = ["onnx_cache"]  # the fixture, imported for pytest


def test_backend_and_cache_size_reach_the_core_embedder() -> None:
    embedding = SentenceTransformerEmbedding(backend="onnx-int8", query_cache_size=0)
    assert embedding.model_id == DEFAULT_MODEL + "#onnx-int8"
    assert embedding.embedder.backend == "onnx-int8" and embedding.embedder.query_cache_size == 0
    data = embedding.to_dict()
    assert data["backend"] == "onnx-int8" and data["query_cache_size"] == 0
    assert SentenceTransformerEmbedding(backend="onnx").model_id == DEFAULT_MODEL


@pytest.mark.model
def test_onnx_embedding_matches_torch(onnx_cache: Path) -> None:
    texts = ["Back up the data directory every night.", "Bananas.", "The server listens on TCP port 8420. " * 3]
    onnx = SentenceTransformerEmbedding(backend="onnx", embed_batch_size=2)
    torch = SentenceTransformerEmbedding(embed_batch_size=2)
    np.testing.assert_allclose(onnx.get_text_embedding_batch(texts), torch.get_text_embedding_batch(texts), atol=1e-5)
    np.testing.assert_allclose(onnx.get_query_embedding("port?"), torch.get_query_embedding("port?"), atol=1e-5)


@pytest.mark.model
async def test_batches_come_back_in_the_order_given(onnx_cache: Path) -> None:
    texts = ["short", "a much longer text about backups and restores " * 4, "mid-sized text here", ""]
    embedding = SentenceTransformerEmbedding(backend="onnx", embed_batch_size=2)
    one_by_one = [embedding.get_text_embedding(t) for t in texts]
    np.testing.assert_allclose(embedding.get_text_embedding_batch(texts), one_by_one, atol=1e-5)
    np.testing.assert_allclose(await embedding.aget_text_embedding_batch(texts), one_by_one, atol=1e-5)
