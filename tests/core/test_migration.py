"""Migration between two stores (file -> file here; tests/postgres runs the same with Postgres on one side)."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sqlitevec_store import Database, Record
from sqlitevec_store.backends.sqlite import ddl, statements
from sqlitevec_store.errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    InvalidInputError,
    MigrationVerificationError,
    ModelMismatchError,
    SqliteVecStoreError,
)
from sqlitevec_store.migration import VERIFY_K, MigrationReport, migrate, verify
from sqlitevec_store.opening import display_location, is_postgres_url
from tests.migration_support import (
    MODEL_ID,
    TRICKY_METADATA,
    Interrupt,
    add_app_state,
    assert_same_app_state,
    assert_same_collection,
    interrupt_after,
    nudge_vector,
    records,
    source_store,
    vector,
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A store with two collections: "docs" (50 records, every column used) and "other" (7, no model)."""
    return source_store(tmp_path / "source.db", docs=50, plain=("other", 7))


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "target.db"


# --- the backend's keyset paging ----------------------------------------------


def test_page_streams_records_in_pk_order_across_gaps(tmp_path: Path) -> None:
    with Database(tmp_path / "p.db") as db:
        collection = db.create_collection("docs")
        collection.upsert(records(30))
        collection.delete([f"rec-{n:05d}" for n in (0, 5, 6, 7, 29)])
        collection.upsert(records(1, start=5))  # re-inserted: a new pk, at the end
        backend, info = db.backend, collection.info()
        pages, after = [], 0
        while page := backend.page(info, after, 4):
            assert len(page) <= 4
            pages.append(page)
            after = page[-1].pk
        rows = [row for page in pages for row in page]
        pks = [row.pk for row in rows]
        assert pks == sorted(pks) and len(set(pks)) == len(pks)
        assert [row.id for row in rows] == [hit.id for hit in collection.find()]
        assert rows[-1].id == "rec-00005"
        assert [len(page) for page in pages] == [4] * 6 + [2]
        assert backend.page(info, pks[-1], 10) == []
        assert backend.page(info, 0, 1)[0] == rows[0]
        middle = backend.page(info, pks[9], 3)
        assert middle == rows[10:13]
        stored = json.loads(rows[1].metadata)
        assert stored["n"] == 2 and stored["unicode"] == TRICKY_METADATA["unicode"]


