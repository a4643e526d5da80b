"""Every error SQLite reports reaches the user as a SqliteVecStoreError, with the driver's error as its cause.

sqlean's exceptions do not derive from sqlite3.Error, so a raw driver error would slip past
``except sqlite3.Error`` as well as past ``except SqliteVecStoreError``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sqlitevec_store import (
    CorruptDatabaseError,
    Database,
    DatabaseError,
    DatabaseFullError,
    ReadOnlyError,
    ReadOnlyFileError,
    SqliteVecStoreError,
    parse_filter_dict,
)
from sqlitevec_store.backends.sqlite.connection import database_errors


def fill(db: Database, n: int, dim: int = 64, start: int = 0, words: int = 1) -> None:
    rng = np.random.default_rng(start)
    db.collection().add(
        [f"text {i} " * words for i in range(start, start + n)],
        rng.standard_normal((n, dim)),
        ids=[str(i) for i in range(start, start + n)],
    )


def assert_wraps_driver_error(exc: BaseException) -> None:
    assert isinstance(exc, SqliteVecStoreError), f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert isinstance(exc.__cause__, database_errors()), repr(exc.__cause__)


def integrity(path: Path) -> tuple[str, int]:
    with Database(path, read_only=True) as db:
        (check,) = db.conn.execute("PRAGMA integrity_check").fetchone()
        return check, db.collection().count()


@pytest.mark.parametrize("read_only", [False, True])
def test_random_bytes_are_a_corrupt_database_error(tmp_path: Path, read_only: bool) -> None:
    path = tmp_path / "noise.db"
    path.write_bytes(np.random.default_rng(0).bytes(100_000))
    with pytest.raises(CorruptDatabaseError, match="not a database") as info:
        Database(path, read_only=read_only)
    assert_wraps_driver_error(info.value)


def test_damaged_pages_fail_later_reads_as_package_errors(tmp_path: Path) -> None:
    """The header and schema are intact, so the open works; the damage shows when the data is read."""
    path = tmp_path / "damaged.db"
    with Database(path) as db:
        fill(db, 3000, words=20)
    data = bytearray(path.read_bytes())
    page = 16384
    noise = np.random.default_rng(1).bytes(len(data))
    for start in range(3 * page, len(data), 2 * page):  # every other page after the first three
        data[start : start + page] = noise[start : start + page]
    path.write_bytes(bytes(data))

    errors: list[BaseException] = []

    def attempt(call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as exc:
            errors.append(exc)

    with Database(path, read_only=True) as db:
        for index_type in ("vec0", "flat"):
            col = db.collection(index_type=index_type)
            attempt(lambda col=col: col.search(np.ones(64), k=5))
        col = db.collection()
        attempt(col.count)
        attempt(lambda: col.get([str(i) for i in range(0, 3000, 7)]))
        attempt(lambda: col.keyword_search("text", k=5))
        attempt(lambda: col.find(filter=parse_filter_dict({"missing": 1})))
    assert errors, "the damage was not noticed at all"
    for exc in errors:
        assert_wraps_driver_error(exc)
    assert any(isinstance(exc, CorruptDatabaseError) for exc in errors)


@pytest.fixture
def read_only_file(tmp_path: Path) -> Iterator[Path]:
    """A store file on a read-only bind mount of itself, in a writable folder (root ignores chmod 444)."""
    path = tmp_path / "frozen.db"
    with Database(path) as db:
        fill(db, 10, dim=4)
    if subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, check=False).returncode:
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_writing_a_read_only_file_is_a_read_only_error(read_only_file: Path) -> None:
    with Database(read_only_file) as db:  # SQLite opens it read-only without a word
        with pytest.raises(ReadOnlyFileError, match=r"readonly database.*read_only=True") as info:
            fill(db, 1, dim=4, start=100)
        assert isinstance(info.value, ReadOnlyError)
        assert_wraps_driver_error(info.value)
        assert db.collection().count() == 10  # still readable


def test_a_locked_database_is_a_database_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with Database(path) as holder, Database(path, busy_timeout_ms=0) as other:
        fill(holder, 1, dim=4)
        with holder.atomic():
            holder.conn.execute("UPDATE svs_default_items SET text = 'held'")
            with pytest.raises(DatabaseError, match="locked") as info:
                fill(other, 1, dim=4, start=1)
            assert_wraps_driver_error(info.value)
        fill(other, 1, dim=4, start=1)  # the lock is gone, the connection is usable


def test_sql_run_inside_atomic_is_translated_and_rolled_back(tmp_path: Path) -> None:
    with Database(tmp_path / "x.db") as db:
        fill(db, 2, dim=4)
        with pytest.raises(DatabaseError, match="no such table") as info, db.atomic() as conn:
            conn.execute("DELETE FROM svs_default_items")
            conn.execute("INSERT INTO no_such_table VALUES (1)")
        assert_wraps_driver_error(info.value)
        assert db.collection().count() == 2 and not db.conn.in_transaction


def test_full_database_raises_the_real_error_and_keeps_the_data(tmp_path: Path) -> None:
    """PRAGMA max_page_count: SQLite rolls back by itself; the error was "cannot rollback - no transaction"."""
    path = tmp_path / "full.db"
    with Database(path) as db:
        fill(db, 1000)
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        db.conn.execute(f"PRAGMA max_page_count = {pages + 20}")
        with pytest.raises(DatabaseError) as info:
            fill(db, 40_000, start=1000, words=20)
        assert_wraps_driver_error(info.value)
        assert "cannot rollback" not in str(info.value) and "cannot rollback" not in str(info.value.__cause__)
        assert "rolled the whole transaction back" in str(info.value)
        assert not db.conn.in_transaction
        db.conn.execute("PRAGMA max_page_count = 1073741823")
        fill(db, 10, start=5000)  # the connection is usable again
    assert integrity(path) == ("ok", 1010)


FILE_SIZE_LIMIT = """
import json, os, resource, signal, sys
import numpy as np
from sqlitevec_store import Database
path = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process at the limit
limit = os.path.getsize(path) + 2_000_000
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
rng = np.random.default_rng(0)
n = 40_000
with Database(path) as db:
    try:
        db.collection().add([f"new {i} " * 20 for i in range(n)], rng.standard_normal((n, 64)),
                            ids=[f"n{i}" for i in range(n)])
    except BaseException as exc:
        print(json.dumps({"mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc),
                          "cause": type(exc.__cause__).__name__, "cause_message": str(exc.__cause__)}))
"""


def test_file_size_limit_during_a_large_upsert(tmp_path: Path) -> None:
    path = tmp_path / "limited.db"
    with Database(path) as db:
        fill(db, 1000)
    result = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMIT, str(path)], capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout)
    assert "DatabaseError" in report["mro"] and "SqliteVecStoreError" in report["mro"], report
    assert report["cause"] == "OperationalError", report
    assert "cannot rollback" not in report["message"] + report["cause_message"], report
    assert "disk I/O error" in report["message"] or "rolled the whole transaction back" in report["message"], report
    assert integrity(path) == ("ok", 1000)


def test_database_or_disk_is_full_is_a_database_full_error(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    with Database(path) as db:
        fill(db, 10, dim=4)
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        db.conn.execute(f"PRAGMA max_page_count = {pages + 5}")
        with pytest.raises(DatabaseFullError, match="database or disk is full") as info, db.atomic() as conn:
            conn.execute("CREATE TABLE big (b BLOB)")
            conn.execute("INSERT INTO big VALUES (zeroblob(10000000))")
        assert_wraps_driver_error(info.value)
        assert not db.conn.in_transaction
    assert integrity(path) == ("ok", 10)
