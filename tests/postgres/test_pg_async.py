"""Async on Postgres: every async verb awaits psycopg's async API, with the sync verbs' results.

The ``no_worker_threads`` fixture makes any worker thread fail the test: the
event loop's default executor raises, and so does ``asyncio.to_thread`` as
the core sees it. A method that fell back to a thread would raise instead of
answering.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np
import pytest

from sqlitevec_store import Database, DatabaseError, InvalidInputError, Record, parse_filter_dict
from sqlitevec_store.backends.postgres.backend import PostgresBackend

from .test_pg_backend import records, unit


class _NoThreads(concurrent.futures.ThreadPoolExecutor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        raise AssertionError(f"a worker thread was asked to run {getattr(fn, '__qualname__', fn)!r}")


@pytest.fixture
async def no_worker_threads(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Fail any use of a worker thread during the test (the loop's executor and the core's to_thread)."""
    from sqlitevec_store import collection_async

    async def refuse(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"asyncio.to_thread({getattr(fn, '__qualname__', fn)!r}) on Postgres")

    monkeypatch.setattr(collection_async.asyncio, "to_thread", refuse)
    asyncio.get_running_loop().set_default_executor(_NoThreads())
    yield


def _same(a: list[Any], b: list[Any]) -> None:
    assert [h.id for h in a] == [h.id for h in b]
    assert np.allclose([h.score or 0.0 for h in a], [h.score or 0.0 for h in b], atol=1e-6)
    assert [h.metadata for h in a] == [h.metadata for h in b]


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    with Database(pg_url) as database:
        yield database


async def test_every_async_verb_matches_its_sync_twin_without_a_thread(db: Database, no_worker_threads: None) -> None:
    rng = np.random.default_rng(11)
    vectors = unit(rng, 400, 16)
    col = db.collection("c")
    assert await col.aio.upsert(records(vectors)) == [f"r{i}" for i in range(400)]
    assert await col.aio.count() == col.count() == 400
    flt = parse_filter_dict({"share": {"$lt": 100}})
    assert await col.aio.count(flt) == col.count(flt) == 100
    hnsw = db.collection("c", index_type="hnsw")
    for query in unit(rng, 3, 16):
        for collection in (col, hnsw):
            _same(await collection.aio.search(query, k=7), collection.search(query, k=7))
            _same(await collection.aio.search(query, k=7, filter=flt), collection.search(query, k=7, filter=flt))
            got = await collection.aio.search(query, k=3, include_vectors=True)
            assert all(h.vector is not None and h.vector.shape == (16,) for h in got)
            _same(await collection.aio.mmr(query, k=4, fetch_k=12), collection.mmr(query, k=4, fetch_k=12))
        _same(await col.aio.hybrid_search(query, "alpha", k=5), col.hybrid_search(query, "alpha", k=5))
    _same(await col.aio.keyword_search("alpha", k=5, filter=flt), col.keyword_search("alpha", k=5, filter=flt))
    assert await col.aio.keyword_search("?!", k=5) == []
    _same(await col.aio.get(["r3", "nope", "r1"]), col.get(["r3", "nope", "r1"]))
    _same(await col.aio.find(doc_ids=["d2"], limit=5, offset=2), col.find(doc_ids=["d2"], limit=5, offset=2))
    got = await col.aio.get(["r5"], include_vectors=True)
    assert got[0].vector is not None and np.allclose(got[0].vector, vectors[5], atol=1e-6)
    assert (await col.aio.info()).dimension == 16
    assert await col.aio.delete(["r0", "r1"], doc_ids=["d0"]) == 1  # r0 is in d0, r1 in d1
    assert await col.aio.delete(filter=parse_filter_dict({"i": {"$gte": 390}})) == 10
    assert await col.aio.delete() == 0
    assert col.count() == 389
    assert await col.aio.clear() == 389 and col.count() == 0


