"""Core store: every operation, refused inputs, files, collections."""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sqlitevec_store import (
    And,
    Collection,
    CollectionNotFoundError,
    Comparison,
    Database,
    DimensionMismatchError,
    InvalidCollectionNameError,
    InvalidInputError,
    InvalidInputTypeError,
    ModelMismatchError,
    Not,
    Op,
    Or,
    Record,
    SchemaError,
    SqliteVecStoreError,
    UnsupportedFilterError,
    parse_filter_dict,
)
from sqlitevec_store.backends.sqlite import ddl, ownership
from sqlitevec_store.backends.sqlite.connection import database_errors
from sqlitevec_store.backends.sqlite.ddl import SCHEMA_VERSION, VEC0_MAX_DIMENSION, VEC0_MAX_K
from sqlitevec_store.records import MAX_COUNT, chunks
from sqlitevec_store.validation import MAX_DIMENSION
from tests.fakes import FakeEmbedder

EMB = FakeEmbedder(dimension=8)


def rec(text: str, metadata: dict | None = None, id: str | None = None, **kw) -> Record:
    return Record(text=text, vector=EMB.vector(text), metadata=metadata or {}, id=id, **kw)


def file_digest(path: Path) -> str:
    """Hash of the database and its WAL, to prove nothing was written."""
    h = hashlib.sha256()
    for p in (path, Path(str(path) + "-wal")):
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


# --- basic operations -------------------------------------------------------


def test_upsert_get_count_and_order(memdb: Database) -> None:
    col = memdb.collection("docs")
    ids = col.upsert([rec("alpha", {"n": 1}, "a"), rec("beta", {"n": 2}, "b"), rec("gamma", None, None)])
    assert ids[:2] == ["a", "b"]
    assert len(ids[2]) == 36  # generated UUID
    assert col.count() == 3
    got = col.get(["b", "missing", "a"])
    assert [h.id for h in got] == ["b", "a"]
    assert got[0].text == "beta" and got[0].metadata == {"n": 2}


