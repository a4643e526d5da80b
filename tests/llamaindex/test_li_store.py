"""SQLiteVecVectorStore: node round trip, lifecycle, query modes, files and async forms."""

from __future__ import annotations

import datetime
import math
import sqlite3
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.schema import (
    BaseNode,
    ImageNode,
    IndexNode,
    MediaResource,
    Node,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from llamaindex_sqlitevec import SQLiteVecVectorStore
from sqlitevec_store import (
    Database,
    DimensionMismatchError,
    ModelMismatchError,
    Record,
    SqliteVecStoreError,
    UncheckedModelWarning,
    maximal_marginal_relevance,
)

DIM = 8


def connect(database: str, **kwargs: Any) -> Any:
    """A connection that can load sqlite-vec: sqlite3 if it can load extensions, else sqlean."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3.connect(database, **kwargs)
    sqlean = pytest.importorskip("sqlean")
    return sqlean.connect(database, **kwargs)


def vec(seed: int, dim: int = DIM) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(dim)
    return [float(x) for x in v / np.linalg.norm(v)]


def dump(node: BaseNode) -> dict[str, Any]:
    return node.model_dump(exclude={"embedding"})


def text_node(node_id: str, seed: int, doc: str | None = None, **metadata: Any) -> TextNode:
    relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)} if doc else {}
    return TextNode(
        id_=node_id, text=f"text of {node_id}", metadata=metadata, relationships=relationships, embedding=vec(seed)
    )


def rich_nodes() -> list[BaseNode]:
    return [
        TextNode(
            id_="rich",
            text='Caf\u00e9 \u2615 text with "quotes" and a\nnewline',
            metadata={
                "title": "Guide",
                "nested": {"a": [1, 2, {"b": None}], "c": {"d": "e"}},
                "tags": ["x", "y"],
                "score": 0.25,
                "flag": False,
                "none": None,
                "doc_id": "user's own doc_id key",
            },
            excluded_embed_metadata_keys=["score"],
            excluded_llm_metadata_keys=["nested", "flag"],
            metadata_template="{key}=>{value}",
            metadata_separator=" | ",
            text_template="{metadata_str}\n---\n{content}",
            start_char_idx=10,
            end_char_idx=52,
            relationships={
                NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-1", metadata={"file": "a.md"}, hash="h"),
                NodeRelationship.PREVIOUS: RelatedNodeInfo(node_id="prev"),
                NodeRelationship.NEXT: RelatedNodeInfo(node_id="next"),
                NodeRelationship.PARENT: RelatedNodeInfo(node_id="parent"),
                NodeRelationship.CHILD: [RelatedNodeInfo(node_id="c1"), RelatedNodeInfo(node_id="c2")],
            },
            embedding=vec(1),
        ),
        IndexNode(id_="index", text="summary of another index", index_id="sub-index", embedding=vec(2)),
        ImageNode(id_="image", text="a caption", image="aGVsbG8=", image_mimetype="image/png", embedding=vec(3)),
        Node(
            id_="media",
            text_resource=MediaResource(text="from a file", path=Path("/docs/x.txt"), mimetype="text/plain"),
            embedding=vec(4),
        ),
        Node(id_="no-text", embedding=vec(5)),
        TextNode(id_="empty", text="", embedding=vec(6)),
    ]


# ---------------------------------------------------------------------------
# Round trip and storage layout
# ---------------------------------------------------------------------------


def test_nodes_round_trip_exactly(store: SQLiteVecVectorStore) -> None:
    nodes = rich_nodes()
    assert store.add(nodes) == [n.node_id for n in nodes]
    got = store.get_nodes([n.node_id for n in nodes])
    assert [type(n) for n in got] == [type(n) for n in nodes]
    for original, back in zip(nodes, got, strict=True):
        assert dump(back) == dump(original)
        assert back.ref_doc_id == original.ref_doc_id
        assert back.hash == original.hash

    result = store.query(VectorStoreQuery(query_embedding=vec(1), similarity_top_k=1))
    assert result.nodes is not None and dump(result.nodes[0]) == dump(nodes[0])


def test_numpy_and_datetime_metadata_are_stored_as_the_core_stores_them(store: SQLiteVecVectorStore) -> None:
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    at = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=plus2)
    tag = uuid.UUID(int=7)  # other values pydantic can dump keep working as before
    meta = {"n": np.int64(3), "at": at, "ok": np.bool_(True), "days": [datetime.date(2024, 5, 2)], "tag": tag}
    store.add([TextNode(id_="a", text="a", embedding=vec(1), metadata=meta)])
    assert store.get_nodes(["a"])[0].metadata == {
        "n": 3,
        "at": "2024-05-01T10:30:00+00:00",
        "ok": True,
        "days": ["2024-05-02"],
        "tag": str(tag),
    }
    # The same string a LangChain or core writer stores, so one filter value matches both.
    utc_filter = MetadataFilters(
        filters=[MetadataFilter(key="at", value="2024-05-01T10:00:00+00:00", operator=FilterOperator.GT)]
    )
    assert [n.node_id for n in store.get_nodes(filters=utc_filter)] == ["a"]


def test_record_holds_user_metadata_only(store: SQLiteVecVectorStore) -> None:
    node = rich_nodes()[0]
    store.add([node])
    (hit,) = store.collection.get(["rich"])
    assert hit.metadata == node.metadata  # what LangChain and filters see
    assert hit.text == node.get_content()
    assert hit.doc_id == "doc-1"
    assert hit.extra is not None and set(hit.extra) == {"_node_content", "_node_type"}
    assert hit.extra["_node_type"] == "TextNode"
    content = hit.extra["_node_content"]
    assert "metadata" not in content and "embedding" not in content and content["text"] == ""


def test_rows_without_bookkeeping_come_back_as_text_nodes(store: SQLiteVecVectorStore) -> None:
    store.collection.upsert(
        [
            Record("plain text", vec(1), {"source": "langchain", "n": [1, 2]}, id="lc-1"),
            Record("with a document", vec(2), {}, id="lc-2", doc_id="doc-9"),
        ]
    )
    first, second = store.get_nodes(["lc-1", "lc-2"])
    assert type(first) is TextNode and type(second) is TextNode
    assert (first.node_id, first.text, first.metadata) == ("lc-1", "plain text", {"source": "langchain", "n": [1, 2]})
    assert first.ref_doc_id is None and second.ref_doc_id == "doc-9"
    result = store.query(VectorStoreQuery(query_embedding=vec(2), similarity_top_k=1))
    assert result.ids == ["lc-2"]
    assert result.nodes is not None and result.nodes[0].get_content() == "with a document"


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def test_add_upserts_by_node_id(store: SQLiteVecVectorStore) -> None:
    store.add([text_node("a", 1, topic="old"), text_node("b", 2)])
    replacement = TextNode(id_="a", text="new text", metadata={"topic": "new"}, embedding=vec(9))
    store.add([replacement])
    assert store.collection.count() == 2
    (a,) = store.get_nodes(["a"])
    assert (a.get_content(), a.metadata) == ("new text", {"topic": "new"})
    result = store.query(VectorStoreQuery(query_embedding=vec(9), similarity_top_k=1))
    assert result.ids == ["a"]
    assert result.similarities is not None and result.similarities[0] == pytest.approx(1.0, abs=1e-6)


def test_duplicate_ids_in_one_batch_keep_the_last(store: SQLiteVecVectorStore) -> None:
    ids = store.add([text_node("a", 1, v=1), text_node("a", 2, v=2)])
    assert ids == ["a", "a"]
    (a,) = store.get_nodes(["a"])
    assert a.metadata == {"v": 2}


def test_add_validates_the_whole_batch_first(store: SQLiteVecVectorStore) -> None:
    with pytest.raises(ValueError, match="embedding"):
        store.add([text_node("a", 1), TextNode(id_="b", text="no vector")])
    with pytest.raises(DimensionMismatchError):
        store.add([text_node("c", 1), TextNode(id_="d", text="x", embedding=[1.0, 2.0])])
    with pytest.raises(ValueError):
        store.add([text_node("e", 1), TextNode(id_="f", text="x", embedding=[0.0] * DIM)])
    assert store.collection.count() == 0


def test_delete_by_ref_doc_id(store: SQLiteVecVectorStore) -> None:
    store.add([text_node("a", 1, doc="d1"), text_node("b", 2, doc="d1"), text_node("c", 3, doc="d2")])
    store.delete("d1")
    assert [n.node_id for n in store.get_nodes()] == ["c"]
    store.delete("unknown")
    assert store.collection.count() == 1


def test_delete_nodes_by_ids_and_filters(store: SQLiteVecVectorStore) -> None:
    store.add([text_node(i, n, kind="even" if n % 2 == 0 else "odd") for n, i in enumerate("abcdef")])
    odd = MetadataFilters(filters=[MetadataFilter(key="kind", value="odd")])
    store.delete_nodes()  # neither: nothing
    assert store.collection.count() == 6
    store.delete_nodes(node_ids=["a", "b"], filters=odd)  # both must hold
    assert [n.node_id for n in store.get_nodes()] == ["a", "c", "d", "e", "f"]
    store.delete_nodes(node_ids=["a"])
    store.delete_nodes(filters=odd)
    assert [n.node_id for n in store.get_nodes()] == ["c", "e"]
    store.delete_nodes(node_ids=[])
    assert store.collection.count() == 2
    store.delete_nodes(filters=MetadataFilters(filters=[]))  # matches every node, as in LlamaIndex
    assert store.collection.count() == 0


def test_get_nodes(store: SQLiteVecVectorStore) -> None:
    store.add([text_node(i, n, n=n) for n, i in enumerate("abcd")])
    assert [n.node_id for n in store.get_nodes(["d", "missing", "a", "d"])] == ["d", "a"]
    gt1 = MetadataFilters(filters=[MetadataFilter(key="n", value=1, operator=FilterOperator.GT)])
    assert [n.node_id for n in store.get_nodes(filters=gt1)] == ["c", "d"]
    assert [n.node_id for n in store.get_nodes(["a", "d"], filters=gt1)] == ["d"]
    assert [n.node_id for n in store.get_nodes()] == ["a", "b", "c", "d"]
    assert store.get_nodes([]) == []


def test_clear_keeps_the_collection(store: SQLiteVecVectorStore) -> None:
    store.add([text_node("a", 1), text_node("b", 2)])
    store.clear()
    assert store.get_nodes() == []
    assert store.collection.info().dimension == DIM
    store.add([text_node("c", 3)])
    assert store.collection.count() == 1


# ---------------------------------------------------------------------------
# Querying
# ---------------------------------------------------------------------------


def test_query_similarities_are_cosine(store: SQLiteVecVectorStore) -> None:
    nodes = [text_node(f"n{i}", i) for i in range(30)]
    store.add(nodes)
    query = vec(100)
    result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=5))
    matrix = np.array([n.get_embedding() for n in nodes])
    sims = matrix @ np.array(query)
    order = np.argsort(-sims)[:5]
    assert result.ids == [nodes[i].node_id for i in order]
    np.testing.assert_allclose(result.similarities or [], sims[order], atol=1e-6)
    hits = store.collection.search(query, k=5)
    assert result.similarities == [h.similarity for h in hits]
    assert [1 - s for s in result.similarities] == pytest.approx([h.distance for h in hits], abs=1e-12)


def test_query_on_an_empty_store(store: SQLiteVecVectorStore) -> None:
    result = store.query(VectorStoreQuery(query_embedding=vec(1), similarity_top_k=3))
    assert (result.ids, result.similarities, result.nodes) == ([], [], [])


def test_query_errors(store: SQLiteVecVectorStore) -> None:
    store.add([text_node("a", 1)])
    with pytest.raises(ValueError, match="default, mmr, text_search, hybrid"):
        store.query(VectorStoreQuery(query_embedding=vec(1), mode=VectorStoreQueryMode.SPARSE))
    with pytest.raises(ValueError, match="query_str"):
        store.query(VectorStoreQuery(query_embedding=vec(1), mode=VectorStoreQueryMode.HYBRID))
    with pytest.raises(ValueError, match="query_embedding"):
        store.query(VectorStoreQuery(query_str="no vector"))
    with pytest.raises(DimensionMismatchError):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0.0]))


def test_mmr_mode(store: SQLiteVecVectorStore) -> None:
    rng = np.random.default_rng(0)
    base = np.array(vec(1))
    # Near-duplicates of one direction plus scattered vectors: MMR must diversify.
    vectors = [base + 0.01 * rng.standard_normal(DIM) for _ in range(6)] + [np.array(vec(i)) for i in range(10, 20)]
    nodes = [TextNode(id_=f"n{i}", text=str(i), embedding=[float(x) for x in v]) for i, v in enumerate(vectors)]
    store.add(nodes)
    query = [float(x) for x in base]

    plain = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=4))
    assert set(plain.ids or []) <= {f"n{i}" for i in range(6)}

    q = VectorStoreQuery(query_embedding=query, similarity_top_k=4, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.2)
    mmr = store.query(q, mmr_prefetch_k=16)
    assert plain.ids and mmr.ids and mmr.ids[0] == plain.ids[0]
    assert len(set(mmr.ids or []) - {f"n{i}" for i in range(6)}) >= 2

    # Same choice as the core's MMR over the same candidates; similarities are plain cosine.
    matrix = np.array([np.array(v) / np.linalg.norm(v) for v in vectors], dtype=np.float32)
    picked = maximal_marginal_relevance(np.array(query, dtype=np.float32), matrix, k=4, lambda_mult=0.2)
    assert mmr.ids == [f"n{i}" for i in picked]
    np.testing.assert_allclose(mmr.similarities or [], [float(matrix[i] @ np.array(query)) for i in picked], atol=1e-5)

    # The threshold may come from kwargs; 1.0 means plain relevance.
    by_kwargs = store.query(
        VectorStoreQuery(query_embedding=query, similarity_top_k=4, mode=VectorStoreQueryMode.MMR),
        mmr_threshold=1.0,
        mmr_prefetch_factor=2,
    )
    assert by_kwargs.ids == plain.ids

    with pytest.raises(ValueError, match="not both"):
        store.query(q, mmr_prefetch_k=8, mmr_prefetch_factor=2)
    with pytest.raises(ValueError):
        store.query(q, mmr_prefetch_factor=0.5)
    # A huge prefetch means every node; past SQLite's 64-bit integer it is refused, never OverflowError.
    assert store.query(q, mmr_prefetch_factor=1e300).ids == mmr.ids
    assert store.query(q, mmr_prefetch_k=2**63 - 1).ids == mmr.ids
    for kwargs in ({"mmr_prefetch_factor": math.inf}, {"mmr_prefetch_k": 2**63}, {"mmr_prefetch_k": "8"}):
        with pytest.raises(SqliteVecStoreError):
            store.query(q, **kwargs)
    modes = VectorStoreQueryMode
    for mode, top_k in [
        (modes.DEFAULT, "similarity_top_k"),
        (modes.MMR, "similarity_top_k"),
        (modes.TEXT_SEARCH, "sparse_top_k"),
        (modes.HYBRID, "sparse_top_k"),
        (modes.HYBRID, "hybrid_top_k"),
    ]:
        huge = VectorStoreQuery(query_embedding=query, query_str="x", mode=mode, **{top_k: 2**64})
        with pytest.raises(SqliteVecStoreError, match="at most 2\\*\\*63 - 1"):
            store.query(huge)


def test_mmr_prefetch_below_top_k_returns_top_k_like_simple_vector_store(store: SQLiteVecVectorStore) -> None:
    # LlamaIndex's own SimpleVectorStore runs MMR over every node and returns similarity_top_k;
    # a prefetch smaller than the top k therefore still gives similarity_top_k nodes here.
    from llama_index.core.vector_stores import SimpleVectorStore

    nodes = [text_node(f"n{i}", i) for i in range(5)]
    reference = SimpleVectorStore()
    reference.add([n.model_copy() for n in nodes])
    store.add(nodes)
    q = VectorStoreQuery(query_embedding=vec(2), similarity_top_k=5, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.5)
    expected = reference.query(q, mmr_prefetch_k=2)
    got = store.query(q, mmr_prefetch_k=2)
    assert len(got.ids or []) == len(expected.ids or []) == 5
    assert sorted(got.ids or []) == sorted(expected.ids or [])


def test_mmr_respects_filters(store: SQLiteVecVectorStore) -> None:
    store.add([text_node(f"n{i}", i, group=i % 5) for i in range(50)])
    filters = MetadataFilters(filters=[MetadataFilter(key="group", value=3)])
    q = VectorStoreQuery(query_embedding=vec(7), similarity_top_k=4, mode=VectorStoreQueryMode.MMR, filters=filters)
    result = store.query(q)
    assert len(result.ids or []) == 4
    assert all(n.metadata["group"] == 3 for n in result.nodes or [])


def test_node_ids_of_index_nodes_alone_do_not_restrict(store: SQLiteVecVectorStore) -> None:
    text = [text_node(f"t{i}", i) for i in range(5)]
    index_nodes = [IndexNode(id_=f"i{i}", text=f"index {i}", index_id=f"x{i}", embedding=vec(50 + i)) for i in range(2)]
    store.add([*text, *index_nodes])
    tracked = ["i0", "i1"]
    # What VectorStoreIndex.as_retriever() passes: the ids of the IndexNodes it tracks.
    result = store.query(VectorStoreQuery(query_embedding=vec(3), similarity_top_k=2, node_ids=tracked))
    assert result.ids is not None and result.ids[0] == "t3"
    # strict_node_ids restricts to them on purpose; mixed lists always restrict.
    strict = store.query(
        VectorStoreQuery(query_embedding=vec(3), similarity_top_k=5, node_ids=tracked), strict_node_ids=True
    )
    assert sorted(strict.ids or []) == tracked
    mixed = store.query(VectorStoreQuery(query_embedding=vec(3), similarity_top_k=5, node_ids=["i0", "t1"]))
    assert sorted(mixed.ids or []) == ["i0", "t1"]
    unknown = store.query(VectorStoreQuery(query_embedding=vec(3), similarity_top_k=5, node_ids=["i0", "gone"]))
    assert unknown.ids == ["i0"]


# ---------------------------------------------------------------------------
# Files, configuration, models
# ---------------------------------------------------------------------------


def test_reopen_a_file(tmp_path: Path) -> None:
    path = tmp_path / "li.db"
    first = SQLiteVecVectorStore(path, collection_name="notes")
    nodes = rich_nodes()
    first.add(nodes)
    first.close()

    again = SQLiteVecVectorStore(str(path), collection_name="NOTES")
    assert [dump(n) for n in again.get_nodes([n.node_id for n in nodes])] == [dump(n) for n in nodes]
    assert again.db_path == str(path)


def test_serialization_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "li.db"
    store = SQLiteVecVectorStore(path, collection_name="c1", embed_dim=DIM, model_id="org/model")
    store.add([text_node("a", 1)])
    data = store.to_dict()
    assert data["class_name"] == "SQLiteVecVectorStore" == SQLiteVecVectorStore.class_name()
    assert {k: data[k] for k in ("db_path", "collection_name", "embed_dim", "model_id")} == {
        "db_path": str(path),
        "collection_name": "c1",
        "embed_dim": DIM,
        "model_id": "org/model",
    }
    clone = SQLiteVecVectorStore.from_dict(data)
    assert [n.node_id for n in clone.get_nodes()] == ["a"]
    assert store.stores_text is True and store.flat_metadata is False


def test_opening_a_recorded_collection_without_model_id_warns(tmp_path: Path) -> None:
    path = tmp_path / "li.db"
    SQLiteVecVectorStore(path, model_id="org/model-a").close()
    with pytest.warns(UncheckedModelWarning, match="'org/model-a'") as caught:
        SQLiteVecVectorStore(path).close()
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SQLiteVecVectorStore(path, model_id="org/model-a").close()
        SQLiteVecVectorStore(path, collection_name="fresh").close()


def test_model_id_is_recorded_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "li.db"
    store = SQLiteVecVectorStore(path, model_id="org/model-a")
    assert store.client.collections()[0].model_id == "org/model-a"
    store.add([text_node("a", 1)])
    store.close()
    with pytest.raises(ModelMismatchError, match="model-a"):
        SQLiteVecVectorStore(path, model_id="org/model-b")
    assert SQLiteVecVectorStore(path, model_id="org/model-a").get_nodes()[0].node_id == "a"
    with pytest.warns(UncheckedModelWarning):  # no model given: not checked, and said so
        assert SQLiteVecVectorStore(path).get_nodes()[0].node_id == "a"


def test_model_id_recorded_on_first_write_of_an_unnamed_collection(tmp_path: Path) -> None:
    path = tmp_path / "li.db"
    SQLiteVecVectorStore(path).close()
    store = SQLiteVecVectorStore(path, model_id="org/model-a")
    store.add([text_node("a", 1)])
    assert store.collection.info().model_id == "org/model-a"


def test_embed_dim(tmp_path: Path) -> None:
    path = tmp_path / "li.db"
    store = SQLiteVecVectorStore(path, embed_dim=DIM)
    assert store.collection.info().dimension == DIM
    with pytest.raises(DimensionMismatchError):
        store.add([TextNode(id_="x", text="x", embedding=[1.0, 2.0])])
    store.close()
    with pytest.raises(DimensionMismatchError):
        SQLiteVecVectorStore(path, embed_dim=4)


def test_connection_and_database_arguments(tmp_path: Path) -> None:
    db = Database(tmp_path / "shared.db")
    a = SQLiteVecVectorStore(database=db, collection_name="a")
    b = SQLiteVecVectorStore(database=db, collection_name="b")
    a.add([text_node("x", 1)])
    assert b.get_nodes() == [] and a.client is db
    assert a.db_path == str(tmp_path / "shared.db")
    a.close()
    assert not db.closed  # not the store's to close
    assert sorted(db.collection_names()) == ["a", "b"]
    db.close()

    conn = connect(":memory:", check_same_thread=False)
    store = SQLiteVecVectorStore(connection=conn)
    store.add([text_node("y", 2)])
    store.close()
    assert conn.execute("select 1").fetchone() == (1,)  # still open
    conn.close()

    with Database() as other, pytest.raises(ValueError, match="not both"):
        SQLiteVecVectorStore(connection=conn, database=other)


def test_closing_twice_is_fine(store: SQLiteVecVectorStore) -> None:
    store.close()
    store.close()
    assert store.client.closed


# ---------------------------------------------------------------------------
# Async
# ---------------------------------------------------------------------------


async def test_async_forms(store: SQLiteVecVectorStore) -> None:
    nodes = [text_node(f"n{i}", i, doc=f"d{i % 2}", n=i) for i in range(10)]
    assert await store.async_add(nodes) == [n.node_id for n in nodes]
    assert [n.node_id for n in await store.aget_nodes(["n3", "n1"])] == ["n3", "n1"]
    query = VectorStoreQuery(query_embedding=vec(4), similarity_top_k=3)
    assert (await store.aquery(query)).ids == store.query(query).ids
    mmr = VectorStoreQuery(query_embedding=vec(4), similarity_top_k=3, mode=VectorStoreQueryMode.MMR)
    assert (await store.aquery(mmr, mmr_threshold=0.3)).ids == store.query(mmr, mmr_threshold=0.3).ids
    await store.adelete("d0")
    assert sorted(n.node_id for n in await store.aget_nodes()) == ["n1", "n3", "n5", "n7", "n9"]
    big = MetadataFilters(filters=[MetadataFilter(key="n", value=5, operator=FilterOperator.GT)])
    await store.adelete_nodes(filters=big)
    await store.adelete_nodes(node_ids=["n1"])
    assert sorted(n.node_id for n in await store.aget_nodes()) == ["n3", "n5"]
    await store.aclear()
    assert await store.aget_nodes() == []
