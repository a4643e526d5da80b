"""The whole LlamaIndex app in one file: reload in a fresh process, and SIGKILL during an ingestion.

The child processes are ``tests/llamaindex/_app_worker.py``. The SIGKILL
test reads the child's lines with the crash tests' shared helper (``tests/kill_support.py``,
with a timeout).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llamaindex_sqlitevec import SQLiteVecDocumentStore, SQLiteVecVectorStore
from sqlitevec_store import Database
from tests.fakes import FAKE_MODEL_ID
from tests.kill_support import read_line
from tests.llamaindex._app_worker import SPLITTER, ingest_documents

pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL and select() on pipes"),
]

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _worker(*args: str) -> Any:
    """Run the worker to completion; its stdout's last line, parsed."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.llamaindex._app_worker", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_fresh_process_reloads_the_index_and_answers_the_same(tmp_path: Path) -> None:
    path = str(tmp_path / "app.db")
    built = _worker("build", path)
    reloaded = _worker("query", path)
    assert reloaded["document_vectors_computed"] == 0  # nothing re-embedded: only the queries
    assert reloaded["hits"] == built["hits"]  # same nodes, same scores, same order
    assert all(len(hits) == 4 for hits in built["hits"])
    assert reloaded["ref_docs"] == built["ref_docs"]
    assert sorted(built["ref_docs"]) == sorted(f"doc-{i}" for i in range(12))
    assert reloaded["doc_hashes"] == built["doc_hashes"]  # the documents' hashes and the nodes'
    assert sorted(built["doc_hashes"].values()) == sorted([*built["ref_docs"], *built["vector_nodes"]])
    assert reloaded["docstore_nodes"] == reloaded["vector_nodes"] == built["vector_nodes"]
    assert len(built["vector_nodes"]) == 12
    # One file: no persist directory, no JSON files beside it.
    assert {p.name for p in tmp_path.iterdir()} <= {"app.db", "app.db-wal", "app.db-shm"}
    with Database(path) as db:
        spaces = {space.namespace for space in db.app_state().key_value}
        assert spaces == {
            "llama_index/docstore/data",
            "llama_index/docstore/metadata",
            "llama_index/docstore/ref_doc_info",
            "llama_index/index_store/data",
        }
        assert db.collection_names() == ["default"]


# -- SIGKILL during an ingestion ----------------------------------------------------------

DOCS, BATCH = 1000, 25


def _kill_after(path: Path, batches: int | None, extra: float) -> list[str]:
    """Start an ingestion; once it has printed ``batches`` batch lines, wait ``extra`` s and SIGKILL it.

    ``batches=None`` lets it run to the end. Returns the lines it printed.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.llamaindex._app_worker", "ingest", str(path), str(DOCS), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    lines: list[str] = []
    try:
        lines.append(read_line(proc, 60).strip())
        assert lines[0] == "START", lines[0] + proc.communicate(timeout=30)[1]
        if batches is not None:
            while sum(line.startswith("BATCH") for line in lines) < batches:
                lines.append(read_line(proc, 60).strip())
            time.sleep(extra)  # somewhere inside a later batch's transaction
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (-signal.SIGKILL, 0), err
    return lines + out.splitlines()


def _agreement(path: Path) -> int:
    """The file is sound and vectors, docstore and embedding cache agree exactly; how many documents are in."""
    expected = {doc.id_: doc for doc in ingest_documents(DOCS)}
    chunks = {doc_id: len(SPLITTER.get_nodes_from_documents([doc])) for doc_id, doc in expected.items()}
    with Database(path) as db:
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if not db.has_collection("default"):
            assert db.app_state().key_value == []
            return 0
        vector_store = SQLiteVecVectorStore(database=db, model_id=FAKE_MODEL_ID)
        docstore = SQLiteVecDocumentStore.from_vector_store(vector_store)
        nodes = vector_store.get_nodes()
        per_doc = Counter(node.ref_doc_id for node in nodes)
        in_docstore = set(docstore.docs)
        assert set(per_doc) == in_docstore  # every document in both or in neither
        assert {doc_id: per_doc[doc_id] for doc_id in in_docstore} == {d: chunks[d] for d in in_docstore}
        for doc_id in in_docstore:
            assert docstore.get_document_hash(doc_id) == expected[doc_id].hash
        assert set(docstore.get_all_document_hashes().values()) == in_docstore
        cache = db.embedding_cache(FAKE_MODEL_ID)
        assert all(v is not None for v in cache.lookup([n.get_content(metadata_mode="embed") for n in nodes]))
        assert len(in_docstore) % BATCH == 0  # whole batches only
        return len(in_docstore)


def test_sigkill_during_an_ingestion_leaves_vectors_and_docstore_in_agreement(tmp_path: Path) -> None:
    rng = random.Random(12)
    path = tmp_path / "app.db"
    progress = [0]
    interrupted = 0
    batches = DOCS // BATCH
    for _ in range(5):
        done = progress[-1] // BATCH
        lines = _kill_after(path, min(done + rng.randint(1, 5), batches - 2), rng.uniform(0.0, 0.05))
        interrupted += "DONE" not in lines
        progress.append(_agreement(path))  # consistent after every kill, not only at the end
        assert progress[-1] > progress[-2], progress
    assert interrupted >= 4, progress
    assert progress[-1] < DOCS, progress
    lines = _kill_after(path, None, 0.0)  # the re-run to completion
    assert lines[-1] == "DONE"
    assert _agreement(path) == DOCS
