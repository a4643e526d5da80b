"""Each sync/async pair of the LangChain store: one implementation, so the same results and the same errors.

Also what the typed options and the shared open rule changed: bad options are
refused before anything is opened or embedded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_sqlitevec import SQLiteVecRetriever, SQLiteVecVectorStore
from langchain_sqlitevec.vectorstores import SQLiteVecRetriever as RetrieverFromVectorstores
from langchain_sqlitevec.vectorstores import cosine_relevance_score
from sqlitevec_store import SqliteVecStoreError
from tests.langchain.conftest import FakeEmbeddings

TEXTS = [f"note {i} about {topic}" for i, topic in enumerate(["sqlite", "vectors", "search", "pandas", "rust"] * 3)]
METADATAS = [{"i": i, "even": i % 2 == 0} for i in range(len(TEXTS))]
IDS = [f"id-{i}" for i in range(len(TEXTS))]


class SidedEmbeddings(FakeEmbeddings):
    """Fake embeddings that record which side (sync or async) each call came from."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(f"documents:{len(texts)}")
        return super().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.calls.append("query")
        return super().embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(f"adocuments:{len(texts)}")
        return super().embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        self.calls.append("aquery")
        return super().embed_query(text)


@pytest.fixture
def embeddings() -> SidedEmbeddings:
    return SidedEmbeddings()


@pytest.fixture
def notes(embeddings: SidedEmbeddings) -> SQLiteVecVectorStore:
    store = SQLiteVecVectorStore(embeddings)
    store.add_texts(TEXTS, METADATAS, ids=IDS)
    embeddings.calls.clear()
    return store


VECTOR = [1.0] + [0.0] * 15

#: (method, positional args, keyword args): each with its "a" twin.
PAIRS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("similarity_search", ("sqlite",), {"k": 3}),
    ("similarity_search", ("sqlite",), {"k": 3, "filter": {"even": True}}),
    ("similarity_search_with_score", ("vectors",), {"k": 4}),
    ("similarity_search_with_relevance_scores", ("vectors",), {"k": 4}),
    ("similarity_search_by_vector", (VECTOR,), {"k": 3}),
    ("similarity_search_with_score_by_vector", (VECTOR,), {"k": 3, "filter": {"i": {"$lt": 8}}}),
    ("max_marginal_relevance_search", ("search",), {"k": 3, "fetch_k": 8, "lambda_mult": 0.3}),
    ("max_marginal_relevance_search_by_vector", (VECTOR,), {"k": 3, "fetch_k": 2}),
    ("keyword_search", ("pandas",), {"k": 3}),
    ("keyword_search_with_score", ("note rust",), {"k": 5, "filter": {"even": False}}),
    ("hybrid_search", ("sqlite search",), {"k": 4}),
    ("hybrid_search_with_score", ("sqlite search",), {"k": 4, "alpha": 0.2, "fetch_k": 6, "fusion": "rrf"}),
    ("get_by_ids", (["id-3", "missing", "id-1"],), {}),
]


def _pair(store: SQLiteVecVectorStore, name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    return getattr(store, name), getattr(store, "a" + name)


@pytest.mark.parametrize(("name", "args", "kwargs"), PAIRS)
async def test_a_pair_gives_the_same_result_each_side_embedding_its_own_way(
    notes: SQLiteVecVectorStore, embeddings: SidedEmbeddings, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    sync, async_ = _pair(notes, name)
    expected = sync(*args, **kwargs)
    sync_calls = list(embeddings.calls)
    embeddings.calls.clear()
    assert await async_(*args, **kwargs) == expected
    assert expected  # the cases are chosen to find something
    assert embeddings.calls == ["a" + call for call in sync_calls]  # aembed_query where embed_query, nothing else


#: Bad calls: (method, args, kwargs, error class, message pattern with {name} for the method's name).
BAD: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ("similarity_search_with_score", ("x",), {"where": 1}, TypeError, r"^{name}\(\) got unexpected keyword argument"),
    ("similarity_search_with_score_by_vector", (VECTOR,), {"nope": 1}, TypeError, r"^{name}\(\) got unexpected"),
    ("max_marginal_relevance_search", ("x",), {"filters": {}}, TypeError, r"^{name}\(\) got unexpected"),
    ("max_marginal_relevance_search_by_vector", (VECTOR,), {"x": 1}, TypeError, r"^{name}\(\) got unexpected"),
    ("similarity_search", ("x",), {"filter": {"a": {"$regex": "b"}}}, ValueError, r"\$regex"),
    ("similarity_search", ("x",), {"k": 0}, ValueError, "k must be at least 1"),
    ("max_marginal_relevance_search", ("x",), {"lambda_mult": 2.0}, ValueError, "lambda_mult"),
    ("keyword_search", ("x",), {"filter": {"$xor": []}}, ValueError, r"\$xor"),
    ("keyword_search", ('"unclosed',), {"raw": True}, ValueError, "Invalid FTS5 query"),
    ("hybrid_search", ("x",), {"alpha": 1.5}, ValueError, r"alpha must be None or a number in \[0, 1\], got 1.5"),
    ("hybrid_search", ("x",), {"fusion": "max"}, ValueError, "fusion must be one of"),
    ("hybrid_search_with_score", ("x",), {"fetch_k": 0}, ValueError, "fetch_k must be at least 1"),
    ("get_by_ids", ("id-1",), {}, TypeError, "not one string"),
    ("delete", (), {"ids": "id-1"}, TypeError, "not one string"),
    ("delete", (), {"ids": ["id-1"], "cascade": True}, TypeError, r"^delete\(\) got unexpected"),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "error", "pattern"), BAD)
