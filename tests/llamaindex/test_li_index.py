"""End to end through LlamaIndex: VectorStoreIndex, retrievers and query engines over the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.indices.vector_store.retrievers import VectorIndexRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers.context_only import ContextOnly
from llama_index.core.schema import IndexNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from llamaindex_sqlitevec import SQLiteVecVectorStore
from tests.fakes import FAKE_MODEL_ID
from tests.llamaindex.conftest import FakeEmbedding

TEXTS = [f"passage number {i} about topic {i % 3}" for i in range(12)]


def documents() -> list[Document]:
    return [
        Document(text=text, id_=f"doc-{i}", metadata={"topic": i % 3, "tags": [f"t{i % 2}"]})
        for i, text in enumerate(TEXTS)
    ]


def build(path: Path | str, embed: FakeEmbedding, **kwargs: Any) -> tuple[VectorStoreIndex, SQLiteVecVectorStore]:
    store = SQLiteVecVectorStore(path, model_id=embed.model_id)
    index = VectorStoreIndex.from_documents(
        documents(),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
        **kwargs,
    )
    return index, store


def test_from_documents_and_retrieve(tmp_path: Path, fake_embedding: FakeEmbedding) -> None:
    index, store = build(tmp_path / "idx.db", fake_embedding)
    assert store.collection.count() == len(TEXTS)
    assert store.collection.info().model_id == FAKE_MODEL_ID
    # The store keeps the text: nothing goes to the docstore or the index struct.
    assert index.index_struct.nodes_dict == {}
    stored = store.get_nodes()
    assert {n.ref_doc_id for n in stored} == {f"doc-{i}" for i in range(len(TEXTS))}
    assert all(set(n.metadata) == {"topic", "tags"} for n in stored)

    # The fake embedding maps equal strings to equal vectors: query with a node's embedded content.
    target = next(n for n in stored if n.ref_doc_id == "doc-4")
    query = target.get_content(metadata_mode=MetadataMode.EMBED)
    hits = index.as_retriever(similarity_top_k=3).retrieve(query)
    assert hits[0].node.node_id == target.node_id
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].node.get_content() == TEXTS[4]


def test_retriever_filters_and_doc_ids(fake_embedding: FakeEmbedding) -> None:
    index, _ = build(":memory:", fake_embedding)
    topic_one = MetadataFilters(filters=[MetadataFilter(key="topic", value=1)])
    hits = index.as_retriever(similarity_top_k=10, filters=topic_one).retrieve("anything")
    assert sorted(h.node.ref_doc_id or "" for h in hits) == ["doc-1", "doc-10", "doc-4", "doc-7"]

    by_ref = MetadataFilters(
        filters=[MetadataFilter(key="ref_doc_id", value=["doc-2", "doc-3"], operator=FilterOperator.IN)]
    )
    hits = index.as_retriever(similarity_top_k=10, filters=by_ref).retrieve("anything")
    assert sorted(h.node.ref_doc_id or "" for h in hits) == ["doc-2", "doc-3"]

    hits = index.as_retriever(similarity_top_k=10, doc_ids=["doc-5", "doc-6"]).retrieve("anything")
    assert sorted(h.node.ref_doc_id or "" for h in hits) == ["doc-5", "doc-6"]

    mmr = index.as_retriever(
        similarity_top_k=3,
        vector_store_query_mode="mmr",
        vector_store_kwargs={"mmr_threshold": 0.5, "mmr_prefetch_factor": 2},
    ).retrieve("anything")
    assert len(mmr) == 3


def test_reopen_from_file_without_reembedding(tmp_path: Path) -> None:
    path = tmp_path / "idx.db"
    first_embed = FakeEmbedding()
    _, store = build(path, first_embed)
    assert first_embed.fake.texts_embedded == len(TEXTS)
    expected = [n.node_id for n in store.get_nodes()]
    store.close()

    embed = FakeEmbedding()
    reopened = SQLiteVecVectorStore(path, model_id=embed.model_id)
    index = VectorStoreIndex.from_vector_store(reopened, embed_model=embed)
    hits = index.as_retriever(similarity_top_k=len(TEXTS)).retrieve("passage")
    assert sorted(h.node.node_id for h in hits) == sorted(expected)
    assert embed.fake.document_calls == 0 and embed.fake.query_calls == 1


def test_insert_and_delete_ref_doc(fake_embedding: FakeEmbedding) -> None:
    index, store = build(":memory:", fake_embedding)
    index.insert(Document(text="a late addition", id_="late"))
    assert [n.ref_doc_id for n in store.get_nodes(filters=_ref("late"))] == ["late"]
    index.delete_ref_doc("late")
    index.delete_ref_doc("doc-0")
    assert store.get_nodes(filters=_ref("late")) == [] and store.get_nodes(filters=_ref("doc-0")) == []
    assert store.collection.count() == len(TEXTS) - 1


def _ref(doc_id: str) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key="doc_id", value=doc_id)])


def test_plain_retriever_searches_every_node_when_index_nodes_exist(fake_embedding: FakeEmbedding) -> None:
    store = SQLiteVecVectorStore()
    nodes = [TextNode(id_=f"t{i}", text=text) for i, text in enumerate(TEXTS)]
    index_node = IndexNode(id_="summary", text="a summary of another index", index_id="elsewhere")
    index = VectorStoreIndex(
        [*nodes, index_node],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=fake_embedding,
    )
    retriever = index.as_retriever(similarity_top_k=2)
    assert isinstance(retriever, VectorIndexRetriever)
    assert retriever._node_ids == ["summary"]  # what LlamaIndex passes on its own
    hits = retriever.retrieve(TEXTS[5])
    assert hits[0].node.node_id == "t5"
    hits = retriever.retrieve("a summary of another index")
    assert hits[0].node.node_id == "summary" and isinstance(hits[0].node, IndexNode)

    # An explicit restriction still works.
    restricted = VectorIndexRetriever(index, node_ids=["t1", "t2"], similarity_top_k=5)
    assert sorted(h.node.node_id for h in restricted.retrieve(TEXTS[5])) == ["t1", "t2"]


def test_query_engine_without_an_llm(fake_embedding: FakeEmbedding) -> None:
    index, _ = build(":memory:", fake_embedding)
    # ContextOnly answers with the retrieved context; the MockLLM is never called.
    engine = RetrieverQueryEngine(
        retriever=index.as_retriever(similarity_top_k=2), response_synthesizer=ContextOnly(llm=MockLLM())
    )
    response = engine.query("passage number 3")
    assert len(response.source_nodes) == 2
    assert str(response) == "\n\n".join(
        n.node.get_content(metadata_mode=MetadataMode.LLM) for n in response.source_nodes
    )


async def test_async_index_build_and_retrieve(tmp_path: Path, fake_embedding: FakeEmbedding) -> None:
    store = SQLiteVecVectorStore(tmp_path / "async.db")
    nodes = [TextNode(id_=f"t{i}", text=text) for i, text in enumerate(TEXTS)]
    index = VectorStoreIndex(
        [], storage_context=StorageContext.from_defaults(vector_store=store), embed_model=fake_embedding
    )
    await index.ainsert_nodes(nodes)
    assert store.collection.count() == len(TEXTS)
    hits = await index.as_retriever(similarity_top_k=1).aretrieve(TEXTS[7])
    assert hits[0].node.node_id == "t7"
    await index.adelete_nodes(["t7"], delete_from_docstore=True)
    hits = await index.as_retriever(similarity_top_k=1).aretrieve(TEXTS[7])
    assert hits[0].node.node_id != "t7"
