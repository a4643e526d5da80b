"""SQLiteVecByteStore: langchain-tests' base-store suites, plus what the suites do not cover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.stores import BaseStore
from langchain_tests.integration_tests import BaseStoreAsyncTests, BaseStoreSyncTests

from langchain_sqlitevec import SQLiteVecByteStore, SQLiteVecVectorStore
from sqlitevec_store import Database, InvalidInputError, InvalidInputTypeError, SqliteVecStoreError
from tests.langchain.conftest import FakeEmbeddings

THREE = (b"foo", b"\x00bar\xff", b"")


class TestByteStoreSync(BaseStoreSyncTests[bytes]):
    @pytest.fixture
    def kv_store(self, backend_db_path: str) -> Iterator[BaseStore[str, bytes]]:
        store = SQLiteVecByteStore(db_path=backend_db_path, namespace="standard")
        try:
            yield store
        finally:
            store.close()

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return THREE


class TestByteStoreAsync(BaseStoreAsyncTests[bytes]):
    @pytest.fixture
    def kv_store(self, backend_db_path: str) -> Iterator[BaseStore[str, bytes]]:
        store = SQLiteVecByteStore(db_path=backend_db_path, namespace="standard")
        try:
            yield store
        finally:
            store.close()

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return THREE


@pytest.fixture
def store(backend_db_path: str) -> SQLiteVecByteStore:
    return SQLiteVecByteStore(db_path=backend_db_path, namespace="parents")


def test_non_bytes_values_are_refused_before_anything_is_written(store: SQLiteVecByteStore) -> None:
    for bad in ("text", 1, {"a": 1}, None):
        with pytest.raises(InvalidInputTypeError) as info:
            store.mset([("ok", b"1"), ("bad", bad)])  # type: ignore[list-item]
        assert isinstance(info.value, TypeError) and isinstance(info.value, SqliteVecStoreError)
        assert "'bad'" in str(info.value)
    assert store.mget(["ok", "bad"]) == [None, None]


async def test_async_non_bytes_values_are_refused(store: SQLiteVecByteStore) -> None:
    with pytest.raises(InvalidInputTypeError):
        await store.amset([("k", "not bytes")])  # type: ignore[list-item]
    assert await store.amget(["k"]) == [None]


def test_bytes_like_values_come_back_as_bytes(store: SQLiteVecByteStore) -> None:
    store.mset([("a", bytearray(b"ab")), ("m", memoryview(b"mv"))])  # type: ignore[list-item]
    assert store.mget(["a", "m"]) == [b"ab", b"mv"]
    assert all(type(v) is bytes for v in store.mget(["a", "m"]))


def test_bad_keys_are_refused_with_package_errors(store: SQLiteVecByteStore) -> None:
    with pytest.raises(InvalidInputError):
        store.mset([("nul\x00key", b"1")])
    with pytest.raises(InvalidInputError):
        store.mset([("k" * 4097, b"1")])
    with pytest.raises(InvalidInputTypeError):
        store.mget([1])  # type: ignore[list-item]


def test_prefix_scan_is_in_code_point_order_and_literal(store: SQLiteVecByteStore) -> None:
    keys = ["b", "a/2", "a/10", "a%", "a_", "é", "a/1"]
    store.mset([(k, k.encode()) for k in keys])
    assert list(store.yield_keys()) == sorted(keys)
    assert list(store.yield_keys(prefix="a/")) == ["a/1", "a/10", "a/2"]
    assert list(store.yield_keys(prefix="a%")) == ["a%"]  # no LIKE wildcard
    assert list(store.yield_keys(prefix="a_")) == ["a_"]
    assert list(store.yield_keys(prefix="zzz")) == []


async def test_async_prefix_scan(store: SQLiteVecByteStore) -> None:
    await store.amset([(f"k{i:04d}", b"x") for i in range(1_205)] + [("other", b"y")])
    keys = [k async for k in store.ayield_keys(prefix="k")]
    assert keys == [f"k{i:04d}" for i in range(1_205)]  # more than one page
    assert [k async for k in store.ayield_keys()][-1] == "other"


def test_a_key_set_twice_in_one_call_keeps_the_last_value(store: SQLiteVecByteStore) -> None:
    store.mset([("k", b"1"), ("k", b"2")])
    assert store.mget(["k", "k"]) == [b"2", b"2"]


def test_namespaces_are_apart_in_one_database(memdb: Database) -> None:
    first = SQLiteVecByteStore(database=memdb, namespace="first")
    second = SQLiteVecByteStore(database=memdb, namespace="second")
    first.mset([("k", b"1")])
    second.mset([("k", b"2"), ("only-second", b"3")])
    assert first.mget(["k", "only-second"]) == [b"1", None]
    first.mdelete(["k"])
    assert second.mget(["k"]) == [b"2"]
    assert list(first.yield_keys()) == []
    assert SQLiteVecByteStore(database=memdb).namespace == "default"


def test_a_namespace_holding_json_is_refused_on_read(memdb: Database) -> None:
    memdb.key_value("mixed").put("doc", {"not": "bytes"})
    store = SQLiteVecByteStore(database=memdb, namespace="mixed")
    with pytest.raises(InvalidInputTypeError, match="namespace of its own"):
        store.mget(["doc"])


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="at most one"):
        SQLiteVecByteStore(db_path=":memory:", database=Database(":memory:"))
    with pytest.raises(InvalidInputError):
        SQLiteVecByteStore(namespace="")
    with pytest.raises(InvalidInputTypeError):
        SQLiteVecByteStore(db_path=3)  # type: ignore[arg-type]


def test_shares_the_vector_store_database_and_file(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    vectors = SQLiteVecVectorStore(FakeEmbeddings(), db_path=path)
    store = SQLiteVecByteStore(database=vectors.database, namespace="parents")
    assert store.database is vectors.database
    store.mset([("p1", b"parent")])
    store.close()  # a shared database stays open
    vectors.add_texts(["child"], ids=["c1"])
    vectors.close()
    with SQLiteVecByteStore(db_path=path, namespace="parents") as reopened:
        assert reopened.mget(["p1"]) == [b"parent"]
        assert reopened.database.collection("default").count() == 1
    assert reopened.database.closed
    assert "parents" in repr(reopened)


def test_a_passed_database_is_not_closed(memdb: Database) -> None:
    with SQLiteVecByteStore(database=memdb) as store:
        store.mset([("k", b"v")])
    assert not memdb.closed
    assert memdb.key_value("default").get("k") == b"v"
