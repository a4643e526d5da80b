"""SQLiteVecDocumentStore and SQLiteVecIndexStore: LlamaIndex's expectations, and what the file adds.

The docstore tests are ported from LlamaIndex's
``llama-index-core/tests/storage/docstore/test_simple_docstore.py`` and
``llama-index-storage-docstore-postgres``'s ``tests/test_postgres.py``; the
index store test from ``tests/storage/index_store/test_simple_index_store.py``.
Each runs against LlamaIndex's ``SimpleDocumentStore`` / ``SimpleIndexStore``
too, so a pass means "behaves as LlamaIndex's reference does".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.data_structs.data_structs import IndexDict, IndexGraph, IndexList
from llama_index.core.schema import BaseNode, Document, NodeRelationship, TextNode
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.index_store import SimpleIndexStore
from llama_index.core.storage.index_store.keyval_index_store import KVIndexStore

from llamaindex_sqlitevec import SQLiteVecDocumentStore, SQLiteVecIndexStore, SQLiteVecKVStore, SQLiteVecVectorStore
from sqlitevec_store import Database

STORES = ["simple", "sqlitevec", "shared"]


@pytest.fixture(params=STORES)
def docstore(request: pytest.FixtureRequest, backend_db_path: str) -> KVDocumentStore:
    if request.param == "simple":
        return SimpleDocumentStore()
    if request.param == "sqlitevec":
        return SQLiteVecDocumentStore.from_uri(backend_db_path)
    return SQLiteVecDocumentStore.from_vector_store(SQLiteVecVectorStore(backend_db_path))


@pytest.fixture(params=STORES)
def index_store(request: pytest.FixtureRequest, backend_db_path: str) -> KVIndexStore:
    if request.param == "simple":
        return SimpleIndexStore()
    if request.param == "sqlitevec":
        return SQLiteVecIndexStore.from_uri(backend_db_path)
    return SQLiteVecIndexStore.from_vector_store(SQLiteVecVectorStore(backend_db_path))


def _kv(store: Any, key: str, collection: str) -> Any:
    return store._kvstore.get(key, collection)


# -- ported from LlamaIndex: docstore ---------------------------------------------------


def test_docstore(docstore: KVDocumentStore) -> None:
    doc = Document(text="hello world", id_="d1", metadata={"foo": "bar"})
    node = TextNode(text="my node", id_="d2", metadata={"node": "info"})
    docstore.add_documents([doc, node])
    assert docstore.get_document("d1") == doc
    assert docstore.get_document("d2") == node


def test_docstore_delete_document(docstore: KVDocumentStore) -> None:
    doc = Document(text="hello world", id_="d1", metadata={"foo": "bar"})
    node = TextNode(text="my node", id_="d2", metadata={"node": "info"})
    docstore.add_documents([doc, node])
    docstore.delete_document("d1")
    assert _kv(docstore, "d1", docstore._node_collection) is None
    assert _kv(docstore, "d1", docstore._metadata_collection) is None
    assert _kv(docstore, "d1", docstore._ref_doc_collection) is None
    assert _kv(docstore, "d2", docstore._node_collection) is not None
    assert _kv(docstore, "d2", docstore._metadata_collection) is not None


def _ref_doc_family() -> tuple[Document, Document, TextNode]:
    ref_doc = Document(text="hello world", id_="d1", metadata={"foo": "bar"})
    doc = Document(text="hello world", id_="d2", metadata={"foo": "bar"})
    doc.relationships[NodeRelationship.SOURCE] = ref_doc.as_related_node_info()
    node = TextNode(text="my node", id_="d3", metadata={"node": "info"})
    node.relationships[NodeRelationship.SOURCE] = ref_doc.as_related_node_info()
    return ref_doc, doc, node


def _assert_all_gone(docstore: KVDocumentStore, ids: list[str]) -> None:
    for key in ids:
        for collection in (docstore._node_collection, docstore._metadata_collection, docstore._ref_doc_collection):
            assert _kv(docstore, key, collection) is None, (key, collection)


def test_docstore_delete_ref_doc(docstore: KVDocumentStore) -> None:
    ref_doc, doc, node = _ref_doc_family()
    docstore.add_documents([ref_doc, doc, node])
    docstore.delete_ref_doc("d1")
    _assert_all_gone(docstore, ["d1", "d2", "d3"])


def test_docstore_delete_ref_doc_not_in_docstore(docstore: KVDocumentStore) -> None:
    _, doc, node = _ref_doc_family()
    docstore.add_documents([doc, node])
    assert _kv(docstore, "d1", docstore._ref_doc_collection) is not None
    docstore.delete_ref_doc("d1")
    _assert_all_gone(docstore, ["d1", "d2", "d3"])


def test_docstore_delete_all_ref_doc_nodes(docstore: KVDocumentStore) -> None:
    ref_doc, doc, node = _ref_doc_family()
    docstore.add_documents([ref_doc, doc, node])
    assert _kv(docstore, "d1", docstore._ref_doc_collection)["node_ids"] == ["d2", "d3"]
    docstore.delete_document("d2")
    assert _kv(docstore, "d1", docstore._node_collection) is not None
    assert _kv(docstore, "d1", docstore._metadata_collection) is not None
    assert _kv(docstore, "d1", docstore._ref_doc_collection)["node_ids"] == ["d3"]
    docstore.delete_document("d3")
    _assert_all_gone(docstore, ["d1"])


def test_get_all_document_ids_keeps_docs_sharing_a_hash(docstore: KVDocumentStore) -> None:
    docstore.add_documents([Document(text="duplicate content", id_="d1"), Document(text="duplicate content", id_="d2")])
    assert len(docstore.get_all_document_hashes()) == 1
    assert set(docstore.docs) == {"d1", "d2"}


async def test_aget_all_document_hashes(docstore: KVDocumentStore) -> None:
    await docstore.async_add_documents(
        [Document(text="duplicate content", id_="d1"), Document(text="duplicate content", id_="d2")]
    )
    assert len(await docstore.aget_all_document_hashes()) == 1
    assert (await docstore.aget_document("d2")) == Document(text="duplicate content", id_="d2")
    assert await docstore.adocument_exists("d1")


def test_postgres_docstore(docstore: KVDocumentStore) -> None:
    documents = [Document(text="doc_1"), Document(text="doc_2")]
    assert len(docstore.docs) == 0
    docstore.add_documents(documents)
    assert len(docstore.docs) == 2
    assert all(isinstance(doc, BaseNode) for doc in docstore.docs.values())
    docstore.add_documents(documents)
    assert len(docstore.docs) == 2
    doc0 = docstore.get_document(documents[0].id_)
    assert doc0 is not None
    assert documents[0].get_content() == doc0.get_content()
    docstore.delete_document(documents[0].id_)
    assert len(docstore.docs) == 1


def test_postgres_docstore_hash(docstore: KVDocumentStore) -> None:
    docstore.set_document_hash("test_doc_id", "test_doc_hash")
    assert docstore.get_document_hash("test_doc_id") == "test_doc_hash"
    docstore.set_document_hash("test_doc_id", "test_doc_hash_new")
    assert docstore.get_document_hash("test_doc_id") == "test_doc_hash_new"
    assert docstore.get_document_hash("test_not_exist") is None


def test_ref_doc_info_and_nodes(docstore: KVDocumentStore) -> None:
    _ref_doc, doc, node = _ref_doc_family()
    docstore.add_documents([doc, node])
    info = docstore.get_ref_doc_info("d1")
    assert info is not None
    assert info.node_ids == ["d2", "d3"]
    assert set(docstore.get_all_ref_doc_info() or {}) == {"d1"}
    assert [n.node_id for n in docstore.get_nodes(["d3", "d2"])] == ["d3", "d2"]
    assert docstore.ref_doc_exists("d1")
    with pytest.raises(ValueError):
        docstore.get_document("missing")
    assert docstore.get_document("missing", raise_error=False) is None


# -- ported from LlamaIndex: index store ------------------------------------------------


def test_index_store_round_trip(index_store: KVIndexStore) -> None:
    graph, listed, vectors = IndexGraph(), IndexList(), IndexDict()
    for struct in (graph, listed, vectors):
        index_store.add_index_struct(struct)
    assert index_store.get_index_struct(graph.index_id) == graph
    assert {s.index_id for s in index_store.index_structs()} == {graph.index_id, listed.index_id, vectors.index_id}
    index_store.delete_index_struct(listed.index_id)
    assert index_store.get_index_struct(listed.index_id) is None
    assert len(index_store.index_structs()) == 2


async def test_index_store_async(index_store: KVIndexStore) -> None:
    struct = IndexDict()
    struct.add_node(TextNode(text="x", id_="n1"))
    await index_store.async_add_index_struct(struct)
    assert await index_store.aget_index_struct() == struct
    await index_store.adelete_index_struct(struct.index_id)
    assert await index_store.async_index_structs() == []


# -- ours ---------------------------------------------------------------------------------


def test_collections_are_namespaced_in_the_core(backend_db_path: str) -> None:
    vector_store = SQLiteVecVectorStore(backend_db_path)
    docstore = SQLiteVecDocumentStore.from_vector_store(vector_store)
    index_store = SQLiteVecIndexStore.from_vector_store(vector_store, namespace="rag")
    docstore.add_documents([_ref_doc_family()[2]])
    index_store.add_index_struct(IndexDict())
    names = {space.namespace for space in vector_store.client.app_state().key_value}
    assert names == {
        "llama_index/docstore/data",
        "llama_index/docstore/metadata",
        "llama_index/docstore/ref_doc_info",
        "llama_index/rag/data",
    }
    assert docstore.kvstore.client is index_store.kvstore.client is vector_store.client


def test_add_documents_is_one_transaction(backend_db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docstore = SQLiteVecDocumentStore.from_uri(backend_db_path)
    calls: list[str] = []
    original = SQLiteVecKVStore.put_all

    def failing_third_put_all(self: SQLiteVecKVStore, pairs: Any, collection: str = "data", **kwargs: Any) -> None:
        calls.append(collection)
        if len(calls) == 3:
            raise RuntimeError("killed between writes")
        original(self, pairs, collection, **kwargs)

    monkeypatch.setattr(SQLiteVecKVStore, "put_all", failing_third_put_all)
    _, doc, node = _ref_doc_family()
    with pytest.raises(RuntimeError, match="killed"):
        docstore.add_documents([doc, node])
    assert len(calls) == 3
    monkeypatch.undo()
    assert docstore.docs == {}
    assert docstore.get_all_document_hashes() == {}
    assert docstore.get_all_ref_doc_info() == {}


def test_delete_ref_doc_is_one_transaction(backend_db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docstore = SQLiteVecDocumentStore.from_uri(backend_db_path)
    ref_doc, doc, node = _ref_doc_family()
    docstore.add_documents([ref_doc, doc, node])
    original = SQLiteVecKVStore.delete
    deletes: list[str] = []

    def failing_delete(self: SQLiteVecKVStore, key: str, collection: str = "data") -> bool:
        deletes.append(key)
        if len(deletes) == 4:
            raise RuntimeError("killed between deletes")
        return original(self, key, collection)

    monkeypatch.setattr(SQLiteVecKVStore, "delete", failing_delete)
    with pytest.raises(RuntimeError, match="killed"):
        docstore.delete_ref_doc("d1")
    monkeypatch.undo()
    assert set(docstore.docs) == {"d1", "d2", "d3"}
    info = docstore.get_ref_doc_info("d1")
    assert info is not None
    assert info.node_ids == ["d2", "d3"]


@pytest.mark.sqlite_only
def test_documents_and_structs_outlive_the_process_objects(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    docstore = SQLiteVecDocumentStore.from_uri(path)
    index_store = SQLiteVecIndexStore.from_params(db_path=path)
    _, doc, node = _ref_doc_family()
    docstore.add_documents([doc, node])
    struct = IndexDict()
    index_store.add_index_struct(struct)
    docstore.close()
    index_store.close()
    assert docstore.kvstore.client.closed
    with Database(path) as db:
        again = SQLiteVecDocumentStore.from_params(database=db)
        assert again.get_document("d3") == node
        assert SQLiteVecIndexStore.from_params(database=db).get_index_struct() == struct
        again.close()
        assert not db.closed  # a shared database is its owner's to close


def test_constructor_arguments(backend_db_path: str) -> None:
    kvstore = SQLiteVecKVStore(backend_db_path, namespace_prefix="app/")
    docstore = SQLiteVecDocumentStore(kvstore, namespace="mine", batch_size=50)
    docstore.add_documents([TextNode(text="t", id_="n")])
    assert kvstore.client.key_value("app/mine/data").get("n") is not None
    index_store = SQLiteVecIndexStore(kvstore, namespace="idx", collection_suffix="/structs")
    index_store.add_index_struct(IndexList())
    assert kvstore.client.key_value("app/idx/structs").count() == 1
