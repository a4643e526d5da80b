"""The Postgres backend's fast paths keep every guarantee (benchmarks/README.md measures them).

* the pool checks a connection only when it sat idle a while, and a connection
  lost while idle is replaced (checked) or fails one call clearly (retry works);
* a search reuses the collection's registry entry, and still sees a drop and a
  re-creation by another connection;
* a batch of new ids is copied straight into the table, one with known ids is
  upserted, and a copy refused by the unique index falls back to the upsert;
* the keyword index is built by the first keyword search and kept in step with
  every write after it; a read-only opening searches without it.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from sqlitevec_store import CollectionNotFoundError, Database, DatabaseError, DimensionMismatchError, Record
from sqlitevec_store.backends.postgres import connection, statements
from sqlitevec_store.backends.postgres.ddl import CollectionTable
from sqlitevec_store.filters import parse_filter_dict
from sqlitevec_store.options import IndexOptions


def unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    m = rng.normal(size=(n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def records(vectors: np.ndarray, prefix: str = "r", word: str = "alpha") -> list[Record]:
    return [Record(f"text {i} {word}", v, {"i": i}, id=f"{prefix}{i}") for i, v in enumerate(vectors)]


def table_of(pg_url: str, name: str) -> CollectionTable:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute("SELECT table_id FROM sqlitevec_store_collections WHERE name = %s", (name,)).fetchone()
    assert row is not None
    return CollectionTable(row[0])


def has_keyword_column(pg_url: str, names: CollectionTable) -> bool:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s AND column_name = 'tsv'",
            (f"svs_c{names.table_id}",),
        ).fetchone()
    return found is not None


def backend_pids(db: Database) -> set[int]:
    pool = db.backend.connection
    pids = set()
    with pool.connection() as conn:
        pids.add(conn.info.backend_pid)
    return pids


# -- the pool ---------------------------------------------------------------------


def test_a_connection_used_moments_ago_is_not_checked_but_an_idle_one_is(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements_sent: list[str] = []
    original = connection._pool_class().check_connection

    def counting(conn: object) -> None:
        statements_sent.append("check")
        original(conn)

    monkeypatch.setattr(connection._pool_class(), "check_connection", staticmethod(counting))
    monkeypatch.setattr(connection, "IDLE_CHECK_SECONDS", 3600.0)  # "moments ago", however slow the machine
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert(records(unit(np.random.default_rng(0), 5)))
        statements_sent.clear()
        for _ in range(5):
            col.count()
        assert statements_sent == []  # each connection was handed back moments before
        monkeypatch.setattr(connection, "IDLE_CHECK_SECONDS", 0.0)
    with Database(pg_url) as db:
        col = db.collection("c")
        statements_sent.clear()
        col.count()
        col.count()
        assert len(statements_sent) >= 2  # idle for 0 s or more: checked each time


def test_a_connection_lost_while_idle_is_replaced_when_checked(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "IDLE_CHECK_SECONDS", 0.0)
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert(records(unit(np.random.default_rng(0), 3)))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for pid in backend_pids(db):
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert col.count() == 3  # the check found it broken and the pool handed out another


def test_a_connection_lost_while_idle_fails_one_call_clearly_and_the_retry_succeeds(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "IDLE_CHECK_SECONDS", 3600.0)  # handed back moments ago: not checked
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert(records(unit(np.random.default_rng(0), 3)))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for pid in backend_pids(db):
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DatabaseError, match="connection to Postgres failed or was lost"):
            col.count()
        assert col.count() == 3


# -- the search's registry entry ----------------------------------------------------


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_a_search_sees_a_drop_and_a_recreation_by_another_connection(pg_url: str, index_type: str) -> None:
    rng = np.random.default_rng(1)
    first, second = unit(rng, 20), unit(rng, 20)
    with Database(pg_url) as db, Database(pg_url) as other:
        col = db.collection("c", index_type=index_type)
        other.collection("c").upsert(records(first, "a"))
        assert col.search(first[3], k=1)[0].id == "a3"  # the entry is reused from here on
        other.drop_collection("c")
        with pytest.raises(CollectionNotFoundError):
            col.search(first[3], k=1)
        other.collection("c").upsert(records(second, "b"))
        assert col.search(second[5], k=1)[0].id == "b5"  # the new table, found through the registry again
        assert col.search(second[6], k=1)[0].id == "b6"
        other.drop_collection("c")
        other.collection("c").upsert(records(unit(rng, 3, dim=4), "c"))
        with pytest.raises(DimensionMismatchError):
            col.search(second[5], k=1)
        assert [h.id for h in col.search(unit(rng, 1, dim=4)[0], k=3)] != []


# -- writes --------------------------------------------------------------------------


def test_new_ids_are_copied_and_known_ones_upserted_keeping_their_place(pg_url: str) -> None:
    rng = np.random.default_rng(2)
    vectors = unit(rng, 30)
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert(records(vectors[:20]))  # all new: copied straight in
        changed = [Record("changed", vectors[25], {"i": -1}, id="r5")]
        col.upsert(changed + records(vectors[20:30], "s"))  # one known id: the batch is upserted
        assert [h.id for h in col.find(limit=6)] == ["r0", "r1", "r2", "r3", "r4", "r5"]
        assert col.get(["r5"])[0].text == "changed" and col.get(["r5"])[0].metadata == {"i": -1}
        assert col.count() == 30
        assert [h.id for h in col.find()][-10:] == [f"s{i}" for i in range(10)]
        assert col.search(vectors[25], k=1)[0].id in ("r5", "s5")


def test_a_copy_refused_by_the_unique_index_falls_back_to_the_upsert(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, 10)
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert(records(vectors))
        # As if another writer stored the ids between the probe and the copy: the probe says "none stored".
        monkeypatch.setattr(statements, "any_stored_sql", lambda names: "SELECT false")
        col.upsert([Record("again", vectors[0], {"i": 0}, id="r0"), Record("new", vectors[1], {}, id="n")])
        assert col.count() == 11
        assert col.get(["r0"])[0].text == "again"
        ids = [h.id for h in col.find()]
        assert ids[0] == "r0" and ids[-1] == "n"  # r0 kept its place; n came last


def test_metadata_copied_straight_in_is_filterable_and_read_back_exactly(pg_url: str) -> None:
    with Database(pg_url) as db:
        col = db.collection("c")
        meta = {"b": 1.50, "a": "ü\\u0041", "nested": {"x": [1, 2]}}
        col.upsert([Record("t", [1.0, 0.0], meta, id="x")])
        assert col.get(["x"])[0].metadata == meta
        tree = parse_filter_dict({"nested": {"$exists": True}, "b": 1.5})
        assert [h.id for h in col.find(filter=tree)] == ["x"]


# -- the keyword index ------------------------------------------------------------------


def test_the_keyword_index_is_built_by_the_first_keyword_search_and_kept_in_step(pg_url: str) -> None:
    rng = np.random.default_rng(4)
    with Database(pg_url) as db:
        col = db.collection("c", index_type="hnsw")
        col.upsert(records(unit(rng, 10)))
        names = table_of(pg_url, "c")
        assert not has_keyword_column(pg_url, names)  # writes never pay for it before it is needed
        assert len(col.keyword_search("alpha", k=20)) == 10
        assert has_keyword_column(pg_url, names)
        col.upsert(records(unit(rng, 3), "new", word="gamma"))  # after the index exists: found at once
        assert sorted(h.id for h in col.keyword_search("gamma", k=20)) == ["new0", "new1", "new2"]
        col.upsert([Record("text delta", unit(rng, 1)[0], {}, id="new0")])
        assert [h.id for h in col.keyword_search("delta", k=5)] == ["new0"]
        assert sorted(h.id for h in col.keyword_search("gamma", k=20)) == ["new1", "new2"]
        assert [h.id for h in col.hybrid_search(unit(rng, 1)[0], "delta", k=13)][:13] != []


def test_a_write_in_another_process_after_the_index_exists_is_found(pg_url: str) -> None:
    rng = np.random.default_rng(5)
    with Database(pg_url) as db, Database(pg_url) as other:
        col = db.collection("c")
        col.upsert(records(unit(rng, 4)))
        assert col.keyword_search("gamma", k=5) == []  # builds the index
        other.collection("c").upsert(records(unit(rng, 2), "o", word="gamma"))
        assert sorted(h.id for h in col.keyword_search("gamma", k=5)) == ["o0", "o1"]


def test_read_only_keyword_search_without_the_index_gives_the_same_ranking(pg_url: str) -> None:
    rng = np.random.default_rng(6)
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert(records(unit(rng, 9)) + records(unit(rng, 3), "g", word="gamma gamma"))
    with Database(pg_url, read_only=True) as ro:
        unindexed = [(h.id, h.score) for h in ro.collection("c").keyword_search("gamma alpha", k=20)]
    names = table_of(pg_url, "c")
    assert not has_keyword_column(pg_url, names)  # read-only: nothing built
    with Database(pg_url) as db:
        indexed = [(h.id, h.score) for h in db.collection("c").keyword_search("gamma alpha", k=20)]
    assert has_keyword_column(pg_url, names)
    assert unindexed == indexed and len(indexed) == 12


def test_a_keyword_index_built_in_a_rolled_back_transaction_is_not_trusted(pg_url: str) -> None:
    with Database(pg_url) as db:
        col = db.collection("c")
        col.upsert([Record("alpha beta", [1.0, 0.0], id="x")])
        with pytest.raises(RuntimeError), db.atomic():
            assert [h.id for h in col.keyword_search("alpha")] == ["x"]
            raise RuntimeError("roll back")
        assert not has_keyword_column(pg_url, table_of(pg_url, "c"))
        assert [h.id for h in col.keyword_search("beta")] == ["x"]


def test_an_hnsw_search_with_the_index_options_still_works_after_the_keyword_index_rewrite(pg_url: str) -> None:
    rng = np.random.default_rng(7)
    vectors = unit(rng, 50)
    with Database(pg_url) as db:
        col = db.collection("c", options=IndexOptions("hnsw", ef_search=60))
        col.upsert(records(vectors))
        assert col.search(vectors[7], k=1)[0].id == "r7"  # builds HNSW
        col.keyword_search("alpha")  # adds the tsv column: the table and its indexes are rewritten
        assert col.search(vectors[9], k=1)[0].id == "r9"


def test_an_entry_read_inside_a_rolled_back_write_is_not_reused(pg_url: str) -> None:
    with Database(pg_url) as db:
        col = db.collection("c")
        with pytest.raises(RuntimeError), db.atomic():
            col.upsert([Record("a", [1.0, 0.0], id="a")])  # the first write gives the collection its dimension
            assert [h.id for h in col.search([1.0, 0.0], k=1)] == ["a"]
            raise RuntimeError("roll back")
        assert col.search([1.0, 0.0, 0.0], k=1) == []  # no dimension again: nothing to search, no mismatch
        col.upsert([Record("b", [0.0, 1.0, 0.0], id="b")])
        assert [h.id for h in col.search([0.0, 1.0, 0.0], k=1)] == ["b"]
