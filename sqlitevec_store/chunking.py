"""Dependency-free splitting of Markdown and plain text for document ingestion.

This module is the package's one chunker: it turns a Markdown document into
:class:`Chunk` objects, one per heading section (:func:`split_markdown`), and
plain text into chunks of packed paragraphs (:func:`split_paragraphs`), ready
to be embedded and stored. Both share the paragraph packing and the cut
points of an over-long paragraph. It uses only the standard library so it can
back the quickstart example and the command-line tool without pulling in a
Markdown parser.

Only ATX headings (``#`` to ``######``) are recognised; Setext headings
(titles underlined with ``===`` or ``---``) are treated as ordinary text.
Lines inside fenced code blocks (opened with three or more backticks or
tildes) are never treated as headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Chunk", "split_markdown", "split_paragraphs"]

# An ATX heading: up to three spaces of indentation, one to six ``#``, then
# either the end of the line or whitespace followed by the title.
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
# An optional closing sequence of ``#`` characters, preceded by whitespace.
_CLOSING_HASHES_RE = re.compile(r"(?:^|[ \t]+)#+$")
# The opening line of a fenced code block and its (ignored) info string.
_FENCE_OPEN_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
# A closing fence: only fence characters and trailing whitespace.
_FENCE_CLOSE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")

_PATH_SEPARATOR = " > "


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, ready to be embedded.

    Attributes:
        text: The chunk text. For sections under a heading this starts with
            the heading path joined with ``" > "``, then a blank line, then
            the section body.
        metadata: Information about where the chunk came from, such as
            ``source``, ``heading_path``, ``heading``, ``level``,
            ``chunk_index`` and, for split sections, ``part``.

    """

    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class _Fence:
    """An open fenced code block.

    Attributes:
        char: The fence character, either a backtick or a tilde.
        length: The number of fence characters on the opening line.

    """

    char: str
    length: int


@dataclass
class _Section:
    """A heading and the raw lines that follow it.

    Attributes:
        path: Heading titles from the top-level heading down to this one;
            empty for text before the first heading.
        level: The heading level (1-6), or 0 for text before the first
            heading.
        lines: The body lines, without the heading line itself.

    """

    path: tuple[str, ...]
    level: int
    lines: list[str] = field(default_factory=list)


def split_markdown(
    text: str,
    *,
    source: str | None = None,
    max_chars: int = 2000,
) -> list[Chunk]:
    r"""Split a Markdown document into one chunk per heading section.

    A section is an ATX heading (``#`` to ``######``) together with the text
    up to the next heading of any level. ``#`` lines inside fenced code
    blocks (delimited by three or more backticks or tildes) are not
    headings. Windows (CRLF) and old Mac (CR) line endings are accepted.

    Each chunk's text is the heading path joined with ``" > "`` on its first
    line, then a blank line, then the section body, for example::

        Configuration > Database settings

        The database lives in ...

    Repeating the heading path inside the text gives the embedding model the
    context a bare paragraph lacks, which noticeably improves retrieval.
    Trailing whitespace is stripped from every line and from the chunk, and
    runs of blank lines outside code blocks are collapsed to one.

    Text before the first heading becomes a chunk of its own, with an empty
    heading path and no heading line, if it is not blank. Sections whose body
    is blank produce no chunk, but their titles still appear in the heading
    paths of their subsections.

    A section whose chunk text would exceed ``max_chars`` is split on
    blank-line paragraph boundaries (never inside a fenced code block) into
    several chunks, each of which repeats the heading line and stays within
    ``max_chars``. A single paragraph that is too long on its own is cut at
    the last whitespace that keeps the piece within the limit, or hard at
    the limit if there is no suitable whitespace. The room left for the body
    is never reduced below a quarter of ``max_chars``, so a pathologically
    long heading path can produce chunks longer than ``max_chars``.

    Metadata of every chunk:

    * ``source``: the ``source`` argument, only present if given.
    * ``heading_path``: list of heading titles from the top-level heading
      down to this section's heading (``[]`` before the first heading).
    * ``heading``: the last entry of ``heading_path`` (``""`` if empty).
    * ``level``: the heading level, 1-6 (``0`` before the first heading).
    * ``chunk_index``: 0-based position of the chunk in the document.
    * ``part``: 0-based index of the piece, present only when the section
      was split into more than one chunk.

    Heading titles have the leading ``#`` characters, surrounding whitespace
    and an optional closing ``#`` sequence (``## Title ##``) removed.

    Args:
        text: The Markdown document.
        source: An identifier for the document, such as its file path, copied
            into every chunk's metadata.
        max_chars: The maximum length of a chunk's text, in characters.

    Returns:
        The chunks in document order.

    Raises:
        ValueError: If ``max_chars`` is less than 1.

    Example:
        >>> chunks = split_markdown("# Guide\n\n## Install\n\nRun it.")
        >>> chunks[0].text
        'Guide > Install\n\nRun it.'
        >>> chunks[0].metadata["heading_path"]
        ['Guide', 'Install']

    """
    return _chunk_sections(_parse_sections(_lines(text, max_chars)), source=source, max_chars=max_chars)


