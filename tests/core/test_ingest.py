"""Files -> chunks -> records, synced by content hash, called from Python (no command line)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from sqlitevec_store import Database
from sqlitevec_store.errors import InvalidInputError, ModelMismatchError
from sqlitevec_store.ingest import HASH_KEY, MAX_CHARS_KEY, collect_files, sync_files
from sqlitevec_store.progress import Progress
from tests.fakes import FakeEmbedder


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / ".hidden").mkdir(parents=True)
    (folder / "a.md").write_text("# A\n\nAlpha text.\n\n## B\n\nBeta text.\n")
    (folder / "n.txt").write_text("One.\n\nTwo.\n")
    (folder / ".hidden" / "x.md").write_text("# X\n\nnot indexed\n")
    (folder / "image.png").write_bytes(b"\x89PNG")
    return folder


def test_sync_embeds_only_what_changed(tmp_path: Path, docs: Path) -> None:
    embedder = FakeEmbedder()
    with Database(tmp_path / "store.db") as db:
        first = sync_files(db, "docs", [str(docs)], embedder)
        assert (first.files_indexed, first.chunks_embedded, first.total) == (2, 3, 3)
        hit = db.collection("docs").get(["docs/a.md#0"])[0]
        assert hit.doc_id == "docs/a.md" and hit.metadata["source"] == "docs/a.md"
        assert set(hit.extra or {}) == {HASH_KEY, MAX_CHARS_KEY}
        assert db.collection("docs").info().model_id == embedder.model_id

        # unchanged: nothing embedded
        embedded = embedder.texts_embedded
        again = sync_files(db, "docs", [str(docs)], embedder)
        assert (again.files_indexed, again.files_unchanged, again.chunks_embedded) == (0, 2, 0)
        assert embedder.texts_embedded == embedded

        # edited: only that file's chunks are embedded, its old chunks replaced
        (docs / "n.txt").write_text("One, edited.\n")
        edited = sync_files(db, "docs", [str(docs)], embedder)
        assert (edited.files_indexed, edited.chunks_embedded, edited.chunks_deleted) == (1, 1, 1)
        assert embedder.texts_embedded == embedded + 1
        assert [h.text for h in db.collection("docs").find(doc_ids=["docs/n.txt"])] == ["One, edited."]

        # removed: its chunks are deleted
        (docs / "a.md").unlink()
        removed = sync_files(db, "docs", [str(docs)], embedder)
        assert (removed.files_removed, removed.chunks_deleted, removed.chunks_embedded) == (1, 2, 0)
        assert {h.doc_id for h in db.collection("docs").find()} == {"docs/n.txt"}

        # another max_chars re-splits every file
        resplit = sync_files(db, "docs", [str(docs)], embedder, max_chars=500)
        assert resplit.files_indexed == 1


def test_sync_reports_progress_and_loads_before_embedding(tmp_path: Path, docs: Path) -> None:
    out = io.StringIO()
    calls: list[str] = []
    with Database(tmp_path / "store.db") as db:
        sync_files(
            db,
            "docs",
            [str(docs)],
            FakeEmbedder(),
            batch_size=1,
            progress=lambda total, label: Progress(total, label, stream=out, interval=0, tty=False),
            before_embedding=lambda: calls.append("load"),
        )
        assert calls == ["load"]
        assert "Embedding 3 chunks from 2 files: 3/3 (100%)" in out.getvalue()
        calls.clear()
        sync_files(db, "docs", [str(docs)], FakeEmbedder(), before_embedding=lambda: calls.append("load"))
        assert calls == []  # nothing to embed, nothing loaded


def test_a_failed_first_write_leaves_no_collection(tmp_path: Path, docs: Path) -> None:
    class Broken(FakeEmbedder):
        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("model failed")

    with Database(tmp_path / "store.db") as db:
        with pytest.raises(RuntimeError, match="model failed"):
            sync_files(db, "docs", [str(docs)], Broken())
        assert not db.has_collection("docs")


def test_sync_refuses_another_model_and_replaces_an_unbuilt_one(tmp_path: Path, docs: Path) -> None:
    with Database(tmp_path / "store.db") as db:
        sync_files(db, "docs", [str(docs)], FakeEmbedder(model_id="m/one"))
        with pytest.raises(ModelMismatchError):
            sync_files(db, "docs", [str(docs)], FakeEmbedder(model_id="m/two"))
        db.create_collection("empty", model_id="m/one")
        summary = sync_files(db, "empty", [str(docs)], FakeEmbedder(model_id="m/two"))
        assert summary.replaced_model == "m/one"
        assert db.collection("empty").info().model_id == "m/two"


def test_collect_files(tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    warnings: list[str] = []
    found = collect_files(["docs", "docs/a.md", "nothing/*.md"], warn=warnings.append)
    assert [Path(f).relative_to(tmp_path).as_posix() for f in found.files] == ["docs/a.md", "docs/n.txt"]
    assert warnings == ["no files match 'nothing/*.md'"]
    assert str(tmp_path / "nothing") in found.roots
    with pytest.raises(InvalidInputError, match="no such file or folder"):
        collect_files(["missing.md"])


def _paragraph(file: int, n: int, edited: bool = False) -> str:
    return f"File {file} paragraph {n}: some words about topic {n % 7}" + (" (edited)" if edited else "") + "."


def test_editing_one_paragraph_of_a_1000_chunk_folder_embeds_one_chunk(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    for f in range(20):
        (folder / f"f{f:02d}.txt").write_text("\n\n".join(_paragraph(f, n) for n in range(50)) + "\n")
    embedder = FakeEmbedder()
    loads: list[str] = []
    with Database(tmp_path / "store.db") as db:
        first = sync_files(db, "big", [str(folder)], embedder, max_chars=80)
        assert (first.chunks_written, first.chunks_embedded, first.chunks_reused, first.total) == (1000, 1000, 0, 1000)

        paragraphs = [_paragraph(7, n, edited=(n == 20)) for n in range(50)]
        (folder / "f07.txt").write_text("\n\n".join(paragraphs) + "\n")
        before = embedder.texts_embedded
        edited = sync_files(
            db, "big", [str(folder)], embedder, max_chars=80, before_embedding=lambda: loads.append("x")
        )
        assert (edited.files_indexed, edited.chunks_written, edited.chunks_embedded, edited.chunks_reused) == (
            1,
            50,
            1,
            49,
        )
        assert embedder.texts_embedded == before + 1 and loads == ["x"]
        hit = db.collection("big").get(["big/f07.txt#20"], include_vectors=True)[0]
        np.testing.assert_allclose(hit.vector, embedder.vector(paragraphs[20]), atol=1e-6)

        # rebuilding the whole collection from scratch: every vector from the cache, the model never loaded
        db.drop_collection("big")
        loads.clear()
        calls = embedder.document_calls
        rebuilt = sync_files(
            db, "big", [str(folder)], embedder, max_chars=80, before_embedding=lambda: loads.append("x")
        )
        assert (rebuilt.chunks_written, rebuilt.chunks_embedded, rebuilt.chunks_reused) == (1000, 0, 1000)
        assert embedder.document_calls == calls and loads == []


def test_cache_can_be_turned_off(tmp_path: Path, docs: Path) -> None:
    embedder = FakeEmbedder()
    with Database(tmp_path / "store.db") as db:
        sync_files(db, "docs", [str(docs)], embedder, cache_embeddings=False)
        assert db.app_state().key_value == []
        db.drop_collection("docs")
        again = sync_files(db, "docs", [str(docs)], embedder, cache_embeddings=False)
        assert (again.chunks_embedded, again.chunks_reused) == (3, 0)
        assert embedder.texts_embedded == 6