async def test_an_async_write_is_one_transaction_checked_before_it_writes(
    db: Database, no_worker_threads: None
) -> None:
    db.collection("c")  # created without a model id: the first write records it
    col = db.collection("c", model_id="model-a")
    good = [Record(f"t{i}", [1.0, float(i)], id=f"g{i}") for i in range(2500)]
    bad = [*good, Record("nan", [float("nan"), 1.0], id="bad")]  # in the third chunk of 1,000
    with pytest.raises(InvalidInputError):
        await col.aio.upsert(bad)
    assert col.count() == 0
    info = col.info()
    assert info.dimension is None and info.model_id is None  # the claim rolled back with the rest
    assert len(await col.aio.add(["a", "b"], [[1.0, 0.0], [0.0, 1.0]], metadatas=[{"x": 1}, None])) == 2
    info = await col.aio.info()
    assert info.dimension == 2 and info.model_id == "model-a"


async def test_concurrent_tasks_share_the_pool_and_lose_no_write(db: Database, no_worker_threads: None) -> None:
    rng = np.random.default_rng(12)
    col = db.collection("c")
    await col.aio.upsert(records(unit(rng, 50, 8), prefix="seed"))

    async def writer(n: int) -> None:
        for j in range(5):
            await col.aio.upsert([Record(f"w{n}-{j}", unit(rng, 1, 8)[0], {"n": n}, id=f"w{n}-{j}")])

    async def reader() -> None:
        for query in unit(rng, 5, 8):
            assert len(await col.aio.search(query, k=5)) == 5

    await asyncio.gather(*(writer(n) for n in range(16)), *(reader() for _ in range(16)))
    assert col.count() == 50 + 16 * 5


def test_each_event_loop_gets_its_own_pool(db: Database) -> None:
    col = db.collection("c")
    col.upsert([Record("a", [1.0, 0.0], id="a")])
    for _ in range(3):  # asyncio.run makes and closes a loop each time, as scripts and LlamaIndex helpers do
        assert [h.id for h in asyncio.run(col.aio.search([1.0, 0.1], k=1))] == ["a"]
    backend = db.backend
    assert isinstance(backend, PostgresBackend)


async def test_a_lost_async_connection_is_a_clear_error_and_a_retry_succeeds(
    db: Database, no_worker_threads: None
) -> None:
    col = db.collection("c")
    await col.aio.upsert([Record("a", [1.0, 0.0], id="a")])
    backend = db.backend
    assert isinstance(backend, PostgresBackend)
    with pytest.raises(DatabaseError, match="connection to Postgres failed or was lost"):
        async with backend.asession() as conn:
            pid = conn.info.backend_pid
            with db.backend.session() as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await col.aio.upsert([Record("b", [0.0, 1.0], id="b")])
    assert await col.aio.upsert([Record("b", [0.0, 1.0], id="b")]) == ["b"]
    assert {h.id for h in await col.aio.search([1.0, 1.0], k=2)} == {"a", "b"}


async def test_async_close_closes_the_running_loops_pool(pg_url: str) -> None:
    async with Database(pg_url) as db:
        col = db.collection("c")
        await col.aio.upsert([Record("a", [1.0, 0.0], id="a")])
        backend = db.backend
        assert isinstance(backend, PostgresBackend)
        pool = backend._apools.pool()
    assert pool.closed and backend.closed
    db.close()  # idempotent
    await db.aclose()


async def test_a_file_database_runs_the_async_verbs_in_a_thread(tmp_path: Any) -> None:
    async with Database(str(tmp_path / "f.db")) as db:
        col = db.collection("c")
        await col.aio.upsert([Record("a", [1.0, 0.0], id="a"), Record("b", [0.0, 1.0], id="b")])
        assert [h.id for h in await col.aio.search([1.0, 0.2], k=1)] == ["a"]
        assert await col.aio.count() == 2
    assert db.closed


