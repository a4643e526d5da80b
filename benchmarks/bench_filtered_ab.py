"""Filtered search latency at 100K, for comparing two checkouts side by side on one file.

Build the file once, then run it from each checkout in turn (alternate, several rounds):

    PYTHONPATH=<tree> .venv/bin/python benchmarks/bench_filtered_ab.py /tmp/ab.db build
    PYTHONPATH=<tree_a> .venv/bin/python benchmarks/bench_filtered_ab.py /tmp/ab.db run
    PYTHONPATH=<tree_b> .venv/bin/python benchmarks/bench_filtered_ab.py /tmp/ab.db run

Data: the perf corpus (``perf_corpus.py``; 20K real MiniLM vectors plus noisy copies up to 100K,
``bucket = i % 100``). Prints the median latency (ms, k = 10, 200 queries after 20 warm-up) of
``flat`` and ``rescore`` without a filter and with filters matching 50%, 10% and 1% of rows.
"""

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf_corpus

from sqlitevec_store import Database, Record, parse_filter_dict

FILTERS = {
    "none": None,
    "50%": {"bucket": {"$lt": 50}},
    "10%": {"bucket": {"$in": list(range(10))}},
    "1%": {"bucket": 7},
}


def build(path: Path, corpus: perf_corpus.PerfCorpus, n: int = 100_000) -> None:
    rng = np.random.default_rng(0)
    base = corpus.vectors
    picks = rng.integers(0, len(base), n - len(base))
    noisy = base[picks] + rng.normal(0, 0.05, (n - len(base), base.shape[1])).astype(np.float32)
    x = np.concatenate([base, noisy])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with Database(path) as db:
        c = db.collection("bench")
        for start in range(0, n, 10_000):
            stop = min(n, start + 10_000)
            c.upsert([Record(f"t{i}", x[i].tolist(), {"bucket": i % 100}, id=str(i)) for i in range(start, stop)])


def run(path: Path, queries: np.ndarray) -> str:
    out = []
    with Database(path) as db:
        for index_type in ("flat", "rescore"):
            c = db.collection("bench", index_type=index_type)
            for name, spec in FILTERS.items():
                tree = parse_filter_dict(spec) if spec else None
                for v in queries[:20]:
                    c.search(v, k=10, filter=tree)
                times = []
                for v in queries:
                    t = time.perf_counter()
                    c.search(v, k=10, filter=tree)
                    times.append(time.perf_counter() - t)
                out.append(f"{index_type}/{name}={statistics.median(times) * 1000:.3f}")
    return " ".join(out)


def main() -> None:
    path, mode = Path(sys.argv[1]), sys.argv[2]
    corpus = perf_corpus.load(build=False)
    if mode == "build":
        build(path, corpus)
    else:
        print(run(path, corpus.query_vectors[:200]))


if __name__ == "__main__":
    main()
