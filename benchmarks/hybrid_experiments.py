"""Experiments towards a better keyword query and fusion for hybrid search (research, not the benchmark of record).

Run (after ``hybrid_quality.py`` has cached the passage vectors; ~4 min on 2 cores):
    python benchmarks/hybrid_experiments.py               # grids on dev, one pick per family, dev table
    python benchmarks/hybrid_experiments.py --show-test   # ... and the picks (made on dev) scored on test
    python benchmarks/hybrid_experiments.py --swap --show-test   # the same procedure with the halves swapped

Everything is computed outside the core: scratch FTS5 tables built with SQL in
an in-memory database (sqlean, the SQLite the core uses, so ``bm25()`` is the
core's), and the cached passage vectors with numpy (exact cosine: the store's
exact-search ranking). The ``core`` fusion kind reproduces
``Collection.hybrid_search``'s default exactly (0.762 dev / 0.750 test).

Three query sets over the same 2,642 passages, each split in seeded halves:

``titles``
    The benchmark of record (``hybrid_quality.py``, same split): page titles,
    relevant = any passage of that page. 139 dev / 139 test.
``index``
    Entries of the manual's back-of-book index (``bookindex.html``) as
    ``"term subterm"`` (``"ASSERT in PL/pgSQL"``, ``"array_nulls configuration
    parameter"``); relevant = any passage of a page the entry links to. Entries
    whose content words equal a linked page's title are left out, so the set is
    not title-derived. Seeded sample of 300, 150 / 150.
``anchors``
    Index entries again (another seeded sample of 300), but relevance is
    section-level: only the passages inside the element the link's ``#anchor``
    names (or, for an inline anchor, the passage the link lands on); on average
    28% of the page. Context tricks that only pull a page together are not
    rewarded here.

Protocol: each family of designs is a grid; its pick is the config with the
best titles-dev MRR@10 among those whose index-dev and anchors-dev MRR@10 are
no worse than the core default's; ties go to the higher index+anchors dev sum.
Test halves are only read for the picks (``--show-test``), with a paired
bootstrap interval of the MRR@10 difference to dense.
"""

from __future__ import annotations

import argparse
import html
import itertools
import math
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hybrid_quality import (
    DEFAULT_DOCS,
    GENERIC_TITLES,
    SKIP_PAGES,
    cached_vectors,
    clean_title,
    load_corpus,
)

from sqlitevec_store.backends.sqlite.keywords import STOPWORDS, keyword_match_expression

ADMONITIONS = {"note", "warning", "tip", "caution", "important"}
VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source", "param"}


# ---------------------------------------------------------------------------------------------------------------------
# Corpus with heading paths (same passages as hybrid_quality.load_corpus, checked)
# ---------------------------------------------------------------------------------------------------------------------


