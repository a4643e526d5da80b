"""SQLiteVecVectorStore(cache_embeddings=True): unchanged text is never embedded twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_sqlitevec import SQLiteVecVectorStore
from sqlitevec_store import Database, InvalidInputError
from tests.langchain.conftest import FakeEmbeddings

MODEL = "tests/fake-lc"


@pytest.fixture
def counting() -> FakeEmbeddings:
    return FakeEmbeddings(model_id=MODEL)


def test_unchanged_text_costs_zero_model_calls(backend_db_path: str, counting: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(counting, db_path=backend_db_path, cache_embeddings=True)
    texts = [f"chunk {i}" for i in range(20)]
    store.add_texts(texts, ids=[f"c{i}" for i in range(20)])
    assert (counting.fake.document_calls, counting.fake.texts_embedded) == (1, 20)
    store.add_texts(texts, ids=[f"c{i}" for i in range(20)])  # re-adding: every vector from the cache
    assert (counting.fake.document_calls, counting.fake.texts_embedded) == (1, 20)
    edited = [*texts[:19], "chunk 19, edited"]
    store.add_documents([Document(t, id=f"c{i}") for i, t in enumerate(edited)])
    assert (counting.fake.document_calls, counting.fake.texts_embedded) == (2, 21)  # only the edit
    assert store.embedding_cache is not None and len(store.embedding_cache) == 21
    store.similarity_search("chunk 3", k=1)
    store.similarity_search("chunk 3", k=1)
    assert counting.fake.query_calls == 2  # queries are not cached
    assert counting.fake.document_calls == 2


def test_cached_vectors_are_the_models(backend_db_path: str, counting: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(counting, db_path=backend_db_path, cache_embeddings=True, collection_name="a")
    store.add_texts(["alpha", "beta"], ids=["1", "2"])
    other = SQLiteVecVectorStore(counting, database=store.database, cache_embeddings=True, collection_name="b")
    other.add_texts(["beta", "alpha", "alpha"], ids=["x", "y", "z"])  # another collection, same model: reused
    assert counting.fake.texts_embedded == 2
    got = {h.id: h.vector for h in other.collection.get(["x", "y", "z"], include_vectors=True)}
    for record_id, text in [("x", "beta"), ("y", "alpha"), ("z", "alpha")]:
        np.testing.assert_allclose(got[record_id], counting.fake.vector(text), atol=1e-6)
    hits = other.similarity_search_with_score("alpha", k=1)
    assert hits[0][0].page_content == "alpha" and hits[0][1] == pytest.approx(0.0, abs=1e-6)


def test_distinct_texts_within_one_call_are_embedded_once(backend_db_path: str, counting: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(counting, db_path=backend_db_path, cache_embeddings=True)
    store.add_texts(["same", "same", "other", "same"])
    assert counting.fake.texts_embedded == 2
    assert store.collection.count() == 4


def test_batch_size_applies_to_the_missing_texts(backend_db_path: str, counting: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(counting, db_path=backend_db_path, cache_embeddings=True)
    store.add_texts([f"t{i}" for i in range(10)], batch_size=4)
    assert counting.fake.document_calls == 3
    store.add_texts([f"t{i}" for i in range(15)], batch_size=4)  # 5 missing: two calls
    assert (counting.fake.document_calls, counting.fake.texts_embedded) == (5, 15)


async def test_async_adds_use_the_cache(backend_db_path: str, counting: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(counting, db_path=backend_db_path, cache_embeddings=True)
    await store.aadd_texts(["one", "two"], ids=["1", "2"])
    await store.aadd_documents([Document("one", id="1"), Document("three", id="3")])
    assert counting.fake.texts_embedded == 3
    store.add_texts(["three"])  # the sync path reads what the async path wrote
    assert counting.fake.texts_embedded == 3
    assert store.collection.count() == 4


def test_from_texts_uses_the_cache_of_the_file(tmp_path: Path, counting: FakeEmbeddings) -> None:
    path = tmp_path / "app.db"
    SQLiteVecVectorStore.from_texts(["a", "b"], counting, db_path=path, cache_embeddings=True).close()
    assert counting.fake.texts_embedded == 2
    store = SQLiteVecVectorStore.from_texts(
        ["a", "b", "c"], counting, db_path=path, collection_name="again", cache_embeddings=True
    )
    assert counting.fake.texts_embedded == 3
    assert store.collection.count() == 3


async def test_afrom_documents_uses_the_cache(tmp_path: Path, counting: FakeEmbeddings) -> None:
    path = tmp_path / "app.db"
    docs = [Document("a", id="1"), Document("b", id="2")]
    (await SQLiteVecVectorStore.afrom_documents(docs, counting, db_path=path, cache_embeddings=True)).close()
    (await SQLiteVecVectorStore.afrom_documents(docs, counting, db_path=path, cache_embeddings=True)).close()
    assert counting.fake.texts_embedded == 2


def test_without_the_flag_every_text_is_embedded(backend_db_path: str, counting: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(counting, db_path=backend_db_path)
    store.add_texts(["a", "b"])
    store.add_texts(["a", "b"])
    assert counting.fake.texts_embedded == 4
    assert store.embedding_cache is None
    assert len(store.database.embedding_cache(MODEL)) == 0


def test_the_model_id_keys_the_cache(memdb: Database) -> None:
    first = FakeEmbeddings(model_id="model-a")
    SQLiteVecVectorStore(first, database=memdb, cache_embeddings=True, collection_name="a").add_texts(["x"])
    second = FakeEmbeddings(model_id="model-b")
    SQLiteVecVectorStore(second, database=memdb, cache_embeddings=True, collection_name="b").add_texts(["x"])
    assert second.fake.texts_embedded == 1  # another model never reuses model-a's vector
    explicit = FakeEmbeddings()  # no model_id attribute value: named explicitly
    store = SQLiteVecVectorStore(
        explicit, database=memdb, cache_embeddings=True, collection_name="c", model_id="model-a"
    )
    store.add_texts(["x"])
    assert explicit.fake.texts_embedded == 0


def test_cache_embeddings_needs_a_model_id(memdb: Database) -> None:
    with pytest.raises(InvalidInputError, match="needs a model id") as info:
        SQLiteVecVectorStore(FakeEmbeddings(), database=memdb, cache_embeddings=True)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidInputError, match="needs a model id"):
        SQLiteVecVectorStore(FakeEmbeddings(model_id="m"), database=memdb, cache_embeddings=True, model_id=None)
    assert memdb.collection_names() == []  # refused before anything was created
    with pytest.raises(TypeError, match="cache_embeddings"):
        SQLiteVecVectorStore(FakeEmbeddings(model_id="m"), database=memdb, cache_embeddings="yes")  # type: ignore[arg-type]


def test_vectors_are_cached_before_the_records_are_written(
    backend_db_path: str, counting: FakeEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after embedding keeps the vectors: the retry embeds nothing."""
    store = SQLiteVecVectorStore(counting, db_path=backend_db_path, cache_embeddings=True)
    collection = store.collection

    def failing_upsert(*args: object, **kwargs: object) -> list[str]:
        raise RuntimeError("the write failed")

    monkeypatch.setattr(collection, "upsert", failing_upsert)
    with pytest.raises(RuntimeError):
        store.add_texts(["good", "also good"])
    monkeypatch.undo()
    assert collection.count() == 0
    assert counting.fake.texts_embedded == 2
    store.add_texts(["good", "also good"])
    assert counting.fake.texts_embedded == 2
    assert collection.count() == 2