def test_upsert_replaces_text_metadata_and_vector(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([rec("old text", {"v": 1}, "x"), rec("other", {}, "y")])
    col.upsert([Record("new text", EMB.vector("new text"), {"v": 2}, id="x")])
    assert col.count() == 2
    (hit,) = col.get(["x"], include_vectors=True)
    assert hit.text == "new text" and hit.metadata == {"v": 2}
    assert hit.vector is not None
    np.testing.assert_allclose(hit.vector, EMB.vector("new text"), atol=1e-6)
    top = col.search(EMB.vector("new text"), k=1)
    assert top[0].id == "x" and top[0].distance == pytest.approx(0.0, abs=1e-6)
    # the old vector is gone: searching for it does not find x at distance 0
    assert all(h.distance > 1e-3 for h in col.search(EMB.vector("old text"), k=2) if h.id == "x")


def test_add_parallel_lists_and_generators(memdb: Database) -> None:
    col = memdb.collection()
    texts = (t for t in ["a", "b", "c"])
    vectors = (EMB.vector(t) for t in ["a", "b", "c"])
    ids = col.add(texts, vectors, metadatas=({"i": i} for i in range(3)), ids=iter(["1", "2", "3"]))
    assert ids == ["1", "2", "3"]
    assert col.count() == 3
    with pytest.raises(InvalidInputError, match="same length"):
        col.add(["a", "b"], [EMB.vector("a")])


def test_large_batch_is_one_call_and_complete(memdb: Database) -> None:
    col = memdb.collection()
    n = 2345  # more than several write chunks
    col.add([f"t{i}" for i in range(n)], [EMB.vector(f"t{i}") for i in range(n)], ids=[str(i) for i in range(n)])
    assert col.count() == n
    assert [h.id for h in col.get(["0", "1234", "2344"])] == ["0", "1234", "2344"]


def test_find_with_filter_limit_offset(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([rec(f"t{i}", {"i": i, "even": i % 2 == 0}, str(i)) for i in range(10)])
    evens = col.find(filter=Comparison("even", Op.EQ, True))
    assert [h.id for h in evens] == ["0", "2", "4", "6", "8"]
    page = col.find(filter=Comparison("even", Op.EQ, True), limit=2, offset=1)
    assert [h.id for h in page] == ["2", "4"]
    assert [h.id for h in col.find(limit=3)] == ["0", "1", "2"]
    assert [h.id for h in col.find(offset=8)] == ["8", "9"]
    assert col.count(Comparison("i", Op.GTE, 7)) == 3


def test_delete_by_ids_filter_doc_ids_and_nothing(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([rec(f"t{i}", {"i": i}, str(i), doc_id=f"doc{i % 3}") for i in range(9)])
    assert col.delete() == 0
    assert col.count() == 9
    assert col.delete(["0", "nope"]) == 1
    assert col.delete(filter=Comparison("i", Op.GTE, 7)) == 2
    assert col.delete(doc_ids=["doc1"]) == 2  # 1 and 4 (7 already gone)
    assert sorted(h.id for h in col.find()) == ["2", "3", "5", "6"]
    assert col.delete(["2", "3"], filter=Comparison("i", Op.EQ, 3)) == 1  # both must hold
    assert col.delete([]) == 0
    assert col.clear() == 3
    assert col.count() == 0
    assert col.search(EMB.vector("t5"), k=3) == []
    # the collection keeps its dimension after clear
    assert col.dimension == 8


def test_delete_many_ids_beyond_parameter_limit(memdb: Database) -> None:
    col = memdb.collection()
    n = 1200
    col.add([f"t{i}" for i in range(n)], [EMB.vector(f"t{i}") for i in range(n)], ids=[str(i) for i in range(n)])
    assert col.delete([str(i) for i in range(1100)]) == 1100
    assert col.count() == 100
    assert len(col.get([str(i) for i in range(n)])) == 100


# --- search -----------------------------------------------------------------


def brute_force(col: Collection, query: np.ndarray, k: int, predicate=lambda m: True) -> list[tuple[str, float]]:
    rows = [(h.id, h.vector, h.metadata) for h in col.find(include_vectors=True)]
    q = query / np.linalg.norm(query)
    scored = sorted(((1.0 - float(np.dot(v, q)), i) for i, v, m in rows if predicate(m)))
    return [(i, d) for d, i in scored[:k]]


def test_search_scores_are_cosine(memdb: Database) -> None:
    col = memdb.collection()
    col.add(["x", "y", "z"], [[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]], ids=["x", "y", "z"])
    hits = col.search([5.0, 0.0], k=3)
    assert [h.id for h in hits] == ["x", "y", "z"]
    assert [round(h.distance, 6) for h in hits] == [0.0, 1.0, 2.0]
    assert [round(h.similarity, 6) for h in hits] == [1.0, 0.0, -1.0]


def test_search_matches_brute_force(memdb: Database) -> None:
    rng = np.random.default_rng(7)
    col = memdb.collection()
    n, d = 1500, 24
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    col.add(
        [f"t{i}" for i in range(n)],
        vectors,
        metadatas=[{"g": i % 50} for i in range(n)],
        ids=[str(i) for i in range(n)],
    )
    for _ in range(5):
        q = rng.standard_normal(d)
        expected = brute_force(col, q, 10)
        got = col.search(q, k=10)
        assert [h.id for h in got] == [i for i, _ in expected]
        np.testing.assert_allclose([h.distance for h in got], [dd for _, dd in expected], atol=1e-5)


@pytest.mark.parametrize("k", [1, 5, 40])
def test_rare_filter_returns_exact_top_k(memdb: Database, k: int) -> None:
    """A filter matching < 1% of rows still gets its full top-k, never a post-filtered remainder."""
    rng = np.random.default_rng(k)
    col = memdb.collection()
    n, d = 5000, 16
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    metas = [{"g": i % 200, "tags": ["rare"] if i % 125 == 3 else ["common"]} for i in range(n)]
    col.add([f"t{i}" for i in range(n)], vectors, metadatas=metas, ids=[str(i) for i in range(n)])
    filters = [
        (Comparison("g", Op.EQ, 17), lambda m: m["g"] == 17),  # 25 rows (0.5%)
        (Comparison("tags", Op.CONTAINS, "rare"), lambda m: "rare" in m["tags"]),  # 40 rows
        (Or([Comparison("g", Op.EQ, 3), Comparison("g", Op.EQ, 4)]), lambda m: m["g"] in (3, 4)),
        (Not(Comparison("g", Op.LT, 199)), lambda m: m["g"] >= 199),
        (Comparison("g", Op.NIN, list(range(1, 200))), lambda m: m["g"] == 0),
    ]
    for tree, predicate in filters:
        q = rng.standard_normal(d)
        expected = brute_force(col, q, k, predicate)
        got = col.search(q, k=k, filter=tree)
        assert len(got) == min(k, sum(predicate(m) for m in metas))
        assert [h.id for h in got] == [i for i, _ in expected], tree


def test_filter_matching_nothing_and_everything(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([rec(f"t{i}", {"i": i}, str(i)) for i in range(20)])
    assert col.search(EMB.vector("t3"), k=5, filter=Comparison("i", Op.GT, 100)) == []
    assert len(col.search(EMB.vector("t3"), k=50, filter=Comparison("i", Op.GTE, 0))) == 20


def test_k_above_vec0_cap_is_exact(memdb: Database) -> None:
    rng = np.random.default_rng(1)
    col = memdb.collection()
    n, d = VEC0_MAX_K + 700, 8
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    col.add([str(i) for i in range(n)], vectors, metadatas=[{"i": i} for i in range(n)], ids=[str(i) for i in range(n)])
    q = rng.standard_normal(d)
    got = col.search(q, k=VEC0_MAX_K + 500)
    assert len(got) == VEC0_MAX_K + 500
    expected = brute_force(col, q, VEC0_MAX_K + 500)
    assert [h.id for h in got[:50]] == [i for i, _ in expected[:50]]
    assert {h.id for h in got} == {i for i, _ in expected}
    distances = [h.distance for h in got]
    assert distances == sorted(distances)
    filtered = col.search(q, k=10_000, filter=Comparison("i", Op.LT, 4500))
    assert len(filtered) == 4500
    # the in-process path and the vec0 path agree on the top hits
    assert [h.id for h in col.search(q, k=20)] == [h.id for h in got[:20]]


def test_mmr_diversifies(memdb: Database) -> None:
    col = memdb.collection()
    col.add(
        ["a", "a-dup", "b", "c"],
        [[1.0, 0.0, 0.0], [0.999, 0.01, 0.0], [0.7, 0.7, 0.0], [0.0, 0.0, 1.0]],
        ids=["a", "a-dup", "b", "c"],
    )
    q = [1.0, -0.05, 0.0]
    assert [h.id for h in col.search(q, k=4)] == ["a", "a-dup", "b", "c"]
    # lambda 0.7: a-dup scores 0.7*0.9987 - 0.3*0.99995 = 0.399 > b (0.257) > c (0)
    assert [h.id for h in col.mmr(q, k=2, fetch_k=4, lambda_mult=0.7)] == ["a", "a-dup"]
    # lambda 0.5: a-dup scores -0.0006, b -0.018, c 0: the orthogonal one wins; then a-dup beats b
    mmr = col.mmr(q, k=3, fetch_k=4, lambda_mult=0.5)
    assert [h.id for h in mmr] == ["a", "c", "a-dup"]
    assert mmr[1].distance == pytest.approx(col.search(q, k=4)[3].distance)
    assert [h.id for h in col.mmr(q, k=2, fetch_k=4, lambda_mult=1.0)] == ["a", "a-dup"]
    # fetch_k limits the candidates: with only the 2 nearest, c cannot be picked
    assert [h.id for h in col.mmr(q, k=2, fetch_k=2, lambda_mult=0.0)] == ["a", "a-dup"]
    only_far = Or([Comparison("x", Op.EXISTS, True), Not(Comparison("x", Op.EXISTS, True))])
    assert [h.id for h in col.mmr(q, k=2, fetch_k=4, lambda_mult=0.5, filter=only_far)] == ["a", "c"]
    with pytest.raises(InvalidInputError):
        col.mmr(q, k=2, lambda_mult=1.5)


def test_search_on_empty_collection(memdb: Database) -> None:
    col = memdb.collection()
    assert col.search([1.0, 2.0], k=3) == []
    assert col.mmr([1.0, 2.0], k=3) == []


# --- refused input: clear errors, nothing written ---------------------------


BAD_BATCHES = [
    ("nan", [Record("a", [1.0, float("nan")], {}, id="bad")], InvalidInputError, "NaN"),
    ("inf", [Record("a", [1.0, float("inf")], {}, id="bad")], InvalidInputError, "infinite"),
    ("zero", [Record("a", [0.0, 0.0], {}, id="bad")], InvalidInputError, "zeros"),
    ("dimension", [Record("a", [1.0, 2.0, 3.0], {}, id="bad")], DimensionMismatchError, r"\[2, 3\]"),
    ("mixed dims", [Record("a", [1.0, 2.0]), Record("b", [1.0])], DimensionMismatchError, "different lengths"),
    ("text type", [Record(b"bytes", [1.0, 2.0])], InvalidInputTypeError, "text 1 must be a string"),  # type: ignore[arg-type]
    ("text None", [Record(None, [1.0, 2.0])], InvalidInputTypeError, "string"),  # type: ignore[arg-type]
    ("metadata set", [Record("a", [1.0, 2.0], {"s": {1, 2}})], InvalidInputTypeError, "JSON"),
    ("metadata nan", [Record("a", [1.0, 2.0], {"x": float("nan")})], InvalidInputError, "JSON"),
    ("metadata key", [Record("a", [1.0, 2.0], {1: "x"})], InvalidInputTypeError, "keys must be strings"),  # type: ignore[dict-item]
    ("metadata type", [Record("a", [1.0, 2.0], ["x"])], InvalidInputTypeError, "dict"),  # type: ignore[arg-type]
    ("id type", [Record("a", [1.0, 2.0], id=5)], InvalidInputTypeError, "id 1"),  # type: ignore[arg-type]
    ("empty id", [Record("a", [1.0, 2.0], id="")], InvalidInputError, "empty"),
    ("duplicate id", [Record("a", [1.0, 2.0], id="d"), Record("b", [2.0, 1.0], id="d")], InvalidInputError, "twice"),
    ("no vector", [Record("a", None)], InvalidInputError, "no vector"),
    ("vector text", [Record("a", "12")], InvalidInputTypeError, "numbers"),  # type: ignore[arg-type]
    ("vector nested", [Record("a", [[1.0, 2.0]])], InvalidInputError, "1-D"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("name", "batch", "error", "message"), BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_refused_batches_write_nothing(db: Database, db_path: Path, name: str, batch, error, message) -> None:
    col = db.collection()
    col.upsert([Record("keep", [1.0, 0.0], {"k": 1}, id="keep")])
    before = file_digest(db_path)
    # a good record first: the bad one later in the batch must still stop everything
    with pytest.raises(error, match=message):
        col.upsert([Record("good", [0.5, 0.5], id="good"), *batch])
    assert file_digest(db_path) == before
    assert [h.id for h in col.find()] == ["keep"]


def test_errors_are_value_and_type_errors() -> None:
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(InvalidInputTypeError, TypeError)
    assert issubclass(UnsupportedFilterError, ValueError)
    assert issubclass(DimensionMismatchError, SqliteVecStoreError)


@pytest.mark.parametrize("k", [0, -1])
def test_bad_k(memdb: Database, k: int) -> None:
    col = memdb.collection()
    col.upsert([rec("a")])
    with pytest.raises(InvalidInputError, match="k must be at least 1"):
        col.search(EMB.vector("a"), k=k)


@pytest.mark.parametrize("index_type", ["flat", "rescore", "vec0"])
def test_huge_counts_work_up_to_int64_and_are_refused_past_it(memdb: Database, index_type: str) -> None:
    # Past 2**63 - 1 these leaked OverflowError (and numpy's int64 max an IntegrityError from find).
    col = memdb.collection(index_type=index_type)
    col.upsert([rec(t) for t in ("x", "y", "z")])
    q = EMB.vector("x")
    for big in (2**31, MAX_COUNT, np.int64(MAX_COUNT)):
        assert len(col.search(q, k=big)) == 3
        assert len(col.keyword_search("x y z", k=big)) == 3
        assert len(col.hybrid_search(q, "x", k=big, fetch_k=big)) == 3
        assert len(col.mmr(q, k=big, fetch_k=big)) == 3
        assert len(col.find(limit=big)) == 3 and col.find(offset=big) == []
        assert len(memdb.collection(index_type=index_type, oversample=big).search(q, k=2)) == 2
    calls: list[Callable[[Any], Any]] = [
        lambda n: col.search(q, k=n),
        lambda n: col.keyword_search("a", k=n),
        lambda n: col.hybrid_search(q, "a", k=n),
        lambda n: col.hybrid_search(q, "a", fetch_k=n),
        lambda n: col.mmr(q, k=n),
        lambda n: col.mmr(q, fetch_k=n),
        lambda n: col.find(limit=n),
        lambda n: col.find(offset=n),
        lambda n: memdb.collection(index_type=index_type, oversample=n),
        lambda n: list(chunks([1, 2], n)),
        lambda n: Database(":memory:", busy_timeout_ms=n),
    ]
    for call in calls:
        for absurd in (MAX_COUNT + 1, 2**64, 10**30, np.uint64(2**64 - 1)):
            with pytest.raises(InvalidInputError, match="at most 2\\*\\*63 - 1"):
                call(absurd)
        with pytest.raises(InvalidInputError, match="at least"):
            call(-1)
        for wrong in ("3", 2.0, True):
            with pytest.raises(InvalidInputTypeError, match="must be an integer"):
                call(wrong)


def test_bad_k_type_and_bad_query(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([rec("a")])
    with pytest.raises(InvalidInputTypeError):
        col.search(EMB.vector("a"), k=2.5)  # type: ignore[arg-type]
    with pytest.raises(DimensionMismatchError):
        col.search([1.0, 2.0], k=1)
    with pytest.raises(InvalidInputError, match="NaN"):
        col.search([float("nan")] * 8, k=1)
    with pytest.raises(UnsupportedFilterError, match="supported"):
        col.search(EMB.vector("a"), k=1, filter=parse_filter_dict({"a": {"$regex": "x"}}))


@pytest.mark.parametrize("name", ["", "has space", "semi;colon", 'quo"te', "a" * 65, "-lead", "ünï", None, 5])
def test_bad_collection_names(memdb: Database, name) -> None:
    with pytest.raises(InvalidCollectionNameError):
        memdb.collection(name)


def test_collection_names_are_quoted_not_pasted(memdb: Database) -> None:
    for name in ["select", "drop", "a-b", "x_1", "123"]:
        col = memdb.collection(name)
        col.upsert([rec(f"text {name}", {"name": name})])
    assert sorted(memdb.collection_names()) == sorted(["select", "drop", "a-b", "x_1", "123"])
    assert memdb.collection("a-b").find()[0].metadata == {"name": "a-b"}


# --- collections, model ids, files ------------------------------------------


def test_two_collections_in_one_file_are_separate(db: Database) -> None:
    a = db.collection("a")
    b = db.collection("b")
    a.upsert([rec("one", {"c": "a"}, "1")])
    b.add(["two"], [[1.0, 2.0, 3.0]], ids=["1"])
    assert a.count() == 1 and b.count() == 1
    assert a.get(["1"])[0].text == "one" and b.get(["1"])[0].text == "two"
    assert {i.name: i.dimension for i in db.collections()} == {"a": 8, "b": 3}
    assert db.drop_collection("a") is True
    assert db.collection_names() == ["b"]
    with pytest.raises(CollectionNotFoundError):
        a.count()
    assert db.drop_collection("a", missing_ok=True) is False
    with pytest.raises(CollectionNotFoundError):
        db.drop_collection("a")
    with pytest.raises(CollectionNotFoundError):
        db.collection("zzz", create=False)


def test_collection_names_case_insensitive(memdb: Database) -> None:
    memdb.collection("Docs").upsert([rec("a")])
    assert memdb.has_collection("docs")
    assert memdb.collection("DOCS").count() == 1
    assert memdb.collection_names() == ["Docs"]


def test_user_tables_left_alone(db: Database) -> None:
    db.conn.execute("CREATE TABLE my_stuff (x INTEGER)")
    db.conn.execute("INSERT INTO my_stuff VALUES (42)")
    col = db.collection()
    col.upsert([rec("a")])
    db.drop_collection("default")
    assert db.conn.execute("SELECT x FROM my_stuff").fetchall() == [(42,)]


def test_reopen_file_keeps_everything(db_path: Path) -> None:
    with Database(db_path) as db:
        col = db.collection("docs", model_id="m/one")
        col.upsert([rec("alpha", {"nested": {"a": [1, 2, {"b": None}]}, "u": "ünï 🙂"}, "a")])
    with Database(db_path) as db:
        info = db.collections()[0]
        assert (info.name, info.dimension, info.model_id, info.schema_version) == ("docs", 8, "m/one", SCHEMA_VERSION)
        col = db.collection("docs")
        assert col.get(["a"])[0].metadata == {"nested": {"a": [1, 2, {"b": None}]}, "u": "ünï 🙂"}
        assert col.search(EMB.vector("alpha"), k=1)[0].id == "a"


def test_model_id_rules(memdb: Database) -> None:
    anonymous = memdb.collection("c")  # vectors without a model id
    anonymous.upsert([rec("a")])
    assert memdb.collections()[0].model_id is None
    named = memdb.collection("c", model_id="org/model-a")  # accepted; recorded on first write
    named.upsert([rec("b")])
    assert memdb.collections()[0].model_id == "org/model-a"
    with pytest.raises(ModelMismatchError, match="model-a"):
        memdb.collection("c", model_id="org/model-b")
    memdb.collection("c").upsert([rec("c")])  # raw vectors still accepted
    assert memdb.collection("c").count() == 3


def test_create_collection_with_dimension(memdb: Database) -> None:
    col = memdb.create_collection("fixed", dimension=3, model_id="m")
    assert col.dimension == 3
    with pytest.raises(DimensionMismatchError):
        col.add(["a"], [[1.0, 2.0]])
    with pytest.raises(InvalidInputError, match="exists"):
        memdb.create_collection("fixed", exist_ok=False)
    with pytest.raises(DimensionMismatchError):
        memdb.create_collection("fixed", dimension=4)


def test_opening_never_embeds(db_path: Path) -> None:
    embedder = FakeEmbedder(dimension=8)
    with Database(db_path) as db:
        db.collection(model_id=embedder.model_id).add(["x"], embedder.embed_documents(["x"]))
    calls = embedder.document_calls + embedder.query_calls
    with Database(db_path) as db:
        col = db.collection(model_id=embedder.model_id)
        assert col.dimension == 8
    assert embedder.document_calls + embedder.query_calls == calls


def test_foreign_registry_table_is_refused(db_path: Path) -> None:
    with Database(db_path) as db:
        db.conn.execute("CREATE TABLE sqlitevec_store_collections (whatever TEXT)")
    before = file_digest(db_path)
    with pytest.raises(SchemaError, match="not written by sqlitevec-store"):
        Database(db_path)
    assert file_digest(db_path) == before


def test_newer_schema_version_is_refused(db_path: Path) -> None:
    with Database(db_path) as db:
        db.collection().upsert([rec("a")])
        db.conn.execute("UPDATE sqlitevec_store_collections SET schema_version = 99")
    with Database(db_path) as db, pytest.raises(SchemaError, match="schema version 99"):
        db.collection()


def test_not_a_database_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(SqliteVecStoreError, match="not a database"):
        Database(path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SqliteVecStoreError, match="does not exist"):
        Database(tmp_path / "nope" / "x.db")


def test_wal_and_busy_timeout(db: Database) -> None:
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_close_and_context_manager(db_path: Path) -> None:
    db = Database(db_path)
    with db:
        db.collection().upsert([rec("a")])
    assert db.closed
    with pytest.raises(SqliteVecStoreError, match="closed"):
        db.collection()
    db.close()  # idempotent


def test_transaction_rolls_back_on_error(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([rec("a", id="a")])
    with pytest.raises(RuntimeError), memdb.atomic():
        col.upsert([rec("b", id="b")])  # nested: a savepoint
        raise RuntimeError("boom")
    assert [h.id for h in col.find()] == ["a"]


def test_usable_from_threads(db: Database) -> None:
    col = db.collection()
    col.upsert([rec("seed")])
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for j in range(20):
                col.upsert([rec(f"t{n}-{j}", {"n": n})])
                col.search(EMB.vector(f"t{n}-{j}"), k=3, filter=Comparison("n", Op.EQ, n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert col.count() == 1 + 6 * 20


def test_two_connections_see_each_others_writes(db_path: Path) -> None:
    with Database(db_path) as writer, Database(db_path) as reader:
        writer.collection().upsert([rec("a", id="a")])
        assert [h.id for h in reader.collection().search(EMB.vector("a"), k=1)] == ["a"]
        writer.collection().delete(["a"])
        assert reader.collection().search(EMB.vector("a"), k=1) == []


def test_metadata_round_trip_is_exact(memdb: Database) -> None:
    meta = {
        "int": 1,
        "float": 1.5,
        "big": 2**62,
        "bool": True,
        "none": None,
        "list": [1, "two", [3], {"four": 4}],
        "nested": {"a": {"b": {"c": "d"}}},
        "unicode": "日本語 \U0001f600",
        "a.b": "dotted key",
    }
    col = memdb.collection()
    col.upsert([Record("t", [1.0, 2.0], meta, id="m")])
    assert col.get(["m"])[0].metadata == meta
    assert json.dumps(col.get(["m"])[0].metadata, sort_keys=True) == json.dumps(meta, sort_keys=True)


@pytest.mark.sqlite_only
def test_nul_characters_round_trip_in_a_file(memdb: Database) -> None:
    # Postgres cannot store NUL and refuses it (tests/postgres/test_pg_backend.py); a file keeps it.
    col = memdb.collection()
    col.upsert([Record("a\x00b", [1.0, 2.0], {"k": "x \u0000 y"}, id="m")])
    hit = col.get(["m"])[0]
    assert hit.text == "a\x00b" and hit.metadata == {"k": "x \u0000 y"}


def test_numpy_scalars_dates_and_datetimes_are_stored_in_json_form(memdb: Database) -> None:
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    meta = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "d": np.float64(1.25),
        "day": datetime.date(2024, 5, 1),
        "naive": datetime.datetime(2024, 5, 1, 12, 30),
        "aware": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=plus2),
        "nested": {"list": [np.int32(1), datetime.date(2024, 1, 2)]},
    }
    col = memdb.collection()
    col.upsert([Record("t", [1.0, 2.0], meta, id="m")])
    back = col.get(["m"])[0].metadata
    assert back == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "d": 1.25,
        "day": "2024-05-01",
        "naive": "2024-05-01T12:30:00",
        "aware": "2024-05-01T10:30:00+00:00",  # converted to UTC
        "nested": {"list": [1, "2024-01-02"]},
    }
    assert type(back["i"]) is int and type(back["b"]) is bool
    assert datetime.datetime.fromisoformat(back["aware"]) == meta["aware"]


def test_datetime_filters_compare_as_times(memdb: Database) -> None:
    utc = datetime.timezone.utc
    zones = [datetime.timezone(datetime.timedelta(hours=h)) for h in (-5, 0, 2, 9)]
    base = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=utc)
    col = memdb.collection()
    records = []
    for i in range(12):
        at = (base + datetime.timedelta(minutes=37 * i, microseconds=1000 * (i % 3))).astimezone(zones[i % 4])
        meta = {"at": at, "naive": at.replace(tzinfo=None), "day": at.date(), "n": np.int64(i)}
        records.append((Record(str(i), EMB.vector(str(i)), meta, id=str(i)), at))
    col.upsert([r for r, _ in records])
    # Strings with different offsets would not order correctly; stored in UTC they do.
    for pivot in (
        base,
        base + datetime.timedelta(hours=3, minutes=5),
        datetime.datetime(2024, 5, 1, 16, tzinfo=zones[3]),
    ):
        for op, check in (("$gt", lambda a, p: a > p), ("$lte", lambda a, p: a <= p)):
            got = {h.id for h in col.find(filter=parse_filter_dict({"at": {op: pivot}}))}
            assert got == {r.id for r, at in records if check(at, pivot)}, (op, pivot)
    naive_pivot = datetime.datetime(2024, 5, 1, 14, 0)
    got = {h.id for h in col.find(filter=parse_filter_dict({"naive": {"$lt": naive_pivot}}))}
    assert got == {r.id for r, at in records if at.replace(tzinfo=None) < naive_pivot}
    got = {h.id for h in col.find(filter=parse_filter_dict({"day": {"$gte": datetime.date(2024, 5, 2)}}))}
    assert got == {r.id for r, at in records if at.date() >= datetime.date(2024, 5, 2)}
    got = {h.id for h in col.find(filter=parse_filter_dict({"n": {"$in": [np.int64(2), np.int32(5)]}}))}
    assert got == {"2", "5"}


def test_numpy_arrays_and_nan_numpy_scalars_are_refused(memdb: Database) -> None:
    col = memdb.collection()
    with pytest.raises(InvalidInputTypeError, match=r"numpy array of shape \(3,\).*tolist"):
        col.upsert([Record("t", [1.0, 2.0], {"v": np.arange(3)})])
    with pytest.raises(InvalidInputError, match="JSON cannot hold"):
        col.upsert([Record("t", [1.0, 2.0], {"v": np.float32("nan")})])
    with pytest.raises(UnsupportedFilterError, match="finite"):
        parse_filter_dict({"v": {"$gt": np.float64("inf")}})
    assert col.count() == 0


def test_filters_on_record_columns(memdb: Database) -> None:
    col = memdb.collection()
    col.upsert([rec("a", {}, "a", doc_id="D1"), rec("b", {}, "b", doc_id="D2"), rec("c", {}, "c")])
    q = EMB.vector("a")
    assert {h.id for h in col.search(q, k=5, filter=Comparison("", Op.EQ, "D1", field="doc_id"))} == {"a"}
    assert {h.id for h in col.search(q, k=5, filter=Comparison("", Op.IS_EMPTY, field="doc_id"))} == {"c"}
    assert {h.id for h in col.search(q, k=5, filter=Comparison("", Op.IN, ["b", "c"], field="id"))} == {"b", "c"}
    both = And(
        [Comparison("", Op.NE, "D1", field="doc_id", missing_matches=True), Comparison("", Op.NE, "c", field="id")]
    )
    assert {h.id for h in col.search(q, k=5, filter=both)} == {"b"}


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, sqlitevec_store, sqlitevec_store.chunking;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'langchain', 'llama_index', 'torch', 'sentence_transformers', 'transformers')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- streaming large inputs -------------------------------------------------


def test_bad_record_in_a_late_chunk_rolls_back_everything(db: Database) -> None:
    col = db.collection()
    col.upsert([rec("keep", id="keep")])

    def records():
        for i in range(3500):
            yield Record(f"t{i}", EMB.vector(f"t{i}") if i != 2600 else [float("nan")] * 8, id=str(i))

    with pytest.raises(InvalidInputError, match="vector 2600 contains NaN"):
        col.upsert(records())
    assert col.count() == 1

    def duplicates():
        for i in range(2500):
            yield Record(f"t{i}", EMB.vector(f"t{i}"), id=str(i % 2100))

    with pytest.raises(InvalidInputError, match="'0' appears twice"):
        col.upsert(duplicates())
    assert [h.id for h in col.find()] == ["keep"]


def test_generator_memory_stays_bounded(memdb: Database) -> None:
    import tracemalloc

    col = memdb.collection()
    n, dim = 40_000, 8
    rng = np.random.default_rng(3)

    def records():
        for i in range(n):
            yield Record(f"text {i}", rng.standard_normal(dim), {"i": i}, id=f"id-{i}")

    tracemalloc.start()
    try:
        ids = col.upsert(records())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids) == n and col.count() == n
    # 40k records held at once (Record objects, float64 arrays, metadata) take
    # about 24 MiB in Python (measured; 61 MiB for 100k); streaming in chunks
    # keeps the peak to the ids list plus one chunk (measured 6.2 MiB, 6.0 on
    # Postgres; 12 MiB for 100k, the ids list growing with n).
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# --- tables the registry did not create are never adopted nor dropped (#15.3) ----


USER_OBJECTS = [
    ("fts table", "CREATE TABLE svs_notes_fts (note TEXT)", "svs_notes_fts"),
    ("items table", "CREATE TABLE svs_notes_items (note TEXT)", "svs_notes_items"),
    ("vec table", "CREATE TABLE svs_notes_vec (note TEXT)", "svs_notes_vec"),
    ("vec0 shadow table", "CREATE TABLE svs_notes_vec_chunks (note TEXT)", "svs_notes_vec_chunks"),
    ("fts5 shadow table", "CREATE TABLE svs_notes_fts_data (note TEXT)", "svs_notes_fts_data"),
    ("change log", "CREATE TABLE svs_notes_changes (note TEXT)", "svs_notes_changes"),
    ("other case", "CREATE TABLE SVS_Notes_FTS (note TEXT)", "svs_notes_fts"),
    ("view", "CREATE VIEW svs_notes_vec AS SELECT note FROM mine", "svs_notes_vec"),
    ("index", "CREATE INDEX svs_notes_items_doc_id ON mine (note)", "svs_notes_items_doc_id"),
    ("trigger", "CREATE TRIGGER svs_notes_fts_ai AFTER INSERT ON mine BEGIN SELECT 1; END", "svs_notes_fts_ai"),
]


@pytest.mark.parametrize(("kind", "create", "taken"), USER_OBJECTS, ids=[o[0] for o in USER_OBJECTS])
def test_a_users_table_named_like_ours_is_never_adopted(db_path: Path, kind: str, create: str, taken: str) -> None:
    with Database(db_path) as db:
        db.conn.execute("CREATE TABLE mine (note TEXT)")
        db.conn.execute(create)
        if create.startswith("CREATE TABLE"):
            db.conn.execute(f"INSERT INTO {taken} VALUES ('my own row')")
        db.collection("other").upsert([rec("a")])
    before = file_digest(db_path)
    with Database(db_path) as db:
        for make in (lambda: db.collection("notes"), lambda: db.create_collection("Notes", dimension=8)):
            with pytest.raises(InvalidCollectionNameError, match=f"'{taken}'.*never takes over"):
                make()
        assert not db.has_collection("notes")
        assert db.collection_names() == ["other"]
    assert file_digest(db_path) == before  # nothing written: the user's object and rows are untouched


def test_drop_collection_drops_only_the_tables_it_created(db_path: Path) -> None:
    with Database(db_path) as db:
        db.collection("notes").upsert([rec("alpha", id="a")])
        # A file where an older version adopted the user's table: it sits where the keyword index belongs.
        db.conn.execute("DROP TABLE svs_notes_fts")
        db.conn.execute("CREATE TABLE svs_notes_fts (note TEXT)")
        db.conn.execute("INSERT INTO svs_notes_fts VALUES ('my own row')")
        # A collection without vectors yet owns no vector table: this one is the user's.
        db.create_collection("empty")
        db.conn.execute("CREATE TABLE svs_empty_vec (note TEXT)")
        db.conn.execute("INSERT INTO svs_empty_vec VALUES ('mine too')")
    before = file_digest(db_path)
    with Database(db_path) as db:
        with pytest.raises(SchemaError, match="'svs_notes_fts' was not created by sqlitevec-store"):
            db.drop_collection("notes")
        with pytest.raises(SchemaError, match="'svs_empty_vec' was not created by sqlitevec-store"):
            db.drop_collection("empty")
        with pytest.raises(SchemaError, match="'svs_notes_fts'"):
            db.collection("notes")  # opening it is refused too: its keyword index is not one
        assert db.collection_names() == ["empty", "notes"]
    assert file_digest(db_path) == before
    with Database(db_path) as db:
        db.conn.execute("ALTER TABLE svs_notes_fts RENAME TO my_notes")
        db.conn.execute("ALTER TABLE svs_empty_vec RENAME TO my_vectors")
        assert db.drop_collection("notes") and db.drop_collection("empty")
        assert db.conn.execute("SELECT note FROM my_notes").fetchall() == [("my own row",)]
        assert db.conn.execute("SELECT note FROM my_vectors").fetchall() == [("mine too",)]
        assert db.conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'svs_%'").fetchall() == []


def test_collections_whose_names_extend_each_other_do_not_clash(db: Database) -> None:
    names = ["notes", "notes_fts", "notes_vec", "notes_items", "notes_changes", "notes_fts_data", "notes_vec_info"]
    owned = [set(ddl.CollectionTables(name).object_names()) for name in names]
    assert all(not (a & b) for i, a in enumerate(owned) for b in owned[i + 1 :])
    for name in names:
        db.collection(name).upsert([rec(f"word{n} {name}", id=str(n)) for n in range(3)])
    present = {row[0] for row in db.conn.execute("SELECT name FROM sqlite_master")}
    assert {f"svs_{n}_{t}" for n in names for t in ("items", "vec", "fts", "changes")} <= present
    assert db.drop_collection("notes")
    for name in names[1:]:
        col = db.collection(name)
        assert col.count() == 3 and [h.id for h in col.keyword_search(f"word1 {name}", k=1)] == ["1"]
        assert col.search(EMB.vector(f"word2 {name}"), k=1)[0].id == "2"


# --- a hand-edited registry is refused, not crashed on (#15.8) ------------------

EDITED_REGISTRY = [
    ("version 0", "schema_version = 0", "schema_version 0"),
    ("version -1", "schema_version = -1", "schema_version -1"),
    ("version text", "schema_version = 'three'", "schema_version 'three'"),
    ("version real", "schema_version = 2.5", "schema_version 2.5"),
    ("dimension disagrees", "dimension = 16", "dimension 16 but its vector table holds 8-dimensional"),
    ("dimension text", "dimension = 'eight'", "dimension 'eight'"),
    ("dimension above limit", "dimension = 9000", "dimension 9000"),
    ("dimension lost", "dimension = NULL", "vector table but the registry records no dimension"),
    ("model id blob", "model_id = x'00ff'", "model_id b"),
    ("distance", "distance = 'l2'", "distance 'l2'"),
    ("created_at", "created_at = x'00'", "created_at"),
]


@pytest.mark.parametrize(("case", "edit", "message"), EDITED_REGISTRY, ids=[e[0] for e in EDITED_REGISTRY])
def test_a_hand_edited_registry_is_refused(db_path: Path, case: str, edit: str, message: str) -> None:
    with Database(db_path) as db:
        db.collection("docs").upsert([rec("alpha", id="a"), rec("beta", id="b")])
        db.collection("other").upsert([rec("gamma", id="g")])
        db.conn.execute(f"UPDATE sqlitevec_store_collections SET {edit} WHERE name = 'docs'")
    before = file_digest(db_path)
    with Database(db_path) as db:  # opening the file works; the other collection too
        assert db.collection("other").search(EMB.vector("gamma"), k=1)[0].id == "g"
        with pytest.raises(SchemaError, match=rf"Collection 'docs' .*{message}"):
            db.collection("docs")
        if case.startswith("version"):
            with pytest.raises(SchemaError, match="'docs'"):
                db.migrate()
        else:
            assert db.migrate() == []
    assert file_digest(db_path) == before
    with Database(db_path) as db:
        assert db.drop_collection("docs")  # a damaged collection can still be dropped
        assert db.collection_names() == ["other"]
        assert db.conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'svs_docs%'").fetchone() == (0,)


def test_a_registry_row_with_an_invalid_name_is_refused(db_path: Path) -> None:
    with Database(db_path) as db:
        db.collection("docs").upsert([rec("alpha")])
        db.conn.execute("UPDATE sqlitevec_store_collections SET name = 'no such; name'")
    with Database(db_path) as db, pytest.raises(SchemaError, match="invalid collection name 'no such; name'"):
        db.collections()


def test_a_missing_vector_table_is_refused(db_path: Path) -> None:
    with Database(db_path) as db:
        db.collection("docs").upsert([rec("alpha")])
        db.conn.execute("DROP TABLE svs_docs_vec")
    with Database(db_path) as db, pytest.raises(SchemaError, match="'svs_docs_vec' is missing"):
        db.collection("docs")


def test_the_registry_check_runs_once_not_on_every_search(db: Database) -> None:
    col = db.collection("docs")
    col.upsert([rec("alpha", id="a"), rec("beta", id="b")])
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        fresh = Database(db.conn).collection("docs", index_type="vec0")
        checks = [s for s in statements if "FROM sqlite_master WHERE lower(name)" in s]
        assert len(checks) == 1  # the check ran when the collection was opened
        statements.clear()
        for _ in range(20):
            assert fresh.search(EMB.vector("alpha"), k=1)[0].id == "a"
            assert col.search(EMB.vector("beta"), k=1)[0].id == "b"
        assert not [s for s in statements if "FROM sqlite_master WHERE lower(name)" in s]
    finally:
        db.conn.set_trace_callback(None)


def test_the_registry_row_and_its_tables_are_read_in_one_state(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process's first write (dimension recorded + vector table created) lands between
    # reading the registry row and checking its tables: the check must see the row's state.
    with Database(db_path) as setup:
        setup.collection("race")
    check = ownership.check_collection_tables
    writes = []

    def write_in_between(conn: Any, info: Any) -> None:
        if not writes:
            writes.append(1)
            with Database(db_path) as other:
                other.collection("race").upsert([Record("x", [1.0, 0.0, 0.0], id="x")])
        check(conn, info)

    monkeypatch.setattr(ownership, "check_collection_tables", write_in_between)
    with Database(db_path) as db:
        col = db.collection("race")  # raised SchemaError ("vector table but ... no dimension") before
        assert writes == [1]
        assert col.info().dimension == 3
        assert [h.id for h in col.search([1.0, 0.0, 0.0], k=1)] == ["x"]


def test_a_warm_flat_search_runs_at_most_four_statements(db: Database, db_path: Path) -> None:
    col = db.collection("docs")
    col.upsert([rec(f"text {n}", {"n": n}, id=str(n)) for n in range(50)])
    query = EMB.vector("text 7")
    col.search(query, k=3)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        assert col.search(query, k=3)[0].id == "7"
    finally:
        db.conn.set_trace_callback(None)
    assert len(statements) <= 4, statements  # BEGIN, data_version, the rows, COMMIT
    # The registry entry read once and cached is read again once anything changed, other processes included.
    other = Database(db_path)
    try:
        other.collection("docs", model_id="some/model").upsert([rec("more", id="more")])
    finally:
        other.close()
    assert col.info().model_id == "some/model"
    assert col.search(EMB.vector("more"), k=1)[0].id == "more"
    other = Database(db_path)
    try:
        other.drop_collection("docs")
    finally:
        other.close()
    with pytest.raises(CollectionNotFoundError):
        col.search(query, k=1)


def test_hybrid_compiles_its_filter_once_and_mmr_normalizes_its_query_once(
    memdb: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from sqlitevec_store import queries

    # Where each backend compiles filters: SQLite's backend, Postgres's operations.
    compiling = {"SqliteBackend": "sqlite.backend", "PostgresBackend": "postgres.operations"}
    backend_module = importlib.import_module(f"sqlitevec_store.backends.{compiling[type(memdb.backend).__name__]}")

    col = memdb.collection("docs")
    col.upsert([rec(f"alpha {n}", {"n": n % 3}, id=str(n)) for n in range(30)])
    compiled: list[object] = []
    compile_filter = backend_module.compile_filter

    def counting_compile(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args[0])
        return compile_filter(*args, **kwargs)

    monkeypatch.setattr(backend_module, "compile_filter", counting_compile)
    where = parse_filter_dict({"n": 1})
    hits = col.hybrid_search(EMB.vector("alpha 4"), "alpha", k=3, filter=where)
    assert hits and all(h.metadata["n"] == 1 for h in hits)
    assert len(compiled) == 1
    normalized: list[int] = []
    vector_matrix = queries.vector_matrix

    def counting_matrix(*args: Any, **kwargs: Any) -> Any:
        normalized.append(1)
        return vector_matrix(*args, **kwargs)

    monkeypatch.setattr(queries, "vector_matrix", counting_matrix)
    assert len(col.mmr(EMB.vector("alpha 4"), k=3, fetch_k=10)) == 3
    assert len(normalized) == 1


# --- sqlite-vec's dimension limit (#15.5) ---------------------------------------


@pytest.mark.sqlite_only
def test_vec0_max_dimension_is_sqlite_vecs_own_limit(memdb: Database) -> None:
    assert MAX_DIMENSION == VEC0_MAX_DIMENSION  # the core's limit is the file's, so every collection fits a file
    memdb.conn.execute(f"CREATE VIRTUAL TABLE widest USING vec0(embedding float[{VEC0_MAX_DIMENSION}])")
    with pytest.raises(database_errors(), match="too large"):
        memdb.conn.execute(f"CREATE VIRTUAL TABLE too_wide USING vec0(embedding float[{VEC0_MAX_DIMENSION + 1}])")


def test_a_dimension_above_sqlite_vecs_limit_is_refused_before_writing(db: Database, db_path: Path) -> None:
    db.collection("docs")
    before = file_digest(db_path)
    too_wide = VEC0_MAX_DIMENSION + 1
    with pytest.raises(InvalidInputError, match=f"{too_wide}, above sqlite-vec's limit of {VEC0_MAX_DIMENSION}"):
        db.create_collection("wide", dimension=too_wide)
    with pytest.raises(InvalidInputError, match=f"above sqlite-vec's limit of {VEC0_MAX_DIMENSION}"):
        db.collection("docs").upsert([Record("wide", np.ones(too_wide), id="w")])
    assert file_digest(db_path) == before
    assert db.collection("docs").dimension is None and db.collection_names() == ["docs"]
    widest = db.create_collection("widest", dimension=VEC0_MAX_DIMENSION)
    widest.upsert([Record("widest", np.ones(VEC0_MAX_DIMENSION), id="w")])
    assert widest.search(np.ones(VEC0_MAX_DIMENSION), k=1)[0].id == "w"


@pytest.mark.parametrize("read_only", [False, True])
def test_a_directory_is_a_clear_error(tmp_path: Path, read_only: bool) -> None:
    with pytest.raises(SqliteVecStoreError, match="is a directory") as info:
        Database(tmp_path, read_only=read_only)
    assert "Pass the path of a database file" in str(info.value)


def test_ef_search_per_query_is_checked_and_ignored_where_no_hnsw_walk_happens(memdb: Database) -> None:
    col = memdb.collection("docs")
    col.upsert([rec(f"alpha {n}", {"n": n}, id=str(n)) for n in range(20)])
    query = EMB.vector("alpha 3")
    want = [h.id for h in col.search(query, k=3)]
    assert [h.id for h in col.search(query, k=3, ef_search=10)] == want  # exact: no walk to size
    assert len(col.mmr(query, k=2, fetch_k=6, ef_search=10)) == 2
    assert len(col.hybrid_search(query, "alpha", k=2, ef_search=10)) == 2
    for bad in (0, 1001):
        with pytest.raises(InvalidInputError, match="ef_search"):
            col.search(query, k=3, ef_search=bad)
        with pytest.raises(InvalidInputError, match="ef_search"):
            col.hybrid_search(query, "alpha", k=3, ef_search=bad)