class _HeadingParser(HTMLParser):
    """Like hybrid_quality.PageParser, plus the heading path in force at each paragraph."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.paragraphs: list[tuple[str, tuple[str, ...]]] = []
        self._in_title = False
        self._p_depth = 0
        self._buffer: list[str] = []
        self._heading_level = 0
        self._heading_text: list[str] = []
        self._path: list[tuple[int, str]] = []
        # element id -> (first, end) paragraph indexes inside the element; a link to an element holding no
        # paragraph (an inline anchor, a <dt>) lands on the next paragraph
        self.anchors: dict[str, tuple[int, int]] = {}
        self._stack: list[tuple[str, str | None]] = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value and value not in self.anchors:
                self.anchors[value] = (len(self.paragraphs), len(self.paragraphs))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        anchor = next((v for n, v in attrs if n in ("id", "name") and v), None)
        if tag in VOID_TAGS:
            self.handle_startendtag(tag, attrs)
        else:
            self._stack.append((tag, anchor))
            if anchor and anchor not in self.anchors:
                self.anchors[anchor] = (len(self.paragraphs), -1)
        if tag == "title":
            self._in_title = True
        elif tag == "p":
            self._p_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading_level = int(tag[1])
            self._heading_text = []

    def handle_endtag(self, tag: str) -> None:
        if any(t == tag for t, _ in self._stack):
            while self._stack:
                open_tag, anchor = self._stack.pop()
                if anchor and self.anchors.get(anchor, (0, 0))[1] == -1:
                    # a <p> being closed is not counted yet: it ends after this paragraph
                    self.anchors[anchor] = (self.anchors[anchor][0], len(self.paragraphs) + (open_tag == "p"))
                if open_tag == tag:
                    break
        if tag == "title":
            self._in_title = False
        elif tag == "p" and self._p_depth:
            self._p_depth -= 1
            if not self._p_depth:
                text = " ".join("".join(self._buffer).split())
                self.paragraphs.append((text, tuple(h for _, h in self._path)))
                self._buffer = []
        elif re.fullmatch(r"h[1-6]", tag) and self._heading_level:
            text = clean_title(" ".join("".join(self._heading_text).split()))
            level = self._heading_level
            self._heading_level = 0
            if text and text.lower() not in ADMONITIONS:
                self._path = [(lv, h) for lv, h in self._path if lv < level] + [(level, text)]

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._heading_level:
            self._heading_text.append(data)
        elif self._p_depth:
            self._buffer.append(data)


@dataclass
class Corpus:
    passages: list[str]
    page_of: list[str]
    title_of_page: dict[str, str]
    headings: list[tuple[str, ...]]  # heading path of each passage's first paragraph (page title first)
    anchors: dict[str, dict[str, frozenset[int]]]  # page -> element id -> the passages a link to it points at
    title_questions: list[tuple[str, frozenset[str]]]
    vectors: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def load_corpus_with_headings(docs: Path, pages: int) -> Corpus:
    passages, page_of, questions = load_corpus(docs, pages)
    files = sorted(p for p in docs.glob("*.html") if not SKIP_PAGES.match(p.name))
    random.Random(0).shuffle(files)
    out_passages: list[str] = []
    headings: list[tuple[str, ...]] = []
    title_of_page: dict[str, str] = {}
    anchors: dict[str, dict[str, frozenset[int]]] = {}
    for path in files[:pages]:
        parser = _HeadingParser()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        current, current_head = "", None
        page_passages: list[tuple[str, tuple[str, ...]]] = []
        passage_of_paragraph: dict[int, int] = {}
        for n, (paragraph, head) in enumerate(parser.paragraphs):
            if not paragraph:
                continue
            if not current:
                current_head = head
            current = f"{current} {paragraph}".strip()
            passage_of_paragraph[n] = len(page_passages)
            if len(current) >= 400:
                page_passages.append((current, current_head))
                current = ""
        if current and (len(current) >= 100 or not page_passages):
            page_passages.append((current, current_head))
        if not page_passages:
            continue
        title_of_page[path.name] = clean_title(parser.title)
        base = len(out_passages)
        anchors[path.name] = {}
        for anchor, (first, end) in parser.anchors.items():
            inside = {passage_of_paragraph[i] for i in range(first, max(end, 0)) if i in passage_of_paragraph}
            if not inside:  # the first kept paragraph after the anchor
                landing = next(
                    (
                        passage_of_paragraph[i]
                        for i in range(first, len(parser.paragraphs))
                        if i in passage_of_paragraph
                    ),
                    None,
                )
                inside = {landing} if landing is not None else set()
            inside = {i for i in inside if i < len(page_passages)}
            if inside:
                anchors[path.name][anchor] = frozenset(base + i for i in inside)
        for text, head in page_passages:
            out_passages.append(text)
            headings.append(head or ())
    assert out_passages == passages, "heading parser split the pages differently"
    return Corpus(passages, page_of, title_of_page, headings, anchors, [(q, frozenset([p])) for q, p in questions])


# ---------------------------------------------------------------------------------------------------------------------
# Second query set: the back-of-book index
# ---------------------------------------------------------------------------------------------------------------------


class _IndexParser(HTMLParser):
    """Entries of bookindex.html as (term path, linked pages)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: list[tuple[tuple[str, ...], set[str]]] = []
        self._dl_depth = 0
        self._terms: dict[int, str] = {}
        self._in_dt = False
        self._in_link = False
        self._text: list[str] = []
        self._links: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "dl":
            self._dl_depth += 1
        elif tag == "dt":
            self._in_dt, self._text, self._links = True, [], set()
        elif tag == "a" and self._in_dt:
            self._in_link = True
            if a.get("class") == "indexterm" and a.get("href"):
                self._links.add(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "dl":
            self._dl_depth -= 1
        elif tag == "a":
            self._in_link = False
        elif tag == "dt" and self._in_dt:
            self._in_dt = False
            term = " ".join("".join(self._text).split()).rstrip(", ").strip()
            level = self._dl_depth
            self._terms = {lv: t for lv, t in self._terms.items() if lv < level}
            self._terms[level] = term
            if self._links:
                self.entries.append((tuple(self._terms[lv] for lv in sorted(self._terms)), set(self._links)))

    def handle_data(self, data: str) -> None:
        if self._in_dt and not self._in_link:
            self._text.append(data)


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS)