async def test_langchain_async_methods_await_postgres(pg_url: str, no_worker_threads: None) -> None:
    from langchain_core.documents import Document

    from langchain_sqlitevec import SQLiteVecVectorStore
    from tests.langchain.conftest import FakeEmbeddings

    class AsyncFakeEmbeddings(FakeEmbeddings):
        async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.embed_documents(texts)

        async def aembed_query(self, text: str) -> list[float]:
            return self.embed_query(text)

    store = SQLiteVecVectorStore(AsyncFakeEmbeddings(), db_path=pg_url, model_id=None)
    try:
        texts = [f"document {i} about {'cats' if i % 2 else 'dogs'}" for i in range(40)]
        ids = await store.aadd_texts(texts, [{"i": i, "even": i % 2 == 0} for i in range(40)])
        assert len(ids) == 40
        await store.aadd_documents([Document("an extra page", metadata={"i": 99}, id="extra")])
        flt = {"even": True}
        pairs = await store.asimilarity_search_with_score("dogs", k=5, filter=flt)
        assert [(d.id, round(s, 6)) for d, s in pairs] == [
            (d.id, round(s, 6)) for d, s in store.similarity_search_with_score("dogs", k=5, filter=flt)
        ]
        assert all(d.metadata["even"] for d, _ in pairs)
        vector = store.embeddings.embed_query("cats")
        by_vector = await store.asimilarity_search_by_vector(vector, k=3)
        assert [d.id for d in by_vector] == [d.id for d in store.similarity_search_by_vector(vector, k=3)]
        mmr = await store.amax_marginal_relevance_search("cats", k=3, fetch_k=10)
        assert [d.id for d in mmr] == [d.id for d in store.max_marginal_relevance_search("cats", k=3, fetch_k=10)]
        keyword = await store.akeyword_search("cats", k=4)
        assert [d.id for d in keyword] == [d.id for d in store.keyword_search("cats", k=4)]
        hybrid = await store.ahybrid_search("cats", k=4)
        assert [d.id for d in hybrid] == [d.id for d in store.hybrid_search("cats", k=4)]
        retriever = store.as_retriever(search_kwargs={"k": 2})
        assert [d.id for d in await retriever.ainvoke("dogs")] == [d.id for d in retriever.invoke("dogs")]
        assert [d.id for d in await store.aget_by_ids(["extra", ids[0]])] == ["extra", ids[0]]
        assert await store.adelete(["extra"]) is True
        assert await store.adelete() is False
        assert await store.aget_by_ids(["extra"]) == []
    finally:
        store.close()


async def test_llamaindex_async_methods_await_postgres(pg_url: str, no_worker_threads: None) -> None:
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

    from llamaindex_sqlitevec import SQLiteVecVectorStore
    from tests.llamaindex.conftest import FakeEmbedding

    embed = FakeEmbedding()
    store = SQLiteVecVectorStore(pg_url)
    try:
        nodes = [
            TextNode(
                text=f"node {i} on {'rivers' if i % 2 else 'mountains'}",
                id_=f"n{i}",
                metadata={"i": i},
                embedding=embed.get_text_embedding(f"node {i}"),
            )
            for i in range(30)
        ]
        assert await store.async_add(nodes) == [f"n{i}" for i in range(30)]
        query_vector = embed.get_query_embedding("rivers")
        for mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            query = VectorStoreQuery(query_embedding=query_vector, similarity_top_k=4, mode=mode)
            assert (await store.aquery(query)).ids == store.query(query).ids
        text = VectorStoreQuery(query_str="rivers", similarity_top_k=3, mode=VectorStoreQueryMode.TEXT_SEARCH)
        assert (await store.aquery(text)).ids == store.query(text).ids
        hybrid = VectorStoreQuery(
            query_embedding=query_vector, query_str="rivers", similarity_top_k=3, mode=VectorStoreQueryMode.HYBRID
        )
        assert (await store.aquery(hybrid)).ids == store.query(hybrid).ids
        restricted = VectorStoreQuery(query_embedding=query_vector, similarity_top_k=5, node_ids=["n3", "n4"])
        assert sorted((await store.aquery(restricted)).ids or []) == ["n3", "n4"]
        assert [n.node_id for n in await store.aget_nodes(["n2", "n1"])] == ["n2", "n1"]
        await store.adelete_nodes(["n1", "n2"])
        assert await store.aget_nodes(["n1", "n2"]) == []
        await store.aclear()
        assert store.collection.count() == 0
    finally:
        store.close()
