"""Core write and search timings on synthetic vectors; prints a table, asserts nothing.

Run:  python benchmarks/bench_core.py [--n 100000] [--dim 384] [--queries 50]

Random unit vectors are used (a worst case for any index, and enough for
exact-search timings, which do not depend on the data). Every search is checked
against a numpy brute force, so the figures are for exact results. Also times
vec0's ``distance_metric=cosine`` against the L2-on-normalized-vectors layout the
core uses, to show why the core stores unit vectors.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlite_vec

from sqlitevec_store import Comparison, Database, Op, Record
from sqlitevec_store.backends.sqlite.connection import open_connection


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, d = args.n, args.dim
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, d)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    groups = np.arange(n) % 1000  # group 7 matches 0.1% of rows

    print(f"# {platform.machine()}, {platform.python_version()}, sqlite-vec {sqlite_vec.__version__}, n={n}, dim={d}")
    with tempfile.TemporaryDirectory() as tmp, Database(Path(tmp) / "bench.db") as db:
        col = db.collection("bench")
        started = time.perf_counter()
        batch = 10_000
        for s in range(0, n, batch):
            col.upsert(
                Record(text=f"t{i}", vector=x[i], metadata={"g": int(groups[i])}, id=str(i))
                for i in range(s, min(n, s + batch))
            )
        write = time.perf_counter() - started
        print(f"upsert: {n / write:,.0f} records/s ({write:.1f} s, batches of {batch})")

        cases = [
            ("no filter", None, np.ones(n, bool)),
            ("g == 7 (0.1%)", Comparison("g", Op.EQ, 7), groups == 7),
            ("g < 500 (50%)", Comparison("g", Op.LT, 500), groups < 500),
        ]
        print("| search, k=10 | p50 ms | p95 ms | exact |")
        print("|---|---|---|---|")
        for name, tree, mask in cases:
            times, results = [], []
            for q in queries:
                started = time.perf_counter()
                results.append(col.search(q, k=10, filter=tree))
                times.append(time.perf_counter() - started)
            # Check afterwards: BLAS threads spinning after a numpy product would
            # steal the second core from the next timed search.
            exact = True
            for q, hits in zip(queries, results, strict=True):
                scores = x @ q
                scores[~mask] = -np.inf
                exact &= {h.id for h in hits} == {str(i) for i in np.argsort(-scores)[:10]}
            print(f"| {name} | {pct(times, 50):.1f} | {pct(times, 95):.1f} | {exact} |")
        times = []
        for q in queries:
            started = time.perf_counter()
            np.argpartition(-(x @ q), 10)[:10]
            times.append(time.perf_counter() - started)
        print(f"| numpy X @ q + argpartition (floor) | {pct(times, 50):.1f} | {pct(times, 95):.1f} | True |")

    # Metric layout: vec0 cosine vs L2 over unit vectors (what the core stores).
    conn = open_connection(":memory:")
    for metric in ("l2", "cosine"):
        table = f"v_{metric}"
        conn.execute(f"CREATE VIRTUAL TABLE {table} USING vec0(embedding float[{d}] distance_metric={metric})")
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO {table}(rowid, embedding) VALUES (?, ?)", ((i + 1, x[i].tobytes()) for i in range(n))
        )
        conn.execute("COMMIT")
        times = []
        for q in queries:
            started = time.perf_counter()
            conn.execute(f"SELECT rowid FROM {table} WHERE embedding MATCH ? AND k = 10", (q.tobytes(),)).fetchall()
            times.append(time.perf_counter() - started)
        print(f"raw vec0 distance_metric={metric}: p50 {pct(times, 50):.1f} ms")
    conn.close()


if __name__ == "__main__":
    main()
