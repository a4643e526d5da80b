"""Per-search overhead of our Postgres path over raw SQL, each query run by every contender in turn.

Run (after ``pip install -e ".[all,dev]"``):
    python benchmarks/bench_pg_overhead.py            # ~2 min: 20K random 384-d vectors, 500 queries x 3 rounds

``bench_postgres.py`` measures each contender on a block of 200 queries per
round; this one interleaves per query (raw SQL, the same statement through
the backend's pool, ``backend.knn``, ``Collection.search``, then the next
query), so drift and cache state hit every contender alike, and reports
each one's median over all queries. The statement is the one our HNSW walk
sends (``WHERE TRUE ... LIMIT %(k)s``, binary vectors), with
``hnsw.ef_search`` 40 and k = 10. It measures what our layers add per call,
not recall (see ``bench_postgres.py`` for that).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def main() -> None:
    """Build the collection, then time the contenders interleaved per query."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="vectors in the collection")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import pgserver
    import psycopg

    from sqlitevec_store import Database, Record
    from sqlitevec_store.backends.postgres.connection import prepare_connection
    from sqlitevec_store.options import IndexOptions

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(args.n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(args.queries, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory(prefix="svs-overhead-") as pgdata:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        url = server.get_uri()
        url += ("&" if "?" in url else "?") + "options=-csearch_path%3Dpublic"
        options = IndexOptions("hnsw", ef_search=40)
        with Database(url) as db:
            db.collection("c").upsert(Record(f"text {i}", v, {"i": i}, id=str(i)) for i, v in enumerate(vectors))
            collection = db.collection("c", options=options)
            collection.search(queries[0], k=10)  # builds the HNSW index
            info = collection.info()
            backend = db.backend
            with psycopg.connect(url, autocommit=True) as conn:
                prepare_connection(conn, read_only=False)
                table = conn.execute("SELECT table_id FROM sqlitevec_store_collections").fetchone()[0]
                conn.execute("SET hnsw.ef_search = 40")
                sql = (
                    "SELECT pk, id, text, metadata_text, doc_id, extra, embedding <=> %(q)b AS distance "
                    f"FROM svs_c{int(table)} WHERE TRUE ORDER BY embedding <=> %(q)b LIMIT %(k)s"
                )

                def raw(q: Any) -> object:
                    return conn.execute(sql, {"q": q, "k": 10}, binary=True).fetchall()

                def pooled(q: Any) -> object:
                    with backend.connection.connection() as pooled_conn:
                        return pooled_conn.execute(sql, {"q": q, "k": 10}, binary=True).fetchall()

                contenders: dict[str, Callable[[Any], object]] = {
                    "raw SQL (one connection)": raw,
                    "raw SQL through the backend's pool": pooled,
                    "backend.knn": lambda q: backend.knn(info, q, 10, None, False, options=options),
                    "Collection.search": lambda q: collection.search(q, k=10),
                }
                for run in contenders.values():  # warm: statements prepared, caches filled
                    for q in queries[:50]:
                        run(q)
                times: dict[str, list[float]] = {name: [] for name in contenders}
                for _ in range(args.rounds):
                    for q in queries:
                        for name, run in contenders.items():
                            started = time.perf_counter()
                            run(q)
                            times[name].append(time.perf_counter() - started)
    base = float(np.median(times["raw SQL (one connection)"]))
    print(f"{args.n} vectors, {args.queries} queries x {args.rounds} rounds, interleaved per query, k=10, ef_search=40")
    print("| contender | p50 ms | x raw SQL |\n|---|---|---|")
    for name, values in times.items():
        p50 = float(np.median(values))
        print(f"| {name} | {p50 * 1e3:.2f} | {p50 / base:.2f} |")


if __name__ == "__main__":
    main()