def split_paragraphs(text: str, *, source: str | None = None, max_chars: int = 2000) -> list[Chunk]:
    r"""Split plain text at blank lines, packing paragraphs into chunks of at most ``max_chars``.

    Plain text is one section without a heading, split exactly as
    :func:`split_markdown` splits the text before a first heading (``#``
    lines are text here): lines are right-stripped, runs of blank lines end a
    paragraph (a fenced code block stays in one), paragraphs are packed
    greedily, and a paragraph longer than ``max_chars`` is cut at its last
    space, tab or newline within the limit (hard at the limit when that would
    keep less than half of it).

    Metadata matches :func:`split_markdown`'s text before a first heading:
    ``source`` (if given), ``heading_path`` ``[]``, ``heading`` ``""``,
    ``level`` 0, ``chunk_index``, and ``part`` when there is more than one
    chunk.

    Args:
        text: The plain-text document; the chunks come back in its order.
        source: Copied into every chunk's metadata, as by :func:`split_markdown`.
        max_chars: The longest chunk text; below 1 it is a :class:`ValueError`.

    Example:
        >>> [c.text for c in split_paragraphs("one\n\n\ntwo", max_chars=5)]
        ['one', 'two']

    """
    section = _Section(path=(), level=0, lines=_lines(text, max_chars))
    return _chunk_sections([section], source=source, max_chars=max_chars)


def _lines(text: str, max_chars: int) -> list[str]:
    """The document's lines, right-stripped, with any line ending accepted.

    Raises:
        ValueError: If ``max_chars`` is less than 1 (checked here, before any work).

    """
    if max_chars < 1:
        msg = f"max_chars must be at least 1, got {max_chars}"
        raise ValueError(msg)
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    return [line.rstrip() for line in normalized.split("\n")]


