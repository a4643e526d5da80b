"""Plain text to an FTS5 match expression: words quoted, stopwords dropped, the term budget kept.

Also checks raw (``raw=True``) FTS5 queries against the same limits. Pure
functions; the SQL that runs the match is in :mod:`.statements`.
"""

from __future__ import annotations

import itertools
import re

from ...errors import InvalidInputError

__all__ = [
    "MAX_QUERY_TERMS",
    "MAX_RAW_QUERY_LENGTH",
    "STOPWORDS",
    "check_raw_keyword_query",
    "keyword_match_expression",
]

_QUERY_CHUNK = re.compile(r"\S+")
_WORD_CHARACTER = re.compile(r"\w")

#: Words left out of keyword queries built from plain text (unless nothing
#: else is left): they match most paragraphs and only add noise to BM25.
_STOPWORD_TEXT = """a about an and are as at be by can could did do does for from had has have how i if in into is
    it its me my of on or our should so than that the their them then there these they this to was we were what
    when where which who whom why will with would you your"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


#: The most FTS5 terms a plain-text keyword query uses, and a raw one may hold.
#: FTS5's time to parse a query grows with the square of its terms (measured:
#: 8,000 terms 0.2 s, 16,000 0.8 s, before any row is read), and BM25 over a
#: 20,000-record collection took 0.25 s for 128 matching terms, 1.4 s for 512.
MAX_QUERY_TERMS = 128

#: The longest raw (``raw=True``) FTS5 query accepted, in characters.
MAX_RAW_QUERY_LENGTH = 10_000

#: A run of what FTS5's unicode61 tokenizer keeps as one token (letters and digits).
_TOKEN = re.compile(r"[^\W_]+")
_RAW_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})


class _TermBudget:
    """Query pieces taken in order until :data:`MAX_QUERY_TERMS` tokens are used."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.left = MAX_QUERY_TERMS

    def take(self, piece: str) -> None:
        """Keep ``piece``, cut after the tokens still in the budget (a piece without any counts as one)."""
        if self.left <= 0:
            return
        ends = [m.end() for m in itertools.islice(_TOKEN.finditer(piece), self.left + 1)]
        if len(ends) > self.left:
            piece = piece[: ends[self.left - 1]]
        self.pieces.append(piece)
        self.left -= max(1, min(len(ends), self.left))


def keyword_match_expression(text: str, *, operator: str = "OR", stopwords: frozenset[str] = STOPWORDS) -> str | None:
    """Turn plain user text into a safe FTS5 query, or ``None`` if it has no words.

    The text is split on whitespace; each distinct piece holding a word character
    becomes one FTS5 string (double quotes doubled), which FTS5 tokenizes like
    the documents, so ``ERR_CONN_42`` or ``pg_stat_activity`` match as a
    phrase. Operators, ``*``, parentheses and quotes in the text are therefore
    never syntax. NUL characters count as spaces. Pieces that are stopwords are dropped unless all of them
    are. The strings are joined with ``OR`` (any word may match; BM25 ranks
    documents matching more and rarer words first) or ``AND``.

    Long text is bounded: only the first pieces holding :data:`MAX_QUERY_TERMS`
    (128) tokens in all are used (a token is a run of letters and digits, so
    ``ERR_CONN_42`` holds three; the piece that crosses the limit is cut), and
    the rest of the text is not read. Repeated pieces count once. A 1 MB query
    thus costs what a 128-word one does.
    """
    if operator not in ("OR", "AND"):
        raise InvalidInputError(f"operator must be 'OR' or 'AND', got {operator!r}")
    kept, dropped = _TermBudget(), _TermBudget()
    seen: set[str] = set()
    # FTS5 reads a query only up to a NUL character: treat NUL as a space.
    for match in _QUERY_CHUNK.finditer(text.replace("\x00", " ")):
        piece = match.group()
        if piece in seen or not _WORD_CHARACTER.search(piece):
            continue
        seen.add(piece)
        if piece.strip(".,;:!?'\"()[]{}").lower() in stopwords:
            dropped.take(piece)
        else:
            kept.take(piece)
            if kept.left <= 0:
                break
    chosen = kept.pieces or dropped.pieces
    if not chosen:
        return None
    return f" {operator} ".join('"' + p.replace('"', '""') + '"' for p in chosen)


def check_raw_keyword_query(text: str) -> None:
    """Refuse a raw FTS5 query longer than :data:`MAX_RAW_QUERY_LENGTH` characters or with too many terms.

    Terms are runs of letters and digits outside the operators ``AND``,
    ``OR``, ``NOT`` and ``NEAR``; at most :data:`MAX_QUERY_TERMS` are accepted.

    Raises:
        InvalidInputError: The query is over either limit.

    """
    if len(text) > MAX_RAW_QUERY_LENGTH:
        raise InvalidInputError(
            f"Raw FTS5 queries may be at most {MAX_RAW_QUERY_LENGTH} characters long, got {len(text)}"
        )
    terms = sum(1 for m in _TOKEN.finditer(text) if m.group() not in _RAW_OPERATORS)
    if terms > MAX_QUERY_TERMS:
        raise InvalidInputError(f"Raw FTS5 queries may hold at most {MAX_QUERY_TERMS} terms, got {terms}")
