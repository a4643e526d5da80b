"""A process writing and searching through its own pool (tests/postgres/test_pg_backend.py)."""

from __future__ import annotations

import sys

import numpy as np

from sqlitevec_store import Database, Record


def run(url: str, worker: int, batches: int, size: int) -> None:
    """Upsert ``batches`` batches of ``size`` records, searching after each."""
    rng = np.random.default_rng(worker)
    with Database(url) as db:
        col = db.collection("shared")
        for b in range(batches):
            records = [
                Record(f"p{worker} b{b} r{i}", rng.normal(size=8), {"worker": worker}, id=f"p{worker}-{b}-{i}")
                for i in range(size)
            ]
            col.upsert(records)
            assert len(col.search(rng.normal(size=8), k=5)) == 5


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
