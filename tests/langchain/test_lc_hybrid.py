"""Keyword and hybrid search through the LangChain adapter and its retriever."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecRetriever, SQLiteVecVectorStore
from tests.langchain.conftest import FakeEmbeddings

TEXTS = [
    "Backups are written nightly to a separate disk.",
    "The connection pool keeps idle connections open for reuse.",
    "TLS needs a certificate and a private key.",
    "Vacuum reclaims space left by deleted rows.",
    "When the pool is exhausted the server reports ERR_CONN_42 and refuses new clients.",
]


@pytest.fixture
def store(fake_embeddings: FakeEmbeddings) -> SQLiteVecVectorStore:
    vs = SQLiteVecVectorStore(fake_embeddings)
    vs.add_texts(TEXTS, [{"i": i, "even": i % 2 == 0} for i in range(len(TEXTS))], ids=[f"t{i}" for i in range(5)])
    return vs


def test_keyword_search_needs_no_embedding(store: SQLiteVecVectorStore, fake_embeddings: FakeEmbeddings) -> None:
    before = fake_embeddings.fake.query_calls
    docs = store.keyword_search("ERR_CONN_42", k=2)
    assert [d.id for d in docs] == ["t4"]
    assert fake_embeddings.fake.query_calls == before
    ((doc, score),) = store.keyword_search_with_score("ERR_CONN_42")
    assert isinstance(doc, Document) and 0 < score < 1


def test_keyword_search_filter_and_raw(store: SQLiteVecVectorStore) -> None:
    assert [d.id for d in store.keyword_search("pool", k=5, filter={"even": True})] == ["t4"]
    assert {d.id for d in store.keyword_search("pool", k=5)} == {"t1", "t4"}
    assert [d.id for d in store.keyword_search("pool AND exhausted", raw=True)] == ["t4"]
    with pytest.raises(ValueError, match="FTS5"):
        store.keyword_search('"unbalanced', raw=True)
    assert store.keyword_search('"unbalanced AND (') == []


def test_hybrid_search(store: SQLiteVecVectorStore) -> None:
    assert store.hybrid_search("what is ERR_CONN_42?", k=2)[0].id == "t4"
    pairs = store.hybrid_search_with_score("what is ERR_CONN_42?", k=3, alpha=0.5, fetch_k=5)
    assert pairs[0][0].id == "t4"
    scores = [s for _, s in pairs]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert {d.id for d in store.hybrid_search("pool", k=5, filter={"even": True})} <= {"t0", "t2", "t4"}
    assert store.hybrid_search("pool", k=2, fusion="rrf")
    with pytest.raises(ValueError, match="alpha"):
        store.hybrid_search("pool", alpha=2.0)


def test_retriever_hybrid_and_keyword(store: SQLiteVecVectorStore) -> None:
    retriever = store.as_retriever(search_type="hybrid", search_kwargs={"k": 1, "alpha": 0.5})
    assert isinstance(retriever, SQLiteVecRetriever)
    assert [d.id for d in retriever.invoke("ERR_CONN_42")] == ["t4"]
    keyword = store.as_retriever(search_type="keyword", search_kwargs={"k": 3, "filter": {"even": False}})
    assert [d.id for d in keyword.invoke("pool")] == ["t1"]
    # the standard search types still work
    assert len(store.as_retriever(search_kwargs={"k": 2}).invoke("pool")) == 2
    assert len(store.as_retriever(search_type="mmr", search_kwargs={"k": 2}).invoke("pool")) == 2
    with pytest.raises(ValueError, match="search_type"):
        store.as_retriever(search_type="fuzzy")


async def test_async_keyword_hybrid_and_retriever(store: SQLiteVecVectorStore) -> None:
    assert [d.id for d in await store.akeyword_search("ERR_CONN_42")] == ["t4"]
    assert (await store.ahybrid_search("ERR_CONN_42", k=1))[0].id == "t4"
    assert (await store.ahybrid_search_with_score("ERR_CONN_42", k=1, alpha=0.3))[0][0].id == "t4"
    assert (await store.akeyword_search_with_score("pool", k=5))[0][1] > 0
    retriever = store.as_retriever(search_type="hybrid", search_kwargs={"k": 1})
    assert [d.id for d in await retriever.ainvoke("ERR_CONN_42")] == ["t4"]
    keyword = store.as_retriever(search_type="keyword")
    assert [d.id for d in await keyword.ainvoke("certificate")] == ["t2"]


@pytest.mark.model
def test_hybrid_with_the_real_model(minilm: SentenceTransformerEmbeddings) -> None:
    vs = SQLiteVecVectorStore(minilm)
    vs.add_texts(TEXTS, ids=[f"t{i}" for i in range(5)])
    assert vs.hybrid_search("ERR_CONN_42", k=1)[0].id == "t4"
    assert vs.hybrid_search("how do I get back deleted storage?", k=1)[0].id == "t3"
