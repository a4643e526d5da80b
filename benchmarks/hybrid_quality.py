"""Retrieval quality of dense, keyword and hybrid search on the PostgreSQL 15 documentation.

Run:
    mkdir -p ~/.cache/sqlitevec-store-bench && cd ~/.cache/sqlitevec-store-bench
    apt-get download postgresql-doc-15 && dpkg-deb -x postgresql-doc-15_*.deb pg
    cd - && python benchmarks/hybrid_quality.py [--docs DIR] [--pages 300]

Corpus: the HTML manual that Debian's ``postgresql-doc-15`` package ships. A
deterministic sample of pages (seed 0; reference pages such as ``sql-*.html``
left out, see below) is split into passages: consecutive ``<p>`` paragraphs
merged until about 400 characters. Headings are not part of any passage.

Questions: each sampled page's ``<title>`` with its section number removed
(``"30.5. WAL Configuration"`` -> ``"WAL Configuration"``); a retrieved passage is
relevant when it comes from that page. Titles that are not questions about a
topic ("Introduction", "Overview", ...) are skipped. The questions are split
in two halves by a seeded shuffle: ``dev`` (used to choose the fusion and its
constants) and ``test`` (held out, reported). See benchmarks/README.md for the
method's biases.

Vectors come from the default model (all-MiniLM-L6-v2) and are cached in
``~/.cache/sqlitevec-store-bench`` (keyed by a hash of the texts). Prints
hit@1, hit@5, recall@10 (hit@10: a relevant passage in the top 10) and MRR@10
per method, for both halves. Asserts nothing; no timings.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import itertools
import random
import re
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from sqlitevec_store import Database, Record
from sqlitevec_store.backends.sqlite.keywords import STOPWORDS, keyword_match_expression
from sqlitevec_store.embeddings import SentenceTransformerEmbedder
from sqlitevec_store.records import Hit
from sqlitevec_store.search.fusion import alpha_fusion, rrf_fusion

CACHE = Path.home() / ".cache" / "sqlitevec-store-bench"
DEFAULT_DOCS = CACHE / "pg" / "usr" / "share" / "doc" / "postgresql-doc-15" / "html"
SKIP_PAGES = re.compile(r"^(sql-|app-|catalog-|view-|infoschema-|release|bookindex|index\.html|legalnotice)")
GENERIC_TITLES = {
    "introduction",
    "overview",
    "examples",
    "example",
    "notes",
    "limitations",
    "configuration",
    "installation",
    "usage",
    "functions",
    "author",
    "authors",
    "description",
    "reference",
    "preface",
    "conventions",
    "further information",
    "what is postgresql?",
}


class PageParser(HTMLParser):
    """Collects the page title and the text of every ``<p>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.paragraphs: list[str] = []
        self._in_title = False
        self._p_depth = 0
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "p":
            self._p_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "p" and self._p_depth:
            self._p_depth -= 1
            if not self._p_depth:
                self.paragraphs.append(" ".join("".join(self._buffer).split()))
                self._buffer = []

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._p_depth:
            self._buffer.append(data)


def clean_title(title: str) -> str:
    title = " ".join(html.unescape(title).split())
    return re.sub(r"^((Chapter|Appendix|Part) )?[A-Z0-9IVX]+(\.[0-9]+)*\.\s+", "", title)


