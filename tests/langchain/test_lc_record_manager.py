"""SQLiteVecRecordManager: langchain's SQLRecordManager unit tests, ported, sync and async.

Upstream (langchain ``tests/unit_tests/indexes/test_sql_record_manager.py``)
writes rows with chosen ``updated_at`` times straight into its table, or
patches ``get_time``; here the times come from the manager's own clock
(:meth:`get_time` between updates), since the adapter holds no SQL and its
clock is the database's. The cases and expectations are upstream's.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langchain_core.indexing import RecordManager

from langchain_sqlitevec import SQLiteVecRecordManager
from sqlitevec_store import Database, InvalidInputError, InvalidInputTypeError
from sqlitevec_store.backends.sqlite import app_state as sqlite_app_state


@pytest.fixture
def manager(memdb: Database) -> SQLiteVecRecordManager:
    record_manager = SQLiteVecRecordManager("kittens", database=memdb)
    record_manager.create_schema()
    return record_manager


@pytest.fixture
async def amanager(memdb: Database) -> SQLiteVecRecordManager:
    record_manager = SQLiteVecRecordManager("kittens", database=memdb)
    await record_manager.acreate_schema()
    return record_manager


def test_is_a_record_manager(manager: SQLiteVecRecordManager) -> None:
    assert isinstance(manager, RecordManager)
    assert manager.namespace == "kittens"
    assert "kittens" in repr(manager)


def test_update(manager: SQLiteVecRecordManager) -> None:
    assert manager.list_keys() == []
    manager.update(["key1", "key2", "key3"])
    assert manager.list_keys() == ["key1", "key2", "key3"]


async def test_aupdate(amanager: SQLiteVecRecordManager) -> None:
    assert await amanager.alist_keys() == []
    await amanager.aupdate(["key1", "key2", "key3"])
    assert await amanager.alist_keys() == ["key1", "key2", "key3"]


def test_update_timestamp_and_group(manager: SQLiteVecRecordManager) -> None:
    """Upstream's test_update_timestamp: a second update moves the key's time and replaces its group."""
    before_first = manager.get_time()
    manager.update(["key1"])
    after_first = manager.get_time()
    assert manager.list_keys(after=before_first, before=after_first) == ["key1"]
    manager.update(["key1"], group_ids=["group1"])
    assert manager.list_keys(before=after_first) == []
    assert manager.list_keys(after=after_first) == ["key1"]
    assert manager.list_keys(group_ids=["group1"]) == ["key1"]
    manager.update(["key1"])  # group None again
    assert manager.list_keys(group_ids=["group1"]) == []


async def test_aupdate_timestamp_and_group(amanager: SQLiteVecRecordManager) -> None:
    before_first = await amanager.aget_time()
    await amanager.aupdate(["key1"])
    after_first = await amanager.aget_time()
    assert await amanager.alist_keys(after=before_first, before=after_first) == ["key1"]
    await amanager.aupdate(["key1"], group_ids=["group1"])
    assert await amanager.alist_keys(before=after_first) == []
    assert await amanager.alist_keys(group_ids=["group1"]) == ["key1"]


def test_update_with_group_ids(manager: SQLiteVecRecordManager) -> None:
    manager.update(["key1", "key2", "key3"], group_ids=["g1", None, "g2"])
    assert manager.list_keys() == ["key1", "key2", "key3"]
    assert manager.list_keys(group_ids=["g1", "g2"]) == ["key1", "key3"]
    assert manager.list_keys(group_ids=["g9"]) == []


async def test_aupdate_with_group_ids(amanager: SQLiteVecRecordManager) -> None:
    await amanager.aupdate(["key1", "key2", "key3"], group_ids=["g1", None, "g2"])
    assert await amanager.alist_keys(group_ids=["g2"]) == ["key3"]


@pytest.mark.parametrize("call", ["sync", "async"])
async def test_update_refuses_group_ids_of_another_length(manager: SQLiteVecRecordManager, call: str) -> None:
    with pytest.raises(ValueError, match="group ids"):
        if call == "sync":
            manager.update(["a", "b"], group_ids=["g"])
        else:
            await manager.aupdate(["a", "b"], group_ids=["g"])
    assert manager.list_keys() == []


@pytest.mark.parametrize("call", ["sync", "async"])
async def test_update_refuses_a_time_at_least_ahead_of_the_clock(manager: SQLiteVecRecordManager, call: str) -> None:
    """Upstream's safeguard against clock skew (an AssertionError there, a ValueError here)."""
    ahead = manager.get_time() + 3600
    with pytest.raises(InvalidInputError, match="time_at_least"):
        if call == "sync":
            manager.update(["key1"], time_at_least=ahead)
        else:
            await manager.aupdate(["key1"], time_at_least=ahead)
    assert manager.exists(["key1"]) == [False]
    manager.update(["key1"], time_at_least=manager.get_time())  # a time from get_time is never ahead
    assert manager.exists(["key1"]) == [True]


def test_group_ids_must_be_strings(manager: SQLiteVecRecordManager) -> None:
    with pytest.raises(InvalidInputTypeError):
        manager.update(["key1"], group_ids=[1])  # type: ignore[list-item]


def test_exists(manager: SQLiteVecRecordManager) -> None:
    keys = ["key1", "key2", "key3"]
    manager.update(keys)
    assert manager.exists(keys) == [True, True, True]
    assert manager.exists(["key1", "key4"]) == [True, False]
    assert manager.exists([]) == []
    assert manager.exists(["key1", "key1"]) == [True, True]


async def test_aexists(amanager: SQLiteVecRecordManager) -> None:
    keys = ["key1", "key2", "key3"]
    await amanager.aupdate(keys)
    assert await amanager.aexists(keys) == [True, True, True]
    assert await amanager.aexists(["key1", "key4"]) == [True, False]


