"""Search, insert, memory and embedding performance, side by side, on real vectors.

Run (after ``pip install -r benchmarks/requirements-bench.txt``):
    python benchmarks/perf_corpus.py          # once: ~20K paragraphs embedded and cached (~7-30 min)
    python benchmarks/bench_perf.py           # 10K and 100K: a few minutes
    python benchmarks/bench_perf.py --sizes 10000,100000,1000000   # with 1M (much longer, ~10 GB RAM)
    python benchmarks/bench_perf.py --raw-only --sizes 100000      # numpy floor + raw sqlite-vec only

Data: the paragraphs of ``perf_corpus.py`` (Debian's PostgreSQL 15 and Python
3.11 manuals) and their all-MiniLM-L6-v2 vectors; 200 held-out paragraphs are
the queries (never inserted). A set of ``n`` vectors is the first ``n`` real
vectors when ``n`` is at most the corpus size; larger sets keep every real
vector and add copies of them with Gaussian noise (``--noise`` per dimension,
default 0.05), renormalized to unit length. The output says which. The noise
is chosen so that a copy is about as similar to its origin (median cosine
0.715) as a real paragraph is to its nearest real neighbour (0.700): with much
less noise (0.015, cosine 0.96) the exact top 10 at 1M is made of copies of
1.5 paragraphs on average, a cluster of near-duplicates that no real corpus
has and that quantized and graph indexes find artificially hard.

Measured in one process, one method after another, each over the same queries
(k=10, one query at a time; a method stops early after ``--budget`` seconds,
with at least 20 queries): p50 and p95 latency, recall@10 against the exact
numpy top 10, build/load time and memory (anonymous RSS, i.e. heap, grown while
building or loading; file pages that SQLite memory-maps are not counted).
Methods: the numpy floor, raw sqlite-vec vec0 tables (no wrapper; with the
sqlite-vec alpha also ``indexed by rescore(...)`` / ``diskann(...)``), the
core for every available ``index_type``, the LangChain and LlamaIndex stores
over the file the core wrote, LangChain community's ``SQLiteVec``, FAISS
``IndexFlatIP`` and hnswlib. Also: insert throughput, filtered search at 50%,
10% and 1% selectivity, end-to-end ``similarity_search(text)`` with the real
embedder, and indexing throughput including embedding.

Prints markdown tables, writes every figure to a JSON file and plots p50
latency against collection size (``benchmarks/perf_latency.png``). Asserts
nothing: timings are for reading, not for tests.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import perf_corpus
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
K = 10
MIN_QUERIES = 20
BATCH = 10_000
Vectors = npt.NDArray[np.float32]

# -- results -------------------------------------------------------------------


@dataclass
class Row:
    """One measured figure set."""

    size: int
    group: str  # search | filter | insert | e2e | indexing
    method: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    recall: float | None = None
    queries: int = 0
    build_s: float | None = None
    memory_mb: float | None = None
    file_mb: float | None = None
    per_s: float | None = None  # records (or texts) per second
    note: str = ""


ROWS: list[Row] = []


def record(row: Row) -> Row:
    ROWS.append(row)
    parts = [f"{row.method} @ {row.size:,}"]
    if row.p50_ms is not None:
        parts.append(f"p50 {row.p50_ms:.3f} ms")
    if row.recall is not None:
        parts.append(f"recall {row.recall:.3f}")
    if row.per_s is not None:
        parts.append(f"{row.per_s:,.0f}/s")
    if row.note:
        parts.append(row.note)
    tqdm.write("  " + ", ".join(parts))
    return row


def skipped(size: int, group: str, method: str, why: str) -> None:
    record(Row(size, group, method, note=f"not run: {why}"))


# -- measuring -----------------------------------------------------------------


def rss_anon_mb() -> float:
    """Anonymous resident memory (heap) of this process in MB; total RSS where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        return float("nan")


@contextmanager
def grown() -> Iterator[dict[str, float]]:
    """Measure seconds and anonymous RSS growth of a block: ``{"s": ..., "mb": ...}``."""
    gc.collect()
    out: dict[str, float] = {}
    before = rss_anon_mb()
    started = time.perf_counter()
    yield out
    out["s"] = time.perf_counter() - started
    out["mb"] = rss_anon_mb() - before


def file_mb(*paths: Path) -> float:
    total = 0
    for path in paths:
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                total += p.stat().st_size
    return total / 2**20


@dataclass
class Timed:
    p50_ms: float
    p95_ms: float
    recall: float | None
    queries: int
    first_ms: float


def run_queries(
    search: Callable[[int], Sequence[int]],
    n_queries: int,
    truth: Sequence[set[int]] | None,
    budget: float,
    desc: str,
) -> Timed:
    """Time ``search(query_number)`` (returning row numbers) over the queries, after one untimed warm-up."""
    gc.collect()
    started = time.perf_counter()
    search(0)  # warm-up: loads RAM copies, fills caches (reported as first_ms)
    first = time.perf_counter() - started
    times: list[float] = []
    found: list[Sequence[int]] = []
    gc.disable()
    try:
        deadline = time.perf_counter() + budget
        for i in tqdm(range(n_queries), desc=desc, leave=False, unit="q"):
            started = time.perf_counter()
            result = search(i)
            times.append(time.perf_counter() - started)
            found.append(result)
            if i + 1 >= MIN_QUERIES and time.perf_counter() > deadline:
                break
    finally:
        gc.enable()
    recall = None
    if truth is not None:
        recall = float(np.mean([len(truth[i] & set(r)) / len(truth[i]) for i, r in enumerate(found) if truth[i]]))
    arr = np.asarray(times) * 1000
    return Timed(float(np.percentile(arr, 50)), float(np.percentile(arr, 95)), recall, len(times), first * 1000)


