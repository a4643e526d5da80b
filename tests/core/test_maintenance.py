"""Compaction, stats, read-only files, journal mode and defensive settings."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sqlitevec_store import (
    CollectionNotFoundError,
    Database,
    ReadOnlyError,
    Record,
    SqliteVecStoreError,
)
from sqlitevec_store.backends.sqlite import ddl, vec0


def fill(db: Database, n: int, dim: int = 64, name: str = "default") -> None:
    rng = np.random.default_rng(0)
    db.collection(name).add(
        [f"text {i}" for i in range(n)], rng.standard_normal((n, dim)), ids=[str(i) for i in range(n)]
    )


@pytest.mark.sqlite_only
def test_stats(memdb: Database) -> None:
    col = memdb.collection()
    assert col.stats() == {
        "name": "default",
        "count": 0,
        "dimension": None,
        "model_id": None,
        "vector_slots": 0,
        "unused_slots": 0,
        "reclaimable_slots": 0,
    }
    fill(memdb, 1500)
    stats = col.stats()
    assert stats["count"] == 1500 and stats["dimension"] == 64
    assert stats["vector_slots"] == 2048 and stats["unused_slots"] == 2048 - 1500
    assert stats["reclaimable_slots"] == 0  # a fresh collection has nothing to compact


def test_compact_reclaims_deleted_vectors_and_file_shrinks(db: Database, db_path: Path) -> None:
    fill(db, 6000, dim=256)
    col = db.collection()
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full_size = db.file_stats()["size_bytes"]
    # delete every other record: sqlite-vec frees no chunk, so the space stays allocated
    assert col.delete([str(i) for i in range(0, 6000, 2)]) == 3000
    before = col.stats()
    assert before["unused_slots"] >= 3000
    assert before["reclaimable_slots"] == before["vector_slots"] - 3072
    db.vacuum()
    assert db.file_stats()["size_bytes"] > 0.8 * full_size  # vacuum alone cannot free it

    result = col.compact()
    assert result["slots_after"] < result["slots_before"]
    assert col.stats()["unused_slots"] < 1024  # only the last chunk's unfilled tail
    assert col.stats()["reclaimable_slots"] == 0
    db.vacuum()
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db.file_stats()["size_bytes"] < 0.7 * full_size
    assert db_path.stat().st_size < 0.7 * full_size
    # everything still there and searchable, with the same vectors
    assert col.count() == 3000
    hit = col.get(["1"], include_vectors=True)[0]
    assert hit.vector is not None
    assert col.search(hit.vector, k=1)[0].id == "1"
    col.add(["new"], [np.ones(256)], ids=["new"])
    assert col.search(np.ones(256), k=1)[0].id == "new"


def test_compact_empty_and_unsized(memdb: Database) -> None:
    assert memdb.collection().compact() == {"slots_before": 0, "slots_after": 0}


def test_read_only_open_searches_and_refuses_writes(db_path: Path) -> None:
    with Database(db_path) as db:
        fill(db, 50, dim=8)
    with Database(db_path, read_only=True) as ro:
        col = ro.collection()
        assert col.count() == 50
        assert len(col.search(np.ones(8), k=5)) == 5
        with pytest.raises(ReadOnlyError, match="read-only"):
            col.add(["x"], [np.ones(8)])
        with pytest.raises(ReadOnlyError):
            col.delete(["1"])
        with pytest.raises(CollectionNotFoundError, match="read-only"):
            ro.collection("other")
    with pytest.raises(SqliteVecStoreError, match="does not exist"):
        Database(db_path.parent / "missing.db", read_only=True)


@contextlib.contextmanager
def read_only_mount(path: Path) -> Iterator[None]:
    """Mount a tmpfs at ``path``, yield to fill it, then remount it read-only."""
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a file system here (needs root)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_shipped_file_on_read_only_file_system(tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    with read_only_mount(mount):
        path = mount / "shipped.db"
        with Database(path) as db:  # a WAL-mode file, as this package writes them
            fill(db, 200, dim=8)
            assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(SqliteVecStoreError):
            Database(path)  # read-write open cannot work here
        with Database(path, read_only=True) as ro:
            assert ro.collection().count() == 200
            assert len(ro.collection().search(np.ones(8), k=3)) == 3


KILLED_WRITER = """
import os, signal, sys
import numpy as np
from sqlitevec_store import Database
db = Database(sys.argv[1])
col = db.collection()
rng = np.random.default_rng(0)
col.add([f"text {i}" for i in range(50)], rng.standard_normal((50, 8)), ids=[str(i) for i in range(50)])
db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the first 50 rows are in the file itself
col.add([f"text {i}" for i in range(50, 100)], rng.standard_normal((50, 8)), ids=[str(i) for i in range(50, 100)])
os.kill(os.getpid(), signal.SIGKILL)  # committed, never checkpointed: rows 50-99 live only in the -wal
"""


def test_read_only_copy_with_committed_rows_only_in_the_wal_is_refused(tmp_path: Path) -> None:
    """A writer killed after committing, its -shm gone, on read-only media: never a silent stale answer."""
    mount = tmp_path / "ro"
    with read_only_mount(mount):
        path = mount / "killed.db"
        result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True, check=False)
        assert result.returncode == -signal.SIGKILL, result.stderr
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 0
        Path(f"{path}-shm").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(SqliteVecStoreError, match=r"-wal.*(copy|checkpoint)") as info:
            Database(path, read_only=True)
        assert "killed.db-wal" in str(info.value)
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        # What the message says to do works: on a writable file system the committed state is read.
        with Database(path, read_only=True) as ro:
            assert ro.collection().count() == 100


def test_users_own_database_keeps_its_journal_mode(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    digest = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with Database(db_path) as db:
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.collection_names() == []
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == digest  # opening wrote nothing
    with Database(db_path) as db:
        db.enable_wal()
        db.collection().add(["a"], [[1.0, 0.0]])
    with Database(db_path) as db:
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_new_files_use_wal_and_defensive_settings(db: Database) -> None:
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA trusted_schema").fetchone()[0] == 0
    assert db.conn.execute("PRAGMA cell_size_check").fetchone()[0] == 1


def test_untrusted_schema_cannot_call_functions_from_a_view(db_path: Path) -> None:
    """A crafted file's view that calls an app function does not run it when trusted_schema is off."""
    with Database(db_path) as db:
        db.collection().add(["a"], [[1.0, 0.0]])
        db.conn.execute("CREATE VIEW sneaky AS SELECT svs_lower('X') AS x")
    with Database(db_path) as db:
        with pytest.raises(Exception, match="unsafe use of svs_lower"):
            db.conn.execute("SELECT * FROM sneaky").fetchall()
        assert db.collection().count() == 1  # our own queries are unaffected


