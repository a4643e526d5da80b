"""The Postgres + pgvector backend: what is particular to it (the shared suites run on it too).

The backend-neutral core tests run on Postgres with ``SVS_TEST_BACKEND=postgres``
(see tests/conftest.py); these tests cover the server itself: URLs, pools,
threads and processes, lost connections, HNSW, and scores equal to a file's.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from sqlitevec_store import (
    Database,
    DatabaseError,
    InvalidInputError,
    MissingDependencyError,
    ReadOnlyError,
    Record,
    SchemaError,
)
from sqlitevec_store.backends.postgres import statements
from sqlitevec_store.backends.postgres.connection import is_postgres_url, redacted_url
from sqlitevec_store.backends.postgres.ddl import CollectionTable


def unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    m = rng.normal(size=(n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def records(vectors: np.ndarray, prefix: str = "r") -> list[Record]:
    return [
        Record(
            f"text {i} {'alpha' if i % 3 == 0 else 'beta'}",
            v,
            {"i": i, "share": i % 1000},
            id=f"{prefix}{i}",
            doc_id=f"d{i % 7}",
            extra={"k": i},
        )
        for i, v in enumerate(vectors)
    ]


def test_urls_are_told_from_paths_and_passwords_never_shown() -> None:
    assert is_postgres_url("postgresql://u@h/db") and is_postgres_url("postgres://h/db")
    assert is_postgres_url("postgresql+psycopg://h/db")
    assert not is_postgres_url("postgresql.db") and not is_postgres_url(Path("postgresql://x"))
    assert "secret" not in redacted_url("postgresql://user:secret@host:5432/db")
    assert redacted_url("postgresql://user:secret@host/db") == "postgresql://user:***@host/db"
    assert redacted_url("postgresql:///db?password=secret&host=/tmp") == "postgresql:///db?password=***&host=/tmp"
    assert redacted_url("postgresql:///db") == "postgresql:///db"


def test_a_url_opens_postgres(pg_url: str) -> None:
    with Database(pg_url) as db:
        assert "Postgres 16" in repr(db) and "pgvector" in repr(db)
        db.collection("docs").upsert([Record("hello", [1.0, 0.0], {"a": 1}, id="x")])
        assert db.collection_names() == ["docs"]
    with Database(pg_url) as again:  # the data is on the server
        assert [h.id for h in again.collection("docs").search([1.0, 0.1], k=1)] == ["x"]


def test_vector_scores_equal_the_files(pg_url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng, 500, 24)
    queries = unit(rng, 20, 24)
    with Database(tmp_path / "f.db") as file_db, Database(pg_url) as pg_db:
        file_col, pg_col = file_db.collection("c"), pg_db.collection("c")
        file_col.upsert(records(vectors))
        pg_col.upsert(records(vectors))
        for q in queries:
            on_file = file_col.search(q, k=10)
            on_pg = pg_col.search(q, k=10)
            assert [h.id for h in on_pg] == [h.id for h in on_file]
            assert np.allclose([h.distance for h in on_pg], [h.distance for h in on_file], atol=1e-6)
            assert np.allclose([h.similarity for h in on_pg], [h.similarity for h in on_file], atol=1e-6)
        got = pg_col.get(["r3"], include_vectors=True)[0]
        want = file_col.get(["r3"], include_vectors=True)[0]
        assert got == want and got.vector is not None and want.vector is not None
        assert np.array_equal(got.vector, want.vector)  # float32 in, the same float32 out


def test_exact_search_never_uses_the_hnsw_index(pg_url: str) -> None:
    rng = np.random.default_rng(2)
    with Database(pg_url) as db:
        db.collection("c").upsert(records(unit(rng, 300)))
        db.collection("c", index_type="hnsw").search(unit(rng, 1)[0], k=3)  # builds the index
        names = CollectionTable(1)
        condition = statements.where(None, None, None)
        with db.backend.snapshot() as conn:
            conn.execute("SET LOCAL enable_seqscan = off")  # the planner would take any index it could use
            conn.execute(statements.index_scans_sql(), {"value": "off"})  # as the backend's exact search does
            plan = "\n".join(
                row[0]
                for row in conn.execute(
                    "EXPLAIN " + statements.exact_knn_sql(names, condition, include_vectors=False),
                    {"q": unit(rng, 1)[0], "k": 3},
                )
            )
            conn.execute(statements.index_scans_sql(), {"value": "on"})
            walk = "\n".join(
                row[0]
                for row in conn.execute(
                    "EXPLAIN " + statements.hnsw_knn_sql(names, condition, include_vectors=False),
                    {"q": unit(rng, 1)[0], "k": 3},
                )
            )
        assert "svs_c1_hnsw" not in plan and "Seq Scan" in plan
        assert "svs_c1_hnsw" in walk  # with index scans on, the HNSW statement is seen using the index
        with db.atomic() as conn:  # inside a caller's transaction the setting is put back after the scan
            db.collection("c").search(unit(rng, 1)[0], k=3)
            assert conn.execute("SELECT current_setting('enable_indexscan')").fetchone()[0] == "on"
        flat = db.collection("c")
        for q in unit(rng, 10):
            found = flat.search(q, k=300)
            assert len(found) == 300 and [h.distance for h in found] == sorted(h.distance for h in found)


def test_hnsw_finds_the_nearest_and_ef_search_is_checked(pg_url: str) -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, 2000, 16)
    with Database(pg_url) as db:
        db.collection("c").upsert(records(vectors))
        approximate = db.collection("c", index_type="hnsw", options=None)
        exact = db.collection("c")
        hits = 0
        for q in unit(rng, 20, 16):
            want = {h.id for h in exact.search(q, k=10)}
            got = approximate.search(q, k=10)
            assert len(got) == 10
            hits += len(want & {h.id for h in got})
        assert hits / 200 >= 0.9
        # k above pgvector's ef_search limit: answered exactly, all of them.
        assert len(approximate.search(vectors[0], k=1500)) == 1500
    from sqlitevec_store.options import IndexOptions

    with pytest.raises(InvalidInputError, match="ef_search"):
        IndexOptions("hnsw", ef_search=1001)


def test_hnsw_on_a_file_is_refused(tmp_path: Path) -> None:
    with Database(tmp_path / "f.db") as db, pytest.raises(InvalidInputError, match="needs a Postgres"):
        db.collection("c", index_type="hnsw")


def test_hnsw_refuses_dimensions_pgvector_cannot_index(pg_url: str) -> None:
    with Database(pg_url) as db:
        col = db.collection("wide", index_type="hnsw")
        col.upsert([Record("w", np.ones(2001, dtype=np.float32), id="w")])
        with pytest.raises(InvalidInputError, match="at most 2000"):
            col.search(np.ones(2001), k=1)
        assert [h.id for h in db.collection("wide").search(np.ones(2001), k=1)] == ["w"]  # exact still works


def test_nul_characters_are_refused_before_anything_is_written(pg_url: str) -> None:
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert([Record("kept", [1.0, 0.0], id="kept")])
        for bad in (
            Record("a\x00b", [1.0, 0.0], id="t"),
            Record("t", [1.0, 0.0], {"k": "a\x00b"}, id="m"),
            Record("t", [1.0, 0.0], id="i\x00d"),
        ):
            with pytest.raises(InvalidInputError, match="NUL"):
                col.upsert([Record("fine", [0.0, 1.0], id="fine"), bad])
        assert [h.id for h in col.find()] == ["kept"]
        # A backslash followed by "u0000" is text, not a NUL: stored as is.
        col.upsert([Record("t", [1.0, 0.0], {"k": "\\u0000"}, id="literal")])
        assert col.get(["literal"])[0].metadata == {"k": "\\u0000"}


def test_names_are_case_insensitive_and_may_be_64_characters(pg_url: str) -> None:
    long_name = "N" * 64
    with Database(pg_url) as db:
        db.collection(long_name).upsert([Record("a", [1.0, 0.0], id="a")])
        assert db.has_collection(long_name.lower())
        assert db.collection(long_name.lower()).count() == 1
        assert db.drop_collection(long_name.lower())
        assert db.collection_names() == []


def test_a_registry_table_we_did_not_write_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE sqlitevec_store_collections (x integer)")
    with pytest.raises(SchemaError, match="not written by sqlitevec-store"):
        Database(pg_url)


def test_read_only_refuses_writes_on_the_server_too(pg_url: str) -> None:
    with Database(pg_url) as db:
        db.collection("c").upsert([Record("a", [1.0, 0.0], id="a")])
    with Database(pg_url, read_only=True) as ro:
        col = ro.collection("c")
        assert [h.id for h in col.search([1.0, 0.0], k=1)] == ["a"]
        with pytest.raises(ReadOnlyError):
            col.upsert([Record("b", [1.0, 0.0], id="b")])
        with ro.backend.session() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE sneaky (x int)")


def test_a_connection_lost_mid_call_is_a_clear_error_and_a_retry_succeeds(pg_url: str) -> None:
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert([Record("a", [1.0, 0.0], id="a")])
        lost = "connection to Postgres failed or was lost"
        with pytest.raises(DatabaseError, match=lost) as caught, db.atomic() as conn:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            col.upsert([Record("b", [0.0, 1.0], id="b")])
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)
        col.upsert([Record("b", [0.0, 1.0], id="b")])  # the retry: a new connection from the pool
        assert sorted(h.id for h in col.find()) == ["a", "b"]


def test_eight_threads_share_one_pool_and_lose_no_write(pg_url: str) -> None:
    errors: list[BaseException] = []
    with Database(pg_url) as db:
        db.collection("shared")

        def work(worker: int) -> None:
            rng = np.random.default_rng(worker)
            try:
                col = db.collection("shared")
                for b in range(5):
                    col.upsert(records(unit(rng, 20), prefix=f"t{worker}-{b}-"))
                    assert len(col.search(unit(rng, 1)[0], k=5)) == 5
                    col.count()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert db.collection("shared").count() == 8 * 5 * 20


def test_four_processes_lose_no_write(pg_url: str) -> None:
    with Database(pg_url) as db:
        db.collection("shared")
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.postgres._pg_worker", pg_url, str(n), "5", "50"])
        for n in range(4)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    with Database(pg_url) as db:
        assert db.collection("shared").count() == 4 * 5 * 50


def test_two_threads_creating_one_collection_both_succeed(pg_url: str) -> None:
    with Database(pg_url) as db:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def create() -> None:
            barrier.wait()
            try:
                db.collection("same").upsert([Record("a", [1.0, 0.0], id="a")])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and db.collection_names() == ["same"] and db.collection("same").count() == 1


def test_keyword_search_puts_the_paragraph_with_an_identifier_first(pg_url: str) -> None:
    texts = [
        "Call open_database to open or adopt a store; it returns the database.",
        "The database holds collections; each collection holds records and vectors.",
        "Records are upserted by id; a store can be opened read-only.",
    ]
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert([Record(t, [1.0, float(i)], id=f"p{i}") for i, t in enumerate(texts)])
        assert col.keyword_search("open_database", k=3)[0].id == "p0"
        assert col.keyword_search("collections", k=1)[0].id == "p1"  # stemmed: collection(s)
        assert col.keyword_search("the of and", k=3) == []  # only stopwords
        # raw: Postgres's web-search syntax (AND by default, or, "phrases", -exclusion); never a syntax error
        assert [h.id for h in col.keyword_search("records upserted", k=3, raw=True)] == ["p2"]
        assert [h.id for h in col.keyword_search("records -upserted", k=3, raw=True)] == ["p1"]
        assert {h.id for h in col.keyword_search("upserted or collections", k=3, raw=True)} == {"p1", "p2"}
        assert [h.id for h in col.keyword_search('"open a store"', k=3, raw=True)] == []  # not one phrase
        for odd in ['"unbalanced', "AND", "(x", "a NEAR(", "(" * 200 + "x", "&|!<->:*"]:
            col.keyword_search(odd, k=3, raw=True)
        with pytest.raises(InvalidInputError, match="at most 128 terms"):
            col.keyword_search(" or ".join(f"w{i}" for i in range(129)), raw=True)
        hits = col.keyword_search("database store", k=3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(0 < h.similarity < 1 for h in hits)


def test_stats_compact_vacuum_and_file_stats(pg_url: str) -> None:
    rng = np.random.default_rng(4)
    with Database(pg_url) as db:
        col = db.collection("c", index_type="hnsw")
        col.upsert(records(unit(rng, 200)))
        col.search(unit(rng, 1)[0], k=2)
        col.delete(doc_ids=["d1", "d2"])
        stats = col.stats()
        assert stats["count"] == stats["vector_slots"] == col.count() and stats["reclaimable_slots"] == 0
        assert col.compact() == {"slots_before": stats["count"], "slots_after": stats["count"]}
        db.vacuum()
        sizes = db.file_stats()
        assert sizes["page_size"] == 8192 and sizes["size_bytes"] > 0 and sizes["free_pages"] == 0
        assert len(col.search(unit(rng, 1)[0], k=5)) == 5


def test_without_psycopg_a_url_names_the_extra() -> None:
    code = (
        "import sys\n"
        "class Blocker:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('psycopg', 'psycopg_pool'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Blocker())\n"
        "from sqlitevec_store import Database, MissingDependencyError\n"
        "try:\n"
        "    Database('postgresql://nowhere/db')\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "sqlitevec-store[postgres]" in result.stdout
    assert issubclass(MissingDependencyError, ModuleNotFoundError)


def test_filtered_hnsw_is_never_short(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filters matching 0.1% to 100% of the rows, k of 1, 10 and 50: never short, and a walk only when it pays."""
    from sqlitevec_store.backends.postgres import backend as backend_module
    from sqlitevec_store.filters import Comparison, Op

    rng = np.random.default_rng(5)
    n = 5000
    vectors = unit(rng, n, 16)
    walks: list[int] = []
    ef_query = backend_module.PostgresBackend._ef_query

    def counting(self: backend_module.PostgresBackend, conn: object, held: object, ef: int) -> object:
        walks.append(ef)  # each HNSW walk is preceded by its ef_search
        return ef_query(self, conn, held, ef)  # type: ignore[arg-type]

    monkeypatch.setattr(backend_module.PostgresBackend, "_ef_query", counting)
    with Database(pg_url) as db:
        db.collection("c").upsert(records(vectors))  # metadata "share" = i % 1000
        approximate, exact = db.collection("c", index_type="hnsw"), db.collection("c")
        for share in (0.001, 0.01, 0.1, 0.5, 1.0):
            flt = Comparison("share", Op.LT, round(share * 1000))
            matching = round(n * share)
            for k in (1, 10, 50):
                walks.clear()
                recall = []
                for q in unit(rng, 5, 16):
                    want = exact.search(q, k=k, filter=flt)
                    got = approximate.search(q, k=k, filter=flt)
                    assert len(got) == len(want) == min(k, matching), (share, k)
                    assert all(h.metadata["share"] < share * 1000 for h in got)
                    recall.append(len({h.id for h in got} & {h.id for h in want}) / len(want))
                assert np.mean(recall) >= 0.9, (share, k, recall)
                if matching <= k or 2 * k / share > 1000:  # every match fits, or a rare filter: scanned exactly
                    assert walks == [], (share, k)
                else:
                    assert walks and min(walks) >= min(1000, max(40, k, int(2 * k / share))), (share, k, walks)