def load_corpus(docs: Path, pages: int) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Passages, the page of each passage, and (question, page) pairs."""
    files = sorted(p for p in docs.glob("*.html") if not SKIP_PAGES.match(p.name))
    random.Random(0).shuffle(files)
    passages: list[str] = []
    page_of: list[str] = []
    questions: list[tuple[str, str]] = []
    for path in files[:pages]:
        parser = PageParser()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        current = ""
        page_passages = []
        for paragraph in parser.paragraphs:
            if not paragraph:
                continue
            current = f"{current} {paragraph}".strip()
            if len(current) >= 400:
                page_passages.append(current)
                current = ""
        if current and (len(current) >= 100 or not page_passages):
            page_passages.append(current)
        if not page_passages:
            continue
        passages.extend(page_passages)
        page_of.extend([path.name] * len(page_passages))
        title = clean_title(parser.title)
        if title.lower() not in GENERIC_TITLES and len(title) >= 8:
            questions.append((title, path.name))
    return passages, page_of, questions


def cached_vectors(embedder: SentenceTransformerEmbedder, texts: Sequence[str], kind: str) -> np.ndarray:
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{kind}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(embedder.embed_documents(list(texts)), dtype=np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def metrics(rankings: list[list[str]], answers: list[str], page_of: dict[str, str]) -> dict[str, float]:
    ranks = []
    for ranking, answer in zip(rankings, answers, strict=True):
        rank = next((n for n, pid in enumerate(ranking[:10], 1) if page_of[pid] == answer), None)
        ranks.append(rank)
    n = len(ranks)
    return {
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "recall@10": sum(r is not None for r in ranks) / n,
        "MRR@10": sum(1 / r for r in ranks if r is not None) / n,
    }


def _z(scores: Sequence[float]) -> list[float]:
    if len(scores) < 2:
        return [1.0] * len(scores)
    array = np.asarray(scores, dtype=np.float64)
    return list((array - array.mean()) / (array.std() or 1.0))


def z_score_fusion(dense: list[Hit], keyword: list[Hit], alpha: float) -> list[str]:
    """Distribution-based fusion: z-scores per side; a record missing from a side gets that side's minimum."""
    dz, kz = _z([h.similarity for h in dense]), _z([h.score or 0.0 for h in keyword])
    dmin, kmin = min(dz, default=0.0), min(kz, default=0.0)
    vector_part = {h.id: alpha * z for h, z in zip(dense, dz, strict=True)}
    keyword_part = {h.id: (1 - alpha) * z for h, z in zip(keyword, kz, strict=True)}
    fused = {
        key: vector_part.get(key, alpha * dmin) + keyword_part.get(key, (1 - alpha) * kmin)
        for key in [*vector_part, *keyword_part]
    }
    return sorted(fused, key=lambda key: -fused[key])


def raw_score_fusion(dense: list[Hit], keyword: list[Hit], alpha: float) -> list[str]:
    """Raw cosine similarity plus BM25 divided by the query's best BM25."""
    best = max((h.score or 0.0 for h in keyword), default=1.0) or 1.0
    fused = {h.id: alpha * h.similarity for h in dense}
    for h in keyword:
        fused[h.id] = fused.get(h.id, 0.0) + (1 - alpha) * (h.score or 0.0) / best
    return sorted(fused, key=lambda key: -fused[key])


def phrase_pairs_expression(text: str) -> str | None:
    """The core's plain-text query plus each pair of adjacent kept words as an FTS5 phrase."""
    base = keyword_match_expression(text)
    words = [w for w in text.split() if re.search(r"\w", w) and w.strip(".,;:!?'\"()").lower() not in STOPWORDS]
    pairs = ['"' + f"{a} {b}".replace('"', '""') + '"' for a, b in itertools.pairwise(words)]
    return " OR ".join([base, *pairs]) if base else None


