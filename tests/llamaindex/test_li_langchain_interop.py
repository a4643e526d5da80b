"""One file, two frameworks: what LangChain writes LlamaIndex reads, and the other way round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery

from llamaindex_sqlitevec import SQLiteVecVectorStore
from tests.fakes import FakeEmbedder

pytest.importorskip("langchain_core")
langchain_sqlitevec = pytest.importorskip("langchain_sqlitevec")
from langchain_core.embeddings import Embeddings  # noqa: E402

METADATAS = [
    {"source": "a.md", "tags": ["x", "y"], "nested": {"k": [1, 2]}, "n": 1},
    {"source": "b.md", "n": 2.5, "flag": True},
    {},
    {"source": "a.md", "n": None, "doc_id": "the user's own key"},
]
TEXTS = ["first text", "second text", "third text", "fourth text"]


class LangChainFake(Embeddings):
    def __init__(self) -> None:
        self.fake = FakeEmbedder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.fake.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.fake.embed_query(text)]


def test_langchain_writes_llamaindex_reads(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    embeddings = LangChainFake()
    lc = langchain_sqlitevec.SQLiteVecVectorStore(embeddings, db_path=path)
    ids = lc.add_texts(TEXTS, metadatas=METADATAS, ids=["a", "b", "c", "d"])
    query = embeddings.embed_query("second text")
    lc_hits = lc.similarity_search_with_score_by_vector(query, k=4)
    lc.close()

    li = SQLiteVecVectorStore(path)
    nodes = li.get_nodes(ids)
    assert [type(n) for n in nodes] == [TextNode] * 4
    assert [(n.node_id, n.get_content(), n.metadata) for n in nodes] == list(zip(ids, TEXTS, METADATAS, strict=True))
    result = li.query(VectorStoreQuery(query_embedding=query, similarity_top_k=4))
    assert result.ids == [doc.id for doc, _ in lc_hits]
    np.testing.assert_allclose(result.similarities or [], [1 - d for _, d in lc_hits], atol=1e-12)
    # Filters see the same keys in both frameworks.
    a_md = MetadataFilters(filters=[MetadataFilter(key="source", value="a.md")])
    assert sorted(n.node_id for n in li.get_nodes(filters=a_md)) == ["a", "d"]


def test_llamaindex_writes_langchain_reads(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    embeddings = LangChainFake()
    vectors = embeddings.embed_documents(TEXTS)
    nodes = [
        TextNode(
            id_=node_id,
            text=text,
            metadata=metadata,
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-1")},
            embedding=vector,
        )
        for node_id, text, metadata, vector in zip("abcd", TEXTS, METADATAS, vectors, strict=True)
    ]
    li = SQLiteVecVectorStore(path)
    li.add(nodes)
    query = embeddings.embed_query("third text")
    li_result = li.query(VectorStoreQuery(query_embedding=query, similarity_top_k=4))
    li.close()

    lc = langchain_sqlitevec.SQLiteVecVectorStore(embeddings, db_path=path)
    docs = lc.get_by_ids(list("abcd"))
    # LangChain sees exactly the metadata given, none of LlamaIndex's bookkeeping.
    assert [(d.id, d.page_content, d.metadata) for d in docs] == list(zip("abcd", TEXTS, METADATAS, strict=True))
    hits = lc.similarity_search_with_score_by_vector(query, k=4)
    assert [d.id for d, _ in hits] == li_result.ids
    np.testing.assert_allclose([1 - d for _, d in hits], li_result.similarities or [], atol=1e-12)
    assert sorted(d.id or "" for d in lc.similarity_search_by_vector(query, k=4, filter={"source": "a.md"})) == [
        "a",
        "d",
    ]
    lc.close()


def test_every_index_type_gives_the_same_hits_in_both_frameworks(tmp_path: Path) -> None:
    """index_type changes how a search runs, not what it returns (rescore is exact when it rescores every row)."""
    path = tmp_path / "shared.db"
    embeddings = LangChainFake()
    texts = [f"text number {n}" for n in range(300)]
    metadatas = [{"source": f"{n % 3}.md", "n": n} for n in range(300)]
    writer = langchain_sqlitevec.SQLiteVecVectorStore(embeddings, db_path=path)
    writer.add_texts(texts, metadatas=metadatas, ids=[f"id{n}" for n in range(300)])
    query = embeddings.embed_query("text number 42")
    lc_filter = {"source": "1.md"}
    li_filter = MetadataFilters(filters=[MetadataFilter(key="source", value="1.md")])
    seen = []
    for index_type, oversample in [("vec0", 16), ("flat", 16), ("rescore", 100)]:
        lc = langchain_sqlitevec.SQLiteVecVectorStore(
            embeddings, db_path=path, index_type=index_type, oversample=oversample
        )
        li = SQLiteVecVectorStore(path, index_type=index_type, oversample=oversample)
        lc_hits = lc.similarity_search_with_score_by_vector(query, k=5, filter=lc_filter)
        li_result = li.query(VectorStoreQuery(query_embedding=query, similarity_top_k=5, filters=li_filter))
        assert li_result.ids == [doc.id for doc, _ in lc_hits]
        np.testing.assert_allclose(li_result.similarities or [], [1 - d for _, d in lc_hits], atol=1e-6)
        assert all(doc.metadata["source"] == "1.md" for doc, _ in lc_hits)
        seen.append(([doc.id for doc, _ in lc_hits], [d for _, d in lc_hits]))
        lc.close()
        li.close()
    assert seen[0][0] == seen[1][0] == seen[2][0]
    np.testing.assert_allclose(seen[0][1], seen[1][1], atol=1e-6)
    with pytest.raises(ValueError, match="index_type"):
        langchain_sqlitevec.SQLiteVecVectorStore(embeddings, db_path=path, index_type="hnsw")
    with pytest.raises(ValueError, match="index_type"):
        SQLiteVecVectorStore(path, index_type="hnsw")
    writer.close()