def test_a_stale_share_estimate_still_never_returns_short(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk is sized by a remembered share; when the rows changed since, a short walk is redone exactly."""
    from sqlitevec_store.backends.postgres import operations
    from sqlitevec_store.filters import Comparison, Op

    def everything(self: object, *args: object) -> Iterator[object]:  # the share measured long ago: "100%"
        return (1000, 1000)
        yield

    monkeypatch.setattr(operations.Operations, "_share", everything)
    rng = np.random.default_rng(6)
    vectors = unit(rng, 3000, 16)
    with Database(pg_url) as db:
        db.collection("c").upsert(records(vectors))
        approximate, exact = db.collection("c", index_type="hnsw"), db.collection("c")
        rare = Comparison("share", Op.LT, 2)  # 0.2%: 6 rows
        for q in unit(rng, 5, 16):
            got = approximate.search(q, k=5, filter=rare)
            assert [h.id for h in got] == [h.id for h in exact.search(q, k=5, filter=rare)]


def test_a_forked_child_opens_its_own_pool(pg_url: str) -> None:
    import multiprocessing
    import os

    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert([Record("parent", [1.0, 0.0], id="parent")])

        def child() -> None:
            col.upsert([Record("child", [0.0, 1.0], id="child")])
            assert {h.id for h in col.search([1.0, 1.0], k=2)} == {"parent", "child"}
            os._exit(0)

        process = multiprocessing.get_context("fork").Process(target=child)
        process.start()
        process.join(60)
        assert process.exitcode == 0
        col.upsert([Record("after", [1.0, 1.0], id="after")])  # the parent's pool is untouched
        assert sorted(h.id for h in col.find()) == ["after", "child", "parent"]
