"""CachedEmbedding: document vectors through the database's embedding cache, zero model calls for unchanged text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import Document

from llamaindex_sqlitevec import CachedEmbedding, SQLiteVecVectorStore
from sqlitevec_store import Database
from tests.fakes import FAKE_MODEL_ID
from tests.llamaindex.conftest import FakeEmbedding


@pytest.fixture
def db(memdb: Database) -> Database:
    return memdb


def test_unchanged_text_is_never_embedded_twice(db: Database, fake_embedding: FakeEmbedding) -> None:
    cached = CachedEmbedding(fake_embedding, database=db)
    first = cached.get_text_embedding_batch(["alpha", "beta", "alpha"])
    assert fake_embedding.fake.texts_embedded == 2  # "alpha" once, though given twice
    assert (cached.embedded, cached.reused) == (2, 1)
    again = cached.get_text_embedding_batch(["beta", "alpha", "gamma"])
    assert fake_embedding.fake.texts_embedded == 3  # only "gamma"
    assert (cached.embedded, cached.reused) == (3, 3)
    assert again[0] == first[1]
    assert again[1] == first[0]
    expected = fake_embedding.fake.vector("alpha")
    np.testing.assert_array_equal(np.asarray(first[0], dtype=np.float32), expected)
    assert len(cached.cache) == 3
    assert cached.cache.model_id == FAKE_MODEL_ID


def test_single_texts_go_through_the_cache_too(db: Database, fake_embedding: FakeEmbedding) -> None:
    cached = CachedEmbedding(fake_embedding, database=db)
    vector = cached.get_text_embedding("one")
    assert cached.get_text_embedding("one") == vector
    assert cached.get_text_embedding_batch(["one"]) == [vector]
    assert fake_embedding.fake.texts_embedded == 1


def test_queries_pass_straight_to_the_model(db: Database, fake_embedding: FakeEmbedding) -> None:
    cached = CachedEmbedding(fake_embedding, database=db)
    for _ in range(2):
        assert cached.get_query_embedding("what?") == fake_embedding.get_query_embedding("what?")
    assert fake_embedding.fake.query_calls == 4
    assert len(cached.cache) == 0
    assert fake_embedding.fake.texts_embedded == 0


async def test_async_forms(db: Database, fake_embedding: FakeEmbedding) -> None:
    cached = CachedEmbedding(fake_embedding, database=db)
    first = await cached.aget_text_embedding_batch(["a", "b"])
    assert await cached.aget_text_embedding_batch(["b", "a"]) == [first[1], first[0]]
    assert await cached.aget_text_embedding("a") == first[0]
    assert fake_embedding.fake.texts_embedded == 2
    assert await cached.aget_query_embedding("q") == fake_embedding.get_query_embedding("q")


def test_vectors_are_cached_per_model_id(db: Database, fake_embedding: FakeEmbedding) -> None:
    CachedEmbedding(fake_embedding, database=db).get_text_embedding_batch(["a"])
    other = CachedEmbedding(fake_embedding, model_id="another-model", database=db)
    other.get_text_embedding_batch(["a"])
    assert fake_embedding.fake.texts_embedded == 2
    assert len(db.embedding_cache(FAKE_MODEL_ID)) == len(db.embedding_cache("another-model")) == 1


def test_a_model_id_is_required(db: Database) -> None:
    mock = MockEmbedding(embed_dim=4)
    with pytest.raises(ValueError, match="model_id"):
        CachedEmbedding(mock, database=db)
    with pytest.raises(ValueError, match="model_id"):
        CachedEmbedding(mock, model_id="", database=db)
    assert CachedEmbedding(mock, model_id="mock-4", database=db).model_id == "mock-4"
    with pytest.raises(TypeError, match="BaseEmbedding"):
        CachedEmbedding("not a model", model_id="x", database=db)  # type: ignore[arg-type]


def test_from_vector_store_shares_its_database_and_model_id(backend_db_path: str) -> None:
    store = SQLiteVecVectorStore(backend_db_path, model_id="mock-4")
    cached = CachedEmbedding.from_vector_store(MockEmbedding(embed_dim=4), store)
    assert cached.model_id == "mock-4"
    cached.get_text_embedding_batch(["x"])
    assert len(store.client.embedding_cache("mock-4")) == 1
    cached.close()
    assert not store.client.closed


def test_an_index_built_twice_embeds_nothing_the_second_time(backend_db_path: str) -> None:
    fake = FakeEmbedding()
    store = SQLiteVecVectorStore(backend_db_path, model_id=FAKE_MODEL_ID)
    cached = CachedEmbedding.from_vector_store(fake, store)
    documents = [Document(text=f"Document number {i} about topic {i % 3}.", id_=f"doc-{i}") for i in range(12)]
    first = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=cached
    )
    assert fake.fake.texts_embedded == 12
    hits = first.as_retriever(similarity_top_k=3).retrieve("topic 1")
    store.clear()
    second = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=cached
    )
    assert fake.fake.texts_embedded == 12  # zero model calls for unchanged text
    assert (cached.embedded, cached.reused) == (12, 12)
    again = second.as_retriever(similarity_top_k=3).retrieve("topic 1")
    assert [(h.node.get_content(), h.score) for h in again] == [(h.node.get_content(), h.score) for h in hits]


@pytest.mark.sqlite_only
def test_the_cache_outlives_the_process_objects(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    first = CachedEmbedding(FakeEmbedding(), db_path=path)
    vectors = first.get_text_embedding_batch(["kept", "also kept"])
    first.close()
    fake = FakeEmbedding()
    second = CachedEmbedding(fake, db_path=path)
    assert second.get_text_embedding_batch(["also kept", "kept"]) == vectors[::-1]
    assert fake.fake.texts_embedded == 0
