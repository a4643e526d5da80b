"""TEXT_SEARCH and HYBRID query modes, directly and through VectorStoreIndex retrievers."""

from __future__ import annotations

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from llamaindex_sqlitevec import SQLiteVecVectorStore
from tests.fakes import FakeEmbedder
from tests.llamaindex.conftest import FakeEmbedding

TEXTS = [
    "Backups are written nightly to a separate disk.",
    "The connection pool keeps idle connections open for reuse.",
    "TLS needs a certificate and a private key.",
    "Vacuum reclaims space left by deleted rows.",
    "When the pool is exhausted the server reports ERR_CONN_42 and refuses new clients.",
]
EMB = FakeEmbedder(dimension=8)


@pytest.fixture
def filled(store: SQLiteVecVectorStore) -> SQLiteVecVectorStore:
    nodes = [
        TextNode(
            id_=f"n{i}", text=t, embedding=EMB.vector(t).tolist(), metadata={"parity": "even" if i % 2 == 0 else "odd"}
        )
        for i, t in enumerate(TEXTS)
    ]
    store.add(nodes)
    return store


def test_text_search_needs_no_embedding(filled: SQLiteVecVectorStore) -> None:
    result = filled.query(
        VectorStoreQuery(query_str="ERR_CONN_42", mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=3)
    )
    assert result.ids == ["n4"]
    assert result.nodes is not None and result.nodes[0].get_content() == TEXTS[4]
    assert result.similarities is not None and 0 < result.similarities[0] < 1
    # sparse_top_k wins over similarity_top_k
    result = filled.query(
        VectorStoreQuery(query_str="pool", mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=5, sparse_top_k=1)
    )
    assert len(result.ids or []) == 1


def test_text_search_honours_filters(filled: SQLiteVecVectorStore) -> None:
    filters = MetadataFilters(filters=[MetadataFilter(key="parity", value="odd", operator=FilterOperator.EQ)])
    result = filled.query(
        VectorStoreQuery(query_str="pool", mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=5, filters=filters)
    )
    assert result.ids == ["n1"]


def test_hybrid_mode_alpha_and_top_ks(filled: SQLiteVecVectorStore) -> None:
    query = "ERR_CONN_42"
    base = {"query_str": query, "query_embedding": EMB.vector(query).tolist(), "mode": VectorStoreQueryMode.HYBRID}
    result = filled.query(VectorStoreQuery(**base, similarity_top_k=2))
    assert result.ids is not None and result.ids[0] == "n4" and len(result.ids) == 2
    assert result.similarities is not None and all(0 <= s <= 1 for s in result.similarities)
    assert len(filled.query(VectorStoreQuery(**base, similarity_top_k=2, hybrid_top_k=4)).ids or []) == 4
    # alpha=1 is pure vector search, alpha=0 pure keyword search
    dense = filled.query(VectorStoreQuery(query_embedding=base["query_embedding"], similarity_top_k=3))
    assert filled.query(VectorStoreQuery(**base, similarity_top_k=3, alpha=1.0)).ids == dense.ids
    assert filled.query(VectorStoreQuery(**base, similarity_top_k=1, alpha=0.0)).ids == ["n4"]
    rrf = filled.query(VectorStoreQuery(**base, similarity_top_k=1, sparse_top_k=5), hybrid_fusion="rrf")
    assert rrf.ids == ["n4"]
    filters = MetadataFilters(filters=[MetadataFilter(key="parity", value="even", operator=FilterOperator.EQ)])
    result = filled.query(VectorStoreQuery(**base, similarity_top_k=5, filters=filters))
    assert set(result.ids or []) == {"n0", "n2", "n4"}


def test_hybrid_needs_text_and_vector(filled: SQLiteVecVectorStore) -> None:
    with pytest.raises(ValueError, match="query_str"):
        filled.query(VectorStoreQuery(query_embedding=EMB.vector("x").tolist(), mode=VectorStoreQueryMode.HYBRID))
    with pytest.raises(ValueError, match="query_embedding"):
        filled.query(VectorStoreQuery(query_str="x", mode=VectorStoreQueryMode.HYBRID))


def test_index_retrievers_in_hybrid_and_text_search_mode(fake_embedding: FakeEmbedding) -> None:
    store = SQLiteVecVectorStore()
    index = VectorStoreIndex.from_documents(
        [Document(text=t, id_=f"doc-{i}") for i, t in enumerate(TEXTS)],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=fake_embedding,
    )
    hybrid = index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=2, alpha=0.5)
    hits = hybrid.retrieve("ERR_CONN_42")
    assert hits[0].node.get_content() == TEXTS[4] and hits[0].score is not None
    text = index.as_retriever(vector_store_query_mode="text_search", similarity_top_k=2)
    assert [h.node.get_content() for h in text.retrieve("certificate")] == [TEXTS[2]]


async def test_async_hybrid(filled: SQLiteVecVectorStore) -> None:
    result = await filled.aquery(
        VectorStoreQuery(query_str="ERR_CONN_42", mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=2)
    )
    assert result.ids == ["n4"]
