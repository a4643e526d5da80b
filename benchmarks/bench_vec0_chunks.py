"""vec0's chunk_size side by side: inserts, KNN and a full read at 100K x 384 (issue #13.9).

One file per chunk size, filled and queried in turns (round robin), so a noisy shared machine
slows every size alike. Prints medians and minimums.

    .venv/bin/python benchmarks/bench_vec0_chunks.py --n 100000 --dim 384 --sizes 16 128 256 1024
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from sqlitevec_store.backends.sqlite.connection import open_connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=41)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 256, 1024])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1)[:, None]
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    folder = tempfile.mkdtemp()
    conns = {}
    for size in args.sizes:
        conns[size] = open_connection(os.path.join(folder, f"chunks_{size}.db"))
        conns[size].execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{args.dim}], chunk_size={size})")
    timings: dict[str, dict[int, list[float]]] = {
        k: {s: [] for s in args.sizes} for k in ("bulk", "small", "knn", "read")
    }

    def timed(kind: str, size: int, work: object) -> None:
        start = time.perf_counter()
        work()  # type: ignore[operator]
        timings[kind][size].append(time.perf_counter() - start)

    def insert(conn: object, first: int, rows: range) -> None:
        conn.execute("BEGIN")  # type: ignore[attr-defined]
        conn.executemany(  # type: ignore[attr-defined]
            "INSERT INTO v (rowid, embedding) VALUES (?, ?)", ((first + i, matrix[i].tobytes()) for i in rows)
        )
        conn.execute("COMMIT")  # type: ignore[attr-defined]

    step = max(args.n // 10, 1)
    for start in range(0, args.n, step):
        for size, conn in conns.items():
            timed("bulk", size, lambda c=conn, s=start: insert(c, 1, range(s, min(s + step, args.n))))
    knn = "SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = 10"
    read = (
        "SELECT c.size, c.validity, c.rowids, v.vectors FROM v_chunks c "
        "JOIN v_vector_chunks00 v ON v.rowid = c.chunk_id"
    )
    for n, query in enumerate(queries):
        for size, conn in conns.items():
            timed("knn", size, lambda c=conn, q=query: c.execute(knn, (q.tobytes(),)).fetchall())
            if n % 4 == 0:
                timed("read", size, lambda c=conn: c.execute(read).fetchall())
                timed("small", size, lambda c=conn, n=n: insert(c, args.n + 1 + 10 * n, range(10)))
    for size, conn in conns.items():
        conn.close()
        path = os.path.join(folder, f"chunks_{size}.db")
        megabytes = os.path.getsize(path) / 2**20
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        t = {kind: timings[kind][size] for kind in timings}
        print(
            f"chunk_size={size:5d}: insert {step:,}/transaction median {statistics.median(t['bulk']):.2f} s; "
            f"10-row transaction median {statistics.median(t['small']) * 1000:.1f} ms; "
            f"KNN k=10 median {statistics.median(t['knn']) * 1000:.1f} ms (min {min(t['knn']) * 1000:.1f}); "
            f"read every chunk median {statistics.median(t['read']) * 1000:.0f} ms; file {megabytes:.1f} MiB"
        )
    os.rmdir(folder)


if __name__ == "__main__":
    main()
