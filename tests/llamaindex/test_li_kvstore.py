"""SQLiteVecKVStore: LlamaIndex's key-value store contract, in the file beside the vectors.

The first tests are ported from LlamaIndex's own (``llama-index-core``'s
``tests/storage/kvstore/test_simple_kvstore.py`` and
``test_mutable_mapping_kvstore.py``, and
``llama-index-storage-kvstore-postgres``'s ``tests/test_postgres.py``) and run
against LlamaIndex's ``SimpleKVStore`` too, so they check that our store
behaves as the framework's reference does. The rest cover what is ours:
namespaces, transactions, sharing a database, refusals and files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlean
from llama_index.core.schema import TextNode
from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore
from llama_index.core.storage.kvstore.types import DEFAULT_COLLECTION, BaseKVStore

from llamaindex_sqlitevec import SQLiteVecKVStore, SQLiteVecVectorStore
from llamaindex_sqlitevec.kvstore import DEFAULT_NAMESPACE_PREFIX, database_location
from sqlitevec_store import Database, SqliteVecStoreError

KVSTORES = ["simple", "sqlitevec", "shared"]


@pytest.fixture(params=KVSTORES)
def kvstore(request: pytest.FixtureRequest, backend_db_path: str) -> BaseKVStore:
    """LlamaIndex's in-memory reference, ours on its own database, and ours sharing a vector store's."""
    if request.param == "simple":
        return SimpleKVStore()
    if request.param == "sqlitevec":
        return SQLiteVecKVStore(backend_db_path)
    return SQLiteVecKVStore.from_vector_store(SQLiteVecVectorStore(backend_db_path))


@pytest.fixture
def ours(backend_db_path: str) -> SQLiteVecKVStore:
    return SQLiteVecKVStore(backend_db_path)


# -- ported from LlamaIndex ---------------------------------------------------------


def test_kvstore_basic(kvstore: BaseKVStore) -> None:
    test_key = "test_key"
    test_blob = {"test_obj_key": "test_obj_val"}
    kvstore.put(test_key, test_blob)
    assert kvstore.get(test_key) == test_blob
    assert kvstore.get(test_key, collection="non_existent") is None
    assert kvstore.delete(test_key)
    assert not kvstore.delete(test_key)


async def test_kvstore_async_basic(kvstore: BaseKVStore) -> None:
    test_key = "test_key_basic"
    test_blob = {"test_obj_key": "test_obj_val"}
    await kvstore.aput(test_key, test_blob)
    assert await kvstore.aget(test_key) == test_blob
    assert await kvstore.aget(test_key, collection="non_existent") is None
    assert await kvstore.adelete(test_key)
    assert not await kvstore.adelete(test_key)


def test_kvstore_delete(kvstore: BaseKVStore) -> None:
    kvstore.put("test_key_delete", {"test_obj_key": "test_obj_val"})
    kvstore.delete("test_key_delete")
    assert kvstore.get("test_key_delete") is None


def test_kvstore_getall(kvstore: BaseKVStore) -> None:
    kvstore.put("test_key_1", {"test_obj_key": "test_obj_val"})
    kvstore.put("test_key_2", {"test_obj_key": "test_obj_val"})
    assert kvstore.get_all() == {
        "test_key_1": {"test_obj_key": "test_obj_val"},
        "test_key_2": {"test_obj_key": "test_obj_val"},
    }
    assert kvstore.get_all(collection="other") == {}


async def test_kvstore_agetall(kvstore: BaseKVStore) -> None:
    await kvstore.aput("test_key_1", {"test_obj_key": "test_obj_val"})
    await kvstore.aput("test_key_2", {"test_obj_key": "test_obj_val2"})
    assert await kvstore.aget_all() == {
        "test_key_1": {"test_obj_key": "test_obj_val"},
        "test_key_2": {"test_obj_key": "test_obj_val2"},
    }


async def test_kvstore_aputall(kvstore: BaseKVStore) -> None:
    await kvstore.aput_all([("test_key_putall_1", {"k": "v"}), ("test_key_putall_2", {"k2": "v2"})])
    assert await kvstore.aget("test_key_putall_1") == {"k": "v"}
    assert await kvstore.aget("test_key_putall_2") == {"k2": "v2"}


def test_kvstore_putall(kvstore: BaseKVStore) -> None:
    kvstore.put_all([("a", {"n": 1}), ("b", {"n": 2})], collection="batch")
    assert kvstore.get_all(collection="batch") == {"a": {"n": 1}, "b": {"n": 2}}
    assert kvstore.get_all() == {}


def test_sync_methods(kvstore: BaseKVStore) -> None:
    kvstore.put(key="foo", val={"foo": "bar"})
    assert kvstore.get("foo") == {"foo": "bar"}
    assert kvstore.get("bar") is None
    kvstore.put(key="bar", val={"bar": "foo"})
    assert kvstore.get_all() == {"foo": {"foo": "bar"}, "bar": {"bar": "foo"}}
    kvstore.delete(key="bar")
    assert kvstore.get_all() == {"foo": {"foo": "bar"}}


async def test_async_methods(kvstore: BaseKVStore) -> None:
    await kvstore.aput(key="foo", val={"foo": "bar"})
    assert await kvstore.aget("foo") == {"foo": "bar"}
    assert await kvstore.aget("bar") is None
    await kvstore.aput(key="bar", val={"bar": "foo"})
    assert await kvstore.aget_all() == {"foo": {"foo": "bar"}, "bar": {"bar": "foo"}}
    await kvstore.adelete(key="bar")
    assert await kvstore.aget_all() == {"foo": {"foo": "bar"}}


def test_put_replaces_and_values_are_copies(kvstore: BaseKVStore) -> None:
    value = {"text": "one"}
    kvstore.put("k", value)
    value["text"] = "changed after put"
    got = kvstore.get("k")
    assert got == {"text": "one"}
    assert got is not None
    got["text"] = "changed after get"
    assert kvstore.get("k") == {"text": "one"}
    kvstore.put("k", {"text": "two"})
    assert kvstore.get_all() == {"k": {"text": "two"}}


def test_collections_are_apart(kvstore: BaseKVStore) -> None:
    kvstore.put("k", {"in": "data"})
    kvstore.put("k", {"in": "docstore/data"}, collection="docstore/data")
    assert kvstore.get("k") == {"in": "data"}
    assert kvstore.get("k", collection="docstore/data") == {"in": "docstore/data"}
    assert kvstore.delete("k", collection="docstore/data")
    assert kvstore.get("k") == {"in": "data"}


# -- ours ---------------------------------------------------------------------------


def test_a_collection_is_a_core_namespace(ours: SQLiteVecKVStore) -> None:
    ours.put("doc-1", {"text": "hello"}, collection="docstore/data")
    ours.put("x", {"n": 1})
    assert DEFAULT_NAMESPACE_PREFIX == "llama_index/"
    assert ours.client.key_value("llama_index/docstore/data").get("doc-1") == {"text": "hello"}
    assert ours.client.key_value(f"llama_index/{DEFAULT_COLLECTION}").get("x") == {"n": 1}
    assert ours.namespace("docstore/data").namespace == "llama_index/docstore/data"
    names = {space.namespace for space in ours.client.app_state().key_value}
    assert names == {"llama_index/docstore/data", "llama_index/data"}


def test_namespace_prefix(backend_db_path: str) -> None:
    db = Database(backend_db_path)
    try:
        plain = SQLiteVecKVStore(database=db, namespace_prefix="")
        other = SQLiteVecKVStore(database=db, namespace_prefix="app2/")
        plain.put("k", {"v": 1}, collection="things")
        other.put("k", {"v": 2}, collection="things")
        assert db.key_value("things").get("k") == {"v": 1}
        assert db.key_value("app2/things").get("k") == {"v": 2}
        assert plain.namespace_prefix == ""
        with pytest.raises(TypeError):
            SQLiteVecKVStore(database=db, namespace_prefix=None)  # type: ignore[arg-type]
    finally:
        db.close()


def test_get_all_is_in_code_point_order(ours: SQLiteVecKVStore) -> None:
    keys = ["b", "a", "é", "Z", "a1", "😀", ""]
    ours.put_all([(k, {"k": k}) for k in keys])
    assert list(ours.get_all()) == sorted(keys)


@pytest.mark.parametrize(
    "value",
    [b"bytes", ["a", "list"], "text", 3, None],
    ids=["bytes", "list", "str", "int", "none"],
)
def test_only_dicts_are_stored(ours: SQLiteVecKVStore, value: Any) -> None:
    with pytest.raises(TypeError, match="dicts"):
        ours.put("k", value)
    with pytest.raises(TypeError, match="dicts"):
        ours.put_all([("ok", {"fine": True}), ("k", value)])
    assert ours.get_all() == {}


def test_a_bad_pair_in_put_all_writes_nothing(ours: SQLiteVecKVStore) -> None:
    with pytest.raises(ValueError):
        ours.put_all([("a", {"n": 1}), ("b", {"n": math.nan})])
    with pytest.raises(TypeError):
        ours.put_all([("a", {"n": 1}), ("b",)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        ours.put_all({"a": {"n": 1}})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ours.put_all([("a", {"n": 1})], batch_size=0)
    assert ours.get_all() == {}


def test_put_all_is_one_write_whatever_the_batch_size(ours: SQLiteVecKVStore) -> None:
    pairs = [(f"k{i:05}", {"i": i}) for i in range(2500)]
    ours.put_all(pairs, batch_size=7)
    assert ours.get_all() == dict(pairs)


def test_an_empty_collection_name_is_refused(ours: SQLiteVecKVStore) -> None:
    with pytest.raises(ValueError, match="collection"):
        ours.put("k", {"v": 1}, collection="")


def test_an_entry_that_is_not_a_dict_is_reported(ours: SQLiteVecKVStore) -> None:
    ours.client.key_value("llama_index/data").put("raw", b"\x00\x01")
    with pytest.raises(SqliteVecStoreError, match="not a dict"):
        ours.get("raw")
    with pytest.raises(SqliteVecStoreError, match="not a dict"):
        ours.get_all()


def test_atomic_rolls_back_key_values_and_vectors_together(backend_db_path: str) -> None:
    vector_store = SQLiteVecVectorStore(backend_db_path)
    kvstore = SQLiteVecKVStore.from_vector_store(vector_store)
    node = TextNode(text="kept", id_="n1", embedding=[1.0, 0.0])
    with pytest.raises(RuntimeError, match="boom"), kvstore.atomic():
        vector_store.add([node])
        kvstore.put("n1", {"text": "kept"})
        raise RuntimeError("boom")
    assert kvstore.get("n1") is None
    assert vector_store.get_nodes() == []
    with kvstore.atomic():
        vector_store.add([node])
        kvstore.put("n1", {"text": "kept"})
    assert kvstore.get("n1") == {"text": "kept"}
    assert [n.node_id for n in vector_store.get_nodes()] == ["n1"]


@pytest.mark.sqlite_only
def test_entries_outlive_the_store(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    first = SQLiteVecKVStore(path)
    first.put("k", {"v": [1, 2.5, "three", None, True]}, collection="c")
    first.close()
    second = SQLiteVecKVStore.from_uri(f"sqlite:///{path}")
    assert second.get("k", collection="c") == {"v": [1, 2.5, "three", None, True]}


@pytest.mark.sqlite_only
def test_shared_database_is_one_connection_and_not_closed(tmp_path: Path) -> None:
    vector_store = SQLiteVecVectorStore(tmp_path / "app.db")
    kvstore = SQLiteVecKVStore.from_vector_store(vector_store)
    assert kvstore.client is vector_store.client
    kvstore.put("k", {"v": 1})
    kvstore.close()
    assert not vector_store.client.closed
    vector_store.close()
    assert vector_store.client.closed


@pytest.mark.sqlite_only
def test_owned_database_is_closed_and_a_connection_is_left_open(tmp_path: Path) -> None:
    own = SQLiteVecKVStore(tmp_path / "a.db")
    own.close()
    own.close()  # idempotent
    assert own.client.closed
    conn = sqlean.connect(str(tmp_path / "b.db"))
    try:
        wrapped = SQLiteVecKVStore(connection=conn)
        wrapped.put("k", {"v": 1})
        wrapped.close()
        assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("make", "location"),
    [
        (SQLiteVecKVStore, "file"),
        (lambda p: SQLiteVecKVStore(db_path=str(p)), "file"),
        (SQLiteVecKVStore.from_uri, "file"),
        (lambda p: SQLiteVecKVStore.from_uri(f"sqlite:///{p}"), "file"),
        (lambda p: SQLiteVecKVStore.from_params(db_path=p), "file"),
        (lambda p: SQLiteVecKVStore(), None),
        (lambda p: SQLiteVecKVStore.from_uri(":memory:"), None),
        (lambda p: SQLiteVecKVStore.from_uri("sqlite://"), None),
    ],
)
@pytest.mark.sqlite_only
def test_ways_to_name_the_database(
    tmp_path: Path, make: Callable[[Path], SQLiteVecKVStore], location: str | None
) -> None:
    path = tmp_path / "named.db"
    kvstore = make(path)
    assert kvstore.client.path == (str(path) if location else ":memory:")


def test_database_location() -> None:
    assert database_location("app.db") == "app.db"
    assert database_location(Path("dir/app.db")) == "dir/app.db"
    assert database_location(":memory:") == ":memory:"
    assert database_location("sqlite:///rel/app.db") == "rel/app.db"
    assert database_location("sqlite:////abs/app.db") == "/abs/app.db"
    assert database_location("sqlite://") == ":memory:"
    assert database_location("sqlite:///:memory:") == ":memory:"
    assert database_location("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ValueError, match="three slashes"):
        database_location("sqlite://host/app.db")
    with pytest.raises(ValueError, match="empty"):
        database_location("")
    with pytest.raises(TypeError):
        database_location(3)  # type: ignore[arg-type]


def test_more_than_one_database_is_refused(tmp_path: Path) -> None:
    db = Database(":memory:")
    try:
        with pytest.raises(ValueError, match="at most one"):
            SQLiteVecKVStore(tmp_path / "x.db", database=db)
    finally:
        db.close()
