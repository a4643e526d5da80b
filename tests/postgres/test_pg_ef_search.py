"""``ef_search`` per query: the core's search, MMR and hybrid search, both adapters, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from sqlitevec_store import Database, InvalidInputError
from sqlitevec_store.backends.postgres import backend as backend_module

from .test_pg_backend import records, unit


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The ef_search of every HNSW walk made during the test."""
    seen: list[int] = []
    ef_query = backend_module.PostgresBackend._ef_query

    def counting(self: backend_module.PostgresBackend, conn: object, held: object, ef: int) -> object:
        seen.append(ef)
        return ef_query(self, conn, held, ef)  # type: ignore[arg-type]

    monkeypatch.setattr(backend_module.PostgresBackend, "_ef_query", counting)
    yield seen


async def test_the_core_takes_ef_search_per_query(pg_url: str, walks: list[int]) -> None:
    rng = np.random.default_rng(21)
    with Database(pg_url) as db:
        db.collection("c").upsert(records(unit(rng, 500, 8)))
        col = db.collection("c", index_type="hnsw")
        query = unit(rng, 1, 8)[0]
        exact = [h.id for h in db.collection("c").search(query, k=5)]
        assert [h.id for h in col.search(query, k=5, ef_search=400)] == exact
        assert walks == [400]
        col.search(query, k=5)
        assert walks[-1] == 40  # one query's ef_search is not kept
        col.mmr(query, k=3, fetch_k=10, ef_search=77)
        col.hybrid_search(query, "alpha", k=3, ef_search=66)
        await col.aio.search(query, k=5, ef_search=55)
        await col.aio.mmr(query, k=3, fetch_k=10, ef_search=44)
        await col.aio.hybrid_search(query, "alpha", k=3, ef_search=33)
        assert walks[2:] == [77, 66, 55, 44, 33]
        for bad in (0, 1001, 2.5, "40"):
            with pytest.raises((InvalidInputError, TypeError)):
                col.search(query, k=5, ef_search=bad)  # type: ignore[arg-type]
            with pytest.raises((InvalidInputError, TypeError)):
                await col.aio.search(query, k=5, ef_search=bad)  # type: ignore[arg-type]
        assert len(walks) == 7


def test_the_adapters_take_ef_search_per_query(pg_url: str, walks: list[int]) -> None:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

    from langchain_sqlitevec import SQLiteVecVectorStore as LangChainStore
    from llamaindex_sqlitevec import SQLiteVecVectorStore as LlamaIndexStore
    from tests.langchain.conftest import FakeEmbeddings

    store = LangChainStore(FakeEmbeddings(), db_path=pg_url, model_id=None, index_type="hnsw")
    try:
        store.add_texts([f"text {i} alpha" for i in range(200)])
        assert len(store.similarity_search("alpha", k=3, ef_search=99)) == 3
        store.max_marginal_relevance_search("alpha", k=2, fetch_k=8, ef_search=98)
        store.hybrid_search("alpha", k=2, ef_search=97)
        assert len(store.as_retriever(search_kwargs={"k": 2, "ef_search": 96}).invoke("alpha")) == 2
        assert walks == [99, 98, 97, 96]
        with pytest.raises(TypeError, match="cascade"):
            store.similarity_search("alpha", k=3, ef_search=90, cascade=True)
        with pytest.raises(ValueError, match="ef_search"):
            store.similarity_search("alpha", k=3, ef_search=5000)
    finally:
        store.close()
    llama = LlamaIndexStore(pg_url, collection_name="li", index_type="hnsw")
    try:
        rng = np.random.default_rng(22)
        llama.add([TextNode(text=f"node {i}", id_=f"n{i}", embedding=list(v)) for i, v in enumerate(unit(rng, 100, 8))])
        query = VectorStoreQuery(query_embedding=list(unit(rng, 1, 8)[0]), similarity_top_k=3)
        assert len(llama.query(query, ef_search=95).ids or []) == 3
        mmr = VectorStoreQuery(query_embedding=query.query_embedding, similarity_top_k=2, mode=VectorStoreQueryMode.MMR)
        llama.query(mmr, ef_search=94)
        assert walks[-2:] == [95, 94]
        with pytest.raises(ValueError, match="ef_search"):
            llama.query(query, ef_search=0)
    finally:
        llama.close()
