"""Behaviour of SQLiteVecVectorStore beyond LangChain's standard suite."""

from __future__ import annotations

import asyncio
import copy
import datetime
import importlib
import json
import math
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore, cosine_relevance_score
from sqlitevec_store import (
    Database,
    DimensionMismatchError,
    ModelMismatchError,
    SqliteVecStoreError,
    UncheckedModelWarning,
)
from tests.langchain.conftest import FakeEmbeddings


class TableEmbeddings(Embeddings):
    """Texts mapped to hand-picked vectors, so distances are known exactly."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text]


@pytest.fixture
def store(fake_embeddings: FakeEmbeddings, backend_db_path: str) -> SQLiteVecVectorStore:
    return SQLiteVecVectorStore(fake_embeddings, db_path=backend_db_path)


def _ids(docs: list[Document]) -> list[str | None]:
    return [d.id for d in docs]


def _sorted_ids(docs: list[Document]) -> list[str]:
    return sorted(d.id or "" for d in docs)


# -- construction -------------------------------------------------------------


def test_default_store_is_in_memory_and_empty(fake_embeddings: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(fake_embeddings)
    assert store.database.path == ":memory:"
    assert store.collection_name == "default"
    assert store.embeddings is fake_embeddings
    assert store.similarity_search("anything") == []
    assert fake_embeddings.fake.document_calls == 0


def test_constructing_and_reopening_never_embed(tmp_path: Path) -> None:
    path = tmp_path / "lc.db"
    first = FakeEmbeddings(model_id="tests/fake")
    store = SQLiteVecVectorStore(first, db_path=path)
    store.add_texts(["alpha", "beta", "gamma"], ids=["a", "b", "c"])
    assert first.fake.document_calls == 1
    store.close()

    second = FakeEmbeddings(model_id="tests/fake")
    reopened = SQLiteVecVectorStore(second, db_path=path)
    assert second.fake.document_calls == 0
    assert second.fake.query_calls == 0
    assert _ids(reopened.get_by_ids(["a", "b", "c"])) == ["a", "b", "c"]
    assert _ids(reopened.similarity_search("beta", k=1)) == ["b"]
    assert second.fake.document_calls == 0
    assert second.fake.query_calls == 1


def test_passed_connection_is_used_and_left_open(fake_embeddings: FakeEmbeddings, tmp_path: Path) -> None:
    import sqlean

    conn = sqlean.connect(str(tmp_path / "conn.db"), check_same_thread=False)
    with SQLiteVecVectorStore(fake_embeddings, connection=conn, collection_name="notes") as store:
        store.add_texts(["x"], ids=["1"])
    conn.execute("SELECT 1").fetchone()  # still open
    reopened = SQLiteVecVectorStore(fake_embeddings, connection=conn, collection_name="notes")
    assert _ids(reopened.get_by_ids(["1"])) == ["1"]
    reopened.close()
    conn.close()


def test_passed_database_is_shared_and_left_open(fake_embeddings: FakeEmbeddings) -> None:
    db = Database(":memory:")
    one = SQLiteVecVectorStore(fake_embeddings, database=db, collection_name="one")
    two = SQLiteVecVectorStore(fake_embeddings, database=db, collection_name="two")
    one.add_texts(["only in one"], ids=["1"])
    assert two.get_by_ids(["1"]) == []
    assert sorted(c.name for c in two.list_collections()) == ["one", "two"]
    one.close()
    assert not db.closed
    db.close()


def test_at_most_one_database_argument(fake_embeddings: FakeEmbeddings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most one"):
        SQLiteVecVectorStore(fake_embeddings, db_path=tmp_path / "x.db", database=Database(":memory:"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"connection": "file.db"}, "connection must be an open sqlite3 connection"),
        ({"database": ":memory:"}, "database must be a sqlitevec_store.Database"),
        ({"db_path": 3}, "db_path must be a str or Path"),
        ({"model_id": 3}, "model_id must be a string or None"),
    ],
)
def test_bad_argument_types(fake_embeddings: FakeEmbeddings, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        SQLiteVecVectorStore(fake_embeddings, **kwargs)  # type: ignore[arg-type]


def test_embedding_must_be_an_embeddings_object() -> None:
    with pytest.raises(TypeError, match="Embeddings"):
        SQLiteVecVectorStore(object())  # type: ignore[arg-type]


def test_bad_collection_name_is_a_value_error(fake_embeddings: FakeEmbeddings) -> None:
    with pytest.raises(ValueError):
        SQLiteVecVectorStore(fake_embeddings, collection_name="no spaces; please")


def test_closed_store_raises(fake_embeddings: FakeEmbeddings) -> None:
    with SQLiteVecVectorStore(fake_embeddings) as store:
        store.add_texts(["x"])
    with pytest.raises(SqliteVecStoreError, match="closed"):
        store.similarity_search("x")
    store.close()  # idempotent


# -- model ids ----------------------------------------------------------------


def test_model_id_defaults_to_the_embeddings_model_id() -> None:
    named = SentenceTransformerEmbeddings(model_name="all-MiniLM-L6-v2")
    store = SQLiteVecVectorStore(named)
    assert store.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    # Recorded when the collection is created, before any vector is written.
    assert [c.model_id for c in store.list_collections()] == ["sentence-transformers/all-MiniLM-L6-v2"]
    assert SQLiteVecVectorStore(DeterministicFakeEmbedding(size=4)).model_id is None
    assert SQLiteVecVectorStore(named, model_id=None).model_id is None
    assert SQLiteVecVectorStore(named, model_id="custom/id", collection_name="c2").model_id == "custom/id"


def test_reopening_with_another_named_model_fails(tmp_path: Path) -> None:
    path = tmp_path / "models.db"
    SQLiteVecVectorStore(SentenceTransformerEmbeddings(), db_path=path).close()
    other = SentenceTransformerEmbeddings(model_name="BAAI/bge-small-en-v1.5")
    with pytest.raises(ModelMismatchError, match="all-MiniLM-L6-v2") as info:
        SQLiteVecVectorStore(other, db_path=path)
    assert isinstance(info.value, ValueError)
    # The same model under another spelling is the same model.
    SQLiteVecVectorStore(SentenceTransformerEmbeddings(model_name="all-MiniLM-L6-v2"), db_path=path)
    # Another collection in the same file can use another model.
    SQLiteVecVectorStore(other, db_path=path, collection_name="bge")


def test_model_id_recorded_by_first_named_writer(tmp_path: Path) -> None:
    path = tmp_path / "fake.db"
    store = SQLiteVecVectorStore(FakeEmbeddings(model_id="tests/fake-a"), db_path=path)
    store.add_texts(["x"])
    store.close()
    with pytest.raises(ModelMismatchError):
        SQLiteVecVectorStore(FakeEmbeddings(model_id="tests/fake-b"), db_path=path)


def test_an_embedding_without_model_id_on_a_recorded_collection_warns_once(tmp_path: Path) -> None:
    path = tmp_path / "models.db"
    SQLiteVecVectorStore(FakeEmbeddings(model_id="tests/fake-a"), db_path=path).close()
    with pytest.warns(UncheckedModelWarning, match=r"'tests/fake-a'.*FakeEmbeddings has no model_id") as caught:
        store = SQLiteVecVectorStore(FakeEmbeddings(), db_path=path)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.add_texts(["x"])  # no second warning from the same store
        store.similarity_search("x", k=1)
        # Explicitly unchecked, the same model named, or a collection without a model: silent.
        SQLiteVecVectorStore(FakeEmbeddings(), db_path=path, model_id=None).close()
        SQLiteVecVectorStore(FakeEmbeddings(), db_path=path, model_id="tests/fake-a").close()
        SQLiteVecVectorStore(FakeEmbeddings(), db_path=path, collection_name="other").close()
        SQLiteVecVectorStore(FakeEmbeddings(), db_path=path, collection_name="other").close()


def test_a_declared_dimension_is_checked_when_the_store_opens(tmp_path: Path) -> None:
    path = tmp_path / "dims.db"
    store = SQLiteVecVectorStore(DeterministicFakeEmbedding(size=8), db_path=path)
    store.add_texts(["x"])
    store.close()
    wide = DeterministicFakeEmbedding(size=16)
    with pytest.raises(DimensionMismatchError, match=r"8-dimensional.*DeterministicFakeEmbedding makes 16") as info:
        SQLiteVecVectorStore(wide, db_path=path)
    assert isinstance(info.value, ValueError)
    # An embedding that declares nothing is checked at its first vectors, as before.
    silent = SQLiteVecVectorStore(FakeEmbeddings(dimension=16), db_path=path)
    with pytest.raises(DimensionMismatchError):
        silent.add_texts(["y"])
    silent.close()
    # A new (empty) collection takes any dimension.
    SQLiteVecVectorStore(wide, db_path=path, collection_name="wide").close()


def test_our_embeddings_declare_their_dimension_without_loading(tmp_path: Path) -> None:
    # A local sentence-transformers directory declaring 768 dimensions (never loaded).
    model = tmp_path / "mpnet-like"
    (model / "1_Pooling").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (model / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    pooling = {"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    embeddings = SentenceTransformerEmbeddings(model_name=str(model))
    assert embeddings.known_dimension == 768
    assert SentenceTransformerEmbeddings(model_name="BAAI/bge-small-en-v1.5").known_dimension is None
    path = tmp_path / "d.db"
    store = SQLiteVecVectorStore(TableEmbeddings({"x": [1.0] * 384}), db_path=path)
    store.add_texts(["x"])
    store.close()
    with pytest.raises(DimensionMismatchError, match=r"384-dimensional.*768"):
        SQLiteVecVectorStore(embeddings, db_path=path)
    assert embeddings._embedder is None


# -- adding -------------------------------------------------------------------


def test_add_texts_with_ids_and_metadata(store: SQLiteVecVectorStore) -> None:
    ids = store.add_texts(["a", "b"], [{"n": 1}, None], ids=["id-a", None])
    assert ids[0] == "id-a"
    assert len(ids[1]) == 36  # generated UUID
    docs = store.get_by_ids(ids)
    assert docs == [
        Document(page_content="a", metadata={"n": 1}, id="id-a"),
        Document(page_content="b", metadata={}, id=ids[1]),
    ]


def test_generators_are_consumed_fully(store: SQLiteVecVectorStore, fake_embeddings: FakeEmbeddings) -> None:
    texts = (f"text {i}" for i in range(1200))
    metadatas = ({"i": i} for i in range(1200))
    ids = (f"id-{i}" for i in range(1200))
    returned = store.add_texts(texts, metadatas, ids=ids)
    assert returned == [f"id-{i}" for i in range(1200)]
    assert store.collection.count() == 1200
    assert fake_embeddings.fake.document_calls == 1

    docs = (Document(page_content=f"doc {i}", metadata={"d": i}, id=f"doc-{i}") for i in range(10))
    assert store.add_documents(docs) == [f"doc-{i}" for i in range(10)]
    assert store.get_by_ids(["doc-9"])[0].metadata == {"d": 9}


def test_embedding_batch_size_is_separate(store: SQLiteVecVectorStore, fake_embeddings: FakeEmbeddings) -> None:
    store.add_texts([f"t{i}" for i in range(10)], batch_size=4)
    assert fake_embeddings.fake.document_calls == 3
    assert fake_embeddings.fake.texts_embedded == 10
    assert store.collection.count() == 10
    with pytest.raises(ValueError, match="batch_size"):
        store.add_texts(["x"], batch_size=0)
    store.add_texts(["big"], batch_size=2**63 - 1)
    for absurd in (2**63, 10**30):  # islice's ValueError leaked past sys.maxsize
        with pytest.raises(SqliteVecStoreError, match="batch_size must be at most"):
            store.add_texts(["x"], batch_size=absurd)
    with pytest.raises(SqliteVecStoreError, match="batch_size must be an integer"):
        store.add_texts(["x"], batch_size="4")


def test_document_ids_are_used(store: SQLiteVecVectorStore) -> None:
    docs = [Document("one", id="doc-1"), Document("two"), Document("three", id="doc-3")]
    ids = store.add_documents(docs)
    assert ids[0] == "doc-1" and ids[2] == "doc-3" and len(ids[1]) == 36
    assert docs[1].id is None  # input not mutated
    assert store.get_by_ids(["doc-1"]) == [Document("one", id="doc-1")]


def test_explicit_ids_take_precedence_over_document_ids(store: SQLiteVecVectorStore) -> None:
    docs = [Document("one", id="doc-1"), Document("two", id="doc-2")]
    assert store.add_documents(docs, ids=["x-1", None]) == ["x-1", "doc-2"]
    assert _sorted_ids(store.get_by_ids(["doc-1", "doc-2", "x-1"])) == ["doc-2", "x-1"]


def test_upsert_replaces_text_metadata_and_vector(store: SQLiteVecVectorStore) -> None:
    store.add_texts(["old text", "other"], [{"v": 1}, {"v": 9}], ids=["1", "2"])
    store.add_texts(["new text"], [{"v": 2, "extra": True}], ids=["1"])
    assert store.collection.count() == 2
    assert store.get_by_ids(["1"]) == [Document(page_content="new text", metadata={"v": 2, "extra": True}, id="1")]
    doc, distance = store.similarity_search_with_score("new text", k=1)[0]
    assert doc.id == "1"
    assert distance == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("texts", "kwargs", "error", "match"),
    [
        (["a", "b"], {"metadatas": [{}]}, ValueError, "2 texts but 1 metadatas"),
        (["a", "b"], {"ids": ["1"]}, ValueError, "2 texts but 1 ids"),
        (["a", "b"], {"ids": ["1", "1"]}, ValueError, "appears twice"),
        (["a", 2], {}, TypeError, "text 1 must be a string"),
        ("ab", {}, TypeError, "not one string"),
        (["a"], {"ids": [7]}, TypeError, "id 0 must be a string"),
        (["a"], {"metadatas": ["x"]}, TypeError, "metadata 0 must be a dict"),
        (["a"], {"frobnicate": True}, TypeError, "frobnicate"),
    ],
)
def test_bad_batches_fail_before_embedding(
    store: SQLiteVecVectorStore,
    fake_embeddings: FakeEmbeddings,
    texts: list[str],
    kwargs: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        store.add_texts(texts, **kwargs)  # type: ignore[arg-type]
    assert fake_embeddings.fake.document_calls == 0
    assert store.collection.count() == 0


def test_a_bad_record_leaves_the_store_unchanged(store: SQLiteVecVectorStore) -> None:
    store.add_texts(["keep"], ids=["k"])
    with pytest.raises(TypeError):
        store.add_texts(["a", "b"], [{"ok": 1}, {"bad": object()}], ids=["a", "b"])
    assert store.collection.count() == 1


def test_add_nothing(store: SQLiteVecVectorStore, fake_embeddings: FakeEmbeddings) -> None:
    assert store.add_texts([]) == []
    assert store.add_documents([]) == []
    assert fake_embeddings.fake.document_calls == 0


# -- deleting and getting -----------------------------------------------------


@pytest.fixture
def colours(store: SQLiteVecVectorStore) -> SQLiteVecVectorStore:
    store.add_texts(
        ["red apple", "green apple", "red car", "blue car"],
        [
            {"colour": "red", "kind": "fruit"},
            {"colour": "green", "kind": "fruit"},
            {"colour": "red", "kind": "vehicle"},
            {"colour": "blue", "kind": "vehicle"},
        ],
        ids=["1", "2", "3", "4"],
    )
    return store


def test_delete_by_ids_filter_and_both(colours: SQLiteVecVectorStore) -> None:
    assert colours.delete(["1", "missing"]) is True
    assert colours.collection.count() == 3
    assert colours.delete(filter={"kind": "vehicle", "colour": "blue"}) is True
    assert _sorted_ids(colours.get_by_ids(["1", "2", "3", "4"])) == ["2", "3"]
    # ids AND filter: "2" is not red, so only "3" goes.
    assert colours.delete(["2", "3"], filter={"colour": "red"}) is True
    assert _ids(colours.get_by_ids(["2", "3"])) == ["2"]


def test_delete_with_neither_deletes_nothing(colours: SQLiteVecVectorStore) -> None:
    assert colours.delete() is False
    assert colours.delete(None) is False
    assert colours.delete([]) is True
    assert colours.collection.count() == 4


def test_delete_with_an_empty_filter_deletes_everything(colours: SQLiteVecVectorStore) -> None:
    assert colours.delete(filter={}) is True
    assert colours.collection.count() == 0


def test_delete_rejects_bad_arguments(colours: SQLiteVecVectorStore) -> None:
    with pytest.raises(TypeError, match="not one string"):
        colours.delete("1")
    with pytest.raises(TypeError, match="filters"):
        colours.delete(filters={"colour": "red"})
    with pytest.raises(ValueError, match=r"\$regex"):
        colours.delete(filter={"colour": {"$regex": "r.*"}})
    assert colours.collection.count() == 4


def test_get_by_ids_order_duplicates_and_missing(colours: SQLiteVecVectorStore) -> None:
    assert _ids(colours.get_by_ids(["3", "nope", "1", "3"])) == ["3", "1"]
    assert colours.get_by_ids([]) == []
    assert colours.get_by_ids(["4"])[0] == Document(
        page_content="blue car", metadata={"colour": "blue", "kind": "vehicle"}, id="4"
    )


# -- scores -------------------------------------------------------------------


@pytest.fixture
def compass() -> Iterator[SQLiteVecVectorStore]:
    vectors = {
        "north": [0.0, 1.0],
        "north-east": [1.0, 1.0],
        "east": [1.0, 0.0],
        "south": [0.0, -1.0],
        "north again": [0.0, 2.0],
    }
    store = SQLiteVecVectorStore(TableEmbeddings(vectors))
    store.add_texts(["north", "north-east", "east", "south"], [{"n": i} for i in range(4)], ids=["n", "ne", "e", "s"])
    yield store
    store.close()


def test_scores_are_cosine_distances(compass: SQLiteVecVectorStore) -> None:
    pairs = compass.similarity_search_with_score("north", k=4)
    assert [d.id for d, _ in pairs] == ["n", "ne", "e", "s"]
    expected = [0.0, 1 - math.sqrt(0.5), 1.0, 2.0]
    assert [s for _, s in pairs] == pytest.approx(expected, abs=1e-6)
    # Scale does not matter for cosine.
    assert compass.similarity_search_with_score("north again", k=1)[0][1] == pytest.approx(0.0, abs=1e-6)


def test_relevance_scores_are_cosine_similarities_clipped_at_zero(compass: SQLiteVecVectorStore) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # langchain-core warns on scores outside [0, 1]
        pairs = compass.similarity_search_with_relevance_scores("north", k=4)
    # 1 - d as PGVector and Chroma report it: orthogonal ("east") is 0, opposite ("south") clipped to 0.
    assert [s for _, s in pairs] == pytest.approx([1.0, math.sqrt(0.5), 0.0, 0.0], abs=1e-6)
    assert all(0.0 <= s <= 1.0 for _, s in pairs)
    above = compass.similarity_search_with_relevance_scores("north", k=4, score_threshold=0.6)
    assert [d.id for d, _ in above] == ["n", "ne"]
    # An orthogonal (unrelated) vector no longer passes a 0.5 threshold (1 - d/2 gave it 0.5).
    half = compass.as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.5})
    assert [d.id for d in half.invoke("north")] == ["n", "ne"]
    assert cosine_relevance_score(0.25) == pytest.approx(0.75) and cosine_relevance_score(1.7) == 0.0


def test_search_by_vector(compass: SQLiteVecVectorStore) -> None:
    assert _ids(compass.similarity_search_by_vector([1.0, 0.1], k=2)) == ["e", "ne"]
    pairs = compass.similarity_search_with_score_by_vector([0.0, -3.0], k=1)
    assert pairs[0][0].id == "s" and pairs[0][1] == pytest.approx(0.0, abs=1e-6)
    assert _ids(compass.similarity_search_by_vector([1.0, 0.1], k=2, filter={"n": {"$lt": 2}})) == ["ne", "n"]


def test_k_larger_than_the_store(compass: SQLiteVecVectorStore) -> None:
    assert len(compass.similarity_search("north", k=100)) == 4
    with pytest.raises(ValueError, match="k must be at least 1"):
        compass.similarity_search("north", k=0)
    assert len(compass.similarity_search("north", k=2**63 - 1)) == 4
    assert len(compass.max_marginal_relevance_search("north", k=2, fetch_k=2**63 - 1)) == 2
    # Past SQLite's 64-bit integer these leaked OverflowError.
    for search in (
        lambda: compass.similarity_search("north", k=2**63),
        lambda: compass.keyword_search("north", k=2**63),
        lambda: compass.hybrid_search("north", k=2, fetch_k=2**64),
        lambda: compass.max_marginal_relevance_search("north", k=2, fetch_k=10**30),
    ):
        with pytest.raises(SqliteVecStoreError, match="at most 2\\*\\*63 - 1"):
            search()


# -- filters on every search path -------------------------------------------------


def test_filter_is_honoured_everywhere(colours: SQLiteVecVectorStore) -> None:
    red = {"colour": "red"}
    assert _sorted_ids(colours.similarity_search("blue car", k=4, filter=red)) == ["1", "3"]
    assert sorted(d.id or "" for d, _ in colours.similarity_search_with_score("blue car", k=4, filter=red)) == [
        "1",
        "3",
    ]
    pairs = colours.similarity_search_with_relevance_scores("blue car", k=4, filter=red)
    assert sorted(d.id or "" for d, _ in pairs) == ["1", "3"]
    assert _sorted_ids(colours.max_marginal_relevance_search("blue car", k=4, fetch_k=4, filter=red)) == ["1", "3"]
    vector = colours.embeddings.embed_query("blue car")
    assert _sorted_ids(colours.max_marginal_relevance_search_by_vector(vector, k=4, filter=red)) == ["1", "3"]
    retriever = colours.as_retriever(search_kwargs={"k": 4, "filter": red})
    assert _sorted_ids(retriever.invoke("blue car")) == ["1", "3"]


def test_filtered_search_is_exact_top_k_among_rare_matches(fake_embeddings: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(fake_embeddings)
    store.add_texts(
        [f"text {i}" for i in range(500)],
        [{"rare": True} if i % 100 == 7 else {"rare": False} for i in range(500)],
        ids=[str(i) for i in range(500)],
    )
    found = store.similarity_search("text 3", k=10, filter={"rare": True})
    assert sorted(_ids(found), key=lambda s: int(s or 0)) == ["7", "107", "207", "307", "407"]


def test_unknown_operator_raises_value_error_naming_supported(colours: SQLiteVecVectorStore) -> None:
    with pytest.raises(ValueError, match=r"\$regex") as info:
        colours.similarity_search("x", filter={"colour": {"$regex": "r.*"}})
    for op in ("$eq", "$ne", "$gt", "$in", "$nin", "$like", "$ilike", "$exists", "$contains", "$and", "$or", "$not"):
        assert op in str(info.value)
    with pytest.raises(ValueError, match=r"\$xor"):
        colours.max_marginal_relevance_search("x", filter={"$xor": [{"a": 1}]})


def test_unknown_search_keywords_are_rejected(colours: SQLiteVecVectorStore) -> None:
    with pytest.raises(TypeError, match="where"):
        colours.similarity_search("x", where={"colour": "red"})
    with pytest.raises(TypeError, match="filters"):
        colours.max_marginal_relevance_search("x", filters={"colour": "red"})


# -- MMR ----------------------------------------------------------------------


@pytest.fixture
def duplicates() -> Iterator[SQLiteVecVectorStore]:
    vectors = {
        "query": [1.0, 0.0, 0.0],
        "best": [0.95, 0.31, 0.0],
        "best copy": [0.95, 0.31, 0.0],
        "different": [0.8, -0.2, 0.56],
    }
    store = SQLiteVecVectorStore(TableEmbeddings(vectors))
    store.add_texts(["best", "best copy", "different"], ids=["best", "copy", "diff"])
    yield store
    store.close()


def test_mmr_prefers_diversity(duplicates: SQLiteVecVectorStore) -> None:
    assert _ids(duplicates.similarity_search("query", k=2)) == ["best", "copy"]
    assert _ids(duplicates.max_marginal_relevance_search("query", k=2, fetch_k=3)) == ["best", "diff"]
    assert _ids(duplicates.max_marginal_relevance_search("query", k=2, fetch_k=3, lambda_mult=1.0)) == [
        "best",
        "copy",
    ]
    with pytest.raises(ValueError, match="lambda_mult"):
        duplicates.max_marginal_relevance_search("query", lambda_mult=2.0)


def test_mmr_fetch_k_below_k_returns_fetch_k_like_in_memory_store(duplicates: SQLiteVecVectorStore) -> None:
    # LangChain's own store picks among the fetch_k nearest: fetch_k < k gives fetch_k documents.
    reference = InMemoryVectorStore(duplicates.embeddings)
    reference.add_texts(["best", "best copy", "different"], ids=["best", "copy", "diff"])
    for k, fetch_k in ((3, 1), (3, 2), (2, 3), (5, 5)):
        expected = _ids(reference.max_marginal_relevance_search("query", k=k, fetch_k=fetch_k))
        got = _ids(duplicates.max_marginal_relevance_search("query", k=k, fetch_k=fetch_k))
        assert len(got) == len(expected) == min(k, fetch_k, 3)
        # "best" and "copy" are the same vector; the two stores may break that tie differently.
        assert sorted(got).count("diff") == sorted(expected).count("diff")
    retriever = duplicates.as_retriever(search_type="mmr", search_kwargs={"k": 3, "fetch_k": 1})
    assert len(retriever.invoke("query")) == 1
    with pytest.raises(ValueError, match="fetch_k must be at least 1"):
        duplicates.max_marginal_relevance_search("query", k=3, fetch_k=0)


def test_mmr_on_an_empty_store(fake_embeddings: FakeEmbeddings) -> None:
    assert SQLiteVecVectorStore(fake_embeddings).max_marginal_relevance_search("x") == []


# -- retrievers ---------------------------------------------------------------


def test_retriever_search_types(duplicates: SQLiteVecVectorStore) -> None:
    similarity = duplicates.as_retriever(search_kwargs={"k": 2})
    assert _ids(similarity.invoke("query")) == ["best", "copy"]
    mmr = duplicates.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 3})
    assert _ids(mmr.invoke("query")) == ["best", "diff"]
    threshold = duplicates.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"k": 3, "score_threshold": 0.9}
    )
    assert _ids(threshold.invoke("query")) == ["best", "copy"]
    filtered = duplicates.as_retriever(
        search_type="mmr", search_kwargs={"k": 2, "filter": {"missing": {"$exists": False}}}
    )
    assert _ids(filtered.invoke("query")) == ["best", "diff"]


async def test_retriever_async(duplicates: SQLiteVecVectorStore) -> None:
    mmr = duplicates.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 3})
    assert _ids(await mmr.ainvoke("query")) == ["best", "diff"]
    threshold = duplicates.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"k": 3, "score_threshold": 0.9}
    )
    assert _ids(await threshold.ainvoke("query")) == ["best", "copy"]


# -- async --------------------------------------------------------------------


async def test_async_methods(compass: SQLiteVecVectorStore) -> None:
    assert _ids(await compass.asimilarity_search("north", k=2)) == ["n", "ne"]
    pairs = await compass.asimilarity_search_with_score("north", k=1, filter={"n": 3})
    assert pairs[0][0].id == "s" and pairs[0][1] == pytest.approx(2.0, abs=1e-6)
    relevance = await compass.asimilarity_search_with_relevance_scores("north", k=4)
    assert relevance[0][1] == pytest.approx(1.0)
    assert _ids(await compass.asimilarity_search_by_vector([1.0, 0.0], k=1)) == ["e"]
    scored = await compass.asimilarity_search_with_score_by_vector([1.0, 0.0], k=1, filter={"n": 0})
    assert scored[0][0].id == "n"
    assert _ids(await compass.amax_marginal_relevance_search("north", k=1)) == ["n"]
    assert _ids(await compass.amax_marginal_relevance_search_by_vector([1.0, 0.0], k=1)) == ["e"]
    assert _ids(await compass.aget_by_ids(["s", "e"])) == ["s", "e"]
    assert await compass.adelete(filter={"n": {"$gte": 2}}) is True
    assert await compass.adelete() is False
    assert _ids(await compass.aget_by_ids(["n", "ne", "e", "s"])) == ["n", "ne"]
    assert await compass.aadd_texts(["east"], [{"n": 2}], ids=["e"]) == ["e"]
    assert await compass.aadd_documents([Document("south", id="s")]) == ["s"]
    assert _ids(await compass.aget_by_ids(["e", "s"])) == ["e", "s"]


async def test_async_batch_size(fake_embeddings: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(fake_embeddings)
    await store.aadd_texts([f"t{i}" for i in range(5)], batch_size=2)
    assert fake_embeddings.fake.document_calls == 3
    with pytest.raises(TypeError, match="nope"):
        await store.aadd_texts(["x"], nope=1)


async def test_concurrent_searches_and_adds_on_one_file_store(tmp_path: Path) -> None:
    embeddings = FakeEmbeddings()
    store = SQLiteVecVectorStore(embeddings, db_path=tmp_path / "concurrent.db")
    await store.aadd_texts([f"seed {i}" for i in range(20)], [{"i": i} for i in range(20)])

    async def add(n: int) -> list[str]:
        return await store.aadd_documents([Document(f"added {n}", metadata={"n": n}, id=f"added-{n}")])

    async def search(n: int) -> list[Document]:
        return await store.asimilarity_search(f"seed {n % 20}", k=3, filter={"i": {"$gte": 0}})

    results = await asyncio.gather(*(add(n) for n in range(25)), *(search(n) for n in range(50)))
    assert [r for r in results[:25]] == [[f"added-{n}"] for n in range(25)]
    for n, found in enumerate(results[25:]):
        assert isinstance(found, list) and len(found) == 3
        assert found[0].page_content == f"seed {n % 20}"
    assert store.collection.count() == 45
    mmr = await asyncio.gather(*(store.amax_marginal_relevance_search("seed 1", k=2) for _ in range(10)))
    assert all(len(m) == 2 for m in mmr)


# -- from_texts / from_documents ----------------------------------------------------


def test_from_texts_honours_every_argument(tmp_path: Path) -> None:
    embeddings = FakeEmbeddings(model_id="tests/fake")
    path = tmp_path / "from.db"
    store = SQLiteVecVectorStore.from_texts(
        ["a", "b", "c"],
        embeddings,
        [{"n": 1}, {"n": 2}, {"n": 3}],
        ids=["1", "2", "3"],
        db_path=path,
        collection_name="letters",
        batch_size=2,
    )
    assert isinstance(store, SQLiteVecVectorStore)
    assert store.database.path == str(path)
    assert store.collection_name == "letters"
    assert embeddings.fake.document_calls == 2
    assert [(c.name, c.model_id) for c in store.list_collections()] == [("letters", "tests/fake")]
    assert store.get_by_ids(["2"]) == [Document("b", metadata={"n": 2}, id="2")]

    unnamed = SQLiteVecVectorStore.from_texts(["x"], embeddings, db_path=path, collection_name="other", model_id=None)
    assert unnamed.model_id is None

    conn = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        via_conn = SQLiteVecVectorStore.from_texts(["x"], embeddings, connection=conn)
    except SqliteVecStoreError:  # this Python's sqlite3 cannot load extensions
        import sqlean

        conn.close()
        conn = sqlean.connect(":memory:", check_same_thread=False)
        via_conn = SQLiteVecVectorStore.from_texts(["x"], embeddings, connection=conn)
    assert via_conn.database.conn is conn
    via_conn.close()
    conn.close()

    db = Database(":memory:")
    via_db = SQLiteVecVectorStore.from_texts(["x"], embeddings, database=db, collection_name="shared")
    assert via_db.database is db
    db.close()

    with pytest.raises(TypeError, match="persist_directory"):
        SQLiteVecVectorStore.from_texts(["x"], embeddings, persist_directory="x")


def test_from_documents_honours_document_ids(tmp_path: Path, fake_embeddings: FakeEmbeddings) -> None:
    docs = (Document(f"doc {i}", metadata={"i": i}, id=f"d{i}" if i % 2 else None) for i in range(4))
    store = SQLiteVecVectorStore.from_documents(docs, fake_embeddings, db_path=tmp_path / "docs.db")
    assert store.collection.count() == 4
    assert _ids(store.get_by_ids(["d1", "d3"])) == ["d1", "d3"]
    with_ids = SQLiteVecVectorStore.from_documents(
        [Document("x", id="ignored")], fake_embeddings, ids=["explicit"], collection_name="c"
    )
    assert _ids(with_ids.get_by_ids(["explicit", "ignored"])) == ["explicit"]


async def test_afrom_texts_and_afrom_documents(tmp_path: Path, fake_embeddings: FakeEmbeddings) -> None:
    path = tmp_path / "afrom.db"
    store = await SQLiteVecVectorStore.afrom_texts(
        ["a", "b"], fake_embeddings, [{"n": 1}, {"n": 2}], ids=["1", "2"], db_path=path, collection_name="x"
    )
    assert store.collection_name == "x" and store.database.path == str(path)
    assert _ids(await store.asimilarity_search("b", k=1)) == ["2"]
    db = Database(":memory:")
    docs = await SQLiteVecVectorStore.afrom_documents(
        [Document("x", id="doc-x")], fake_embeddings, database=db, collection_name="y"
    )
    assert docs.database is db
    assert _ids(docs.get_by_ids(["doc-x"])) == ["doc-x"]
    db.close()


# -- collections ---------------------------------------------------------------


def test_list_and_delete_collections(tmp_path: Path, fake_embeddings: FakeEmbeddings) -> None:
    path = tmp_path / "collections.db"
    one = SQLiteVecVectorStore(fake_embeddings, db_path=path, collection_name="one")
    two = SQLiteVecVectorStore(fake_embeddings, db_path=path, collection_name="two")
    one.add_texts(["x"])
    assert sorted(c.name for c in one.list_collections()) == ["one", "two"]
    assert one.list_collections()[0].dimension == 16
    assert one.delete_collection("two") is True
    assert one.delete_collection("two") is False
    assert [c.name for c in two.list_collections()] == ["one"]

    # Dropping its own collection empties the store; it is recreated on use.
    assert one.delete_collection() is True
    assert one.similarity_search("x") == []
    one.add_texts(["y"], ids=["y"])
    assert _ids(one.get_by_ids(["y"])) == ["y"]


def test_show_progress_reports_on_stderr(fake_embeddings: FakeEmbeddings, capsys: pytest.CaptureFixture[str]) -> None:
    store = SQLiteVecVectorStore(fake_embeddings)
    store.add_texts([f"t{i}" for i in range(10)], batch_size=4)
    assert capsys.readouterr().err == ""  # off by default
    store.add_texts([f"u{i}" for i in range(10)], batch_size=4, show_progress=True)
    err = capsys.readouterr()
    assert err.out == ""
    lines = err.err.splitlines()
    assert lines[0] == "Embedding 10 texts ..."
    assert lines[-1].startswith("Embedding 10 texts: 10/10 (100%) in ")
    assert fake_embeddings.fake.document_calls == 6  # still batch_size per call
    assert store.collection.count() == 20
    with pytest.raises(TypeError, match="show_progress"):
        store.add_texts(["x"], show_progress="yes")


def test_show_progress_flag_of_the_store_and_the_other_add_paths(
    fake_embeddings: FakeEmbeddings, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SQLiteVecVectorStore(fake_embeddings, show_progress=True)
    store.add_documents([Document("one"), Document("two")])
    assert "Embedding 2 texts: 2/2 (100%)" in capsys.readouterr().err
    store.add_texts(["three"], show_progress=False)  # a call may override the store's flag
    assert capsys.readouterr().err == ""
    SQLiteVecVectorStore.from_texts(["a", "b", "c"], fake_embeddings, show_progress=True)
    assert "Embedding 3 texts: 3/3 (100%)" in capsys.readouterr().err


async def test_async_show_progress(fake_embeddings: FakeEmbeddings, capsys: pytest.CaptureFixture[str]) -> None:
    store = SQLiteVecVectorStore(fake_embeddings)
    await store.aadd_texts([f"t{i}" for i in range(5)], show_progress=True)
    assert "Embedding 5 texts: 5/5 (100%)" in capsys.readouterr().err
    await store.aadd_texts(["x"])
    assert capsys.readouterr().err == ""


# -- metadata that real data has ----------------------------------------------


def test_time_weighted_retriever_metadata_round_trip(fake_embeddings: FakeEmbeddings) -> None:
    # What langchain's TimeWeightedVectorStoreRetriever does with a vector store: it adds
    # copies of the documents with datetime "last_accessed_at"/"created_at" and an int
    # "buffer_idx", then maps search results back to its own memory stream by buffer_idx.
    store = SQLiteVecVectorStore(fake_embeddings)
    memory_stream: list[Document] = []
    now = datetime.datetime.now()
    for text in ("hello world", "hello foo", "something else"):
        doc = copy.deepcopy(Document(page_content=text))
        doc.metadata.update(last_accessed_at=now, created_at=now, buffer_idx=len(memory_stream))
        memory_stream.append(doc)
        store.add_documents([doc])
    found = store.similarity_search_with_relevance_scores("hello world", k=100)
    by_idx = {d.metadata["buffer_idx"]: memory_stream[d.metadata["buffer_idx"]] for d, _ in found}
    assert sorted(by_idx) == [0, 1, 2]
    # The store gives the datetimes back as ISO-8601 strings (the retriever reads its own copies).
    assert found[0][0].metadata["created_at"] == now.isoformat()
    assert datetime.datetime.fromisoformat(found[0][0].metadata["last_accessed_at"]) == now
    # ... and filters on them compare as times.
    later = now + datetime.timedelta(seconds=1)
    assert len(store.similarity_search("x", k=10, filter={"created_at": {"$lt": later}})) == 3
    assert store.similarity_search("x", k=10, filter={"created_at": {"$gt": now}}) == []


def test_time_weighted_retriever_end_to_end(fake_embeddings: FakeEmbeddings) -> None:
    module = None
    for name in (
        "langchain_classic.retrievers.time_weighted_retriever",
        "langchain.retrievers.time_weighted_retriever",
    ):
        try:
            module = importlib.import_module(name)
            break
        except ImportError:
            continue
    if module is None:
        pytest.skip("TimeWeightedVectorStoreRetriever (langchain-classic / langchain) is not installed")
    store = SQLiteVecVectorStore(fake_embeddings)
    retriever = module.TimeWeightedVectorStoreRetriever(vectorstore=store, decay_rate=0.5, k=2)
    yesterday = datetime.datetime.now() - datetime.timedelta(days=1)
    retriever.add_documents([Document(page_content="hello world", metadata={"last_accessed_at": yesterday})])
    retriever.add_documents([Document(page_content="hello foo")])
    # The retriever's documented way to date documents passes current_time on to the store.
    retriever.add_documents([Document(page_content="goodbye")], current_time=yesterday)
    docs = retriever.invoke("hello world")
    assert sorted(d.page_content for d in docs) == ["hello foo", "hello world"]
    assert store.collection.count() == 3
    assert all(isinstance(d.metadata["last_accessed_at"], datetime.datetime) for d in docs)