def test_failed_open_closes_connection_and_writes_nothing(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE sqlitevec_store_collections (x)")
    conn.commit()
    conn.close()
    digest = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with pytest.raises(SqliteVecStoreError):
        Database(db_path)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == digest
    assert not Path(str(db_path) + "-wal").exists()


def test_record_round_trip_after_compaction_keeps_metadata(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([Record(f"t{i}", [1.0, float(i + 1)], {"i": i}, id=str(i), doc_id="d") for i in range(10)])
    col.delete(["3", "4"])
    col.compact()
    assert [h.metadata["i"] for h in col.find()] == [0, 1, 2, 5, 6, 7, 8, 9]
    assert col.count(None) == 8 and col.delete(doc_ids=["d"]) == 8


# --- vector chunks sized to the collection (#13.9) ------------------------------


def chunk_size(db: Database, name: str = "default") -> int:
    """The chunk size the collection's vec0 table was created with."""
    sql = db.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (f"svs_{name}_vec",)).fetchone()[0]
    declared = ddl.parse_vec0_declaration(sql)
    assert declared is not None
    return declared.chunk_size


def test_small_collections_make_small_files(db: Database) -> None:
    """The README's snippets: two 384-d texts in each of three collections."""
    rng = np.random.default_rng(0)
    for name in ("notes", "li_notes", "docs"):
        db.collection(name).add(["a", "b"], rng.standard_normal((2, 384)))
        assert db.collection(name).stats()["vector_slots"] == 16
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # 5.2 MiB with 1,024 slots per collection; now mostly one 16 KiB page per table (49 pages)
    assert db.file_stats()["size_bytes"] < 1024 * 1024


@pytest.mark.sqlite_only
def test_the_vector_table_grows_its_chunks_with_the_collection(memdb: Database) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((2600, 16))
    col = memdb.collection()
    seen = []
    for start, end in [(0, 5), (5, 120), (120, 129), (129, 1000), (1000, 1025), (1025, 2600)]:
        col.add([f"t{i}" for i in range(start, end)], vectors[start:end], ids=[str(i) for i in range(start, end)])
        seen.append((end, chunk_size(memdb), col.stats()["vector_slots"]))
        assert col.stats()["reclaimable_slots"] == 0
    assert seen == [
        (5, 16, 16),
        (120, 16, 128),
        (129, 128, 256),
        (1000, 128, 1024),
        (1025, 1024, 2048),
        (2600, 1024, 3072),
    ]
    # every vector survived the rebuilds, and every search path finds them
    stored = col.get([str(i) for i in range(2600)], include_vectors=True)
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    np.testing.assert_allclose(np.stack([h.vector for h in stored]), unit, rtol=1e-6)
    for index_type in ("flat", "vec0"):
        search = memdb.collection(index_type=index_type).search
        assert [search(vectors[i], k=1)[0].id for i in (0, 128, 999, 2599)] == ["0", "128", "999", "2599"]
    # one big first call is sized at once: no 16-slot chunks for it
    big = memdb.collection("big")
    big.add(["x"] * 2500, rng.standard_normal((2500, 16)))
    assert chunk_size(memdb, "big") == 1024 and big.stats()["vector_slots"] == 3072


@pytest.mark.sqlite_only
def test_compact_picks_the_chunk_size_for_the_count(memdb: Database) -> None:
    fill(memdb, 3000, dim=16)
    col = memdb.collection()
    assert chunk_size(memdb) == 1024
    col.delete([str(i) for i in range(3000) if i % 100])
    assert col.count() == 30
    assert col.stats()["reclaimable_slots"] == col.stats()["vector_slots"] - 32
    assert col.compact() == {"slots_before": 3072, "slots_after": 32}
    assert chunk_size(memdb) == 16 and col.stats()["reclaimable_slots"] == 0
    assert col.get(["200"], include_vectors=True)[0].vector is not None
    assert col.search(col.get(["200"], include_vectors=True)[0].vector, k=1)[0].id == "200"


def make_old_vector_table(db: Database, name: str = "default") -> None:
    """Rebuild a collection's vec0 table as files written before chunk sizes were chosen have it."""
    vec = f"svs_{name}_vec"
    dimension = db.collection(name).dimension
    for statement in [
        f"CREATE TEMP TABLE old AS SELECT rowid AS pk, embedding FROM {vec}",
        f"DROP TABLE {vec}",
        f'CREATE VIRTUAL TABLE IF NOT EXISTS "{vec}" USING vec0(embedding float[{dimension}])',  # as 0.1 wrote it
        f"INSERT INTO {vec} (rowid, embedding) SELECT pk, embedding FROM temp.old",
        "DROP TABLE temp.old",
    ]:
        db.conn.execute(statement)


def test_files_with_vec0s_default_chunks_keep_working(db_path: Path) -> None:
    with Database(db_path) as db:
        fill(db, 40, dim=8)
        make_old_vector_table(db)
    with Database(db_path) as db:
        col = db.collection()
        assert chunk_size(db) == 1024 and col.stats()["vector_slots"] == 1024
        assert col.stats()["reclaimable_slots"] == 1024 - 48
        col.add(["more"], [np.ones(8)], ids=["more"])
        assert chunk_size(db) == 1024  # never rebuilt behind the user's back
        assert col.search(np.ones(8), k=1)[0].id == "more"
        col.compact()
        assert chunk_size(db) == 16 and col.stats()["vector_slots"] == 48 and col.count() == 41


@pytest.mark.sqlite_only
@pytest.mark.parametrize("count", [5, 100, 600, 3000, "old"])
def test_the_ram_copy_reads_every_chunk_size_the_fast_way(
    memdb: Database, monkeypatch: pytest.MonkeyPatch, count: int | str
) -> None:
    n = 40 if count == "old" else int(count)
    fill(memdb, n, dim=16)
    if count == "old":
        make_old_vector_table(memdb)
    memdb.collection().delete(["3"])  # a hole in the first chunk

    def row_by_row(*args: object) -> None:
        raise AssertionError("the RAM copy fell back to the row-by-row read")

    monkeypatch.setattr(vec0, "read_vectors", row_by_row)
    col = memdb.collection()
    for i in (0, n // 2, n - 1):
        vector = col.get([str(i)], include_vectors=True)[0].vector
        assert col.search(vector, k=1)[0].id == str(i)
