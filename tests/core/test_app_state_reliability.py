"""Crash safety of the app state: SIGKILL while records, key-value entries and record keys are written together.

The child (``tests/core/_worker.py app``) writes batches in which one
``db.atomic()`` block upserts records, puts key-value entries, stamps record
keys and caches vectors; the parent kills it at random moments. Afterwards
the file passes SQLite's integrity check and the four agree exactly: every
batch is in all of them or in none. A huge ``put_many`` killed midway is all
there or absent.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from sqlitevec_store import Database
from tests.kill_support import kill_after_start

WORKER = Path(__file__).with_name("_worker.py")

pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL and select() on pipes"),
]


def _kill_after(path: Path, batches: int, delay: float) -> str:
    """Kill the child ``delay`` s after its ``batches``-th batch line (0: after ``START``, in the bulk write)."""
    argv = [sys.executable, str(WORKER), "app", str(path), "40", "50"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return kill_after_start(argv, delay, env=env, after_lines=batches).out


def _check(path: Path) -> int:
    """The file is sound and records, entries, record keys and cache agree; how many batches are in."""
    with Database(path) as db:
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {hit.id for hit in db.collection("app").find()} if db.has_collection("app") else set()
        parents = set(db.key_value("parents").keys())
        keys = set(db.record_keys("index").list_keys())
        assert ids == parents == keys
        cached = db.embedding_cache("fake").lookup([f"text of {i}" for i in sorted(ids)])
        assert all(vector is not None for vector in cached)
        assert len(db.embedding_cache("fake")) == len(ids)
        bulk = db.key_value("bulk").count()
        assert bulk in (0, 20_000), bulk
        batches = {i.split("-")[0] for i in ids}
        assert all(sum(1 for i in ids if i.startswith(b)) == 50 for b in batches)
        if ids:
            assert bulk == 20_000  # written before the first batch
        return len(batches)


def test_sigkill_while_writing_records_and_app_state_together(tmp_path: Path) -> None:
    rng = random.Random(12)
    landed_inside = 0
    for trial in range(6):
        path = tmp_path / f"app-{trial}.db"
        # the first kill lands in the bulk write, the others a random number of batches in
        out = _kill_after(path, 0 if trial == 0 else rng.randrange(1, 39), rng.uniform(0.0, 0.02))
        batches = _check(path)
        printed = sum(1 for line in out.splitlines() if line.startswith("BATCH"))
        assert batches in (printed, printed + 1)  # a batch may commit just before its line is printed
        landed_inside += "DONE" not in out
        if trial == 0:  # a re-run after the crash completes, and everything still agrees
            done = subprocess.run(
                [sys.executable, str(WORKER), "app", str(path), "40", "50"],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
                check=True,
            )
            assert "DONE" in done.stdout
            assert _check(path) == 40
    assert landed_inside >= 3, "the kills all landed after the child finished: the test proved nothing"