def test_page_seeks_by_pk_instead_of_scanning() -> None:
    """Each page is an index seek: the plan searches the rowid, so a page costs O(limit) however far in."""
    with Database(":memory:") as db:
        db.create_collection("docs").upsert(records(3))
        sql = statements.page_items_sql(ddl.CollectionTables("docs"))
        plan = " ".join(str(row[-1]) for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", {"after": 1, "limit": 2}))
    assert "SEARCH" in plan and "rowid>?" in plan.replace(" ", ""), plan


# --- a complete copy -------------------------------------------------------------


def test_copies_every_collection_with_everything_it_holds(source: Path, target: Path) -> None:
    report = migrate(source, target, batch_size=8)
    assert report.ok
    assert [c.name for c in report.collections] == ["docs", "other"]
    docs = report.collections[0]
    assert (docs.copied, docs.updated, docs.skipped, docs.source_count) == (50, 0, 0, 50)
    assert (docs.dimension, docs.model_id) == (12, MODEL_ID)
    assert docs.verification is not None and docs.verification.ok
    assert docs.verification.queries == 20
    assert docs.summary() == "docs: copied 50, updated 0, skipped 0; verified: counts and 20 searches OK"
    assert report.summary() == (f"2 collections from {source} to {target}: copied 57, updated 0, skipped 0; OK")
    with Database(source, read_only=True) as a, Database(target, read_only=True) as b:
        for name in ("docs", "other"):
            assert_same_collection(a, b, name)
        assert b.collection("other", create=False).info().model_id is None
        # Insertion order is kept, and keyword search works on the copy.
        assert [h.id for h in b.collection("docs", create=False).find()] == [f"rec-{n:05d}" for n in range(50)]
        assert b.collection("docs", create=False).keyword_search("text 7", k=50)


def test_round_trip_loses_nothing(source: Path, tmp_path: Path) -> None:
    middle, back = tmp_path / "middle.db", tmp_path / "back.db"
    assert migrate(source, middle, batch_size=16).ok
    assert migrate(middle, back, batch_size=7).ok
    with Database(source, read_only=True) as a, Database(back, read_only=True) as b:
        assert_same_collection(a, b, "docs")
        assert_same_collection(a, b, "other")


def test_metadata_is_written_in_the_cores_json_form(tmp_path: Path, target: Path) -> None:
    """Metadata text written by another engine (spaces, reordered keys, 1e-300 spelled out) is stored canonically."""
    path = tmp_path / "odd.db"
    with Database(path) as db:
        collection = db.create_collection("docs")
        collection.upsert([Record("a", [1.0, 0.0], {"b": 1, "a": 1e-300}, id="x")])
        with db.atomic() as conn:
            conn.execute(
                "UPDATE svs_docs_items SET metadata = ? WHERE id = 'x'",
                ('{"b": 1,   "a": 0.' + "0" * 299 + "1}",),
            )
    assert migrate(path, target).ok
    with Database(target, read_only=True) as db:
        (stored,) = db.conn.execute("SELECT metadata FROM svs_docs_items").fetchone()
    assert stored == '{"b":1,"a":1e-300}'


def test_only_the_named_collections(source: Path, target: Path) -> None:
    report = migrate(source, target, collections=["OTHER"])
    assert [c.name for c in report.collections] == ["other"]
    with Database(target, read_only=True) as db:
        assert db.collection_names() == ["other"]


def test_an_empty_collection_and_one_without_vectors(tmp_path: Path, target: Path) -> None:
    path = tmp_path / "empty.db"
    with Database(path) as db:
        db.create_collection("never_written", model_id="some/model")
        emptied = db.create_collection("emptied", dimension=3)
        emptied.upsert([Record("a", [1.0, 2.0, 3.0], id="a")])
        emptied.delete(["a"])
    report = migrate(path, target)
    assert report.ok
    assert [(c.name, c.copied, c.verification.queries if c.verification else None) for c in report.collections] == [
        ("emptied", 0, 0),
        ("never_written", 0, 0),
    ]
    with Database(target, read_only=True) as db:
        infos = {info.name: (info.dimension, info.model_id) for info in db.collections()}
    assert infos == {"emptied": (3, None), "never_written": (None, "some/model")}


def test_open_databases_are_used_and_left_open(source: Path) -> None:
    with Database(source, read_only=True) as a, Database(":memory:") as b:
        report = migrate(a, b, collections=["docs"])
        assert report.ok and not a.closed and not b.closed
        assert report.target == ":memory:"
        assert_same_collection(a, b, "docs")


# --- refusals before anything is written ------------------------------------------


def test_a_missing_collection_writes_nothing(source: Path, target: Path) -> None:
    with pytest.raises(CollectionNotFoundError, match=r"'nope'.*it has: docs, other"):
        migrate(source, target, collections=["docs", "nope"])
    assert not target.exists()


def test_a_missing_source_file_is_not_created(tmp_path: Path, target: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        migrate(tmp_path / "missing.db", target)
    assert not (tmp_path / "missing.db").exists() and not target.exists()


def test_the_same_store_on_both_sides_is_refused(source: Path) -> None:
    with pytest.raises(InvalidInputError, match="same store"):
        migrate(source, source.parent / "." / source.name)


@pytest.mark.parametrize(
    ("dimension", "model_id", "error"),
    [(3, MODEL_ID, DimensionMismatchError), (12, "another/model", ModelMismatchError)],
)
def test_a_target_collection_of_another_shape_is_refused(
    source: Path, target: Path, dimension: int, model_id: str, error: type[Exception]
) -> None:
    with Database(target) as db:
        db.create_collection("docs", dimension=dimension, model_id=model_id)
    with pytest.raises(error):
        migrate(source, target)
    with Database(target, read_only=True) as db:
        assert db.collection_names() == ["docs"]  # "other" was not copied either
        assert db.collection("docs", create=False).count() == 0


@pytest.mark.parametrize(("batch_size", "sample"), [(0, 20), (10, -1), (True, 20)])
def test_bad_counts(source: Path, target: Path, batch_size: Any, sample: Any) -> None:
    with pytest.raises(SqliteVecStoreError):
        migrate(source, target, batch_size=batch_size, sample=sample)


# --- resuming -------------------------------------------------------------------------


def test_an_interrupted_run_keeps_its_batches_and_a_rerun_resumes(source: Path, target: Path) -> None:
    with pytest.raises(Interrupt):
        migrate(source, target, collections=["docs"], batch_size=10, progress=interrupt_after(2))
    with Database(target, read_only=True) as db:
        assert [h.id for h in db.collection("docs", create=False).find()] == [f"rec-{n:05d}" for n in range(20)]
    report = migrate(source, target, collections=["docs"], batch_size=10)
    docs = report.collections[0]
    assert (docs.copied, docs.updated, docs.skipped) == (30, 0, 20)
    assert report.ok
    with Database(source, read_only=True) as a, Database(target, read_only=True) as b:
        assert_same_collection(a, b, "docs")


def test_a_rerun_updates_records_that_differ_and_skips_the_rest(source: Path, target: Path) -> None:
    migrate(source, target)
    with Database(target) as db:
        docs = db.collection("docs", create=False)
        docs.upsert([Record("changed text", vector(1), {"n": 1}, id="rec-00001")])
        docs.upsert([Record("text 2 üü", vector(99), dict(TRICKY_METADATA, n=2, part=2), id="rec-00002")])
        original = docs.get(["rec-00003"])[0]
        docs.upsert([Record(original.text, vector(3), {**original.metadata, "n": 4}, id="rec-00003")])
        docs.upsert([Record(original.text, vector(3), original.metadata, id="rec-00003", doc_id="moved")])
    report = migrate(source, target, collections=["docs"])
    docs_result = report.collections[0]
    assert (docs_result.copied, docs_result.updated, docs_result.skipped) == (0, 3, 47)
    with Database(source, read_only=True) as a, Database(target, read_only=True) as b:
        assert_same_collection(a, b, "docs")


def test_key_order_and_number_spelling_do_not_count_as_changes(source: Path, target: Path) -> None:
    migrate(source, target)
    with Database(target) as db, db.atomic() as conn:
        for pk, metadata in conn.execute("SELECT pk, metadata FROM svs_docs_items").fetchall():
            reordered = dict(reversed(list(json.loads(metadata).items())))
            text = json.dumps(reordered, indent=1).replace("1e-300", "0." + "0" * 299 + "1")
            conn.execute("UPDATE svs_docs_items SET metadata = ? WHERE pk = ?", (text, pk))
    docs = migrate(source, target, collections=["docs"]).collections[0]
    assert (docs.copied, docs.updated, docs.skipped) == (0, 0, 50)


def test_records_only_the_target_holds_are_kept_and_reported(source: Path, target: Path) -> None:
    migrate(source, target)
    with Database(target) as db:
        db.collection("docs", create=False).upsert([Record("mine", vector(500), id="target-only")])
    report = migrate(source, target)
    docs = report.collections[0]
    assert (docs.extra_in_target, docs.extra_ids) == (1, ["target-only"])
    assert docs.verification is not None and not docs.verification.counts_match
    assert not report.ok and report.collections[1].ok
    assert "the target holds 1 records the source does not ('target-only')" in docs.summary()
    assert "counts differ (source 50, target 51)" in docs.summary()
    with pytest.raises(MigrationVerificationError, match="target-only"):
        report.raise_for_failure()
    with Database(target, read_only=True) as db:
        assert db.collection("docs", create=False).get(["target-only"])


# --- verification -----------------------------------------------------------------------


def test_verification_catches_a_changed_vector(source: Path, target: Path) -> None:
    assert migrate(source, target).ok
    with Database(target) as db:
        nudge_vector(db, "rec-00010")
    report = verify(source, target, sample=50)
    docs_result = report.collections[0]
    assert not report.ok and docs_result.verification is not None
    assert docs_result.verification.counts_match
    mismatched = {m.query_id for m in docs_result.verification.mismatches}
    assert "rec-00010" in mismatched
    assert "searches differ" in docs_result.summary()
    assert report.collections[1].ok
    with pytest.raises(MigrationVerificationError):
        report.raise_for_failure()


def test_verification_catches_a_deleted_record(source: Path, target: Path) -> None:
    assert migrate(source, target).ok
    with Database(target) as db:
        db.collection("docs", create=False).delete(["rec-00031"])
    report = verify(source, target)
    docs = report.collections[0]
    assert docs.verification is not None
    assert (docs.verification.source_count, docs.verification.target_count) == (50, 49)
    assert "FAILED: counts differ (source 50, target 49)" in docs.summary()
    assert not report.ok


def test_verify_is_read_only_and_needs_the_collection_on_the_target(source: Path, target: Path) -> None:
    migrate(source, target, collections=["docs"])
    before = target.read_bytes()
    assert verify(source, target, collections=["docs"]).ok
    assert target.read_bytes() == before
    with pytest.raises(CollectionNotFoundError, match="other"):
        verify(source, target)


def test_ties_may_come_back_in_another_order(tmp_path: Path, target: Path) -> None:
    """Records with equal scores (here: equal vectors) may be picked in another order or at the cut."""
    path = tmp_path / "ties.db"
    same = vector(1)
    tied = [Record(f"t{n}", same, id=f"tie-{n:02d}") for n in range(VERIFY_K + 5)]
    with Database(path) as db:
        db.create_collection("docs").upsert([*tied, *(Record("o", vector(n), id=f"o{n}") for n in range(10))])
    with Database(target) as db:  # the target inserted the tied records in the reverse order
        db.create_collection("docs").upsert(list(reversed(tied)))
    report = migrate(path, target, sample=25)
    docs = report.collections[0]
    assert (docs.copied, docs.skipped) == (10, 15)
    assert report.ok, docs.summary()


def test_no_verify(source: Path, target: Path) -> None:
    report = migrate(source, target, verify=False)
    assert report.ok and all(c.verification is None for c in report.collections)
    assert report.collections[0].summary().endswith("; not verified")


def test_the_report_is_plain_data(source: Path, target: Path) -> None:
    report = migrate(source, target, collections=["other"], sample=3)
    assert isinstance(report, MigrationReport)
    other = report.collections[0]
    assert other.verification is not None and other.verification.queries == 3


# --- bounded memory --------------------------------------------------------------------


def test_memory_stays_bounded_by_a_batch(tmp_path: Path, target: Path) -> None:
    """30,000 records of ~400 bytes of text and metadata (12 MB): the copy holds about one batch at a time."""
    path = tmp_path / "big.db"
    total, dimension = 30_000, 8
    rng = np.random.default_rng(0)
    with Database(path) as db:
        collection = db.create_collection("docs")
        for start in range(0, total, 10_000):
            matrix = rng.standard_normal((10_000, dimension))
            collection.upsert(
                Record("x" * 300 + str(start + n), matrix[n], {"n": start + n, "pad": "y" * 50}, id=f"r{start + n}")
                for n in range(10_000)
            )
    gc.collect()
    tracemalloc.start()
    try:
        report = migrate(path, target, batch_size=500, sample=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.collections[0].copied == total
    # Everything at once would take over 12 MB of Python objects (texts and metadata alone); measured ~1.1 MiB.
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# --- locations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("store.db", "store.db"),
        ("postgresql://me@host/db", "postgresql://me@host/db"),
        ("postgresql://me:s3cr%40t@host:5433/db?sslmode=require", "postgresql://me:***@host:5433/db?sslmode=require"),
        ("postgres:///db?host=/tmp/sock&password=pw", "postgres:///db?host=/tmp/sock&password=***"),
    ],
)
def test_display_location_hides_passwords(location: str, shown: str) -> None:
    assert display_location(location) == shown


@pytest.mark.parametrize(
    ("location", "expected"),
    [("postgresql://h/db", True), ("POSTGRES://h/db", True), ("postgresql.db", False), ("./postgres://x", False)],
)
def test_is_postgres_url(location: str, expected: bool) -> None:
    assert is_postgres_url(location) is expected


# --- the app state beside the collections --------------------------------------------


def test_the_app_state_is_copied_exactly_and_verified(source: Path, target: Path) -> None:
    with Database(source) as db:
        add_app_state(db)
    report = migrate(source, target)
    assert report.ok, report.summary()
    kinds = {(a.kind, a.namespace): a.copied for a in report.app_state}
    assert kinds == {
        ("key-value", "parents"): 29,
        ("key-value", "llama_index/docstore/data"): 1,
        ("key-value", f"sqlitevec_store.embeddings/{MODEL_ID}"): 2,
        ("record keys", "sqlite/docs"): 26,
    }
    assert all(a.verified for a in report.app_state)
    assert "app state: 4 namespaces, copied 58 entries; OK" in report.summary()
    with Database(source, read_only=True) as a, Database(target, read_only=True) as b:
        assert_same_app_state(a, b)
    again = migrate(source, target, batch_size=7)
    assert again.ok and [a.copied for a in again.app_state] == [0, 0, 0, 0]
    assert sum(a.skipped for a in again.app_state) == 58
    assert verify(source, target).ok


def test_the_target_clock_never_runs_behind_the_copied_keys(source: Path, target: Path) -> None:
    with Database(source) as db:
        add_app_state(db)
        newest = max(row.updated_at for row in db.backend.app_state.rk_page("sqlite/docs", None, 100)[0])
    migrate(source, target)
    with Database(target) as db:
        assert db.record_keys("sqlite/docs").now() > newest


def test_app_state_verification_catches_differences(source: Path, target: Path) -> None:
    with Database(source) as db:
        add_app_state(db)
    migrate(source, target)
    with Database(target) as db:
        db.key_value("parents").put("doc-003", {"n": -1})
        db.key_value("parents").put("only-here", b"x")
        db.record_keys("sqlite/docs").delete_keys(["hash-001"])
    report = verify(source, target)
    failed = {a.namespace: a.differences for a in report.app_state if not a.ok}
    assert failed == {"parents": 2, "sqlite/docs": 1}
    with pytest.raises(MigrationVerificationError, match="parents"):
        report.raise_for_failure()
    # copying again repairs what differs (nothing on the target is deleted: "only-here" stays)
    repaired = migrate(source, target)
    assert [a.copied for a in repaired.app_state if a.copied] == [1, 1]
    assert not repaired.ok  # the extra entry is still reported


def test_naming_collections_leaves_the_app_state_unless_asked(source: Path, target: Path) -> None:
    with Database(source) as db:
        add_app_state(db)
    assert migrate(source, target, collections=["docs"]).app_state == []
    assert len(migrate(source, target, collections=["docs"], app_state=True).app_state) == 4
