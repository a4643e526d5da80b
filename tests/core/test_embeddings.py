"""The local embedder: canonical ids, lazy loading, the bundled offline model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sqlitevec_store import DEFAULT_MODEL, Database, SentenceTransformerEmbedder, canonical_model_id
from sqlitevec_store import embeddings as embeddings_module
from sqlitevec_store.errors import InvalidInputError, InvalidInputTypeError


def test_canonical_model_ids(tmp_path: Path) -> None:
    assert canonical_model_id("all-MiniLM-L6-v2") == DEFAULT_MODEL
    assert canonical_model_id(DEFAULT_MODEL) == DEFAULT_MODEL
    assert canonical_model_id("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert canonical_model_id(str(tmp_path)) == str(tmp_path.resolve())
    bundled = embeddings_module.bundled_model_path()
    if bundled is not None:
        assert canonical_model_id(str(bundled)) == DEFAULT_MODEL
    with pytest.raises(InvalidInputError):
        canonical_model_id("  ")


def test_constructing_loads_nothing() -> None:
    code = (
        "import sys; from sqlitevec_store import SentenceTransformerEmbedder as E;"
        "e = E(); print(e.model_id);"
        "sys.exit(1 if any(m in sys.modules for m in ('torch', 'sentence_transformers')) else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == DEFAULT_MODEL


def test_load_source_prefers_the_bundled_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embeddings_module, "bundled_model_path", lambda: tmp_path)
    assert SentenceTransformerEmbedder()._load_source() == str(tmp_path)
    assert SentenceTransformerEmbedder("org/other")._load_source() == "org/other"
    monkeypatch.setattr(embeddings_module, "bundled_model_path", lambda: None)
    # without the package: the normal sentence-transformers lookup by name
    assert SentenceTransformerEmbedder()._load_source() == DEFAULT_MODEL


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError):
        SentenceTransformerEmbedder(batch_size=0)
    embedder = SentenceTransformerEmbedder()
    with pytest.raises(InvalidInputTypeError):
        embedder.embed_documents("one string")
    with pytest.raises(InvalidInputTypeError):
        embedder.embed_documents(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidInputTypeError):
        embedder.embed_query(None)  # type: ignore[arg-type]


@pytest.mark.model
def test_real_model_offline(minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = minilm.embed_documents(
        ["How do I restore a backup?", "Restoring from a backup archive", "The cat sat on the mat."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    query = minilm.embed_query("How do I restore a backup?")
    np.testing.assert_allclose(query, vectors[0], atol=1e-5)
    assert minilm.dimension == 384
    assert minilm.embed_documents([]).shape[0] == 0


@pytest.mark.model
def test_real_model_end_to_end_through_the_store(minilm: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    texts = ["Backups are written nightly to /var/backups.", "TLS needs a certificate and a key.", "Cats purr."]
    with Database(tmp_path / "e2e.db") as db:
        col = db.collection("docs", model_id=minilm.model_id)
        col.add(texts, minilm.embed_documents(texts), metadatas=[{"i": i} for i in range(3)])
        hits = col.search(minilm.embed_query("where do backups go?"), k=3)
        assert hits[0].text == texts[0]
        assert hits[0].similarity > hits[1].similarity
        assert db.collections()[0].model_id == DEFAULT_MODEL


@pytest.mark.model
def test_model_is_loaded_once_per_process(minilm: SentenceTransformerEmbedder) -> None:
    other = SentenceTransformerEmbedder("all-MiniLM-L6-v2", batch_size=8)
    assert other.model is minilm.model
    assert SentenceTransformerEmbedder(model_kwargs={"device": "cpu"}).model is not None
