"""SIGKILL during ``index()``: after a re-run, the vector store and the record manager agree exactly.

A child process (``tests/langchain/_index_worker.py``) runs
``langchain_core.indexing.index()`` with :class:`SQLiteVecRecordManager` and
:class:`SQLiteVecVectorStore` (embedding cache on) over a file, and is killed
at a random moment, round after round, each round a new version of the corpus
(edits and deletions, ``cleanup="full"``). ``index()`` writes each batch to
the store, then to the record manager, and cleans up (store, then manager)
after the last batch: a kill leaves at most one batch known to one side only.
The parent then re-runs ``index()`` to completion and checks that every
record-manager key is in the store and vice versa, with the right texts,
metadata and vectors. The kill helpers are shared (tests/kill_support.py).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
from langchain_core.indexing import index

from sqlitevec_store import Database
from tests.core.test_reliability import integrity
from tests.kill_support import kill_after_start, posix_only
from tests.langchain._index_worker import INDEX_KWARGS, corpus, open_app
from tests.langchain.indexing_checks import assert_agree, stored

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 5


def kill_during_index(path: Path, version: int, delay: float) -> bool:
    """Run the worker on ``corpus(version)``, SIGKILL it ``delay`` s after it starts; whether it finished first."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-m", "tests.langchain._index_worker", str(path), str(version)]
    return kill_after_start(argv, delay, env=env, start_timeout=120).finished


@posix_only
def test_sigkill_during_index_then_rerun_leaves_store_and_record_manager_in_agreement(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    rng = random.Random()
    landed_inside = 0
    batch = INDEX_KWARGS["batch_size"]
    for version in range(1, ROUNDS + 1):
        delay = rng.uniform(0.02, 0.4)
        finished = kill_during_index(path, version, delay)
        landed_inside += not finished
        where = f"version {version}, killed {delay:.3f} s after START"

        app = open_app(path)
        try:
            assert integrity(app.store.database) == ["ok"], where
            # At most one batch is known to one side only (written to the store, not yet recorded; or
            # deleted from the store, not yet forgotten).
            ids, keys = set(stored(app.store)), set(app.record_manager.list_keys())
            assert len(ids - keys) <= batch and len(keys - ids) <= INDEX_KWARGS["cleanup_batch_size"], where
            assert not (ids - keys and keys - ids), where

            docs = corpus(version)
            result = index(docs, app.record_manager, app.store, **INDEX_KWARGS)
            assert result["num_added"] + result["num_skipped"] == len(docs), where
            assert_agree(app.store, app.record_manager, docs)
            embedding = app.store.embeddings
            hits = app.store.collection.find(include_vectors=True)
            expected = np.asarray(embedding.embed_documents([h.text for h in hits]), dtype=np.float32)
            expected /= np.linalg.norm(expected, axis=1, keepdims=True)  # the store keeps unit vectors
            np.testing.assert_allclose(np.vstack([h.vector for h in hits]), expected, atol=1e-6)
            again = index(docs, app.record_manager, app.store, **INDEX_KWARGS)
            assert again == {"num_added": 0, "num_updated": 0, "num_skipped": len(docs), "num_deleted": 0}, where
        finally:
            app.store.close()
    assert landed_inside >= 2, f"only {landed_inside} of {ROUNDS} kills landed inside index(): the test proved little"
    with Database(path) as db:
        assert db.record_keys("sqlitevec/docs").count() == len(corpus(ROUNDS))