def exact_top(x: Vectors, queries: Vectors, mask: npt.NDArray[np.bool_] | None = None) -> list[set[int]]:
    """The exact top-k row numbers per query (by inner product = cosine on unit vectors)."""
    out = []
    for q in queries:
        scores = x @ q
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        top = np.argpartition(-scores, K)[:K]
        out.append({int(i) for i in top if np.isfinite(scores[i])})
    return out


# -- data ----------------------------------------------------------------------


def make_set(real: Vectors, n: int, noise: float, seed: int = 1) -> tuple[Vectors, str]:
    """``n`` unit vectors: the real ones first, then noisy copies of them (renormalized)."""
    if n <= len(real):
        return np.ascontiguousarray(real[:n]), f"{n:,} real vectors"
    rng = np.random.default_rng(seed)
    x = np.empty((n, real.shape[1]), np.float32)
    x[: len(real)] = real
    for start in tqdm(range(len(real), n, 100_000), desc=f"noisy copies for {n:,}", leave=False):
        stop = min(n, start + 100_000)
        block = real[np.arange(start, stop) % len(real)] + rng.normal(0, noise, (stop - start, real.shape[1])).astype(
            np.float32
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        x[start:stop] = block
    how = (
        f"{len(real):,} real vectors + {n - len(real):,} noisy copies "
        f"(Gaussian noise sigma={noise} per dimension, renormalized)"
    )
    return x, how


# -- numpy floor ---------------------------------------------------------------


def timed_row(
    n: int,
    group: str,
    label: str,
    search: Callable[[int], Sequence[int]],
    n_queries: int,
    truth: Sequence[set[int]] | None,
    budget: float,
    **extra: Any,
) -> Row:
    """Time ``search`` with :func:`run_queries` and record its figures as one row (``extra``: other Row fields)."""
    t = run_queries(search, n_queries, truth, budget, label)
    return record(Row(n, group, label, t.p50_ms, t.p95_ms, t.recall, t.queries, **extra))


def bench_numpy(n: int, x: Vectors, queries: Vectors, truth: list[set[int]], budget: float, label: str) -> Row:
    def search(i: int) -> Sequence[int]:
        scores = x @ queries[i]
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])].tolist()  # type: ignore[no-any-return]

    return timed_row(n, "search", label, search, len(queries), truth, budget, memory_mb=x.nbytes / 2**20)


# -- raw sqlite-vec ------------------------------------------------------------


def vec_versions() -> tuple[str, str]:
    from sqlitevec_store.backends.sqlite.connection import open_connection

    conn = open_connection(":memory:")
    try:
        vec = conn.execute("SELECT vec_version()").fetchone()[0]
        sqlite = conn.execute("SELECT sqlite_version()").fetchone()[0]
    finally:
        conn.close()
    return str(vec), str(sqlite)


@dataclass
class RawVariant:
    label: str
    column: str  # vec0 column definition; {d} is the dimension
    insert_expr: str = "?"
    match_expr: str = "?"
    max_size: int | None = None  # skip above this size (slow inserts)


def raw_variants(diskann_max: int) -> list[RawVariant]:
    return [
        RawVariant("raw vec0 float, L2", "embedding float[{d}] distance_metric=l2"),
        RawVariant("raw vec0 float, cosine", "embedding float[{d}] distance_metric=cosine"),
        RawVariant(
            "raw vec0 int8 (unit)",
            "embedding int8[{d}]",
            "vec_quantize_int8(?, 'unit')",
            "vec_quantize_int8(?, 'unit')",
        ),
        RawVariant("raw vec0 bit (Hamming)", "embedding bit[{d}]", "vec_quantize_binary(?)", "vec_quantize_binary(?)"),
        # Alpha-only features (0.1.10a*): created if the installed sqlite-vec parses them.
        RawVariant(
            "raw vec0 rescore(bit, oversample=8)",
            "embedding float[{d}] distance_metric=l2 indexed by rescore(quantizer=bit, oversample=8)",
        ),
        RawVariant(
            "raw vec0 rescore(bit, oversample=16)",
            "embedding float[{d}] distance_metric=l2 indexed by rescore(quantizer=bit, oversample=16)",
        ),
        RawVariant(
            "raw vec0 rescore(int8)",
            "embedding float[{d}] distance_metric=l2 indexed by rescore(quantizer=int8)",
        ),
        RawVariant(
            "raw vec0 diskann(binary)",
            "embedding float[{d}] distance_metric=l2 indexed by diskann(neighbor_quantizer=binary)",
            max_size=diskann_max,
        ),
    ]


def bench_raw(
    n: int,
    x: Vectors,
    queries: Vectors,
    truth: list[set[int]],
    workdir: Path,
    budget: float,
    diskann_max: int,
) -> None:
    from sqlitevec_store.backends.sqlite.connection import database_errors, open_connection

    d = x.shape[1]
    for variant in raw_variants(diskann_max):
        if variant.max_size is not None and n > variant.max_size:
            skipped(n, "search", variant.label, f"only up to {variant.max_size:,} rows (--diskann-max)")
            continue
        path = workdir / f"raw-{len(ROWS)}.db"
        conn = open_connection(path)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            try:
                conn.execute(f"CREATE VIRTUAL TABLE v USING vec0({variant.column.format(d=d)})")
            except database_errors() as exc:
                skipped(n, "search", variant.label, f"this sqlite-vec cannot create it ({exc})")
                continue
            sql = f"INSERT INTO v(rowid, embedding) VALUES (?, {variant.insert_expr})"
            with grown() as g:
                conn.execute("BEGIN")
                for start in tqdm(range(0, n, BATCH), desc=f"insert {variant.label}", leave=False):
                    conn.executemany(sql, ((i + 1, x[i].tobytes()) for i in range(start, min(n, start + BATCH))))
                conn.execute("COMMIT")
            knn = f"SELECT rowid FROM v WHERE embedding MATCH {variant.match_expr} AND k = {K}"
            blobs = [q.tobytes() for q in queries]

            def search(i: int, knn: str = knn, blobs: list[bytes] = blobs, conn: Any = conn) -> Sequence[int]:
                return [row[0] - 1 for row in conn.execute(knn, (blobs[i],))]

            timed_row(
                n,
                "search",
                variant.label,
                search,
                len(queries),
                truth,
                budget,
                build_s=g["s"],
                file_mb=file_mb(path),
                per_s=n / g["s"],
                note="build = insert time",
            )
        finally:
            conn.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)