def index_questions(
    docs: Path, corpus: Corpus, n: int = 300, *, passage_level: bool = False
) -> list[tuple[str, frozenset[str]]]:
    """Index entries; relevant = the linked pages, or with ``passage_level`` the passages the links land on.

    Passage-level relevance is written ``"#<passage index>"``; only links with an anchor count there.
    """
    parser = _IndexParser()
    parser.feed((docs / "bookindex.html").read_text(encoding="utf-8", errors="replace"))
    pages = set(corpus.title_of_page)
    seen: set[str] = set()
    out: list[tuple[str, frozenset[str]]] = []
    for terms, links in parser.entries:
        query = " ".join(html.unescape(" ".join(terms)).split())
        if passage_level:
            landing = {
                i
                for page, _, anchor in (link.partition("#") for link in links)
                if page in pages and anchor
                for i in corpus.anchors[page].get(anchor, ())
            }
            linked_pages = frozenset(corpus.page_of[i] for i in landing)
            relevant = frozenset(f"#{i}" for i in landing)
        else:
            linked_pages = relevant = frozenset({link.split("#")[0] for link in links} & pages)
        if not relevant or len(query) < 3 or query.lower() in seen or query.lower() in GENERIC_TITLES:
            continue
        words = _content_words(query)
        if not words or any(words == _content_words(corpus.title_of_page[p]) for p in linked_pages):
            continue  # title-derived: the benchmark of record covers those
        seen.add(query.lower())
        out.append((query, relevant))
    random.Random(3 if passage_level else 2).shuffle(out)
    return out[:n]


# ---------------------------------------------------------------------------------------------------------------------
# Scratch FTS5 indexes
# ---------------------------------------------------------------------------------------------------------------------


def sqlite_connection():
    import sqlean  # the SQLite the core uses (FTS5 and bm25() as in the core)

    return sqlean.connect(":memory:")


CORE_TOKENIZER = "porter unicode61 remove_diacritics 2"  # schema.FTS_TOKENIZER

#: table -> (tokenizer, extra columns). Column weights are given per query (``bm25(t, w_text, w_extra...)``).
TABLES = {
    "porter": (CORE_TOKENIZER, ()),  # the core's index
    "plain": ("unicode61 remove_diacritics 2", ()),  # no stemming
    "sub": (CORE_TOKENIZER, ("sub",)),  # + the section headings below the page title
    "title": (CORE_TOKENIZER, ("title", "sub")),  # + the page title: answers the title questions by construction
    "ctx": (CORE_TOKENIZER, ("ctx",)),  # + the text of the previous and next passage of the same page
    "plainctx": ("unicode61 remove_diacritics 2", ("ctx",)),
}


class Keyword:
    """Scratch FTS5 tables over the passages, and BM25 per query (cached)."""

    def __init__(self, corpus: Corpus) -> None:
        self.conn = sqlite_connection()
        self.n = len(corpus.passages)
        texts, pages = corpus.passages, corpus.page_of
        extra = {
            "sub": [
                " ".join(h[1:] if h and h[0] == corpus.title_of_page[p] else h)
                for p, h in zip(pages, corpus.headings, strict=True)
            ],
            "title": [corpus.title_of_page[p] for p in pages],
            "ctx": [
                " ".join(
                    ([texts[i - 1]] if i > 0 and pages[i - 1] == pages[i] else [])
                    + ([texts[i + 1]] if i + 1 < self.n and pages[i + 1] == pages[i] else [])
                )
                for i in range(self.n)
            ],
        }
        for name, (tokenizer, columns) in TABLES.items():
            cols = ", ".join(["text", *columns])
            self.conn.execute(f"CREATE VIRTUAL TABLE t_{name} USING fts5({cols}, tokenize='{tokenizer}')")
            self.conn.executemany(
                f"INSERT INTO t_{name} (rowid, {cols}) VALUES ({', '.join('?' * (len(columns) + 2))})",
                [(i, texts[i], *(extra[c][i] for c in columns)) for i in range(self.n)],
            )
        self._cache: dict[tuple, dict[int, float]] = {}

    def scores(self, expr: str | None, table: str = "porter", weights: tuple[float, ...] = ()) -> dict[int, float]:
        """rowid -> BM25 (positive, higher better) of every passage matching ``expr``, best first."""
        if not expr:
            return {}
        key = (expr, table, weights)
        if key not in self._cache:
            w = "".join(f", {x}" for x in weights)
            rows = self.conn.execute(
                f"SELECT rowid, bm25(t_{table}{w}) FROM t_{table} WHERE t_{table} MATCH ? ORDER BY 2, rowid", (expr,)
            ).fetchall()
            self._cache[key] = {r: max(-s, 0.0) for r, s in rows}
        return self._cache[key]

    def doc_freq(self, piece: str) -> int:
        """Passages matching the quoted piece (a phrase when it tokenizes into several tokens)."""
        return len(self.scores(_quote(piece)))


# ---------------------------------------------------------------------------------------------------------------------
# Query builders (plain text -> FTS5 expression)
# ---------------------------------------------------------------------------------------------------------------------

_CHUNK = re.compile(r"\S+")
_WORD = re.compile(r"\w")


def _pieces(text: str) -> list[str]:
    return list(dict.fromkeys(p for p in _CHUNK.findall(text.replace("\x00", " ")) if _WORD.search(p)))


