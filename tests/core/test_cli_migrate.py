"""``sqlitevec-store migrate`` and ``--db`` taking a URL, driven through click's runner (file -> file here)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sqlitevec_store import Database, Record
from sqlitevec_store import migration as migration_module
from sqlitevec_store.cli import cli
from sqlitevec_store.cli._options import StoreLocationType, open_existing, undo_new_file
from tests.cli_support import run_cli as run
from tests.migration_support import MODEL_ID, assert_same_collection, source_store, vector


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return source_store(tmp_path / "source.db", docs=30, plain=("notes", 4))


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "target.db"


def test_migrate_prints_one_line_per_collection(source: Path, target: Path) -> None:
    result = run("migrate", str(source), str(target), "--quiet")
    assert result.stdout.splitlines() == [
        "docs: copied 30, updated 0, skipped 0; verified: counts and 20 searches OK",
        "notes: copied 4, updated 0, skipped 0; verified: counts and 4 searches OK",
    ]
    assert result.stderr == ""
    assert not Path(f"{source}-wal").exists() and not Path(f"{source}-shm").exists()  # only read: left as it was
    with Database(source, read_only=True) as a, Database(target, read_only=True) as b:
        assert_same_collection(a, b, "docs")
        assert b.collection("docs", create=False).info().model_id == MODEL_ID


def test_migrate_shows_progress_on_stderr(source: Path, target: Path) -> None:
    result = run("migrate", str(source), str(target), "--collection", "docs")
    assert "Migrating docs (30 records): 30/30 (100%)" in result.stderr
    assert result.stdout.startswith("docs: copied 30")


def test_a_rerun_skips_what_is_there(source: Path, target: Path) -> None:
    run("migrate", str(source), str(target), "-q", "--collection", "docs", "--batch-size", "7")
    result = run("migrate", str(source), str(target), "-q", "--collection", "docs", "--collection", "notes")
    assert result.stdout.splitlines()[0].startswith("docs: copied 0, updated 0, skipped 30; verified")
    assert result.stdout.splitlines()[1].startswith("notes: copied 4,")


def test_an_interrupted_run_resumes(source: Path, target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_upsert = migration_module.Collection.upsert
    calls = 0

    def crashing_upsert(self: migration_module.Collection, batch: object) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return real_upsert(self, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(migration_module.Collection, "upsert", crashing_upsert)
    result = CliRunner().invoke(cli, ["migrate", str(source), str(target), "-q", "--batch-size", "10"])
    assert result.exit_code != 0
    monkeypatch.undo()
    with Database(target, read_only=True) as db:
        assert db.collection("docs", create=False).count() == 20
    result = run("migrate", str(source), str(target), "-q", "--batch-size", "10")
    assert result.stdout.splitlines()[0].startswith("docs: copied 10, updated 0, skipped 20; verified: counts")


def test_a_failed_verification_exits_with_status_1(source: Path, target: Path) -> None:
    run("migrate", str(source), str(target), "-q")
    with Database(target) as db:
        db.collection("docs", create=False).upsert([Record("only here", vector(77), id="stray")])
    result = run("migrate", str(source), str(target), "-q", code=1)
    assert "docs: copied 0, updated 0, skipped 30; the target holds 1 records the source does not ('stray')" in (
        result.stdout
    )
    assert "FAILED: counts differ (source 30, target 31)" in result.stdout
    assert result.stderr.startswith("Error: The migration from ")


def test_no_verify_and_errors(source: Path, target: Path, tmp_path: Path) -> None:
    result = run("migrate", str(source), str(target), "-q", "--no-verify", "--collection", "notes")
    assert result.stdout == "notes: copied 4, updated 0, skipped 0; not verified\n"
    missing = run("migrate", str(source), str(tmp_path / "t2.db"), "--collection", "nope", code=1)
    assert "No collection named 'nope' in the source (it has: docs, notes)" in missing.stderr
    assert not (tmp_path / "t2.db").exists()
    assert "does not exist" in run("migrate", str(tmp_path / "none.db"), str(target), code=1).stderr
    assert "Invalid value" in run("migrate", str(source), str(target), "--collection", "bad name!", code=2).stderr
    assert "Invalid value" in run("migrate", str(source), str(target), "--batch-size", "0", code=2).stderr


def test_an_empty_source(tmp_path: Path, target: Path) -> None:
    empty = tmp_path / "empty.db"
    Database(empty).close()
    assert run("migrate", str(empty), str(target)).stdout == f"No collections in {empty}.\n"


def test_help_says_file_or_url() -> None:
    text = run("migrate", "--help").stdout
    assert "Usage: cli migrate [OPTIONS] SRC DST" in text
    assert "(each a FILE or postgresql:// URL)" in text
    for command in ("index", "query", "stats", "compact", "export", "import", "drop"):
        help_text = " ".join(run(command, "--help").stdout.split())
        assert "--db FILE|URL The store: FILE or postgresql:// URL. [required]" in help_text, command


# --- --db: a URL is not a file -------------------------------------------------


@pytest.mark.parametrize("url", ["postgresql://me@localhost/rag", "postgres://h/db?sslmode=require"])
def test_a_url_stays_a_string(url: str) -> None:
    assert StoreLocationType().convert(url, None, None) == url


def test_a_file_becomes_a_path(tmp_path: Path) -> None:
    assert StoreLocationType().convert(str(tmp_path / "x.db"), None, None) == tmp_path / "x.db"
    with pytest.raises(click.BadParameter, match="directory"):
        StoreLocationType().convert(str(tmp_path), None, None)


def test_undo_new_file_leaves_a_url_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError), undo_new_file("postgresql://h/db"):
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_open_existing_does_not_look_for_a_url_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL goes to Database as it is: no "does not exist" from the file system, no -wal handling."""
    opened: list[tuple[object, bool]] = []

    class Recorder:
        def __init__(self, location: object, *, read_only: bool) -> None:
            opened.append((location, read_only))

        def __enter__(self) -> Recorder:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    from sqlitevec_store.cli import _options

    monkeypatch.setattr(_options, "Database", Recorder)
    with open_existing("postgresql://h/db", read_only=True) as db:
        assert isinstance(db, Recorder)
    assert opened == [("postgresql://h/db", True)]
