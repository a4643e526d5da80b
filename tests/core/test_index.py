"""The in-process search paths (index_type "flat" and "rescore") against brute force and sqlite-vec's own KNN.

The RAM copy of the vectors must give the same answers as the file: after
writes through the same Database, another Database on the same file, another
process, a drop and re-create, a trimmed change log, and inside transactions.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from sqlitevec_store import SCHEMA_VERSION, Database, Record, available_index_types
from sqlitevec_store.backends.sqlite import rows as rows_module
from sqlitevec_store.backends.sqlite import vec0
from sqlitevec_store.backends.sqlite.ddl import CollectionTables
from sqlitevec_store.errors import InvalidInputError
from sqlitevec_store.filters import And, Comparison, Filter, Not, Op
from sqlitevec_store.search import cache as cache_module
from sqlitevec_store.search import kernels as kernels_module
from sqlitevec_store.search.kernels import top_k
from sqlitevec_store.search.vector_index import VectorIndex
from tests.schema_support import downgrade

DIM = 16


def unit(rows: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    rows = np.asarray(rows, np.float32)
    return (rows / np.linalg.norm(rows, axis=1)[:, None]).astype(np.float32)


def dataset(n: int, seed: int = 0, dim: int = DIM) -> tuple[npt.NDArray[np.float32], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    vectors = unit(rng.standard_normal((n, dim)))
    metas = [{"g": i % 100, "even": i % 2 == 0, "tag": f"t{i % 7}"} for i in range(n)]
    return vectors, metas


def brute(
    vectors: dict[str, npt.NDArray[np.float32]], query: npt.NDArray[np.float32], k: int, keep: set[str] | None = None
) -> list[str]:
    """Exact reference: ids ordered by (cosine distance, insertion order)."""
    q = query / np.linalg.norm(query)
    order = list(vectors)
    scored = [(float(1.0 - vectors[i] @ q), n, i) for n, i in enumerate(order) if keep is None or i in keep]
    scored.sort()
    return [i for _, _, i in scored[:k]]


def matches(metas: dict[str, dict[str, Any]], flt: Filter | None) -> set[str] | None:
    if flt is None:
        return None
    ops = {Op.EQ: lambda a, b: a == b, Op.LT: lambda a, b: a < b, Op.GTE: lambda a, b: a >= b}

    def ok(meta: dict[str, Any], node: Filter) -> bool:
        if isinstance(node, Comparison):
            return node.key in meta and ops[node.op](meta[node.key], node.value)
        if isinstance(node, And):
            return all(ok(meta, c) for c in node.filters)
        if isinstance(node, Not):
            return not ok(meta, node.filter)
        raise AssertionError(node)

    return {i for i, m in metas.items() if ok(m, flt)}


FILTERS: list[Filter | None] = [
    None,
    Comparison("g", Op.LT, 50),  # 50%
    Comparison("g", Op.LT, 10),  # 10%
    Comparison("g", Op.EQ, 7),  # 1%
    And([Comparison("g", Op.EQ, 7), Comparison("even", Op.EQ, True)]),  # 0.5%
    Comparison("g", Op.EQ, 1000),  # nothing
    Not(Comparison("g", Op.GTE, 0)),  # nothing, via NOT
]


@pytest.fixture(params=["flat", "vec0"])
def exact_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_index_types_are_listed() -> None:
    assert available_index_types() == ("flat", "rescore", "vec0")


def test_unknown_index_type_is_refused(memdb: Database) -> None:
    with pytest.raises(InvalidInputError, match="index_type"):
        memdb.collection("docs", index_type="ivfflat")
    with pytest.raises(InvalidInputError, match="oversample"):
        memdb.collection("docs", index_type="rescore", oversample=0)


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: "none" if f is None else repr(f)[:40])
@pytest.mark.parametrize("k", [1, 10, 150])
def test_exact_search_matches_brute_force(db: Database, exact_type: str, flt: Filter | None, k: int) -> None:
    vectors, metas = dataset(3000)
    ids = [f"r{i}" for i in range(len(vectors))]
    col = db.collection("docs", index_type=exact_type)
    col.add([""] * len(ids), vectors, metadatas=metas, ids=ids)
    by_id = dict(zip(ids, vectors, strict=True))
    keep = matches(dict(zip(ids, metas, strict=True)), flt)
    rng = np.random.default_rng(1)
    for query in unit(rng.standard_normal((5, DIM))):
        hits = col.search(query, k=k, filter=flt)
        assert [h.id for h in hits] == brute(by_id, query, k, keep)
        for hit in hits:
            assert hit.distance == pytest.approx(float(1.0 - by_id[hit.id] @ query), abs=1e-5)


def test_flat_and_vec0_agree_on_scores_and_vectors(db: Database) -> None:
    vectors, metas = dataset(500)
    flat = db.collection("docs", index_type="flat")
    flat.add([f"text {i}" for i in range(500)], vectors, metadatas=metas)
    vec0 = db.collection("docs", index_type="vec0")
    query = unit(np.ones((1, DIM)))[0]
    a = flat.search(query, k=20, include_vectors=True)
    b = vec0.search(query, k=20, include_vectors=True)
    assert [h.id for h in a] == [h.id for h in b]
    assert [h.text for h in a] == [h.text for h in b]
    assert [h.metadata for h in a] == [h.metadata for h in b]
    np.testing.assert_allclose([h.distance for h in a], [h.distance for h in b], atol=1e-6)
    for x, y in zip(a, b, strict=True):
        assert x.vector is not None and y.vector is not None
        np.testing.assert_array_equal(x.vector, y.vector)


@pytest.mark.parametrize("index_type", ["flat", pytest.param("rescore", marks=pytest.mark.sqlite_only)])
def test_ties_are_ordered_by_insertion(memdb: Database, index_type: str) -> None:
    # (sqlite-vec's own KNN cuts its top k among equal distances in no set order.)
    col = memdb.collection("docs", index_type=index_type)
    same = [1.0] + [0.0] * (DIM - 1)
    col.upsert([Record(f"t{i}", same, {"g": i % 2}, id=f"id{i:03d}") for i in range(200)])
    assert [h.id for h in col.search(same, k=5)] == [f"id{i:03d}" for i in range(5)]
    flt = Comparison("g", Op.EQ, 1)
    assert [h.id for h in col.search(same, k=3, filter=flt)] == ["id001", "id003", "id005"]


def test_k_above_vec0_cap_and_above_count(memdb: Database, exact_type: str) -> None:
    vectors, metas = dataset(5000)
    col = memdb.collection("docs", index_type=exact_type)
    col.add([""] * 5000, vectors, metadatas=metas, ids=[f"r{i}" for i in range(5000)])
    query = vectors[3]
    assert len(col.search(query, k=4097)) == 4097
    assert len(col.search(query, k=9999)) == 5000
    assert len(col.search(query, k=9999, filter=Comparison("g", Op.EQ, 7))) == 50


@pytest.mark.sqlite_only
def test_rescore_recall_and_exact_when_candidates_cover_everything(memdb: Database) -> None:
    # Clustered data, like real embeddings: 1-bit codes rank it well.
    rng = np.random.default_rng(3)
    centers = unit(rng.standard_normal((40, 64)))
    vectors = unit(centers[rng.integers(0, 40, 4000)] + 0.35 * rng.standard_normal((4000, 64)) / 8)
    ids = [f"r{i}" for i in range(4000)]
    col = memdb.collection("docs", index_type="rescore")
    col.add([""] * 4000, vectors, ids=ids)
    by_id = dict(zip(ids, vectors, strict=True))
    queries = unit(centers[rng.integers(0, 40, 30)] + 0.35 * rng.standard_normal((30, 64)) / 8)
    recall = np.mean([len({h.id for h in col.search(q, k=10)} & set(brute(by_id, q, 10))) / 10 for q in queries])
    assert recall >= 0.9
    # Distances reported are exact even when the ranking is approximate.
    for hit in col.search(queries[0], k=10):
        assert hit.distance == pytest.approx(float(1.0 - by_id[hit.id] @ queries[0]), abs=1e-5)
    # k * oversample >= count: every vector is rescored, so the answer is exact.
    for q in queries[:5]:
        assert [h.id for h in col.search(q, k=300)] == brute(by_id, q, 300)


def test_rescore_with_a_rare_filter_is_exact_among_few_matches(memdb: Database) -> None:
    vectors, metas = dataset(3000)
    ids = [f"r{i}" for i in range(3000)]
    col = memdb.collection("docs", index_type="rescore", oversample=8)
    col.add([""] * 3000, vectors, metadatas=metas, ids=ids)
    flt = Comparison("g", Op.EQ, 7)  # 30 rows <= k * oversample: all of them are rescored
    keep = matches(dict(zip(ids, metas, strict=True)), flt)
    query = vectors[0]
    assert [h.id for h in col.search(query, k=10, filter=flt)] == brute(
        dict(zip(ids, vectors, strict=True)), query, 10, keep
    )


# --- keeping the RAM copy in step with the file ----------------------------------


class Model:
    """What the file holds, tracked by the test."""

    def __init__(self) -> None:
        self.vectors: dict[str, npt.NDArray[np.float32]] = {}

    def upsert(self, ids: list[str], vectors: npt.NDArray[np.float32]) -> None:
        for i, v in zip(ids, vectors, strict=True):
            self.vectors[i] = v  # an update keeps the record's place (its pk)

    def delete(self, ids: list[str]) -> None:
        for i in ids:
            self.vectors.pop(i, None)


def check(col: Any, model: Model, rng: np.random.Generator, k: int = 7) -> None:
    for query in unit(rng.standard_normal((3, DIM))):
        assert [h.id for h in col.search(query, k=k)] == brute(model.vectors, query, k)


@pytest.mark.parametrize("seed", range(4))
def test_random_writes_from_two_databases_are_seen(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path = tmp_path / "s.db"
    model = Model()
    with Database(path) as reader_db, Database(path) as writer_db:
        flat = reader_db.collection("docs", index_type="flat")
        rescore = reader_db.collection("docs", index_type="rescore", oversample=1000)  # exact at this size
        same_db = reader_db.collection("docs")
        other_db = writer_db.collection("docs")
        for step in range(60):
            writer = same_db if rng.random() < 0.5 else other_db
            action = rng.random()
            if action < 0.5 or not model.vectors:
                ids = [f"id{int(x)}" for x in rng.integers(0, 400, int(rng.integers(1, 30)))]
                ids = list(dict.fromkeys(ids))
                vectors = unit(rng.standard_normal((len(ids), DIM)))
                writer.add([""] * len(ids), vectors, ids=ids)
                model.upsert(ids, vectors)
            elif action < 0.85:
                ids = list(rng.choice(sorted(model.vectors), size=min(len(model.vectors), 10), replace=False))
                writer.delete(ids)
                model.delete(ids)
            elif action < 0.92:
                writer.clear()
                model.vectors.clear()
            else:
                writer.compact()
            check(flat, model, rng)
            check(rescore, model, rng)
            assert flat.count() == len(model.vectors), step


def test_a_dropped_and_recreated_collection_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Database(path) as a, Database(path) as b:
        col = a.collection("docs")
        col.add(["x"], [[1.0, 0.0]], ids=["old"])
        assert [h.id for h in col.search([1.0, 0.0], k=5)] == ["old"]
        b.drop_collection("docs")
        b.collection("docs").add(["y", "z"], [[1.0, 0.0], [0.0, 1.0]], ids=["new1", "new2"])
        assert [h.id for h in a.collection("docs").search([1.0, 0.0], k=5)] == ["new1", "new2"]
        b.drop_collection("docs")
        b.collection("docs").add(["w"], [[0.0, 1.0, 0.0]], ids=["three"])  # another dimension
        assert [h.id for h in a.collection("docs").search([0.0, 1.0, 0.0], k=5)] == ["three"]


def test_a_copy_behind_a_trimmed_change_log_reloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows_module, "CHANGE_LOG_KEEP", 5)
    path = tmp_path / "s.db"
    rng = np.random.default_rng(0)
    model = Model()
    with Database(path) as a, Database(path) as b:
        reader = a.collection("docs")
        writer = b.collection("docs")
        ids = [f"id{i}" for i in range(100)]
        vectors = unit(rng.standard_normal((100, DIM)))
        writer.add([""] * 100, vectors, ids=ids)
        model.upsert(ids, vectors)
        check(reader, model, rng)
        for n in range(30):  # many more updates than the log keeps
            new = unit(rng.standard_normal((1, DIM)))
            writer.add([""], new, ids=[f"id{n}"])
            model.upsert([f"id{n}"], new)
        rows = b.conn.execute("SELECT count(*) FROM svs_docs_changes WHERE seq > 0").fetchone()[0]
        assert rows == 5
        check(reader, model, rng)


def test_pks_are_not_reused_after_deleting_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Database(path) as a, Database(path) as b:
        reader = a.collection("docs")
        writer = b.collection("docs")
        writer.add(["1", "2"], [[1.0, 0.0], [0.0, 1.0]], ids=["a", "b"])
        assert len(reader.search([1.0, 0.0], k=5)) == 2
        writer.delete(["b"])
        assert [h.id for h in reader.search([0.0, 1.0], k=5)] == ["a"]
        writer.add(["3"], [[0.0, 1.0]], ids=["c"])
        assert [h.id for h in reader.search([0.0, 1.0], k=5)] == ["c", "a"]


def test_search_inside_a_write_transaction_sees_it_and_a_rollback_leaves_no_trace(memdb: Database) -> None:
    col = memdb.collection("docs")
    col.add(["a"], [[1.0, 0.0]], ids=["a"])
    assert [h.id for h in col.search([0.0, 1.0], k=5)] == ["a"]

    class Boom(Exception):
        pass

    with pytest.raises(Boom), memdb.atomic():
        col.add(["b"], [[0.0, 1.0]], ids=["b"])
        assert [h.id for h in col.search([0.0, 1.0], k=5)] == ["b", "a"]
        raise Boom
    assert [h.id for h in col.search([0.0, 1.0], k=5)] == ["a"]
    col.add(["c"], [[0.0, 1.0]], ids=["c"])
    assert [h.id for h in col.search([0.0, 1.0], k=5)] == ["c", "a"]


def _write_in_child(path: str) -> None:
    with Database(path) as db:
        col = db.collection("docs")
        col.delete(["a"])
        col.add(["moved", "new"], [[0.0, 1.0], [0.6, 0.8]], ids=["b", "n"])


def test_writes_by_another_process_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Database(path) as db:
        col = db.collection("docs")
        col.add(["a", "b"], [[1.0, 0.0], [0.8, 0.6]], ids=["a", "b"])
        assert [h.id for h in col.search([1.0, 0.0], k=5)] == ["a", "b"]
        process = multiprocessing.get_context("spawn").Process(target=_write_in_child, args=(str(path),))
        process.start()
        process.join(60)
        assert process.exitcode == 0
        hits = col.search([1.0, 0.0], k=5)
        assert [h.id for h in hits] == ["n", "b"]
        assert hits[1].text == "moved"


def test_read_only_and_schema_2_files_search_without_a_change_log(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Database(path) as db:
        db.collection("docs").add(["a", "b"], [[1.0, 0.0], [0.0, 1.0]], ids=["a", "b"])
        # Make it look like a schema 2 file (before the change log existed).
        downgrade(db.conn, "docs", 2)
    with Database(path, read_only=True) as ro:
        assert ro.collection("docs").info().schema_version == 2
        reader = ro.collection("docs")
        assert [h.id for h in reader.search([0.0, 1.0], k=1)] == ["b"]
        with Database(path) as rw:
            assert rw.collection("docs").info().schema_version == SCHEMA_VERSION  # the writable open migrated it
            rw.collection("docs").add(["c"], [[0.0, 1.0]], ids=["c"])
        assert [h.id for h in reader.search([0.0, 1.0], k=2)] == ["b", "c"]  # equal distances: insertion order
        rw_again = Database(path)
        rw_again.collection("docs").delete(["c"])
        rw_again.close()
        assert [h.id for h in reader.search([0.0, 1.0], k=2)] == ["b", "a"]


# --- the numpy index alone -------------------------------------------------------


def test_vector_index_patches_like_a_reload() -> None:
    rng = np.random.default_rng(5)
    vectors = unit(rng.standard_normal((50, DIM)))
    pks = np.arange(1, 51, dtype=np.int64) * 2
    index = VectorIndex(DIM)
    index.load(pks[::-1].copy(), vectors[::-1].copy())
    assert index.pks.tolist() == sorted(pks.tolist())
    index.apply({7: vectors[0], 200: vectors[1], 4: vectors[2]}, [2, 6, 999])
    expected = {int(p): v for p, v in zip(pks, vectors, strict=True)}
    expected.update({7: vectors[0], 200: vectors[1], 4: vectors[2]})
    del expected[2], expected[6]
    reference = VectorIndex(DIM)
    reference.load(np.array(list(expected), np.int64), np.stack(list(expected.values())))
    assert len(index) == len(reference) == len(expected)
    for query in unit(rng.standard_normal((5, DIM))):
        got_positions, got = top_k(index, query, 10)
        want_positions, want = top_k(reference, query, 10)
        assert index.pks[got_positions].tolist() == reference.pks[want_positions].tolist()
        np.testing.assert_allclose(got, want)


@pytest.mark.sqlite_only
def test_fast_load_from_vec0_chunks_equals_the_row_by_row_read(memdb: Database) -> None:
    vectors, _ = dataset(3000)
    col = memdb.collection("docs")
    col.add([""] * 3000, vectors, ids=[f"r{i}" for i in range(3000)])
    col.delete([f"r{i}" for i in range(0, 3000, 7)])
    conn = memdb.conn
    fast = vec0.read_vec0_chunks(conn, CollectionTables("docs"), DIM, col.count())
    assert fast is not None
    slow = vec0.read_vectors(conn, CollectionTables("docs"), DIM, col.count())
    fast_order, slow_order = np.argsort(fast[0]), np.argsort(slow[0])
    np.testing.assert_array_equal(fast[0][fast_order], slow[0][slow_order])
    np.testing.assert_array_equal(fast[1][fast_order], slow[1][slow_order])


@pytest.mark.sqlite_only
def test_an_unknown_vec0_layout_falls_back_to_the_row_by_row_read(memdb: Database) -> None:
    vectors, _ = dataset(100)
    col = memdb.collection("docs")
    col.add([""] * 100, vectors, ids=[f"r{i}" for i in range(100)])
    memdb.conn.execute("UPDATE svs_docs_vec_info SET value = 'v0.2.0' WHERE key = 'CREATE_VERSION'")
    assert vec0.read_vec0_chunks(memdb.conn, CollectionTables("docs"), DIM, 100) is None
    assert col.search(vectors[5], k=1)[0].id == "r5"
    memdb.conn.execute("UPDATE svs_docs_vec_info SET value = 'v0.1.9' WHERE key = 'CREATE_VERSION'")
    assert vec0.read_vec0_chunks(memdb.conn, CollectionTables("docs"), DIM, 101) is None  # a count that does not add up


@pytest.mark.parametrize("share", [None, 0.0, 1e-6, 0.01, 0.5, 1.0])
@pytest.mark.parametrize("rate", [0.0, 0.002, 0.05, 0.6])
def test_filtered_top_k_is_exact_whatever_the_share_hint(share: float | None, rate: float) -> None:
    """A wrong guess about how much a filter matches costs time, never correctness."""
    rng = np.random.default_rng(int(rate * 1000))
    vectors = unit(rng.standard_normal((5000, DIM)))
    index = VectorIndex(DIM)
    index.load(np.arange(1, 5001, dtype=np.int64), vectors)
    allowed = set((np.flatnonzero(rng.random(5000) < rate) + 1).tolist())
    asked: list[int] = []

    def check(pks: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        asked.append(len(pks))
        return np.array([int(p) in allowed for p in pks], np.bool_)

    def matching() -> npt.NDArray[np.int64]:
        return np.array(sorted(allowed), np.int64)

    for query in unit(rng.standard_normal((3, DIM))):
        positions, distances = top_k(index, query, 10, check=check, matching=matching, expected_share=share)
        order = sorted((float(1.0 - vectors[p - 1] @ query), p) for p in allowed)[:10]
        assert index.pks[positions].tolist() == [p for _, p in order]
        np.testing.assert_allclose(distances, [d for d, _ in order], atol=1e-6)
    assert all(n <= 5000 for n in asked)


def test_hamming_distances_follow_patches() -> None:
    rng = np.random.default_rng(9)
    dim = 70  # not a multiple of 64: the last word is padded
    vectors = unit(rng.standard_normal((300, dim)))
    index = VectorIndex(dim, quantized=True)
    index.load(np.arange(1, 301, dtype=np.int64), vectors[:300].copy())
    extra = unit(rng.standard_normal((40, dim)))
    index.apply({400 + n: extra[n] for n in range(40)}, [5, 6])
    index.apply({7: extra[0]}, [])
    query = unit(rng.standard_normal((1, dim)))[0]
    center = index._center  # the codes are signs around the mean at load time
    rows = {int(p): v for p, v in zip(range(1, 301), vectors, strict=True)}
    rows.update({400 + n: extra[n] for n in range(40)})
    rows[7] = extra[0]
    del rows[5], rows[6]
    got = index.hamming(query)
    for position, pk in enumerate(index.pks.tolist()):
        if pk in (5, 6):
            assert got[position] == np.iinfo(np.uint16).max
        else:
            want = int(((rows[pk] > center) != (query > center)).sum())
            assert got[position] == want, pk


@pytest.mark.parametrize("index_type", ["flat", "rescore"])
def test_a_repeated_filter_uses_a_mask_that_follows_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_type: str
) -> None:
    monkeypatch.setattr(cache_module, "MASK_AFTER_CHECKS", 0)  # masks from the second use on, at any size
    path = tmp_path / "s.db"
    vectors, metas = dataset(2000)
    ids = [f"r{i}" for i in range(2000)]
    flt = Comparison("g", Op.EQ, 7)
    with Database(path) as reader_db, Database(path) as writer_db:
        col = reader_db.collection("docs", index_type=index_type, oversample=1000)  # exact at this size
        writer = writer_db.collection("docs")
        writer.add([""] * 2000, vectors, metadatas=metas, ids=ids)
        by_id = dict(zip(ids, vectors, strict=True))
        by_meta = dict(zip(ids, metas, strict=True))
        query = vectors[7]
        for _ in range(3):
            assert [h.id for h in col.search(query, k=5, filter=flt)] == brute(by_id, query, 5, matches(by_meta, flt))
        assert reader_db.index_cache.filter_masks  # the mask is in use
        # Metadata changes without a vector change, from another connection: the mask must not survive.
        moved = [f"r{i}" for i in range(0, 2000, 3)]
        writer.add([""] * len(moved), [by_id[i] for i in moved], metadatas=[{"g": 7}] * len(moved), ids=moved)
        by_meta.update({i: {"g": 7} for i in moved})
        for _ in range(2):
            assert [h.id for h in col.search(query, k=5, filter=flt)] == brute(by_id, query, 5, matches(by_meta, flt))
        writer.delete(filter=flt)
        assert col.search(query, k=5, filter=flt) == []


# ---------------------------------------------------------------------------------------------------------------------
# index.dot: the BLAS-free matrix-vector product of the flat path
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [0, 1, 7, 1000, 4099])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("numpy1", [False, True], ids=["vecdot", "einsum"])
def test_dot_equals_the_blas_product(rows: int, split: bool, numpy1: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if numpy1:  # numpy 1.x has no vecdot
        monkeypatch.setattr(kernels_module, "_VECDOT", None)
    if split:  # make every non-empty matrix take the multi-threaded path
        monkeypatch.setattr(kernels_module, "PARALLEL_DOT_ELEMENTS", 1)
        monkeypatch.setattr(kernels_module, "DOT_THREADS", 3)
    rng = np.random.default_rng(rows)
    matrix = rng.standard_normal((rows, 384)).astype(np.float32)
    query = rng.standard_normal(384)  # float64: cast to float32 like the store's query vectors
    got = kernels_module.dot(matrix, query)
    assert got.dtype == np.float32 and got.shape == (rows,)
    np.testing.assert_allclose(got, matrix @ query.astype(np.float32), rtol=0, atol=1e-4)


def _dot_in_child(queue: Any) -> None:
    matrix = np.ones((64, 8), np.float32)
    queue.put(float(kernels_module.dot(matrix, np.ones(8, np.float32)).sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_dot_threads_work_in_a_forked_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels_module, "PARALLEL_DOT_ELEMENTS", 1)
    monkeypatch.setattr(kernels_module, "DOT_THREADS", 2)
    pool = kernels_module._dot_pool()
    for future in [pool.submit(time.sleep, 0.1) for _ in range(2)]:  # the parent's pool has both its threads now
        future.result()
    time.sleep(0.3)  # and they are idle: a child inheriting the pool as is would hand its work to them and wait forever
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_dot_in_child, args=(queue,), daemon=True)
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0, "the child hung or failed using the dot threads"
    assert queue.get(timeout=5) == 64 * 8


@pytest.mark.parametrize("rate", [0.0, 0.001, 0.01, 0.1, 0.24, 0.3, 0.9, 1.0])
@pytest.mark.parametrize("index_type", ["flat", "rescore"])
def test_top_k_with_a_match_mask_is_exact_among_live_matches(rate: float, index_type: str) -> None:
    """The mask path (gathering few matches, or one pass over all) ranks the live marked rows only."""
    rng = np.random.default_rng(int(rate * 1000) + len(index_type))
    vectors = unit(rng.standard_normal((4000, DIM)))
    index = VectorIndex(DIM, quantized=index_type == "rescore")
    index.load(np.arange(1, 4001, dtype=np.int64), vectors)
    index.apply({}, [3, 4, 5, 100, 2000])  # deleted slots stay in the arrays, marked dead
    mask = rng.random(len(index.pks)) < rate
    mask[np.searchsorted(index.pks, [3, 4, 5, 100, 2000])] = True  # a stale mask may mark deleted rows
    live = {int(p) for p, m in zip(index.pks, mask, strict=True) if m} - {3, 4, 5, 100, 2000}
    for query in unit(rng.standard_normal((3, DIM))):
        # oversample 4: k * 4 = 40 candidates, below the live matches from rate 0.01 on
        positions, distances = top_k(index, query, 10, index_type=index_type, oversample=4, allowed=mask)
        want = sorted((float(1.0 - vectors[p - 1] @ query), p) for p in live)[:10]
        got = index.pks[positions].tolist()
        if index_type == "flat" or len(live) <= 40:
            assert got == [p for _, p in want]
            np.testing.assert_allclose(distances, [d for d, _ in want], atol=1e-6)
        else:  # approximate, but only ever live matches, with exact distances, nearest first
            assert set(got) <= live and len(got) == min(10, len(live))
            np.testing.assert_allclose(distances, [1.0 - vectors[p - 1] @ query for p in got], atol=1e-6)
            assert list(distances) == sorted(distances)