def _chunk_sections(sections: list[_Section], *, source: str | None, max_chars: int) -> list[Chunk]:
    """One or more chunks per section that has a body, numbered through the document.

    Args:
        sections: The document's sections, in order.
        source: Copied into every chunk's metadata, if given.
        max_chars: The maximum length of a chunk's text.

    Returns:
        The chunks in document order.

    """
    chunks: list[Chunk] = []
    for section in sections:
        paragraphs = _paragraphs(section.lines)
        if not paragraphs:
            continue
        prefix = _PATH_SEPARATOR.join(section.path) + "\n\n" if section.path else ""
        budget = max(max_chars - len(prefix), max_chars // 4, 1)
        bodies = _pack(paragraphs, budget)
        for part, body in enumerate(bodies):
            metadata: dict[str, Any] = {}
            if source is not None:
                metadata["source"] = source
            metadata["heading_path"] = list(section.path)
            metadata["heading"] = section.path[-1] if section.path else ""
            metadata["level"] = section.level
            metadata["chunk_index"] = len(chunks)
            if len(bodies) > 1:
                metadata["part"] = part
            chunks.append(Chunk(text=(prefix + body).rstrip(), metadata=metadata))
    return chunks


def _parse_sections(lines: list[str]) -> list[_Section]:
    """Group lines into sections, one per ATX heading.

    Args:
        lines: The document lines, already free of line terminators.

    Returns:
        The sections in document order. The first one always holds the text
        before the first heading and may be empty.

    """
    sections = [_Section(path=(), level=0)]
    stack: list[tuple[int, str]] = []
    fence: _Fence | None = None
    for line in lines:
        if fence is not None:
            if _closes_fence(line, fence):
                fence = None
            sections[-1].lines.append(line)
            continue
        fence = _opens_fence(line)
        if fence is not None:
            sections[-1].lines.append(line)
            continue
        match = _HEADING_RE.match(line)
        if match is None:
            sections[-1].lines.append(line)
            continue
        level = len(match.group(1))
        title = _clean_title(match.group(2) or "")
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        sections.append(_Section(path=tuple(t for _, t in stack), level=level))
    return sections


def _clean_title(raw: str) -> str:
    """Remove an optional closing ``#`` sequence and surrounding whitespace.

    Args:
        raw: The heading text after the opening ``#`` characters.

    Returns:
        The heading title.

    """
    return _CLOSING_HASHES_RE.sub("", raw.strip()).strip()


def _opens_fence(line: str) -> _Fence | None:
    """Check whether a line opens a fenced code block.

    Args:
        line: A document line.

    Returns:
        The opened fence, or ``None`` if the line does not open one.

    """
    match = _FENCE_OPEN_RE.match(line)
    if match is None:
        return None
    marker, info = match.group(1), match.group(2)
    if marker[0] == "`" and "`" in info:
        # CommonMark: a backtick fence's info string may not contain backticks.
        return None
    return _Fence(char=marker[0], length=len(marker))


def _closes_fence(line: str, fence: _Fence) -> bool:
    """Check whether a line closes the given fenced code block.

    Args:
        line: A document line.
        fence: The currently open fence.

    Returns:
        ``True`` if the line is a closing fence of the same character that is
        at least as long as the opening one.

    """
    match = _FENCE_CLOSE_RE.match(line)
    if match is None:
        return False
    marker = match.group(1)
    return marker[0] == fence.char and len(marker) >= fence.length


def _paragraphs(lines: list[str]) -> list[str]:
    """Split body lines into paragraphs at blank lines outside code fences.

    Args:
        lines: Section body lines, already right-stripped.

    Returns:
        The non-blank paragraphs, each with its lines joined by newlines.
        A fenced code block is kept inside a single paragraph even if it
        contains blank lines.

    """
    paragraphs: list[str] = []
    current: list[str] = []
    fence: _Fence | None = None
    for line in lines:
        if fence is None and not line:
            if current:
                paragraphs.append("\n".join(current))
                current = []
            continue
        current.append(line)
        if fence is not None:
            if _closes_fence(line, fence):
                fence = None
        else:
            fence = _opens_fence(line)
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs


def _pack(paragraphs: list[str], budget: int) -> list[str]:
    """Greedily join paragraphs into bodies no longer than ``budget``.

    Args:
        paragraphs: The section's paragraphs, in order.
        budget: The maximum length of each body, at least 1.

    Returns:
        One or more bodies; paragraphs are separated by a blank line.

    """
    bodies: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for piece in _hard_split(paragraph, budget):
            if not current:
                current = piece
            elif len(current) + 2 + len(piece) <= budget:
                current = f"{current}\n\n{piece}"
            else:
                bodies.append(current)
                current = piece
    if current:
        bodies.append(current)
    return bodies


def _hard_split(text: str, limit: int) -> list[str]:
    """Cut text longer than ``limit`` into pieces of at most ``limit`` chars.

    The cut is made at the last whitespace within the limit when that keeps
    at least half of the limit in the piece; otherwise exactly at the limit.

    Args:
        text: The text to cut.
        limit: The maximum piece length, at least 1.

    Returns:
        The pieces, with whitespace at the cut points removed.

    """
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
        if cut > 0 and cut >= limit // 2:
            piece, rest = rest[:cut].rstrip(), rest[cut + 1 :].lstrip()
        else:
            piece, rest = rest[:limit].rstrip(), rest[limit:].lstrip()
        if piece:
            pieces.append(piece)
    if rest:
        pieces.append(rest)
    return pieces
