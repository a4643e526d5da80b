"""Migration between a file and Postgres, both ways, and ``--db`` with a URL (a real Postgres: the pg_url fixture)."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from sqlitevec_store import Database, Record
from sqlitevec_store import cli as cli_module
from sqlitevec_store.migration import VERIFY_K, migrate, verify
from tests.cli_support import run_cli as run
from tests.fakes import FakeEmbedder
from tests.migration_support import (
    MODEL_ID,
    Interrupt,
    add_app_state,
    assert_same_app_state,
    assert_same_collection,
    interrupt_after,
    nudge_vector,
    source_store,
    vector,
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = source_store(tmp_path / "source.db", docs=45, plain=("other", 6))
    with Database(path) as db:
        db.create_collection("unused", model_id="some/model")
    return path


def test_file_to_postgres_to_file_loses_nothing(source: Path, pg_url: str, tmp_path: Path) -> None:
    there = migrate(source, pg_url, batch_size=10)
    assert there.ok, there.summary()
    assert [(c.name, c.copied) for c in there.collections] == [("docs", 45), ("other", 6), ("unused", 0)]
    back_path = tmp_path / "back.db"
    back = migrate(pg_url, back_path, batch_size=7)
    assert back.ok, back.summary()
    with Database(source, read_only=True) as a, Database(pg_url) as pg, Database(back_path, read_only=True) as b:
        for name in ("docs", "other"):
            assert_same_collection(a, pg, name)
            assert_same_collection(a, b, name)
        assert [h.id for h in pg.collection("docs", create=False).find()] == [f"rec-{n:05d}" for n in range(45)]
        assert pg.collection("docs", create=False).info().model_id == MODEL_ID
        infos = {info.name: (info.dimension, info.model_id) for info in b.collections()}
    assert infos == {"docs": (12, MODEL_ID), "other": (12, None), "unused": (None, "some/model")}


def test_a_rerun_into_postgres_skips_everything(source: Path, pg_url: str) -> None:
    migrate(source, pg_url)
    report = migrate(source, pg_url)
    assert [(c.copied, c.updated, c.skipped) for c in report.collections] == [(0, 0, 45), (0, 0, 6), (0, 0, 0)]
    assert report.ok


def test_extreme_numbers_survive_postgres(tmp_path: Path, pg_url: str) -> None:
    """jsonb keeps numbers as numeric and prints them without exponent: they must still come back as they went."""
    path = tmp_path / "numbers.db"
    metadata = {"max": 1.7976931348623157e308, "tiny": 5e-324, "e": 1e300, "neg": -1.5e-10, "i": -(2**63)}
    with Database(path) as db:
        db.create_collection("docs").upsert([Record("x", [1.0, 0.0], metadata, id="x")])
    assert migrate(path, pg_url).ok
    with Database(pg_url) as pg:
        stored = pg.collection("docs", create=False).get(["x"])[0].metadata
    assert stored == metadata
    assert {k: type(v) for k, v in stored.items()} == {k: type(v) for k, v in metadata.items()}


def test_an_interrupted_run_into_postgres_resumes(source: Path, pg_url: str) -> None:
    with pytest.raises(Interrupt):
        migrate(source, pg_url, collections=["docs"], batch_size=10, progress=interrupt_after(2))
    with Database(pg_url) as pg:
        assert pg.collection("docs", create=False).count() == 20
    report = migrate(source, pg_url, collections=["docs"], batch_size=10)
    docs = report.collections[0]
    assert (docs.copied, docs.updated, docs.skipped) == (25, 0, 20)
    assert report.ok
    with Database(source, read_only=True) as a, Database(pg_url) as pg:
        assert_same_collection(a, pg, "docs")


def test_an_interrupted_run_out_of_postgres_resumes(source: Path, pg_url: str, tmp_path: Path) -> None:
    migrate(source, pg_url)
    copy = tmp_path / "copy.db"
    with pytest.raises(Interrupt):
        migrate(pg_url, copy, collections=["docs"], batch_size=8, progress=interrupt_after(3))
    report = migrate(pg_url, copy, collections=["docs"], batch_size=8)
    assert [(c.copied, c.skipped) for c in report.collections] == [(21, 24)]
    assert report.ok


def test_verification_catches_a_changed_vector_in_postgres(source: Path, pg_url: str) -> None:
    assert migrate(source, pg_url).ok
    with Database(pg_url) as pg:
        nudge_vector(pg, "rec-00004")
    report = verify(source, pg_url, collections=["docs"], sample=45)
    assert not report.ok
    verification = report.collections[0].verification
    assert verification is not None and verification.counts_match
    assert "rec-00004" in {m.query_id for m in verification.mismatches}
    # A re-run puts the source's vector back (an update), and then verification passes.
    fixed = migrate(source, pg_url, collections=["docs"], sample=45)
    assert (fixed.collections[0].updated, fixed.collections[0].skipped) == (1, 44)
    assert fixed.ok


def test_verification_catches_a_record_deleted_in_postgres(source: Path, pg_url: str) -> None:
    assert migrate(source, pg_url).ok
    with Database(pg_url) as pg:
        assert pg.collection("docs", create=False).delete(["rec-00040"]) == 1
    report = verify(source, pg_url)
    assert "FAILED: counts differ (source 45, target 44)" in report.collections[0].summary()
    assert not report.ok and report.collections[1].ok


def test_records_only_postgres_holds_are_reported(source: Path, pg_url: str) -> None:
    migrate(source, pg_url)
    with Database(pg_url) as pg:
        pg.collection("other", create=False).upsert([Record("mine", vector(900), id="pg-only")])
    report = migrate(source, pg_url)
    other = report.collections[1]
    assert (other.extra_in_target, other.extra_ids) == (1, ["pg-only"])
    assert not report.ok


def test_ties_from_postgres(tmp_path: Path, pg_url: str) -> None:
    same = vector(3)
    tied = [Record(f"t{n}", same, id=f"tie-{n:02d}") for n in range(VERIFY_K + 4)]
    with Database(pg_url) as pg:
        pg.create_collection("docs").upsert([*(Record("o", vector(n), id=f"o{n}") for n in range(8)), *tied])
    copy = tmp_path / "copy.db"
    with Database(copy) as db:
        db.create_collection("docs").upsert(list(reversed(tied)))
    report = migrate(pg_url, copy, sample=22)
    assert report.ok, report.collections[0].summary()
    assert (report.collections[0].copied, report.collections[0].skipped) == (8, 14)


def test_metadata_text_survives_a_round_trip_through_postgres(source: Path, pg_url: str, tmp_path: Path) -> None:
    migrate(source, pg_url, collections=["docs"])
    copy = tmp_path / "copy.db"
    migrate(pg_url, copy, collections=["docs"])
    with Database(source, read_only=True) as a, Database(copy, read_only=True) as b:
        original = dict(a.conn.execute("SELECT id, metadata FROM svs_docs_items").fetchall())
        copied = dict(b.conn.execute("SELECT id, metadata FROM svs_docs_items").fetchall())
    assert copied == original  # byte for byte: Postgres returns the JSON as written, key order included


# --- the command line ----------------------------------------------------------


def test_cli_file_to_postgres_and_back(source: Path, pg_url: str, tmp_path: Path) -> None:
    there = run("migrate", str(source), pg_url, "-q", "--batch-size", "9")
    assert there.stdout.splitlines() == [
        "docs: copied 45, updated 0, skipped 0; verified: counts and 20 searches OK",
        "other: copied 6, updated 0, skipped 0; verified: counts and 6 searches OK",
        "unused: copied 0, updated 0, skipped 0; verified: counts and 0 searches OK",
    ]
    copy = tmp_path / "copy.db"
    back = run("migrate", pg_url, str(copy), "-q", "--collection", "docs")
    assert back.stdout.startswith("docs: copied 45, updated 0, skipped 0; verified: counts and 20 searches OK")
    with Database(source, read_only=True) as a, Database(copy, read_only=True) as b:
        assert_same_collection(a, b, "docs")


def test_cli_failed_verification_against_postgres_exits_1(source: Path, pg_url: str) -> None:
    run("migrate", str(source), pg_url, "-q")
    with Database(pg_url) as pg:
        pg.collection("docs", create=False).upsert([Record("stray", vector(901), id="stray")])
    result = run("migrate", str(source), pg_url, "-q", code=1)
    assert "FAILED: counts differ (source 45, target 46)" in result.stdout
    assert "Error: The migration from" in result.stderr


def test_every_command_takes_a_url(source: Path, pg_url: str, tmp_path: Path) -> None:
    migrate(source, pg_url)
    stats = json.loads(run("stats", "--db", pg_url, "--json").stdout)
    assert {c["name"]: c["count"] for c in stats["collections"]} == {"docs": 45, "other": 6, "unused": 0}
    exported = run("export", "--db", pg_url, "--collection", "docs").stdout.splitlines()
    assert [json.loads(line)["id"] for line in exported] == [f"rec-{n:05d}" for n in range(45)]
    hits = run("query", "text", "--db", pg_url, "--collection", "docs", "--mode", "keyword", "--json").stdout
    assert hits.strip()
    missing = run("query", "x", "--db", pg_url, "--collection", "nope", "--mode", "keyword", code=1)
    assert "No collection named 'nope'" in missing.stderr
    run("drop", "--db", pg_url, "--collection", "unused", "--yes")
    with Database(pg_url) as pg:
        assert pg.collection_names() == ["docs", "other"]
    assert not any(tmp_path.glob("postgres*")) and not Path("postgresql:").exists()


def test_a_url_password_is_not_printed(source: Path, pg_url: str) -> None:
    assert "postgres:@" in pg_url  # the test server trusts local connections: any password is accepted
    secret = pg_url.replace("postgres:@", "postgres:s3cret@", 1)
    migrate(source, secret, collections=["other"])
    for args in (["stats", "--db", secret], ["stats", "--db", secret, "--json"], ["migrate", str(source), secret]):
        assert "s3cret" not in run(*args).output
    report = migrate(source, secret, verify=False)
    assert report.target.startswith("postgresql://postgres:***@/") and "s3cret" not in report.summary()
    assert json.loads(run("stats", "--db", secret, "--json").stdout)["path"].startswith("postgresql://postgres:***@/")


def test_memory_stays_bounded_out_of_postgres(tmp_path: Path, pg_url: str) -> None:
    """Streaming from Postgres reads one page at a time (keyset paging), not the whole table."""
    path = tmp_path / "big.db"
    total = 20_000
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((total, 8))
    with Database(path) as db:
        db.create_collection("docs").upsert(
            Record("x" * 300 + str(n), matrix[n], {"n": n, "pad": "y" * 50}, id=f"r{n}") for n in range(total)
        )
    assert migrate(path, pg_url, batch_size=2000, verify=False).ok
    gc.collect()
    tracemalloc.start()
    try:
        report = migrate(pg_url, tmp_path / "back.db", batch_size=500, sample=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.collections[0].copied == total
    # The whole collection would be over 8 MB of Python objects (texts and metadata alone).
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_index_import_and_compact_take_a_url(
    source: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands that write: index (ids relative to the current directory: a URL has no folder), import, compact."""
    monkeypatch.setattr(cli_module, "make_embedder", lambda name, backend=None: FakeEmbedder(dimension=16))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nFirst.\n\n## B\n\nSecond.\n")
    run("index", "docs", "--db", pg_url, "--collection", "notes", "-q")
    with Database(pg_url) as pg:
        assert sorted(h.id for h in pg.collection("notes", create=False).find()) == ["docs/a.md#0", "docs/a.md#1"]
    dump = tmp_path / "dump.jsonl"
    run("export", "--db", str(source), "--collection", "docs", "--vectors", "-o", str(dump))
    run("import", str(dump), "--db", pg_url, "--collection", "docs", "-q")
    run("compact", "--db", pg_url, "--all")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "dump.jsonl", "source.db"]  # no file for the URL
    with Database(source, read_only=True) as a, Database(pg_url) as pg:
        assert_same_collection(a, pg, "docs")


def test_app_state_file_to_postgres_and_back_exactly(source: Path, pg_url: str, tmp_path: Path) -> None:
    with Database(source) as db:
        add_app_state(db)
    there = migrate(source, pg_url, batch_size=6)
    assert there.ok, there.summary()
    assert len(there.app_state) == 4 and all(a.verified for a in there.app_state)
    back_path = tmp_path / "back.db"
    back = migrate(pg_url, back_path, batch_size=5)
    assert back.ok, back.summary()
    with Database(source, read_only=True) as a, Database(pg_url) as pg, Database(back_path, read_only=True) as b:
        assert_same_app_state(a, pg)
        assert_same_app_state(a, b)
        assert pg.key_value("parents").get("raw") == bytes(range(256))
        assert pg.record_keys("sqlite/docs").list_keys(group_ids=["src-1"]) == [
            "hash-001",
            "hash-009",
            "hash-013",
            "hash-017",
            "hash-021",
        ]
    again = migrate(source, pg_url)
    assert sum(a.copied for a in again.app_state) == 0 and verify(source, pg_url).ok