async def test_a_pair_refuses_the_same_bad_call_with_the_same_error(
    notes: SQLiteVecVectorStore,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    pattern: str,
) -> None:
    sync, async_ = _pair(notes, name)
    with pytest.raises(error, match=pattern.format(name=name)) as sync_info:
        sync(*args, **kwargs)
    async_name = name if name == "delete" else "a" + name  # adelete runs delete itself
    with pytest.raises(error, match=pattern.format(name=async_name)) as async_info:
        await async_(*args, **kwargs)
    assert type(async_info.value) is type(sync_info.value)
    assert str(async_info.value) == str(sync_info.value).replace(f"{name}()", f"{async_name}()", 1)
    assert notes.collection.count() == len(TEXTS)


@pytest.mark.parametrize(
    "kwargs", [{"alpha": -0.1}, {"alpha": "high"}, {"fetch_k": 0}, {"fusion": "max"}, {"filter": {"$bad": 1}}]
)
async def test_bad_hybrid_options_are_refused_before_the_query_is_embedded(
    notes: SQLiteVecVectorStore, embeddings: SidedEmbeddings, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(SqliteVecStoreError):
        notes.hybrid_search("sqlite", **kwargs)
    with pytest.raises(SqliteVecStoreError):
        await notes.ahybrid_search("sqlite", **kwargs)
    assert embeddings.calls == []


@pytest.mark.parametrize(
    ("add_kwargs", "calls"),
    [
        ({}, ["documents:15"]),
        ({"batch_size": 4}, ["documents:4", "documents:4", "documents:4", "documents:3"]),
        ({"show_progress": True}, ["documents:15"]),
        ({"show_progress": True, "batch_size": 10}, ["documents:10", "documents:5"]),
    ],
)
async def test_add_pair_embeds_in_the_same_calls_and_stores_the_same(
    embeddings: SidedEmbeddings, add_kwargs: dict[str, Any], calls: list[str]
) -> None:
    sync_store = SQLiteVecVectorStore(embeddings, collection_name="sync")
    async_store = SQLiteVecVectorStore(embeddings, database=sync_store.database, collection_name="async")
    assert sync_store.add_texts(TEXTS, METADATAS, ids=IDS, **add_kwargs) == IDS
    assert embeddings.calls == calls
    embeddings.calls.clear()
    assert await async_store.aadd_texts(TEXTS, METADATAS, ids=IDS, **add_kwargs) == IDS
    assert embeddings.calls == ["a" + call for call in calls]
    assert async_store.get_by_ids(IDS) == sync_store.get_by_ids(IDS)
    assert async_store.similarity_search_with_score("rust", k=5) == sync_store.similarity_search_with_score("rust", k=5)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "pattern"),
    [
        (("one text",), {}, TypeError, "texts must be an iterable of strings, not one string"),
        ((["a", "b"], [{}]), {}, ValueError, "Got 2 texts but 1 metadatas; they must match"),
        ((["a", 1],), {}, TypeError, "text 1 must be a string, got int"),
        ((["a"], [[]]), {}, TypeError, "metadata 0 must be a dict or None, got list"),
        ((["a", "b"],), {"ids": ["x", "x"]}, ValueError, "id 'x' appears twice in one batch"),
        ((["a"],), {"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ((["a"],), {"show_progress": 1}, TypeError, "show_progress must be True or False"),
        ((["a"],), {"nope": 1}, TypeError, r"^{name}\(\) got unexpected keyword argument\(s\): nope$"),
        # record-level checks, with the core's messages (refused only after embedding before check_texts)
        ((["a"], [{"x": float("nan")}]), {}, ValueError, r"^metadata 0\['x'\] is nan, which JSON cannot hold$"),
        ((["a"], [{"x": {1, 2}}]), {}, TypeError, r"^metadata 0\['x'\] is a set \(\{{1, 2\}}\), which is not JSON"),
        ((["a"], [{1: "x"}]), {}, TypeError, r"^metadata 0 has a key 1 of type int; keys must be strings$"),
        ((["a"],), {"ids": [""]}, ValueError, r"^id 0 is an empty string$"),
        ((["ok", "a\ud800"],), {}, ValueError, r"^text 1 contains a character that is not valid UTF-8"),
    ],
)
async def test_add_pair_refuses_the_same_bad_batch_before_embedding(
    store_pair: SQLiteVecVectorStore,
    embeddings: SidedEmbeddings,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    pattern: str,
) -> None:
    with pytest.raises(error, match=pattern.format(name="add_texts")) as sync_info:
        store_pair.add_texts(*args, **kwargs)
    with pytest.raises(error, match=pattern.format(name="aadd_texts")) as async_info:
        await store_pair.aadd_texts(*args, **kwargs)
    assert type(async_info.value) is type(sync_info.value)
    assert embeddings.calls == []
    assert store_pair.collection.count() == 0


@pytest.fixture
def store_pair(embeddings: SidedEmbeddings, backend_db_path: str) -> SQLiteVecVectorStore:
    return SQLiteVecVectorStore(embeddings, db_path=backend_db_path)


class ShortEmbeddings(SidedEmbeddings):
    """Returns one vector too few."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return super().embed_documents(texts)[:-1]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return (await super().aembed_documents(texts))[:-1]


async def test_add_pair_refuses_a_short_answer_of_the_model_the_same_way() -> None:
    store = SQLiteVecVectorStore(ShortEmbeddings())
    message = "The embedding model returned 2 vectors for 3 texts"
    with pytest.raises(ValueError, match=message):
        store.add_texts(["a", "b", "c"])
    with pytest.raises(ValueError, match=message):
        await store.aadd_texts(["a", "b", "c"])
    assert store.collection.count() == 0


async def test_from_texts_pair_builds_the_same_store(tmp_path: Path, embeddings: SidedEmbeddings) -> None:
    options = {"metadatas": METADATAS, "ids": IDS, "collection_name": "notes", "index_type": "rescore"}
    sync_store = SQLiteVecVectorStore.from_texts(TEXTS, embeddings, db_path=tmp_path / "s.db", batch_size=7, **options)
    async_store = await SQLiteVecVectorStore.afrom_texts(
        TEXTS, embeddings, db_path=tmp_path / "a.db", batch_size=7, **options
    )
    assert embeddings.calls == [
        "documents:7",
        "documents:7",
        "documents:1",
        "adocuments:7",
        "adocuments:7",
        "adocuments:1",
    ]
    assert async_store.collection.index_type == sync_store.collection.index_type == "rescore"
    assert async_store.get_by_ids(IDS) == sync_store.get_by_ids(IDS)
    docs = [Document("one", id="d1"), Document("two", metadata={"n": 2})]
    from_docs = SQLiteVecVectorStore.from_documents(docs, embeddings, ids=[None, "d2"])
    afrom_docs = await SQLiteVecVectorStore.afrom_documents(docs, embeddings, ids=[None, "d2"])
    assert afrom_docs.get_by_ids(["d1", "d2"]) == from_docs.get_by_ids(["d1", "d2"])
    with pytest.raises(TypeError, match=r"^afrom_texts\(\) got unexpected keyword argument\(s\): persist_directory"):
        await SQLiteVecVectorStore.afrom_texts(["a"], embeddings, persist_directory="x")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"index_type": "ivfflat"}, ValueError, "index_type must be one of"),
        ({"oversample": 0}, ValueError, "oversample must be at least 1"),
        ({"model_id": 3}, TypeError, "model_id must be a string or None"),
    ],
)
def test_bad_options_are_refused_before_the_database_is_opened(
    tmp_path: Path, embeddings: SidedEmbeddings, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    path = tmp_path / "never.db"
    with pytest.raises(error, match=match):
        SQLiteVecVectorStore(embeddings, db_path=path, **kwargs)
    assert not path.exists()


def test_the_retriever_is_importable_from_vectorstores_and_needs_this_store(notes: SQLiteVecVectorStore) -> None:
    assert RetrieverFromVectorstores is SQLiteVecRetriever
    assert cosine_relevance_score(0.25) == 0.75
    assert isinstance(notes.as_retriever(search_type="keyword"), SQLiteVecRetriever)
    with pytest.raises(ValueError, match="SQLiteVecVectorStore"):
        SQLiteVecRetriever(vectorstore=InMemoryVectorStore(FakeEmbeddings()), search_type="hybrid")


class NaNEmbeddings(SidedEmbeddings):
    """Returns a NaN vector for the text "bad"."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = super().embed_documents(texts)
        return [[float("nan")] * len(v) if t == "bad" else v for t, v in zip(texts, vectors, strict=True)]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)


async def test_add_pair_refuses_a_bad_vector_of_the_model_the_same_way() -> None:
    store = SQLiteVecVectorStore(NaNEmbeddings())
    with pytest.raises(ValueError, match=r"^vector 1 contains NaN or infinite values$"):
        store.add_texts(["good", "bad"])
    with pytest.raises(ValueError, match=r"^vector 1 contains NaN or infinite values$"):
        await store.aadd_texts(["good", "bad"])
    assert store.collection.count() == 0
