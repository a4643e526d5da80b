"""SentenceTransformerEmbeddings: configuration without a model, behaviour with the real one."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore
from sqlitevec_store import DEFAULT_MODEL


def test_defaults_and_model_id() -> None:
    embeddings = SentenceTransformerEmbeddings()
    assert embeddings.model_name == DEFAULT_MODEL
    assert embeddings.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert SentenceTransformerEmbeddings(model_name="all-MiniLM-L6-v2").model_id == DEFAULT_MODEL
    assert SentenceTransformerEmbeddings(model_name="BAAI/bge-small-en-v1.5").model_id == "BAAI/bge-small-en-v1.5"
    assert embeddings.model_kwargs == {} and embeddings.encode_kwargs == {} and embeddings.query_encode_kwargs == {}
    assert embeddings.show_progress is False


def test_nothing_is_loaded_on_construction() -> None:
    embeddings = SentenceTransformerEmbeddings()
    assert embeddings._embedder is None
    SQLiteVecVectorStore(embeddings).close()
    assert embeddings._embedder is None


def test_options_reach_the_core_embedder() -> None:
    embeddings = SentenceTransformerEmbeddings(
        model_name="all-MiniLM-L6-v2",
        model_kwargs={"device": "cpu", "trust_remote_code": False},
        encode_kwargs={"batch_size": 8},
        query_encode_kwargs={"prompt": "query: "},
        show_progress=True,
    )
    core = embeddings.embedder  # created, not loaded
    assert core._model is None
    assert core.device == "cpu"
    assert core.model_kwargs == {"trust_remote_code": False}
    assert core.encode_kwargs == {"batch_size": 8}
    assert core.query_encode_kwargs == {"prompt": "query: "}
    assert core.show_progress is True
    assert embeddings.embedder is core
    assert embeddings.model_kwargs == {"device": "cpu", "trust_remote_code": False}  # not mutated


def test_bad_configuration() -> None:
    with pytest.raises(ValidationError):
        SentenceTransformerEmbeddings(model_name="")
    with pytest.raises(ValidationError):
        SentenceTransformerEmbeddings(model="all-MiniLM-L6-v2")  # type: ignore[call-arg]


@pytest.mark.model
def test_real_model_returns_plain_unit_floats(minilm: SentenceTransformerEmbeddings) -> None:
    docs = minilm.embed_documents(["The server listens on port 8420.", "Restore from a backup."])
    assert len(docs) == 2 and all(len(v) == 384 for v in docs)
    assert all(type(x) is float for v in docs for x in v)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-4) for v in docs)
    query = minilm.embed_query("Which port does the server use?")
    assert type(query) is list and type(query[0]) is float
    assert minilm.embed_documents([]) == []


@pytest.mark.model
async def test_real_model_async_matches_sync(minilm: SentenceTransformerEmbeddings) -> None:
    texts = ["alpha", "beta"]
    sync_docs, async_docs, async_query = (
        minilm.embed_documents(texts),
        *await asyncio.gather(minilm.aembed_documents(texts), minilm.aembed_query("alpha")),
    )
    np.testing.assert_allclose(async_docs, sync_docs, atol=1e-6)
    np.testing.assert_allclose(async_query, minilm.embed_query("alpha"), atol=1e-6)


@pytest.mark.model
def test_query_encode_kwargs_apply_to_queries_only(minilm: SentenceTransformerEmbeddings) -> None:
    prompted = SentenceTransformerEmbeddings(query_encode_kwargs={"prompt": "query: "})
    np.testing.assert_allclose(prompted.embed_documents(["hello"]), minilm.embed_documents(["hello"]), atol=1e-6)
    assert not np.allclose(prompted.embed_query("hello"), minilm.embed_query("hello"), atol=1e-3)


@pytest.mark.model
def test_end_to_end_search_and_reopen(minilm: SentenceTransformerEmbeddings, tmp_path: Path) -> None:
    path = tmp_path / "minilm.db"
    texts = [
        "Back up the data directory every night.",
        "The server listens on TCP port 8420.",
        "Bananas are rich in potassium.",
    ]
    store = SQLiteVecVectorStore.from_texts(
        texts, minilm, [{"n": i} for i in range(3)], ids=["b", "p", "f"], db_path=path
    )
    assert [d.id for d in store.similarity_search("Which port does the server use?", k=1)] == ["p"]
    pairs = store.similarity_search_with_relevance_scores("nightly backups", k=3)
    assert pairs[0][0].id == "b" and all(0.0 <= s <= 1.0 for _, s in pairs)
    store.close()
    reopened = SQLiteVecVectorStore(SentenceTransformerEmbeddings(), db_path=path)
    assert [c.model_id for c in reopened.list_collections()] == [DEFAULT_MODEL]
    assert [d.id for d in reopened.similarity_search("fruit", k=1, filter={"n": {"$ne": 0}})] == ["f"]


@pytest.mark.model
def test_relevance_threshold_half_keeps_related_and_drops_unrelated(minilm: SentenceTransformerEmbeddings) -> None:
    # The example: with 1 - d/2 an unrelated text scored ~0.5 and passed a 0.5 threshold.
    texts = [
        "Banana bread: mash three ripe bananas, mix with flour, sugar and butter, bake for an hour.",
        "The server listens on TCP port 8420.",
        "The quick brown fox jumps over the lazy dog.",  # 1 - d/2 gave it 0.506
        "TLS needs a certificate and a key.",
    ]
    store = SQLiteVecVectorStore.from_texts(texts, minilm, ids=["bread", "port", "fox", "tls"])
    pairs = {d.id: s for d, s in store.similarity_search_with_relevance_scores("banana bread recipe", k=4)}
    assert pairs["bread"] > 0.7
    assert all(pairs[i] < 0.2 for i in ("port", "fox", "tls")), pairs
    retriever = store.as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.5})
    assert [d.id for d in retriever.invoke("banana bread recipe")] == ["bread"]
    store.close()


def test_importing_the_package_loads_no_model_library() -> None:
    code = (
        "import sys\n"
        "from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore\n"
        "store = SQLiteVecVectorStore(SentenceTransformerEmbeddings())\n"
        "store.close()\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