Lister = Callable[..., Awaitable[list[str]]]


async def _list_keys_case(manager: SQLiteVecRecordManager, list_keys: Lister) -> None:
    """Upstream's test_list_keys: four keys written at increasing times, another namespace beside them."""
    other = SQLiteVecRecordManager("puppies", database=manager.database)
    other.update(["key1", "key5"])
    assert await list_keys() == []
    times = []
    for key, group in [("key1", None), ("key2", None), ("key3", None), ("key4", "group1")]:
        manager.update([key], group_ids=[group])
        times.append(manager.get_time())  # after this key, before the next
    t1, t2, t3, _ = times

    assert await list_keys() == ["key1", "key2", "key3", "key4"]
    assert await list_keys(after=t2) == ["key3", "key4"]
    assert await list_keys(before=t2) == ["key1", "key2"]
    assert await list_keys(before=t1 - 3600) == []
    assert await list_keys(after=t1, before=t2) == ["key2"]
    assert await list_keys(group_ids=["group1", "group2"]) == ["key4"]
    assert await list_keys(group_ids=["group1", "group2"], before=t3) == []
    assert await list_keys(group_ids=["group1", "group2"], after=t1 - 3600) == ["key4"]
    assert await list_keys(limit=2) == ["key1", "key2"]
    assert await list_keys(after=t1, limit=1) == ["key2"]


async def test_list_keys(manager: SQLiteVecRecordManager) -> None:
    async def list_keys(**kwargs: Any) -> list[str]:
        return manager.list_keys(**kwargs)

    await _list_keys_case(manager, list_keys)


async def test_alist_keys(amanager: SQLiteVecRecordManager) -> None:
    await _list_keys_case(amanager, amanager.alist_keys)


def _state(db: Database) -> list[tuple[str, str, str | None]]:
    """(namespace, key, group) of every recorded key of both namespaces."""
    rows = []
    for namespace in ("kittens", "puppies"):
        rm = SQLiteVecRecordManager(namespace, database=db)
        for key in rm.list_keys():
            group = next((g for g in ("group3",) if key in rm.list_keys(group_ids=[g])), None)
            rows.append((namespace, key, group))
    return sorted(rows)


def test_namespace_is_used(manager: SQLiteVecRecordManager) -> None:
    puppies = SQLiteVecRecordManager("puppies", database=manager.database)
    manager.update(["key1", "key2"])
    puppies.update(["key1", "key3"])
    assert manager.list_keys() == ["key1", "key2"]
    manager.delete_keys(["key1"])
    assert manager.list_keys() == ["key2"]
    manager.update(["key3"], group_ids=["group3"])
    assert _state(manager.database) == [
        ("kittens", "key2", None),
        ("kittens", "key3", "group3"),
        ("puppies", "key1", None),
        ("puppies", "key3", None),
    ]


async def test_anamespace_is_used(amanager: SQLiteVecRecordManager) -> None:
    puppies = SQLiteVecRecordManager("puppies", database=amanager.database)
    await amanager.aupdate(["key1", "key2"])
    await puppies.aupdate(["key1", "key3"])
    assert await amanager.alist_keys() == ["key1", "key2"]
    await amanager.adelete_keys(["key1"])
    assert await amanager.alist_keys() == ["key2"]
    await amanager.aupdate(["key3"], group_ids=["group3"])
    assert _state(amanager.database) == [
        ("kittens", "key2", None),
        ("kittens", "key3", "group3"),
        ("puppies", "key1", None),
        ("puppies", "key3", None),
    ]


def test_delete_keys(manager: SQLiteVecRecordManager) -> None:
    manager.update(["key1", "key2", "key3"])
    manager.delete_keys(["key1", "key2", "missing"])
    assert manager.list_keys() == ["key3"]


async def test_adelete_keys(amanager: SQLiteVecRecordManager) -> None:
    await amanager.aupdate(["key1", "key2", "key3"])
    await amanager.adelete_keys(["key1", "key2"])
    assert await amanager.alist_keys() == ["key3"]


async def test_the_clock_never_repeats_nor_goes_back(manager: SQLiteVecRecordManager) -> None:
    times = [manager.get_time() for _ in range(200)] + [await manager.aget_time() for _ in range(50)]
    assert all(a < b for a, b in itertools.pairwise(times))


def test_the_clock_survives_a_wall_clock_set_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite file clock is this machine's: set it back an hour, and the manager's time still moves forward."""
    manager = SQLiteVecRecordManager("kittens")
    first = manager.get_time()
    manager.update(["old"])
    real_time = sqlite_app_state.time.time
    monkeypatch.setattr(sqlite_app_state.time, "time", lambda: real_time() - 3600)
    later = manager.get_time()
    assert later > first
    manager.update(["new"], time_at_least=later)
    assert manager.list_keys(before=later) == ["old"]  # what index()'s cleanup would delete
    assert manager.list_keys(after=later) == ["new"]


def test_constructor_arguments_are_checked(memdb: Database) -> None:
    with pytest.raises(InvalidInputError):
        SQLiteVecRecordManager("", database=memdb)
    with pytest.raises(InvalidInputError, match="at most one"):
        SQLiteVecRecordManager("ns", db_path=":memory:", database=memdb)
    with pytest.raises(InvalidInputTypeError):
        SQLiteVecRecordManager(None, database=memdb)  # type: ignore[arg-type]


def test_closes_only_what_it_opened(memdb: Database) -> None:
    with SQLiteVecRecordManager("ns", database=memdb) as shared:
        shared.update(["k"])
    assert not memdb.closed
    own = SQLiteVecRecordManager("ns")
    own.close()
    own.close()
    assert own.database.closed