def explore_methods(
    dense: Callable[[str, int], list[Hit]], keyword: Callable[..., list[Hit]], fetch_k: int
) -> dict[str, Callable[[str], list[str]]]:
    """The fusions tried on dev that did not beat the default (see benchmarks/README.md)."""
    out: dict[str, Callable[[str], list[str]]] = {}
    for alpha in (0.5, 0.6, 0.7, 0.8):
        out[f"z-score alpha={alpha}"] = lambda q, a=alpha: z_score_fusion(dense(q, fetch_k), keyword(q, fetch_k), a)
        out[f"raw cos + bm25/max alpha={alpha}"] = lambda q, a=alpha: raw_score_fusion(
            dense(q, fetch_k), keyword(q, fetch_k), a
        )
        out[f"min-max alpha={alpha} fetch_k=50"] = lambda q, a=alpha: [
            key
            for key, _ in alpha_fusion(
                [(h.id, h.similarity) for h in dense(q, 50)], [(h.id, h.score or 0.0) for h in keyword(q, 50)], alpha=a
            )
        ]
        out[f"min-max alpha={alpha} + phrase pairs"] = lambda q, a=alpha: [
            key
            for key, _ in alpha_fusion(
                [(h.id, h.similarity) for h in dense(q, fetch_k)],
                [(h.id, h.score or 0.0) for h in keyword(q, fetch_k, pairs=True)],
                alpha=a,
            )
        ]
    out["keyword + phrase pairs"] = lambda q: [h.id for h in keyword(q, 10, pairs=True)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--fetch-k", type=int, default=20)
    parser.add_argument("--explore", action="store_true", help="Also print the fusions tried without gain.")
    args = parser.parse_args()
    if not args.docs.is_dir():
        raise SystemExit(f"{args.docs} not found; see the module docstring for how to get it")
    passages, pages, questions = load_corpus(args.docs, args.pages)
    random.Random(1).shuffle(questions)
    half = len(questions) // 2
    splits = {"dev": questions[:half], "test": questions[half:]}
    print(
        f"{len(passages)} passages from {len(set(pages))} pages; {len(questions)} questions "
        f"({len(splits['dev'])} dev, {len(splits['test'])} test)"
    )

    embedder = SentenceTransformerEmbedder()
    doc_vectors = cached_vectors(embedder, passages, "passages")
    query_vectors = {
        q: v
        for (q, _), v in zip(questions, cached_vectors(embedder, [q for q, _ in questions], "questions"), strict=True)
    }

    db = Database(":memory:")
    docs = db.collection("docs")
    docs.upsert(
        Record(text=t, vector=v, id=f"p{n}") for n, (t, v) in enumerate(zip(passages, doc_vectors, strict=True))
    )
    page_of = {f"p{n}": page for n, page in enumerate(pages)}
    fetch_k = args.fetch_k

    def dense(q: str, k: int) -> list[Hit]:
        return docs.search(query_vectors[q], k=k)

    def keyword(q: str, k: int, *, stopwords: bool = True, operator: str = "OR", pairs: bool = False) -> list[Hit]:
        if pairs:
            match = phrase_pairs_expression(q)
        else:
            match = keyword_match_expression(q, operator=operator, stopwords=STOPWORDS if stopwords else frozenset())
        return docs.keyword_search(match, k=k, raw=True) if match else []

    def ids(hits: list[Hit]) -> list[str]:
        return [h.id for h in hits]

    methods: dict[str, Callable[[str], list[str]]] = {
        "dense": lambda q: ids(dense(q, 10)),
        "keyword AND": lambda q: ids(keyword(q, 10, operator="AND")),
        "keyword OR (all words)": lambda q: ids(keyword(q, 10, stopwords=False)),
        "keyword OR (no stopwords)": lambda q: ids(keyword(q, 10)),
        "RRF c=60, all-words OR (naive)": lambda q: [
            key for key, _ in rrf_fusion([ids(dense(q, fetch_k)), ids(keyword(q, fetch_k, stopwords=False))])
        ][:10],
    }
    for c in (5, 20, 60):
        for w in (0.3, 0.5, 0.7):
            methods[f"RRF c={c} w_vec={w}"] = lambda q, c=c, w=w: [
                key
                for key, _ in rrf_fusion([ids(dense(q, fetch_k)), ids(keyword(q, fetch_k))], weights=[w, 1 - w], c=c)
            ][:10]
    for alpha in (0.3, 0.5, 0.7, 0.8):
        methods[f"alpha={alpha} (min-max)"] = lambda q, a=alpha: [
            key
            for key, _ in alpha_fusion(
                [(h.id, h.similarity) for h in dense(q, fetch_k)],
                [(h.id, h.score or 0.0) for h in keyword(q, fetch_k)],
                alpha=a,
            )
        ][:10]
    if args.explore:
        methods.update(explore_methods(dense, keyword, fetch_k))
    methods["hybrid_search default (alpha=0.7)"] = lambda q: ids(docs.hybrid_search(query_vectors[q], q, k=10))

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, method in methods.items():
        results[name] = {
            split: metrics([method(q) for q, _ in qs], [a for _, a in qs], page_of) for split, qs in splits.items()
        }
    for split, qs in splits.items():
        print(f"\n{split} ({len(qs)} questions)")
        print(f"{'method':34} {'hit@1':>7} {'hit@5':>7} {'recall@10':>10} {'MRR@10':>7}")
        for name, by_split in results.items():
            m = by_split[split]
            print(f"{name:34} {m['hit@1']:7.3f} {m['hit@5']:7.3f} {m['recall@10']:10.3f} {m['MRR@10']:7.3f}")
    db.close()


if __name__ == "__main__":
    main()
