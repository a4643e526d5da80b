"""The record-key log (sqlitevec_store/stores/record_keys.py): updates, queries, the clock, async.

The cases follow LangChain's record manager tests (langchain-core
``tests/unit_tests/indexing/test_in_memory_record_manager.py`` and
langchain-community ``tests/unit_tests/indexes/test_sql_record_manager.py``),
on the core class; ``tests/langchain`` runs them through the adapter too.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from sqlitevec_store import Database, InvalidInputError, InvalidInputTypeError, Record
from sqlitevec_store.backends.sqlite import app_state as sqlite_app_state


def test_update_exists_and_delete(memdb: Database) -> None:
    keys = memdb.record_keys("kittens")
    assert keys.exists(["a", "b"]) == [False, False]
    stamped = keys.update(["a", "b", "c"], group_ids=["g1", None, "g1"])
    assert abs(stamped - time.time()) < 60
    assert keys.exists(["a", "x", "c", "a"]) == [True, False, True, True]
    assert keys.count() == 3
    assert keys.delete_keys(["a", "x"]) == 1
    assert keys.exists(["a", "b"]) == [False, True]
    assert memdb.record_keys("other").exists(["b"]) == [False]


def test_list_keys_by_time_group_and_limit(memdb: Database) -> None:
    keys = memdb.record_keys("lists")
    first = keys.update(["k1", "k2"], group_ids=["g1", "g2"])
    time.sleep(0.02)
    second = keys.update(["k3"], group_ids=["g1"])
    assert second >= first
    assert keys.list_keys() == ["k1", "k2", "k3"]
    assert keys.list_keys(group_ids=["g1"]) == ["k1", "k3"]
    assert keys.list_keys(group_ids=[]) == []
    assert keys.list_keys(before=second) == ["k1", "k2"]
    assert keys.list_keys(after=first) == ["k3"]
    assert keys.list_keys(after=first - 1, before=second + 1, group_ids=["g2"]) == ["k2"]
    assert keys.list_keys(limit=2) == ["k1", "k2"]
    # re-stamping moves a key to the newer time and can change its group
    keys.update(["k1"], group_ids=["g2"])
    assert keys.list_keys(before=second) == ["k2"]
    assert keys.list_keys(group_ids=["g2"]) == ["k1", "k2"]


def test_time_at_least_must_not_be_ahead(memdb: Database) -> None:
    keys = memdb.record_keys("ahead")
    now = keys.now()
    keys.update(["a"], time_at_least=now)
    with pytest.raises(InvalidInputError, match="ahead"):
        keys.update(["b"], time_at_least=now + 3600)
    assert keys.exists(["b"]) == [False]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"keys": ["a"], "group_ids": ["g", "h"]}, InvalidInputError),
        ({"keys": "ab"}, InvalidInputTypeError),
        ({"keys": ["a"], "group_ids": "g"}, InvalidInputTypeError),
        ({"keys": [1]}, InvalidInputTypeError),
        ({"keys": ["a"], "time_at_least": "now"}, InvalidInputTypeError),
        ({"keys": ["a"], "time_at_least": float("nan")}, InvalidInputError),
    ],
)
def test_bad_updates_write_nothing(memdb: Database, arguments: dict[str, object], error: type) -> None:
    keys = memdb.record_keys("bad")
    with pytest.raises(error):
        keys.update(**arguments)  # type: ignore[arg-type]
    assert keys.count() == 0


def test_bad_list_arguments(memdb: Database) -> None:
    keys = memdb.record_keys("bad")
    with pytest.raises(InvalidInputError):
        keys.list_keys(limit=0)
    with pytest.raises(InvalidInputTypeError):
        keys.list_keys(group_ids="g")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputTypeError):
        keys.list_keys(before="yesterday")  # type: ignore[arg-type]


def test_clock_is_monotonic(memdb: Database) -> None:
    keys = memdb.record_keys("clock")
    times = [keys.now() for _ in range(5)]
    assert times == sorted(times)


def test_records_and_keys_in_one_transaction(memdb: Database) -> None:
    docs = memdb.collection("docs")
    keys = memdb.record_keys("docs-index")
    with pytest.raises(RuntimeError), memdb.atomic():
        docs.upsert([Record("t", [1.0, 0.0], id="h1")])
        keys.update(["h1"], group_ids=["source.md"])
        raise RuntimeError("crash before commit")
    assert docs.count() == 0 and keys.exists(["h1"]) == [False]


async def test_async_twins(memdb: Database) -> None:
    keys = memdb.record_keys("async")
    now = await keys.anow()
    stamped = await keys.aupdate(["a", "b"], group_ids=["g", None], time_at_least=now)
    assert stamped >= now
    assert await keys.aexists(["a", "c"]) == [True, False]
    assert await keys.alist_keys(group_ids=["g"]) == ["a"]
    assert await keys.alist_keys(before=stamped) == []
    assert await keys.adelete_keys(["a", "b", "c"]) == 2
    assert await keys.alist_keys() == []


@pytest.mark.sqlite_only
def test_clock_never_goes_back_with_the_wall_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Database(tmp_path / "clock.db") as db:
        keys = db.record_keys("ns")
        before = keys.update(["old"])
        real_time = time.time
        monkeypatch.setattr(sqlite_app_state.time, "time", lambda: real_time() - 3600)  # the clock is set back
        later = keys.now()
        assert later >= before
        keys.update(["new"], time_at_least=later)
        # index()'s cleanup deletes keys updated before the run's start: "old" only, never "new"
        assert keys.list_keys(before=later) == ["old"]


@pytest.mark.sqlite_only
def test_clock_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "clock.db"
    with Database(path) as db:
        db.record_keys("ns").update(["k"])
    conn = sqlite3.connect(path)
    future = time.time() + 10_000
    conn.execute("UPDATE sqlitevec_store_record_clock SET last = ?", (future,))
    conn.commit()
    conn.close()
    with Database(path) as db:
        assert db.record_keys("ns").now() >= future
    with Database(path, read_only=True) as db:
        assert db.record_keys("ns").now() >= future
        assert db.record_keys("fresh").now() > 0


def _stamper(path: str, worker: int, count: int, queue: Any) -> None:
    with Database(path) as db:
        keys = db.record_keys("shared")
        queue.put([keys.now() for _ in range(count)])
        for i in range(count):
            keys.update([f"w{worker}-{i}"], group_ids=[f"w{worker}"])


@pytest.mark.sqlite_only
def test_processes_share_one_clock_that_never_repeats(tmp_path: Path) -> None:
    path = str(tmp_path / "clock.db")
    with Database(path) as db:
        db.record_keys("shared").update(["seed"])
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_stamper, args=(path, w, 50, queue)) for w in range(3)]
    for process in workers:
        process.start()
    readings = [queue.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    for times in readings:
        assert times == sorted(times)
    every = [t for times in readings for t in times]
    assert len(set(every)) == len(every) == 150  # no two processes were given the same time
    with Database(path) as db:
        keys = db.record_keys("shared")
        assert keys.count() == 151
        assert keys.list_keys(group_ids=["w1"]) == sorted(f"w1-{i}" for i in range(50))