# -- the core and the adapters -------------------------------------------------


def core_index_types() -> tuple[list[str], str]:
    """The core's index types, and where the list came from."""
    import sqlitevec_store

    available = getattr(sqlitevec_store, "available_index_types", None)
    if callable(available):
        return list(available()), "sqlitevec_store.available_index_types()"
    try:
        from sqlitevec_store.search.vector_index import INDEX_TYPES

        return list(INDEX_TYPES), "sqlitevec_store.search.vector_index.INDEX_TYPES (available_index_types() missing)"
    except ImportError:
        return ["default"], "no index_type support in this core"


def open_core(path: Path, index_type: str, oversample: int | None = None) -> tuple[Any, Any]:
    from sqlitevec_store import Database

    db = Database(path)
    kwargs: dict[str, Any] = {}
    if index_type != "default":
        kwargs["index_type"] = index_type
    if oversample is not None:
        kwargs["oversample"] = oversample
    return db, db.collection("perf", create=False, **kwargs)


def core_label(index_type: str, oversample: int | None = None) -> str:
    suffix = f", oversample={oversample}" if oversample is not None else ""
    return f"core index_type={index_type}{suffix}"


def bench_core_insert(n: int, x: Vectors, texts: list[str], path: Path) -> None:
    from sqlitevec_store import Database

    ids = [str(i) for i in range(n)]
    metas = [{"bucket": i % 100} for i in range(n)]
    with grown() as g, Database(path) as db:
        col = db.collection("perf")
        for start in tqdm(range(0, n, BATCH), desc="core insert", leave=False):
            stop = min(n, start + BATCH)
            col.add(
                [texts[i % len(texts)] for i in range(start, stop)],
                x[start:stop],
                metadatas=metas[start:stop],
                ids=ids[start:stop],
            )
    record(
        Row(
            n,
            "insert",
            "core Collection.add (precomputed vectors, texts + metadata, batches of 10,000)",
            build_s=g["s"],
            per_s=n / g["s"],
            file_mb=file_mb(path),
        )
    )


def bench_core_search(
    n: int,
    queries: Vectors,
    truth: list[set[int]],
    path: Path,
    index_types: list[str],
    oversamples: list[int],
    budget: float,
) -> None:
    variants: list[tuple[str, int | None]] = [(t, None) for t in index_types]
    variants += [("rescore", o) for o in oversamples if "rescore" in index_types]
    for index_type, oversample in variants:
        label = core_label(index_type, oversample)
        try:
            db, col = open_core(path, index_type, oversample)
        except (TypeError, ValueError) as exc:
            skipped(n, "search", label, f"{type(exc).__name__}: {exc}")
            continue
        try:
            with grown() as g:
                col.search(queries[0], k=K)  # the first search loads any RAM copy

            def search(i: int, col: Any = col) -> Sequence[int]:
                return [int(h.id) for h in col.search(queries[i], k=K)]

            timed_row(
                n,
                "search",
                label,
                search,
                len(queries),
                truth,
                budget,
                build_s=g["s"],
                memory_mb=g["mb"],
                note="build = first search (loads the RAM copy, if any)",
            )
        finally:
            db.close()


def bench_core_filtered(
    n: int,
    x: Vectors,
    queries: Vectors,
    path: Path,
    index_types: list[str],
    budget: float,
) -> None:
    from sqlitevec_store.filters import Comparison, Op

    buckets = np.arange(n) % 100
    cases = [
        ("50%: bucket < 50", Comparison("bucket", Op.LT, 50), buckets < 50),
        ("10%: bucket in 0..9", Comparison("bucket", Op.IN, list(range(10))), buckets < 10),
        ("1%: bucket == 7", Comparison("bucket", Op.EQ, 7), buckets == 7),
    ]
    truths = [exact_top(x, queries, mask) for _, _, mask in cases]
    for index_type in index_types:
        db, col = open_core(path, index_type)
        try:
            col.search(queries[0], k=K)
            for (name, tree, _), truth in zip(cases, truths, strict=True):
                label = f"{core_label(index_type)}, filter {name}"

                def search(i: int, col: Any = col, tree: Any = tree) -> Sequence[int]:
                    return [int(h.id) for h in col.search(queries[i], k=K, filter=tree)]

                timed_row(n, "filter", label, search, len(queries), truth, budget)
        finally:
            db.close()


class VectorLookupEmbeddings:
    """A LangChain ``Embeddings`` stand-in for by-vector search and precomputed inserts.

    ``embed_documents`` returns the vectors set in ``pending`` (for inserts of
    precomputed vectors); ``embed_query`` returns zeros (only used by stores to
    learn the dimension).
    """

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.pending: Vectors | None = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        assert self.pending is not None and len(self.pending) == len(texts)
        out = self.pending.tolist()
        self.pending = None
        return out  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return [0.0] * self.dimension

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


