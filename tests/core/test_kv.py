"""The key-value space (sqlitevec_store/stores/kv.py): values, keys, scans, transactions, async.

Backend-neutral tests use ``memdb`` (SQLite in memory, or Postgres under
``SVS_TEST_BACKEND=postgres``); ``sqlite_only`` ones check the file itself.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from sqlitevec_store import (
    Database,
    InvalidInputError,
    InvalidInputTypeError,
    KeyValueStore,
    ReadOnlyError,
    Record,
    SchemaError,
)
from sqlitevec_store.stores import kv as kv_module
from sqlitevec_store.stores.keys import MAX_KEY_LENGTH, prefix_end


def test_values_round_trip(memdb: Database) -> None:
    kv = memdb.key_value("values")
    values = {
        "bytes": b"\x00\x01\xff",
        "bytearray": bytearray(b"ab"),
        "dict": {"a": [1, 2.5, None, True], "é": "ü"},
        "list": [1, "two", {"three": 3}],
        "str": "hello \u2603",
        "int": 7,
        "float": 0.25,
        "bool": False,
        "empty": b"",
    }
    kv.put_many(values)
    got = dict(kv.items())
    assert got["bytearray"] == b"ab" and isinstance(got["bytearray"], bytes)
    assert got["bytes"] == b"\x00\x01\xff"
    assert got["dict"] == {"a": [1, 2.5, None, True], "é": "ü"}
    assert got["list"] == [1, "two", {"three": 3}]
    assert got["str"] == "hello \u2603" and got["int"] == 7 and got["float"] == 0.25 and got["bool"] is False
    assert got["empty"] == b""
    assert kv.get("tuple", "missing") == "missing"
    kv.put("tuple", (1, 2))  # type: ignore[arg-type]
    assert kv.get("tuple") == [1, 2]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, InvalidInputTypeError),
        (object(), InvalidInputTypeError),
        (math.nan, InvalidInputError),
        ({"x": math.inf}, InvalidInputError),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(memdb: Database, value: object, error: type) -> None:
    kv = memdb.key_value("bad")
    with pytest.raises(error):
        kv.put_many([("good", b"1"), ("bad", value)])  # type: ignore[list-item]
    assert kv.count() == 0


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (1, InvalidInputTypeError),
        (b"k", InvalidInputTypeError),
        ("nul\x00", InvalidInputError),
        ("lone \ud800", InvalidInputError),
        ("k" * (MAX_KEY_LENGTH + 1), InvalidInputError),
    ],
)
def test_bad_keys_are_refused(memdb: Database, key: object, error: type) -> None:
    kv = memdb.key_value("keys")
    with pytest.raises(error):
        kv.put(key, b"v")  # type: ignore[arg-type]
    with pytest.raises(error):
        kv.get_many(["fine", key])  # type: ignore[list-item]
    assert kv.count() == 0


def test_bad_namespaces_are_refused(memdb: Database) -> None:
    with pytest.raises(InvalidInputError):
        memdb.key_value("")
    with pytest.raises(InvalidInputTypeError):
        memdb.key_value(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputTypeError):
        memdb.key_value("ns").delete_many("abc")


def test_empty_key_and_namespaces_are_apart(memdb: Database) -> None:
    a, b = memdb.key_value("a"), memdb.key_value("b")
    a.put("", b"empty key")
    a.put("k", b"from a")
    b.put("k", b"from b")
    assert a.get("") == b"empty key"
    assert (a.get("k"), b.get("k")) == (b"from a", b"from b")
    assert a.delete("k") and not a.delete("k")
    assert b.get("k") == b"from b"
    assert list(b.keys()) == ["k"]


def test_get_many_keeps_order_missing_and_repeats(memdb: Database) -> None:
    kv = memdb.key_value("many")
    kv.put_many([("x", b"1"), ("y", b"2"), ("x", b"3")])  # the last value of a repeated key wins
    assert kv.get_many(["y", "nope", "x", "y"]) == [b"2", None, b"3", b"2"]
    assert kv.get_many([]) == []
    assert "x" in kv and "nope" not in kv and len(kv) == 2


def test_keys_in_code_point_order_and_prefix_scans(memdb: Database) -> None:
    kv = memdb.key_value("order")
    keys = ["b", "a", "ab", "a/1", "a/2", "é", "Z", "\U0001f600", "\ud7ff", "\ue000", "a\U0010ffff", "a\U0010ffffz"]
    kv.put_many({k: b"" for k in keys})
    assert list(kv.keys()) == sorted(keys)
    assert list(kv.keys("a/")) == ["a/1", "a/2"]
    assert list(kv.keys("a")) == sorted(k for k in keys if k.startswith("a"))
    assert list(kv.keys("a\U0010ffff")) == ["a\U0010ffff", "a\U0010ffffz"]
    assert kv.count("a") == 6
    assert kv.clear("a/") == 2 and kv.count("a") == 4
    assert kv.clear() == len(keys) - 2 and kv.count() == 0


def test_prefix_end() -> None:
    assert prefix_end("") is None
    assert prefix_end("ab") == "ac"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff") is None
    assert prefix_end("x\ud7ff") == "x\ue000"


def test_scans_page_through_every_key(memdb: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kv_module, "PAGE_SIZE", 7)
    kv = memdb.key_value("pages")
    kv.put_many({f"k{i:03d}": {"i": i} for i in range(50)})
    assert [k for k, _ in kv.items()] == [f"k{i:03d}" for i in range(50)]
    assert [v for _, v in kv.items("k04")] == [{"i": i} for i in range(40, 50)]
    assert len(list(kv.keys("k0"))) == 50


def test_one_transaction_with_the_records(memdb: Database) -> None:
    docs = memdb.collection("docs")
    kv = memdb.key_value("parents")
    with pytest.raises(RuntimeError), memdb.atomic():
        docs.upsert([Record("t", [1.0, 0.0], id="r1")])
        kv.put("p1", {"parent": True})
        raise RuntimeError("boom")
    assert docs.count() == 0 and kv.get("p1") is None
    with memdb.atomic():
        docs.upsert([Record("t", [1.0, 0.0], id="r1")])
        kv.put("p1", {"parent": True})
    assert docs.count() == 1 and kv.get("p1") == {"parent": True}


def test_a_rolled_back_first_write_leaves_the_stores_working(memdb: Database) -> None:
    """The tables made inside a block that rolls back are gone; the next writes make them again."""
    kv, log = memdb.key_value("ns"), memdb.record_keys("ns")
    with pytest.raises(RuntimeError), memdb.atomic():
        kv.put("a", 1)
        log.update(["x"])
        assert kv.get("a") == 1 and log.exists(["x"]) == [True]  # seen inside the block
        raise RuntimeError("boom")
    with memdb.atomic():  # a cache of "the tables are there" must not fail these
        kv.put("b", 2)
        log.update(["y"])
    assert kv.get("a") is None and log.exists(["x"]) == [False]
    assert kv.get("b") == 2 and list(kv.keys()) == ["b"] and log.list_keys() == ["y"]


async def test_concurrent_first_writes_make_the_tables_once(memdb: Database) -> None:
    """Tasks writing at once to a store without the tables: one makes them, the others wait and use them."""
    stores = [memdb.key_value(f"n{i}") for i in range(4)]
    logs = [memdb.record_keys(f"n{i}") for i in range(2)]
    await asyncio.gather(*(kv.aput("k", i) for i, kv in enumerate(stores)), *(log.aupdate(["k"]) for log in logs))
    assert [kv.get("k") for kv in stores] == [0, 1, 2, 3]
    assert [log.list_keys() for log in logs] == [["k"], ["k"]]


def test_app_state_lists_namespaces(memdb: Database) -> None:
    assert memdb.app_state().key_value == []
    memdb.key_value("b").put_many({"1": b"abc", "2": b"de"})
    memdb.key_value("a").put("x", "y")
    summary = memdb.app_state()
    assert [(n.namespace, n.entries, n.value_bytes) for n in summary.key_value] == [("a", 1, 3), ("b", 2, 5)]
    assert summary.record_keys == []


async def test_async_twins(memdb: Database) -> None:
    kv = memdb.key_value("async")
    await kv.aput("a", b"1")
    await kv.aput_many({"b/1": {"n": 1}, "b/2": [2]})
    assert await kv.aget("a") == b"1" and await kv.aget("zz", b"d") == b"d"
    assert await kv.aget_many(["b/2", "x"]) == [[2], None]
    assert [k async for k in kv.akeys("b/")] == ["b/1", "b/2"]
    assert [item async for item in kv.aitems()] == [("a", b"1"), ("b/1", {"n": 1}), ("b/2", [2])]
    assert await kv.acount() == 3
    assert await kv.adelete("a") and not await kv.adelete("a")
    assert await kv.adelete_many(["b/1", "nope"]) == 1
    assert await kv.aclear() == 1 and await kv.acount() == 0


# -- the file ------------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_reads_make_no_tables_and_writes_make_them(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    with Database(path) as db:
        kv = db.key_value("ns")
        assert kv.get("k") is None and list(kv.keys()) == [] and kv.count() == 0 and kv.delete_many(["k"]) == 0
    names = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert not any(name.startswith("sqlitevec_store_kv") for name in names)
    with Database(path) as db:
        db.key_value("ns").put("k", b"v")
    names = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"sqlitevec_store_kv", "sqlitevec_store_app_tables", "sqlitevec_store_collections"} <= names
    with Database(path, read_only=True) as db:
        assert db.key_value("ns").get("k") == b"v"
        with pytest.raises(ReadOnlyError):
            db.key_value("ns").put("k", b"w")


@pytest.mark.sqlite_only
def test_a_table_not_ours_is_never_adopted(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sqlitevec_store_kv (x)")
    conn.commit()
    conn.close()
    with Database(path) as db:
        kv = db.key_value("ns")
        assert kv.get("k") is None
        with pytest.raises(SchemaError, match="not written by sqlitevec-store"):
            kv.put("k", b"v")
    assert sqlite3.connect(path).execute("SELECT count(*) FROM sqlitevec_store_kv").fetchone()[0] == 0


@pytest.mark.sqlite_only
def test_a_newer_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with Database(path) as db:
        db.key_value("ns").put("k", b"v")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE sqlitevec_store_app_tables SET schema_version = 99")
    conn.commit()
    conn.close()
    with Database(path) as db, pytest.raises(SchemaError, match="newer"):
        db.key_value("ns").get("k")


def _writer(path: str, worker: int, count: int) -> None:
    with Database(path) as db:
        kv = db.key_value("shared")
        for i in range(count):
            kv.put_many({f"w{worker}-{i}": {"worker": worker, "i": i}, "last": worker})


@pytest.mark.sqlite_only
def test_processes_write_one_file_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "multi.db")
    Database(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, w, 40)) for w in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    with Database(path) as db:
        kv = db.key_value("shared")
        assert kv.count("w") == 120
        assert kv.get("last") in (0, 1, 2)


@pytest.mark.sqlite_only
def test_driver_errors_are_package_errors(tmp_path: Path) -> None:
    db = Database(tmp_path / "closed.db")
    kv: KeyValueStore = db.key_value("ns")
    db.close()
    with pytest.raises(Exception) as info:
        kv.put("k", b"v")
    from sqlitevec_store import SqliteVecStoreError

    assert isinstance(info.value, SqliteVecStoreError)
