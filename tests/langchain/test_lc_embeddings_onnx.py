"""SentenceTransformerEmbeddings with the ONNX backends: same vectors as torch, ids the store checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore
from sqlitevec_store import DEFAULT_MODEL, ModelMismatchError
from tests.onnx_support import onnx_cache

__all__ = ["onnx_cache"]  # the fixture, imported for pytest

TEXTS = ["Back up the data directory every night.", "The server listens on TCP port 8420.", "Bananas."]


def test_backend_and_cache_size_reach_the_core_embedder() -> None:
    embeddings = SentenceTransformerEmbeddings(backend="onnx-int8", query_cache_size=3)
    assert embeddings.model_id == DEFAULT_MODEL + "#onnx-int8"
    assert embeddings.embedder.backend == "onnx-int8" and embeddings.embedder.query_cache_size == 3
    assert embeddings.embedder._model is None  # nothing exported or loaded yet
    assert SentenceTransformerEmbeddings(backend="onnx").model_id == DEFAULT_MODEL


@pytest.mark.model
def test_onnx_embeddings_match_torch(onnx_cache: Path, minilm: SentenceTransformerEmbeddings) -> None:
    onnx = SentenceTransformerEmbeddings(backend="onnx")
    docs = onnx.embed_documents(TEXTS)
    assert all(type(x) is float for v in docs for x in v)
    np.testing.assert_allclose(docs, minilm.embed_documents(TEXTS), atol=1e-5)
    np.testing.assert_allclose(onnx.embed_query("which port?"), minilm.embed_query("which port?"), atol=1e-5)


@pytest.mark.model
def test_store_opens_a_torch_collection_with_onnx_but_not_int8(
    onnx_cache: Path, minilm: SentenceTransformerEmbeddings, tmp_path: Path
) -> None:
    path = tmp_path / "lc.db"
    SQLiteVecVectorStore.from_texts(TEXTS, minilm, ids=["b", "p", "f"], db_path=path).close()
    store = SQLiteVecVectorStore(SentenceTransformerEmbeddings(backend="onnx"), db_path=path)
    assert [d.id for d in store.similarity_search("Which port does the server use?", k=1)] == ["p"]
    store.close()
    with pytest.raises(ModelMismatchError):
        SQLiteVecVectorStore(SentenceTransformerEmbeddings(backend="onnx-int8"), db_path=path).similarity_search("x")