def as_langchain_embeddings(dimension: int) -> Any:
    from langchain_core.embeddings import Embeddings

    class _Lookup(VectorLookupEmbeddings, Embeddings):
        pass

    return _Lookup(dimension)


def takes_index_type(cls: type) -> bool:
    """Whether a store's constructor names ``index_type`` (LlamaIndex's also takes any ``**kwargs``)."""
    import inspect

    return "index_type" in inspect.signature(cls).parameters


def open_adapter(kind: str, path: Path, index_type: str, embeddings: Any = None) -> tuple[Any, str]:
    """Open the LangChain or LlamaIndex store on the core's file; the note says how ``index_type`` was passed."""
    from langchain_sqlitevec import SQLiteVecVectorStore as LCStore
    from llamaindex_sqlitevec import SQLiteVecVectorStore as LIStore

    cls: type = LCStore if kind == "langchain" else LIStore
    kwargs: dict[str, Any] = {}
    note = ""
    if index_type != "default":
        if takes_index_type(cls):
            kwargs["index_type"] = index_type
        elif index_type == "flat":
            note = "store takes no index_type yet: its default"
        else:
            raise NotImplementedError(f"the {kind} store takes no index_type yet")
    if kind == "langchain":
        return LCStore(embeddings, db_path=str(path), collection_name="perf", **kwargs), note
    return LIStore(str(path), collection_name="perf", **kwargs), note


def bench_adapters(
    n: int, queries: Vectors, truth: list[set[int]], path: Path, index_types: list[str], budget: float
) -> None:
    lists = [q.tolist() for q in queries]
    for index_type in index_types:
        for kind in ("langchain", "llamaindex"):
            label = (
                f"LangChain store, similarity_search_by_vector, index_type={index_type}"
                if kind == "langchain"
                else f"LlamaIndex store, query, index_type={index_type}"
            )
            try:
                embeddings = as_langchain_embeddings(queries.shape[1]) if kind == "langchain" else None
                store, note = open_adapter(kind, path, index_type, embeddings)
            except (ImportError, NotImplementedError) as exc:
                skipped(n, "search", label, str(exc))
                continue
            try:
                if kind == "langchain":

                    def search(i: int, store: Any = store) -> Sequence[int]:
                        return [int(doc.id) for doc in store.similarity_search_by_vector(lists[i], k=K)]

                else:
                    from llama_index.core.vector_stores.types import VectorStoreQuery

                    def search(i: int, store: Any = store) -> Sequence[int]:
                        result = store.query(VectorStoreQuery(query_embedding=lists[i], similarity_top_k=K))
                        return [int(node_id) for node_id in result.ids]

                with grown() as g:
                    search(0)
                timed_row(
                    n,
                    "search",
                    label,
                    search,
                    len(queries),
                    truth,
                    budget,
                    build_s=g["s"],
                    memory_mb=g["mb"],
                    note=note,
                )
            finally:
                store.close()


# -- peers ---------------------------------------------------------------------