def _kept(text: str) -> list[str]:
    pieces = _pieces(text)
    return [p for p in pieces if p.strip(".,;:!?'\"()[]{}").lower() not in STOPWORDS] or pieces


def _quote(p: str) -> str:
    return '"' + p.replace('"', '""') + '"'


def q_core(text: str, kw: Keyword) -> str | None:
    """The core's plain-text query: whitespace pieces as FTS5 strings, stopwords dropped, ORed."""
    return keyword_match_expression(text)


def q_all_words(text: str, kw: Keyword) -> str | None:
    """As the core, stopwords kept."""
    return keyword_match_expression(text, stopwords=frozenset())


def q_split_tokens(text: str, kw: Keyword) -> str | None:
    """Every word token on its own (``pg_stat_activity`` -> pg OR stat OR activity), stopwords dropped."""
    toks = list(dict.fromkeys(t for t in re.findall(r"\w+", text.lower()) if t not in STOPWORDS))
    return " OR ".join(_quote(t) for t in toks) or None


def q_core_plus_split(text: str, kw: Keyword) -> str | None:
    """The core's pieces (multi-token pieces stay phrases) ORed with their single tokens."""
    base = keyword_match_expression(text)
    if not base:
        return None
    have = set(base.split(" OR "))
    extra = [t for t in (q_split_tokens(text, kw) or "").split(" OR ") if t and t not in have]
    return " OR ".join([base, *extra])


def make_q_idf(max_df: float) -> Callable[[str, Keyword], str | None]:
    """Core pieces minus those matching more than ``max_df`` of the passages (unless none would be left)."""

    def build(text: str, kw: Keyword) -> str | None:
        pieces = _kept(text)
        kept = [p for p in pieces if kw.doc_freq(p) <= max_df * kw.n] or pieces
        return " OR ".join(_quote(p) for p in kept) or None

    return build


def q_near_boost(text: str, kw: Keyword) -> str | None:
    """Core OR query plus all kept pieces as one NEAR group (within 10 tokens)."""
    base, pieces = keyword_match_expression(text), _kept(text)
    if not base or len(pieces) < 2:
        return base
    return f"{base} OR NEAR({' '.join(_quote(p) for p in pieces)}, 10)"


def q_pairs(text: str, kw: Keyword) -> str | None:
    """Core OR query plus each pair of adjacent kept pieces as a phrase (hybrid_quality's phrase pairs)."""
    base, pieces = keyword_match_expression(text), _kept(text)
    if not base:
        return None
    return " OR ".join([base, *(_quote(f"{a} {b}") for a, b in itertools.pairwise(pieces))])


def q_prefix(text: str, kw: Keyword) -> str | None:
    """Core pieces; single-token pieces of 5+ characters also as a prefix of all but the last (``replicat*``)."""
    terms = []
    for p in _kept(text):
        toks = re.findall(r"\w+", p)
        terms.append(_quote(p))
        if len(toks) == 1 and len(toks[0]) >= 5:
            terms.append(_quote(toks[0][:-1]) + "*")
    return " OR ".join(terms) or None


QUERY_BUILDERS: dict[str, Callable[[str, Keyword], str | None]] = {
    "core": q_core,
    "all-words": q_all_words,
    "split": q_split_tokens,
    "core+split": q_core_plus_split,
    "idf<0.10": make_q_idf(0.10),
    "idf<0.05": make_q_idf(0.05),
    "near": q_near_boost,
    "pairs": q_pairs,
    "prefix": q_prefix,
}


