"""Embedding throughput, query latency and vector agreement, per backend and per adapter.

Run (the corpus is the one ``hybrid_quality.py`` uses; see its docstring to fetch it):
    .venv/bin/python benchmarks/bench_embed.py [--n 1000] [--queries 100] [--rounds 2]

Texts: the first ``--n`` passages (~400-1,000 characters, merged ``<p>`` paragraphs)
of the seeded PostgreSQL 15 manual sample, and ``--queries`` page titles as short
queries. Every document row embeds the same texts with batch size 32.

Rows, measured in ``--rounds`` rounds; within a round the texts are cut into
chunks of ``--chunk`` (200) and every row embeds the same chunk in turn, so a
neighbour's load hits all rows alike (the table shows the median round):

* ``raw encode``: ``SentenceTransformer.encode(texts, batch_size=32,
  normalize_embeddings=True)`` on the very model object the embedder uses,
* ``core``/``langchain``/``llamaindex``: ``SentenceTransformerEmbedder.embed_documents``,
  ``SentenceTransformerEmbeddings.embed_documents`` and
  ``SentenceTransformerEmbedding.get_text_embedding_batch``, for each backend.

``vs raw`` is the median over rounds of (raw encode seconds) / (row seconds)
in the same round. Query latency: one query at a time, the query cache off
(``query_cache_size=0``), each query text once per round, each backend in a
fresh process of its own (as an application runs one backend: PyTorch's and
ONNX Runtime's thread pools in one process slow each other down); ``cache hit``
is a repeated query. Agreement: cosine similarity of each backend's vectors to the raw
encode vectors (passages and queries), and the overlap of the top-10 passages
each backend retrieves for the queries with the top 10 of the raw vectors.

Prints one table; asserts nothing. The ONNX files are exported on first use
into the user cache (``sqlitevec_store.embeddings.onnx_cache_dir()``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hybrid_quality import DEFAULT_DOCS, load_corpus

from sqlitevec_store.embeddings import BACKENDS, SentenceTransformerEmbedder


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def query_latencies(name: str, args: argparse.Namespace) -> list[float]:
    """Run ``--query-worker name`` in a fresh interpreter and return its latencies in ms."""
    command = [sys.executable, __file__, "--query-worker", name, "--docs", str(args.docs), "--pages", str(args.pages)]
    command += ["--queries", str(args.queries)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return [float(x) for x in json.loads(result.stdout.strip().splitlines()[-1])]


def query_worker(name: str, queries: list[str]) -> None:
    """Embed each query once (after a warm-up) with one backend, or raw encode; print the latencies."""
    if name == "raw encode":
        model = SentenceTransformerEmbedder().model

        def embed(q: str) -> Any:
            return model.encode([q], normalize_embeddings=True)
    else:
        embed = SentenceTransformerEmbedder(backend=name, query_cache_size=0).embed_query
    for q in queries[:5]:
        embed("warm up " + q)
    print(json.dumps([timed(lambda q=q: embed(q))[0] * 1e3 for q in queries]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--n", type=int, default=1000, help="passages to embed per row")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=200, help="texts per call; rows take turns chunk by chunk")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--no-adapters", action="store_true", help="core rows only")
    parser.add_argument("--query-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.docs.is_dir():
        sys.exit(f"{args.docs} not found: fetch the corpus as benchmarks/hybrid_quality.py describes")

    passages, _, questions = load_corpus(args.docs, args.pages)
    texts = passages[: args.n]
    queries = [q for q, _ in questions[: args.queries]]
    if args.query_worker:
        query_worker(args.query_worker, queries)
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    import torch

    load_before = os.getloadavg()[0]
    print(
        f"{len(texts)} passages (mean {statistics.mean(len(t) for t in texts):.0f} chars), {len(queries)} queries "
        f"(mean {statistics.mean(len(q) for q in queries):.0f} chars); {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads; load average {load_before:.2f}"
    )

    embedders = {b: SentenceTransformerEmbedder(backend=b, query_cache_size=0) for b in backends}
    for backend, embedder in embedders.items():
        seconds, _ = timed(lambda e=embedder: e.embed_documents(["warm up"]))
        print(f"  {backend}: model ready in {seconds:.1f} s ({embedder.model_id})")
    raw_model = embedders["torch"].model if "torch" in embedders else SentenceTransformerEmbedder().model

    doc_rows: dict[str, Callable[[list[str]], Any]] = {
        "raw encode": lambda chunk: raw_model.encode(chunk, batch_size=32, normalize_embeddings=True),
    }
    if not args.no_adapters:
        from langchain_sqlitevec import SentenceTransformerEmbeddings
        from llamaindex_sqlitevec import SentenceTransformerEmbedding
    for backend, embedder in embedders.items():
        doc_rows[f"core [{backend}]"] = lambda chunk, e=embedder: e.embed_documents(chunk)
        if not args.no_adapters:
            lc = SentenceTransformerEmbeddings(backend=backend, query_cache_size=0)
            li = SentenceTransformerEmbedding(backend=backend, query_cache_size=0)
            doc_rows[f"langchain [{backend}]"] = lambda chunk, m=lc: m.embed_documents(chunk)
            doc_rows[f"llamaindex [{backend}]"] = lambda chunk, m=li: m.get_text_embedding_batch(chunk)

    rates: dict[str, list[float]] = {name: [] for name in doc_rows}
    ratios: dict[str, list[float]] = {name: [] for name in doc_rows}
    vectors: dict[str, np.ndarray] = {}
    query_ms: dict[str, list[float]] = {name: [] for name in ["raw encode", *embedders]}
    chunks = [texts[i : i + args.chunk] for i in range(0, len(texts), args.chunk)]
    for round_no in range(args.rounds):
        seconds_per_row = dict.fromkeys(doc_rows, 0.0)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in doc_rows}
        for chunk in chunks:  # every row on the same chunk in turn: load changes hit all rows alike
            for name, run in doc_rows.items():
                seconds, result = timed(lambda r=run, c=chunk: r(c))
                seconds_per_row[name] += seconds
                parts[name].append(np.asarray(result, dtype=np.float32))
        for name in doc_rows:
            rates[name].append(len(texts) / seconds_per_row[name])
            ratios[name].append(seconds_per_row["raw encode"] / seconds_per_row[name])
            vectors.setdefault(name, np.concatenate(parts[name]))
            print(f"  round {round_no + 1}: {name:24s} {rates[name][-1]:7.1f} docs/s", flush=True)
        for name, latencies in query_ms.items():  # each in a process of its own, as an application runs one
            latencies.extend(query_latencies(name, args))

    cached = SentenceTransformerEmbedder(backend=backends[0], query_cache_size=len(queries))
    for query in queries:
        cached.embed_query(query)
    hit_ms = [timed(lambda q=query: cached.embed_query(q))[0] * 1e3 for query in queries]

    reference = vectors["raw encode"]
    raw_queries = np.asarray(raw_model.encode(queries, normalize_embeddings=True), dtype=np.float32)
    reference_top = np.argsort(-(raw_queries @ reference.T), axis=1)[:, :10]

    print()
    print(f"Documents: {len(texts)} passages in calls of {args.chunk}, batch size 32, median of {args.rounds} rounds")
    print(f"| {'path':24s} | docs/s | vs raw | cos to raw min | cos mean |")
    print(f"|{'-' * 26}|-------:|-------:|---------------:|---------:|")
    for name in doc_rows:
        cos = (vectors[name] * reference).sum(axis=1)
        print(
            f"| {name:24s} | {statistics.median(rates[name]):6.1f} | {statistics.median(ratios[name]):5.2f}x "
            f"| {cos.min():14.7f} | {cos.mean():8.7f} |"
        )
    print()
    print(f"Queries: one at a time, cache off, {len(queries)} texts x {args.rounds} rounds, one process per backend")
    print("| backend | p50 ms | p95 ms | query cos to raw min / mean | top-10 overlap with raw |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| raw encode (torch) | {percentile(query_ms['raw encode'], 50):.2f} | "
        f"{percentile(query_ms['raw encode'], 95):.2f} | 1 / 1 | 1.000 |"
    )
    for backend, embedder in embedders.items():
        backend_queries = np.stack([embedder.embed_query(q) for q in queries])
        cos = (backend_queries * raw_queries).sum(axis=1)
        top = np.argsort(-(backend_queries @ vectors[f"core [{backend}]"].T), axis=1)[:, :10]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, reference_top, strict=True)])
        print(
            f"| {backend} | {percentile(query_ms[backend], 50):.2f} | {percentile(query_ms[backend], 95):.2f} "
            f"| {cos.min():.7f} / {cos.mean():.7f} | {overlap:.3f} |"
        )
    print(f"| cache hit ({backends[0]}) | {percentile(hit_ms, 50):.4f} | {percentile(hit_ms, 95):.4f} | | |")
    print(f"\nload average before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