def bench_community(
    n: int, x: Vectors, texts: list[str], queries: Vectors, truth: list[set[int]], workdir: Path, budget: float
) -> None:
    label = "LangChain community SQLiteVec (L2)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_community.vectorstores import SQLiteVec
    except ImportError as exc:
        skipped(n, "search", label, f"langchain-community is not installed ({exc})")
        return
    from sqlitevec_store.backends.sqlite.connection import driver_for, open_connection

    path = workdir / f"community-{n}.db"
    # Its own create_connection() uses the standard sqlite3, which cannot load
    # extensions on this Python; it takes any DB-API connection with sqlite-vec
    # loaded. Deferred transactions (as sqlite3's default) so that its
    # executemany is one transaction, and trusted_schema on (its trigger writes
    # to a vec0 table), as a plain sqlite3 connection would have.
    conn = open_connection(path)
    conn.isolation_level = "DEFERRED"
    conn.execute("PRAGMA trusted_schema = ON")
    conn.row_factory = driver_for(conn).Row
    embeddings = as_langchain_embeddings(x.shape[1])
    try:
        store = SQLiteVec(table="perf", connection=conn, embedding=embeddings)
        with grown() as g:
            for start in tqdm(range(0, n, BATCH), desc="community insert", leave=False):
                stop = min(n, start + BATCH)
                embeddings.pending = x[start:stop]
                store.add_texts(
                    [texts[i % len(texts)] for i in range(start, stop)],
                    metadatas=[{"i": i} for i in range(start, stop)],
                )
        lists = [q.tolist() for q in queries]

        def search(i: int) -> Sequence[int]:
            return [int(doc.metadata["i"]) for doc in store.similarity_search_by_vector(lists[i], k=K)]

        timed_row(
            n,
            "search",
            label,
            search,
            len(queries),
            truth,
            budget,
            build_s=g["s"],
            per_s=n / g["s"],
            file_mb=file_mb(path),
            note="build = add_texts of precomputed vectors; connection from sqlitevec_store.backends.sqlite.connection",
        )
    except Exception as exc:  # a peer that does not run is reported, not fatal
        skipped(n, "search", label, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def bench_faiss(n: int, x: Vectors, queries: Vectors, truth: list[set[int]], budget: float) -> None:
    label = "FAISS IndexFlatIP"
    try:
        import faiss
    except ImportError as exc:
        skipped(n, "search", label, f"faiss-cpu is not installed ({exc})")
        return
    with grown() as g:
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
    qs = [q.reshape(1, -1) for q in queries]

    def search(i: int) -> Sequence[int]:
        return index.search(qs[i], K)[1][0].tolist()  # type: ignore[no-any-return]

    timed_row(
        n,
        "search",
        label,
        search,
        len(queries),
        truth,
        budget,
        build_s=g["s"],
        memory_mb=g["mb"],
        note=f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads",
    )


def bench_hnswlib(n: int, x: Vectors, queries: Vectors, truth: list[set[int]], budget: float, ef: int) -> None:
    label = f"hnswlib HNSW (M=16, ef_construction=200, ef={ef})"
    try:
        import hnswlib
    except ImportError as exc:
        skipped(n, "search", label, f"hnswlib is not installed ({exc})")
        return
    with grown() as g:
        index = hnswlib.Index(space="ip", dim=x.shape[1])
        index.init_index(max_elements=n, M=16, ef_construction=200, random_seed=0)
        for start in tqdm(range(0, n, BATCH), desc="hnswlib build", leave=False):
            stop = min(n, start + BATCH)
            index.add_items(x[start:stop], np.arange(start, stop))
        index.set_ef(ef)
    index.set_num_threads(1)
    qs = [q.reshape(1, -1) for q in queries]

    def search(i: int) -> Sequence[int]:
        return index.knn_query(qs[i], k=K)[0][0].tolist()  # type: ignore[no-any-return]

    timed_row(
        n,
        "search",
        label,
        search,
        len(queries),
        truth,
        budget,
        build_s=g["s"],
        memory_mb=g["mb"],
        note="build on all cores; search on 1 thread",
    )


# -- embedding: end to end and indexing ----------------------------------------


def bench_end_to_end(
    n: int,
    path: Path,
    query_texts: list[str],
    truth: list[set[int]] | None,
    budget: float,
    index_types: list[str],
    backend: str,
    what: str = "",
) -> None:
    """``similarity_search(text)`` with the real embedder, and ``embed_query`` alone.

    ``truth`` None: no recall (the texts are not the ones the vectors came
    from); ``what`` is added to the labels. Each measurement gets its own slice of the held-out queries, so that a
    cache of query embeddings (if the embedder has one) is never hit by a
    text seen in an earlier measurement; one last row repeats the last
    slice to show what a repeated query costs.
    """
    tag = ("" if backend == "torch" else f", backend={backend}") + what
    try:
        embeddings = make_embeddings(backend)
        embeddings.embed_query("warm up the model")
    except Exception as exc:  # a backend that cannot run here is reported, not fatal
        skipped(n, "e2e", f"similarity_search(text){tag}", f"{type(exc).__name__}: {exc}")
        return
    m = max(MIN_QUERIES, len(query_texts) // (len(index_types) + 1))
    slices = [list(range(j * m, min(len(query_texts), (j + 1) * m))) for j in range(len(index_types) + 1)]

    def measure(label: str, index_type: str | None, rows: list[int], repeat: bool = False) -> None:
        texts = [query_texts[i] for i in rows]
        expected = None if truth is None else [truth[i] for i in rows]
        if index_type is None:

            def embed(i: int) -> Sequence[int]:
                embeddings.embed_query(texts[i])
                return []

            timed_row(n, "e2e", label, embed, len(texts), None, budget)
            return
        try:
            store, note = open_adapter("langchain", path, index_type, embeddings)
        except NotImplementedError as exc:
            skipped(n, "e2e", label, str(exc))
            return
        try:

            def search(i: int) -> Sequence[int]:
                return [int(doc.id) for doc in store.similarity_search(texts[i], k=K)]

            timed_row(n, "e2e", label, search, len(texts), expected, budget, note=note)
        finally:
            store.close()

    measure(f"LangChain SentenceTransformerEmbeddings.embed_query alone{tag}", None, slices[0])
    for index_type, rows in zip(index_types, slices[1:], strict=True):
        label = f"LangChain store similarity_search(text), index_type={index_type}{tag} (embed + search)"
        measure(label, index_type, rows)
    # The last slice's texts were embedded last, so a query cache holds them all.
    first = index_types[0]
    label = f"LangChain store similarity_search(text), index_type={first}{tag}, queries seen before (any cache)"
    measure(label, first, slices[-1])


def make_embeddings(backend: str) -> Any:
    """The LangChain embeddings of the default model on ``backend`` (``"torch"`` is the default backend)."""
    from langchain_sqlitevec import SentenceTransformerEmbeddings

    if backend == "torch":
        return SentenceTransformerEmbeddings()
    return SentenceTransformerEmbeddings(backend=backend)  # type: ignore[call-arg]


def bench_indexing(texts: list[str], workdir: Path, backends: list[str]) -> None:
    """Texts/s of ``add_texts`` with the real embedder vs raw ``SentenceTransformer.encode`` on the same texts.

    The reference is a plain ``SentenceTransformer`` (torch) over the bundled
    model, run before and after the stores (their mean; both runs are shown).
    Each backend's stored vectors are compared with the reference's by cosine.
    """
    from sentence_transformers import SentenceTransformer

    from langchain_sqlitevec import SQLiteVecVectorStore as LCStore
    from sqlitevec_store import DEFAULT_MODEL, Database
    from sqlitevec_store.embeddings import bundled_model_path

    n = len(texts)
    ids = [str(i) for i in range(n)]
    model = SentenceTransformer(str(bundled_model_path() or DEFAULT_MODEL), device="cpu")
    model.encode(texts[:64], batch_size=32, normalize_embeddings=True)  # warm-up
    raw: list[float] = []

    def encode() -> Vectors:
        started = time.perf_counter()
        vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=True)
        raw.append(time.perf_counter() - started)
        return np.asarray(vectors, np.float32)

    reference = encode()
    path = workdir / "indexing.db"
    results: list[tuple[str, float, str]] = []
    for backend in backends:
        label = f"LangChain store add_texts (embed + write), backend={backend}"
        try:
            embeddings = make_embeddings(backend)
            embeddings.embed_documents(texts[:64])  # loads (and for ONNX exports, once) the model: not timed
        except Exception as exc:  # a backend that cannot run here is reported, not fatal
            results.append((label, float("nan"), f"not run: {type(exc).__name__}: {exc}"))
            continue
        name = f"indexing_{backend.replace('-', '_')}"
        with LCStore(embeddings, db_path=str(path), collection_name=name) as store:
            started = time.perf_counter()
            store.add_texts(texts, ids=ids)
            seconds = time.perf_counter() - started
        with Database(path) as db:
            stored = np.stack([h.vector for h in db.collection(name, create=False).get(ids, include_vectors=True)])
        cosines = np.sum(stored * reference, axis=1)
        results.append(
            (label, seconds, f"cosine to raw torch vectors: mean {cosines.mean():.6f}, min {cosines.min():.6f}")
        )
    encode()  # again after, so that drift on a shared machine shows
    raw_s = float(np.mean(raw))
    record(
        Row(
            n,
            "indexing",
            "SentenceTransformer.encode (raw torch, batch_size=32, mean of a run before and after)",
            build_s=raw_s,
            per_s=n / raw_s,
            note=f"runs {raw[0]:.1f} s / {raw[1]:.1f} s",
        )
    )
    for label, seconds, note in results:
        if seconds != seconds:  # NaN: not run
            skipped(n, "indexing", label, note.removeprefix("not run: "))
            continue
        record(
            Row(
                n,
                "indexing",
                label,
                build_s=seconds,
                per_s=n / seconds,
                note=f"{100 * raw_s / seconds:.0f}% of raw encode throughput; {note}",
            )
        )


# -- output --------------------------------------------------------------------


def header(corpus: perf_corpus.PerfCorpus | None, args: argparse.Namespace) -> dict[str, Any]:
    import sqlitevec_store

    vec, sqlite = vec_versions()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} x{i.get('num_threads')}"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        )
    except ImportError:
        pass
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{cpu}, {os.cpu_count()} cores, {platform.machine()}",
        "python": platform.python_version(),
        "numpy": f"{np.__version__} ({blas or 'BLAS unknown'})",
        "sqlite-vec": vec,
        "sqlite": sqlite,
        "sqlitevec-store": sqlitevec_store.__version__,
        "load_average_start": os.getloadavg(),
        "corpus": corpus.describe() if corpus else "",
        "args": vars(args),
    }
    for key, value in info.items():
        if key != "args":
            print(f"# {key}: {value}")
    return info


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def print_tables(sizes: list[int]) -> None:
    for n in sizes:
        rows = [r for r in ROWS if r.size == n and r.group == "search"]
        if not rows:
            continue
        floor = next((r.p50_ms for r in rows if r.method.startswith("numpy") and r.p50_ms), None)
        hnsw = next((r.p50_ms for r in rows if r.method.startswith("hnswlib") and r.p50_ms), None)
        print(f"\n### Search, k={K}, one query at a time, n = {n:,}  ({SET_NOTES.get(n, '')})\n")
        print(
            "| method | p50 ms | p95 ms | recall@10 | x numpy floor | x hnswlib "
            "| build/load s | heap MB | file MB | note |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            ratio = fmt(r.p50_ms / floor) if r.p50_ms and floor else ""
            vs_hnsw = fmt(r.p50_ms / hnsw, 1) if r.p50_ms and hnsw else ""
            print(
                f"| {r.method} | {fmt(r.p50_ms, 3)} | {fmt(r.p95_ms, 3)} | {fmt(r.recall, 3)} | {ratio} | {vs_hnsw} "
                f"| {fmt(r.build_s)} | {fmt(r.memory_mb, 1)} | {fmt(r.file_mb, 1)} | {r.note} |"
            )
    filt = [r for r in ROWS if r.group == "filter"]
    if filt:
        print(f"\n### Filtered search through the core, k={K}\n")
        print("| n | method | p50 ms | p95 ms | recall@10 | x same index unfiltered |")
        print("|---|---|---|---|---|---|")
        for r in filt:
            base_label = r.method.split(", filter")[0]
            base = next((b.p50_ms for b in ROWS if b.size == r.size and b.method == base_label and b.p50_ms), None)
            ratio = fmt(r.p50_ms / base) if base and r.p50_ms else ""
            print(
                f"| {r.size:,} | {r.method} | {fmt(r.p50_ms, 3)} | {fmt(r.p95_ms, 3)} | {fmt(r.recall, 3)} | {ratio} |"
            )
    writes = [r for r in ROWS if r.group in ("insert", "indexing") or (r.group == "search" and r.per_s)]
    if writes:
        print("\n### Writes\n")
        print("| n | what | records/s | seconds | file MB | note |")
        print("|---|---|---|---|---|---|")
        for r in writes:
            print(f"| {r.size:,} | {r.method} | {fmt(r.per_s)} | {fmt(r.build_s)} | {fmt(r.file_mb, 1)} | {r.note} |")
    e2e = [r for r in ROWS if r.group == "e2e"]
    if e2e:
        print("\n### End to end (query text -> hits, real embedder)\n")
        print("| n | method | p50 ms | p95 ms | recall@10 | note |")
        print("|---|---|---|---|---|---|")
        for r in e2e:
            print(
                f"| {r.size:,} | {r.method} | {fmt(r.p50_ms, 2)} | {fmt(r.p95_ms, 2)} | {fmt(r.recall, 3)} | {r.note} |"
            )


def find(size: int, group: str, prefix: str) -> Row | None:
    return next((r for r in ROWS if r.size == size and r.group == group and r.method.startswith(prefix)), None)


def print_targets(sizes: list[int]) -> None:
    """Issue #7's targets against this run's figures (for reading; nothing fails)."""
    lines: list[tuple[str, str, bool | None]] = []

    def check(what: str, value: str, ok: bool | None) -> None:
        lines.append((what, value, ok))

    lc = "LangChain store, similarity_search_by_vector, index_type="
    # The issue states its targets at 100K and 1M; smaller runs are checked at their largest size.
    for n in [s for s in sizes if s >= 100_000] or sizes[-1:]:
        floor = find(n, "search", "numpy")
        flat = find(n, "search", lc + "flat")
        if floor and flat and floor.p50_ms and flat.p50_ms:
            ratio = flat.p50_ms / floor.p50_ms
            check(
                f"{n:,}: exact (LangChain, flat) p50 <= 1.5x numpy floor, recall 1.0",
                f"{flat.p50_ms:.2f} ms = {ratio:.2f}x, recall {flat.recall:.3f}",
                ratio <= 1.5 and flat.recall == 1.0,
            )
        limit = {100_000: 2.0, 1_000_000: 10.0}.get(n)
        for r in ROWS:
            if r.size == n and r.group == "search" and r.method.startswith(lc) and r.p50_ms and "flat" not in r.method:
                hnsw = find(n, "search", "hnswlib")
                far = f", {r.p50_ms / hnsw.p50_ms:.0f}x hnswlib" if hnsw and hnsw.p50_ms else ""
                approx = r.recall is not None and r.recall < 1.0
                check(
                    f"{n:,}: {r.method.removeprefix('LangChain store, similarity_search_by_vector, ')}"
                    + (f" p50 <= {limit:g} ms, recall >= 0.95" if limit and approx else ""),
                    f"{r.p50_ms:.2f} ms, recall {r.recall:.3f}{far}",
                    (r.p50_ms <= limit and (r.recall or 0) >= 0.95) if limit and approx else None,
                )
        for r in ROWS:
            if r.size == n and r.group == "filter" and r.p50_ms:
                base = next((b for b in ROWS if b.size == n and b.method == r.method.split(", filter")[0]), None)
                if base and base.p50_ms:
                    check(
                        f"{n:,}: {r.method} not slower than unfiltered",
                        f"{r.p50_ms:.2f} vs {base.p50_ms:.2f} ms, recall {r.recall:.3f}",
                        r.p50_ms <= base.p50_ms,
                    )
        for kind in ("LangChain store, similarity_search_by_vector", "LlamaIndex store, query"):
            for r in ROWS:
                if r.size == n and r.method.startswith(kind) and r.p50_ms:
                    index_type = r.method.rsplit("index_type=", 1)[1]
                    core = find(n, "search", f"core index_type={index_type}")
                    if core and core.p50_ms and core.method == f"core index_type={index_type}":
                        extra = r.p50_ms / core.p50_ms - 1
                        check(
                            f"{n:,}: {kind.split(',')[0]} adds <= 15% to core ({index_type})",
                            f"{100 * extra:+.0f}% ({r.p50_ms:.3f} vs {core.p50_ms:.3f} ms)",
                            extra <= 0.15,
                        )
        insert = find(n, "insert", "core")
        if insert and insert.per_s:
            check(f"{n:,}: core insert >= 50,000/s", f"{insert.per_s:,.0f}/s", insert.per_s >= 50_000)
        for r in ROWS:
            fresh = "seen before" not in r.method
            if r.size == n and r.group == "e2e" and r.method.startswith("LangChain store") and r.p50_ms and fresh:
                check(
                    f"{n:,}: end to end {r.method.removeprefix(E2E_PREFIX)} p50 <= 10 ms",
                    f"{r.p50_ms:.2f} ms",
                    r.p50_ms <= 10,
                )
    raw = next((r for r in ROWS if r.group == "indexing" and r.method.startswith("SentenceTransformer")), None)
    for store in ROWS:
        if raw and raw.per_s and store.group == "indexing" and store.method.startswith("LangChain") and store.per_s:
            share = store.per_s / raw.per_s
            backend = store.method.rsplit("backend=", 1)[-1]
            goal = 0.9 if backend == "torch" else 2.0
            check(
                f"indexing, backend={backend}: >= {100 * goal:.0f}% of raw torch encode",
                f"{store.per_s:.1f} vs {raw.per_s:.1f} texts/s = {100 * share:.0f}%",
                share >= goal,
            )
    if not lines:
        return
    print("\n### Issue #7 targets (this run; the machine's load affects every figure)\n")
    print("| target | measured | met |")
    print("|---|---|---|")
    for what, value, ok in lines:
        print(f"| {what} | {value} | {'' if ok is None else ('yes' if ok else '**no**')} |")


def plot(path: Path, subtitle: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    series: dict[str, list[tuple[int, float]]] = {}
    for r in ROWS:
        if r.group == "search" and r.p50_ms and not any(part in r.method for part in PLOT_LEAVES_OUT):
            series.setdefault(r.method, []).append((r.size, r.p50_ms))
    fig, ax = plt.subplots(figsize=(12, 6.5))
    colors = plt.get_cmap("tab20").colors
    ordered = sorted(series.items(), key=lambda kv: -max(kv[1])[1])
    for n, (method, points) in enumerate(ordered):
        points.sort()
        style = "--" if method.startswith(("raw", "numpy", "FAISS", "hnswlib", "LangChain community")) else "-"
        ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", color=colors[n % 20], label=method)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("collection size (vectors, 384-d)")
    ax.set_ylabel(f"p50 search latency, k={K} (ms)")
    ax.set_title(f"p50 latency vs collection size, one query at a time\n{subtitle}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


SET_NOTES: dict[int, str] = {}
E2E_PREFIX = "LangChain store similarity_search(text), "
#: Left out of the plot (in the tables): near-duplicates of a plotted line.
PLOT_LEAVES_OUT = ("again", "LlamaIndex", "float, cosine", "int8 (unit)", "bit (Hamming)")


# -- main ----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated collection sizes")
    parser.add_argument("--queries", type=int, default=200, help="held-out queries to use (at most the corpus')")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per method and size (>= 20 queries)")
    parser.add_argument(
        "--noise",
        type=float,
        default=0.05,
        help="sigma per dimension of the noisy copies (0.05: a copy is as close to its origin, cosine ~0.71, "
        "as a real paragraph is to its nearest real neighbour, ~0.70)",
    )
    parser.add_argument("--raw-only", action="store_true", help="only the numpy floor and raw sqlite-vec")
    parser.add_argument("--oversample", default="", help="extra core rescore oversample values, e.g. 8,32")
    parser.add_argument("--hnsw-ef", type=int, default=50)
    parser.add_argument(
        "--backends", default="torch", help="embedding backends for end-to-end and indexing, e.g. torch,onnx,onnx-int8"
    )
    parser.add_argument("--diskann-max", type=int, default=20_000, help="largest size for vec0 diskann (slow insert)")
    parser.add_argument(
        "--e2e-short-words",
        type=int,
        default=12,
        help="also run the end-to-end search with each query cut to its first N words, a question's length (0: skip)",
    )
    parser.add_argument("--e2e-size", type=int, default=100_000, help="size for the end-to-end text search (0: skip)")
    parser.add_argument("--index-texts", type=int, default=2000, help="texts for indexing throughput (0: skip)")
    parser.add_argument(
        "--threads", type=int, default=0, help="cap BLAS and FAISS (OpenMP) threads; 0 leaves their default"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="results file (default benchmarks/perf_results*.json)")
    parser.add_argument("--plot", type=Path, default=HERE / "perf_latency.png")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    oversamples = [int(s) for s in args.oversample.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        try:
            import faiss

            faiss.omp_set_num_threads(args.threads)
        except ImportError:
            pass
    corpus = perf_corpus.load(build=False)
    info = header(corpus, args)
    queries = corpus.query_vectors[: args.queries]
    query_texts = corpus.query_texts[: args.queries]
    index_types: list[str] = []
    if not args.raw_only:
        index_types, source = core_index_types()
        print(f"# core index types: {index_types} (from {source})")
    workdir = Path(tempfile.mkdtemp(prefix="bench-perf-", dir=args.workdir))
    try:
        for n in sizes:
            x, how = make_set(corpus.vectors, n, args.noise)
            SET_NOTES[n] = how
            print(f"\n## n = {n:,}: {how}; {len(queries)} held-out queries", flush=True)
            truth = exact_top(x, queries)
            bench_numpy(n, x, queries, truth, args.budget, "numpy X @ q + argpartition (exact floor)")
            bench_raw(n, x, queries, truth, workdir, args.budget, args.diskann_max)
            if not args.raw_only:
                path = workdir / f"core-{n}.db"
                bench_core_insert(n, x, corpus.texts, path)
                bench_core_search(n, queries, truth, path, index_types, oversamples, args.budget)
                bench_adapters(n, queries, truth, path, index_types, args.budget)
                bench_core_filtered(n, x, queries, path, index_types, args.budget)
                bench_community(n, x, corpus.texts, queries, truth, workdir, args.budget)
                bench_faiss(n, x, queries, truth, args.budget)
                bench_hnswlib(n, x, queries, truth, args.budget, args.hnsw_ef)
                if n == args.e2e_size:
                    for backend in backends:
                        bench_end_to_end(n, path, query_texts, truth, args.budget, index_types, backend)
                        if args.e2e_short_words:
                            short = [" ".join(t.split()[: args.e2e_short_words]) for t in query_texts]
                            what = f", {args.e2e_short_words}-word queries"
                            bench_end_to_end(n, path, short, None, args.budget, index_types, backend, what)
                for db in workdir.glob(f"core-{n}.db*"):
                    db.unlink()
            # again, so that drift over the run shows
            bench_numpy(n, x, queries, truth, args.budget, "numpy X @ q + argpartition (exact floor, again)")
            del x
            gc.collect()
        if not args.raw_only and args.index_texts:
            print(f"\n## indexing {args.index_texts:,} paragraphs with the real embedder", flush=True)
            bench_indexing(corpus.texts[: args.index_texts], workdir, backends)
        if not args.raw_only and args.e2e_size and args.e2e_size not in sizes:
            print(f"\n(no end-to-end search: --e2e-size {args.e2e_size} is not among --sizes)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["load_average_end"] = os.getloadavg()
    print(f"\n# load average at start {info['load_average_start']}, at end {info['load_average_end']}")
    print_tables(sizes)
    print_targets(sizes)
    out = args.json or HERE / ("perf_results_raw.json" if args.raw_only else "perf_results.json")
    info["sets"] = {str(k): v for k, v in SET_NOTES.items()}
    out.write_text(json.dumps({"info": info, "rows": [asdict(r) for r in ROWS]}, indent=1, default=str))
    print(f"\nresults: {out}")
    if not args.raw_only:
        plot(args.plot, f"{info['machine']}; sqlite-vec {info['sqlite-vec']}; {info['date']}")


if __name__ == "__main__":
    main()