# ---------------------------------------------------------------------------------------------------------------------
# Retrieval configurations
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One retrieval method.

    kind:
        ``dense``, ``keyword``;
        ``core``: exactly the core's relative score fusion (each list min-max normalized over its own top
        ``fetch_k``, a record missing from a list gets 0 there);
        ``rrf``: weighted reciprocal rank fusion over the two top-``fetch_k`` lists (weights alpha, 1 - alpha);
        ``minmax`` / ``z``: *complete* score fusion: the candidates are the union of both top-``fetch_k`` lists,
        each candidate gets its true cosine and its true BM25 (0 if it matches no query word), both
        normalized over the candidates (min-max or z-score), ``alpha * dense + (1 - alpha) * keyword``.
    rarity: keyword weight multiplied by ``1 + rarity * -log10(share of passages the keyword query matches)``.
    smooth: dense side uses ``v_i + smooth * (v_prev + v_next)`` (same page), renormalized.
    """

    kind: str = "core"
    alpha: float = 0.7
    fetch_k: int = 20
    c: float = 60.0
    query: str = "core"
    table: str = "porter"
    weights: tuple[float, ...] = ()
    rarity: float = 0.0
    smooth: float = 0.0
    #: pseudo-relevance feedback from the first pass's top ``prf_m`` (0: none): the dense side's query vector moves
    #: by ``prf_beta`` towards their mean vector (Rocchio); the keyword side adds ``prf_w`` times the BM25 of the
    #: ``prf_terms`` best expansion words (tf x idf in those passages, not in the query)
    prf_m: int = 0
    prf_beta: float = 0.0
    prf_terms: int = 0
    prf_w: float = 0.0
    #: keyword weight multiplied by ``exp(-confidence * (best cosine - confidence_at))``: less keyword when the dense
    #: side is sure (its best cosine is high), more when it is not
    confidence: float = 0.0
    confidence_at: float = 0.55

    def name(self) -> str:
        if self.kind == "dense":
            return "dense" + (f" smooth={self.smooth:g}" if self.smooth else "")
        kw = f"{self.query}/{self.table}" + ("/" + ",".join(f"{w:g}" for w in self.weights) if self.weights else "")
        if self.kind == "keyword":
            return f"keyword {kw}"
        out = f"{self.kind} a={self.alpha:g} k={self.fetch_k}" + (f" c={self.c:g}" if self.kind == "rrf" else "")
        out += f" | {kw}"
        if self.rarity:
            out += f" rarity={self.rarity:g}"
        if self.smooth:
            out += f" smooth={self.smooth:g}"
        if self.confidence:
            out += f" conf={self.confidence:g}@{self.confidence_at:g}"
        if self.prf_m:
            out += f" prf m={self.prf_m} b={self.prf_beta:g} t={self.prf_terms} w={self.prf_w:g}"
        return out


def _top(values: np.ndarray, k: int) -> list[int]:
    """Indexes of the k largest values, ties by index."""
    return np.argsort(-values, kind="stable")[:k].tolist()


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return np.ones_like(x) if hi - lo <= 1e-12 else (x - lo) / (hi - lo)


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


class Bench:
    def __init__(
        self, corpus: Corpus, sets: dict[str, dict[str, list[tuple[str, frozenset[str]]]]], qvec: dict[str, np.ndarray]
    ) -> None:
        self.corpus, self.sets, self.qvec = corpus, sets, qvec
        self.kw = Keyword(corpus)
        self.n = len(corpus.passages)
        pages = corpus.page_of
        self._prev = np.array([i - 1 if i > 0 and pages[i - 1] == pages[i] else -1 for i in range(self.n)])
        self._next = np.array([i + 1 if i + 1 < self.n and pages[i + 1] == pages[i] else -1 for i in range(self.n)])
        self._vectors: dict[float, np.ndarray] = {0.0: corpus.vectors}
        self._cos: dict[tuple[str, float], np.ndarray] = {}
        self._bm25: dict[tuple, tuple[np.ndarray, list[int]]] = {}
        self._relevant: dict[tuple[str, frozenset[str]], np.ndarray] = {}
        self._df: dict[str, int] = {}

    def vectors(self, smooth: float) -> np.ndarray:
        if smooth not in self._vectors:
            v = self.corpus.vectors
            zero = np.zeros((1, v.shape[1]), dtype=v.dtype)
            padded = np.vstack([v, zero])  # index -1 -> the zero row
            out = v + smooth * (padded[self._prev] + padded[self._next])
            self._vectors[smooth] = out / np.linalg.norm(out, axis=1, keepdims=True)
        return self._vectors[smooth]

    def cos(self, q: str, smooth: float = 0.0) -> np.ndarray:
        if (q, smooth) not in self._cos:
            self._cos[(q, smooth)] = self.vectors(smooth) @ self.qvec[q]
        return self._cos[(q, smooth)]

    def bm25(self, q: str, cfg: Config) -> tuple[np.ndarray, list[int]]:
        """BM25 of every passage (0 when not matching), and the matching passages best first."""
        key = (q, cfg.query, cfg.table, cfg.weights)
        if key not in self._bm25:
            scores = self.kw.scores(QUERY_BUILDERS[cfg.query](q, self.kw), cfg.table, cfg.weights)
            arr = np.zeros(self.n)
            for r, s in scores.items():
                arr[r] = s
            self._bm25[key] = (arr, list(scores))
        return self._bm25[key]

    def rank(self, q: str, cfg: Config, k: int = 10) -> list[int]:
        cos = self.cos(q, cfg.smooth)
        if cfg.kind == "dense" and not cfg.prf_m:
            return _top(cos, k)
        bm, matching = self.bm25(q, cfg) if cfg.kind != "dense" else (np.zeros(self.n), [])
        if cfg.prf_m:
            first = self.rank(q, replace(cfg, prf_m=0), k=cfg.prf_m)
            if cfg.prf_beta:
                v = self.vectors(cfg.smooth)
                qv = self.qvec[q] + cfg.prf_beta * v[first].mean(axis=0)
                cos = v @ (qv / np.linalg.norm(qv))
            if cfg.prf_terms and cfg.prf_w and cfg.kind != "dense":
                expr = self.expansion(q, first, cfg.prf_terms)
                extra = self.kw.scores(expr, cfg.table, cfg.weights)
                if extra:
                    bm = bm.copy()
                    for r, x in extra.items():
                        bm[r] += cfg.prf_w * x
                    hits = np.flatnonzero(bm > 0)
                    matching = hits[np.argsort(-bm[hits], kind="stable")].tolist()
        if cfg.kind == "dense":
            return _top(cos, k)
        if cfg.kind == "keyword":
            return matching[:k]
        return self.fuse(cfg, cos, bm, matching, k)

    def expansion(self, q: str, feedback: list[int], terms: int) -> str | None:
        """FTS5 OR-query of the ``terms`` words with the best summed tf x idf over the feedback passages."""
        asked = {t.lower() for t in re.findall(r"\w+", q)}
        weight: dict[str, float] = {}
        for r in feedback:
            words = [w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{2,}", self.corpus.passages[r])]
            for w in set(words):
                if w in STOPWORDS or w in asked:
                    continue
                df = self._df.get(w)
                if df is None:
                    df = self._df[w] = max(self.kw.doc_freq(w), 1)
                weight[w] = weight.get(w, 0.0) + words.count(w) / len(words) * math.log(self.n / df)
        best = sorted(weight, key=lambda w: (-weight[w], w))[:terms]
        return " OR ".join(_quote(w) for w in best) or None

    def fuse(self, cfg: Config, cos: np.ndarray, bm: np.ndarray, matching: list[int], k: int) -> list[int]:
        d_top, k_top = _top(cos, cfg.fetch_k), matching[: cfg.fetch_k]
        kw_weight = 1.0 - cfg.alpha
        if cfg.rarity:
            share = max(len(matching), 1) / self.n
            kw_weight *= 1.0 + cfg.rarity * -math.log10(share)
        if cfg.confidence:
            kw_weight *= math.exp(-cfg.confidence * (float(cos.max()) - cfg.confidence_at))
        if cfg.kind == "core":  # sqlitevec_store.search.fusion.alpha_fusion, as Collection.hybrid_search calls it
            fused: dict[int, float] = {}
            for r, x in zip(d_top, _minmax(cos[d_top]), strict=True):
                fused[r] = fused.get(r, 0.0) + cfg.alpha * x
            if k_top:
                for r, x in zip(k_top, _minmax(bm[k_top]), strict=True):
                    fused[r] = fused.get(r, 0.0) + kw_weight * x
            return sorted(fused, key=lambda r: -fused[r])[:k]  # stable: dense order first on ties
        if cfg.kind == "rrf":
            score: dict[int, float] = {}
            for n, r in enumerate(d_top, 1):
                score[r] = score.get(r, 0.0) + cfg.alpha / (cfg.c + n)
            for n, r in enumerate(k_top, 1):
                score[r] = score.get(r, 0.0) + kw_weight / (cfg.c + n)
            return sorted(score, key=lambda r: -score[r])[:k]
        cands = list(dict.fromkeys(d_top + k_top))
        d, b = cos[cands], bm[cands]
        norm = _minmax if cfg.kind == "minmax" else _z
        s = cfg.alpha * norm(d) + kw_weight * (norm(b) if b.max() > 0 else b)
        return [cands[i] for i in np.argsort(-s, kind="stable")[:k]]

    def relevant(self, q: str, rel: frozenset[str]) -> np.ndarray:
        if (q, rel) not in self._relevant:
            page_of = self.corpus.page_of
            self._relevant[(q, rel)] = np.array([page_of[r] in rel or f"#{r}" in rel for r in range(self.n)])
        return self._relevant[(q, rel)]

    def ranks(self, cfg: Config, set_name: str, split: str) -> list[int | None]:
        out = []
        for q, rel in self.sets[set_name][split]:
            mask = self.relevant(q, rel)
            out.append(next((n for n, r in enumerate(self.rank(q, cfg), 1) if mask[r]), None))
        return out

    def evaluate(self, cfg: Config, set_name: str, split: str) -> dict[str, float]:
        return summarize(self.ranks(cfg, set_name, split))


def summarize(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "hit@10": sum(r is not None for r in ranks) / n,
        "MRR@10": sum(1 / r for r in ranks if r is not None) / n,
    }


def paired_bootstrap(a: list[int | None], b: list[int | None], n: int = 10000) -> tuple[float, float, float]:
    """Mean MRR@10 difference b - a and its 95% interval (resampling questions)."""
    x = np.array([(1 / r if r else 0.0) for r in b]) - np.array([(1 / r if r else 0.0) for r in a])
    rng = np.random.default_rng(0)
    means = x[rng.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    return float(x.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def build_bench(docs: Path, pages: int) -> Bench:
    from sqlitevec_store.embeddings import SentenceTransformerEmbedder

    corpus = load_corpus_with_headings(docs, pages)
    titles = list(corpus.title_questions)
    random.Random(1).shuffle(titles)  # exactly hybrid_quality's split
    half = len(titles) // 2
    idx = index_questions(docs, corpus)
    anc = index_questions(docs, corpus, passage_level=True)
    sets = {
        "titles": {"dev": titles[:half], "test": titles[half:]},
        "index": {"dev": idx[: len(idx) // 2], "test": idx[len(idx) // 2 :]},
        "anchors": {"dev": anc[: len(anc) // 2], "test": anc[len(anc) // 2 :]},
    }
    embedder = SentenceTransformerEmbedder()
    corpus.vectors = cached_vectors(embedder, corpus.passages, "passages")
    # hybrid_quality embeds the title questions in load order: reuse its cache
    ordered = [q for q, _ in corpus.title_questions]
    qvec = dict(zip(ordered, cached_vectors(embedder, ordered, "questions"), strict=True))
    for kind, qs in (("index-questions", idx), ("anchor-questions", anc)):
        qvec.update(zip([q for q, _ in qs], cached_vectors(embedder, [q for q, _ in qs], kind), strict=True))
    return Bench(corpus, sets, qvec)


# ---------------------------------------------------------------------------------------------------------------------
# The protocol: grids on dev, one pick per family, test once
# ---------------------------------------------------------------------------------------------------------------------

SETS = ("titles", "index", "anchors")
BASELINES = {
    "dense": Config(kind="dense"),
    "keyword (core query)": Config(kind="keyword"),
    "core default (relative score a=0.7)": Config(kind="core", alpha=0.7),
}


def _fusions(**kw: object) -> list[Config]:
    """The fusion grid, with fixed keyword/dense settings ``kw``."""
    out: list[Config] = []
    for fetch_k in (10, 20, 50):
        for alpha in (0.4, 0.5, 0.6, 0.7, 0.8):
            for kind in ("core", "minmax", "z"):
                out.append(Config(kind=kind, alpha=alpha, fetch_k=fetch_k, **kw))  # type: ignore[arg-type]
        for c in (5, 20, 60):
            for alpha in (0.5, 0.6, 0.7, 0.8):
                out.append(Config(kind="rrf", alpha=alpha, fetch_k=fetch_k, c=c, **kw))  # type: ignore[arg-type]
    return out


def families() -> dict[str, list[Config]]:
    z_like = [
        Config(kind=kind, alpha=a, fetch_k=20) for kind in ("core", "minmax", "z") for a in (0.4, 0.5, 0.6, 0.7, 0.8)
    ]
    fam: dict[str, list[Config]] = {
        "A. fusion only (core query, core index)": _fusions(),
        "B. + keyword query variant": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, query=q, table=t)
            for q in QUERY_BUILDERS
            if q != "core"
            for t in ("porter", "plain")
            for c in z_like
        ],
        "C. + section-heading column (BM25F, no page title)": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, table="sub", weights=(1.0, w))
            for w in (0.5, 1.0, 2.0, 4.0)
            for c in z_like
        ],
        "D. + neighbour-text column (BM25F)": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, query=q, table=t, weights=(1.0, w))
            for q, t in (("core", "ctx"), ("core", "plainctx"), ("all-words", "plainctx"))
            for w in (0.05, 0.1, 0.2, 0.3, 0.5)
            for c in z_like
        ],
        "E. + rarity-adaptive keyword weight": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, rarity=r, table=t, weights=w)
            for r in (0.25, 0.5, 1.0)
            for t, w in (("porter", ()), ("plain", ()), ("ctx", (1.0, 0.1)), ("plainctx", (1.0, 0.1)))
            for c in z_like
        ],
        "F. + neighbour-smoothed vectors (dense side; beyond the brief)": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, table=t, weights=w, smooth=g)
            for g in (0.1, 0.15, 0.25)
            for t, w in (
                ("porter", ()),
                ("plain", ()),
                ("ctx", (1.0, 0.1)),
                ("ctx", (1.0, 0.2)),
                ("plainctx", (1.0, 0.1)),
                ("plainctx", (1.0, 0.2)),
            )
            for c in z_like
        ],
        "G1. + Rocchio feedback on the query vector (fused first pass)": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, prf_m=m, prf_beta=b)
            for m in (3, 5, 10)
            for b in (0.25, 0.5, 1.0)
            for c in z_like
        ],
        "G2. + keyword expansion from the fused first pass (RM-style)": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, prf_m=m, prf_terms=t, prf_w=w)
            for m in (3, 5)
            for t in (5, 10, 20)
            for w in (0.25, 0.5, 1.0)
            for c in z_like
        ],
        "G3. both feedbacks": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, prf_m=m, prf_beta=b, prf_terms=10, prf_w=w)
            for m in (3, 5)
            for b in (0.25, 0.5)
            for w in (0.25, 0.5)
            for c in z_like
        ],
        "H. keyword weight falling with the dense side's confidence (best cosine)": [
            Config(
                kind=c.kind,
                alpha=c.alpha,
                fetch_k=c.fetch_k,
                table=t,
                weights=w,
                rarity=r,
                confidence=g,
                confidence_at=at,
            )
            for g in (2.0, 4.0, 8.0)
            for at in (0.4, 0.55, 0.7)
            for t, w, r in (("porter", (), 0.0), ("plainctx", (1.0, 0.1), 0.5))
            for c in z_like
        ],
        "X. + page-title column (answers the title questions by construction)": [
            Config(kind=c.kind, alpha=c.alpha, fetch_k=c.fetch_k, table="title", weights=(1.0, wt, 1.0))
            for wt in (0.5, 1.0, 2.0)
            for c in z_like
        ],
    }
    return fam


def choose(bench: Bench, configs: list[Config], floor: dict[str, float]) -> tuple[Config, dict[str, float], int]:
    """Best titles-dev MRR among configs whose index-dev and anchors-dev MRR stay at or above ``floor``.

    When no config is admissible, the best titles-dev config of all (the caller reports 0 admissible).
    """
    best: tuple[bool, float, float] | None = None
    pick: tuple[Config, dict[str, float]] | None = None
    admissible = 0
    for cfg in configs:
        dev = {s: bench.evaluate(cfg, s, "dev")["MRR@10"] for s in SETS}
        ok = all(dev[s] >= floor[s] for s in ("index", "anchors"))
        admissible += ok
        key = (ok, round(dev["titles"], 6), dev["index"] + dev["anchors"])
        if best is None or key > best:
            best, pick = key, (cfg, dev)
    assert pick is not None, "empty family"
    return pick[0], pick[1], admissible


def report(bench: Bench, rows: list[tuple[str, Config]], splits: tuple[str, ...]) -> None:
    cells = [(s, sp) for sp in splits for s in SETS]
    print(f"{'method':44} {'config':58}" + "".join(f" | {s}-{sp} h1/h5/MRR" for s, sp in cells))
    for label, cfg in rows:
        line = f"{label[:44]:44} {cfg.name()[:58]:58}"
        for s, sp in cells:
            m = bench.evaluate(cfg, s, sp)
            line += f" | {m['hit@1']:.3f} {m['hit@5']:.3f} {m['MRR@10']:.3f}"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--show-test", action="store_true", help="Evaluate the picks (made on dev) on test.")
    parser.add_argument(
        "--swap",
        action="store_true",
        help="Swap the halves (pick on test, score on dev): a second estimate of what the selection procedure gains.",
    )
    parser.add_argument(
        "--only",
        default="",
        help="Run only the families whose label starts with one of these, comma-separated (e.g. G1,G2).",
    )
    args = parser.parse_args()
    bench = build_bench(args.docs, args.pages)
    if args.swap:
        bench.sets = {s: {"dev": by["test"], "test": by["dev"]} for s, by in bench.sets.items()}
        print("SWAPPED: 'dev' below is the held-out half, 'test' the half used for choosing elsewhere")
    print({s: {sp: len(qs) for sp, qs in by.items()} for s, by in bench.sets.items()})
    base = BASELINES["core default (relative score a=0.7)"]
    floor = {s: bench.evaluate(base, s, "dev")["MRR@10"] for s in SETS}
    print("dev floor for index/anchors (the core default):", {s: round(v, 3) for s, v in floor.items()})
    rows = list(BASELINES.items())
    only = tuple(x for x in args.only.split(",") if x)
    for label, configs in families().items():
        if only and not label.startswith(only):
            continue
        cfg, dev, admissible = choose(bench, configs, floor)
        print(
            f"{label}: {len(configs)} configs, {admissible} admissible; pick {cfg.name()}  dev MRR "
            + " ".join(f"{s}={v:.3f}" for s, v in dev.items()),
            flush=True,
        )
        rows.append((label, cfg))
    print()
    report(bench, rows, ("dev", "test") if args.show_test else ("dev",))
    if args.show_test:
        print("\nMRR@10 difference to dense on test, paired bootstrap 95% interval:")
        for label, cfg in rows[2:]:
            out = []
            for s in SETS:
                d, lo, hi = paired_bootstrap(bench.ranks(BASELINES["dense"], s, "test"), bench.ranks(cfg, s, "test"))
                out.append(f"{s} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
            print(f"  {label[:44]:44} " + "  ".join(out))


if __name__ == "__main__":
    main()
