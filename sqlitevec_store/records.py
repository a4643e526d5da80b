"""Plain records and hits exchanged between the core and its callers."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import index
from typing import Any, Protocol, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError, InvalidInputTypeError

__all__ = ["MAX_COUNT", "CollectionInfo", "Hit", "Record", "check_count", "chunks", "iter_hits", "json_scalar"]

T = TypeVar("T")


#: The types :func:`json_scalar` converts.
CONVERTED_SCALARS = (datetime.date, np.bool_, np.integer, np.floating)


def json_scalar(value: Any) -> Any:
    """The JSON value a metadata or filter value is stored and compared as.

    * numpy ``bool_``, integers and floats (as numpy and pandas produce
      them): their Python value (``np.int64(3)`` -> ``3``).
    * ``datetime.datetime``: an ISO-8601 string. A timezone-aware datetime is
      first converted to UTC (``"2024-05-01T10:30:00+00:00"``), so that any
      two aware datetimes compare as strings the way they compare as times; a
      naive one is kept as given (``"2024-05-01T12:30:00"``). Do not mix naive
      and aware datetimes under one key: as in Python, they do not compare.
    * ``datetime.date``: ``"2024-05-01"``, which sorts before every datetime
      of that day and after every datetime of the day before.

    ``datetime.fromisoformat`` / ``date.fromisoformat`` turn the strings that
    come back into datetimes again. Any other value is returned unchanged
    (numpy arrays included: they are refused as metadata; store ``.tolist()``).
    """
    if isinstance(value, datetime.datetime):
        if value.utcoffset() is not None:
            value = value.astimezone(datetime.timezone.utc)
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    return value


@dataclass
class Record:
    """One stored item.

    Attributes:
        text: The text.
        vector: The embedding (any sequence of floats). Vectors are stored
            normalized to unit length, so a vector read back is normalized.
        metadata: A JSON-serializable dict (nested values and lists allowed).
            numpy scalars, dates and datetimes are accepted and stored in
            their JSON form (see :func:`json_scalar`); they come back as
            Python numbers and bools, and as ISO-8601 strings.
        id: A string id; ``None`` asks the store to generate a UUID.
        doc_id: Optional id of the source document, indexed, for deleting
            every chunk of one document at once.
        extra: Optional JSON-serializable dict of framework bookkeeping that
            is kept apart from ``metadata`` (filters never see it).

    """

    text: str
    vector: Sequence[float] | npt.NDArray[Any] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    doc_id: str | None = None
    extra: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        id: The record's id.
        text: The record's text.
        metadata: The record's metadata.
        distance: Vector search: cosine distance to the query, ``1 - cos``,
            in ``[0, 2]``; lower is closer. Keyword and hybrid search:
            ``1 - similarity``, in ``[0, 1]``.
        similarity: Vector search: cosine similarity, ``1 - distance``, in
            ``[-1, 1]``. Keyword search: the BM25 score squashed into
            ``[0, 1)`` as ``bm25 / (1 + bm25)``. Hybrid search: the fused
            score, in ``[0, 1]`` (1 for a record ranked first by both lists;
            see :mod:`sqlitevec_store.search.fusion`). Higher is closer; the same
            number reaches LangChain (relevance score) and LlamaIndex
            (similarity) for keyword and hybrid hits.
        doc_id: The record's source-document id, if any.
        extra: The record's framework bookkeeping, if any.
        vector: The stored (unit-length) vector, when it was asked for.
        score: The ranking score of the search that returned the hit, higher
            is better: cosine similarity (vector search), the BM25 score
            (keyword search, ``-bm25()`` of FTS5, unbounded, comparable only
            within one query), the fused score (hybrid search). ``None`` for
            :meth:`~sqlitevec_store.Collection.get` and ``find``.

    """

    id: str
    text: str
    metadata: dict[str, Any]
    distance: float
    similarity: float
    doc_id: str | None = None
    extra: dict[str, Any] | None = None
    vector: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)
    score: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CollectionInfo:
    """A collection's registry entry.

    Attributes:
        name: The collection name.
        dimension: Vector dimension, or ``None`` before the first vectors.
        model_id: Canonical embedding model id, or ``None`` if no named model wrote.
        distance: Always ``"cosine"``.
        schema_version: The layout version the collection was written with.
        created_at: ISO-8601 UTC creation time.

    """

    name: str
    dimension: int | None
    model_id: str | None
    distance: str
    schema_version: int
    created_at: str


#: The largest count (``k``, ``fetch_k``, ``limit``, ``offset``, a batch size...)
#: accepted: SQLite's largest integer. A count above the number of records
#: simply means "all of them".
MAX_COUNT = 2**63 - 1


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a Python ``int`` and not a ``bool`` (registry values, dimensions, sizes)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_count(value: Any, name: str, *, minimum: int = 1) -> int:
    """Check a count argument once, the same way everywhere.

    Args:
        value: An ``int`` (or NumPy integer; not a ``bool``).
        name: The argument's name, for the message.
        minimum: The smallest value accepted (1, or 0 for an offset).

    Returns:
        The value as a plain ``int``.

    Raises:
        InvalidInputTypeError: ``value`` is not an integer.
        InvalidInputError: ``value`` is below ``minimum`` or above :data:`MAX_COUNT`.

    """
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise InvalidInputTypeError(f"{name} must be an integer, got {type(value).__name__}")
    number = index(value)
    if number < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {number}")
    if number > MAX_COUNT:
        raise InvalidInputError(f"{name} must be at most 2**63 - 1 (SQLite's largest integer), got {number}")
    return number


def chunks(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of up to ``size`` items; consumes generators fully.

    Raises:
        InvalidInputError: ``size`` is not a count (see :func:`check_count`).
    """
    size = check_count(size, "chunk size")
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


#: Records read per query by :func:`iter_hits`.
PAGE_SIZE = 1000


class Findable(Protocol):
    """What :func:`iter_hits` needs: a collection's ``find`` (see :meth:`Collection.find`)."""

    def find(self, *, limit: int | None = None, offset: int = 0, include_vectors: bool = False) -> list[Hit]:
        """Records in insertion order, ``limit`` of them from ``offset``."""


def iter_hits(collection: Findable, *, include_vectors: bool = False, page_size: int = PAGE_SIZE) -> Iterator[Hit]:
    """Every record of a collection, in insertion order, read a page at a time.

    Args:
        collection: The collection to read.
        include_vectors: Return the stored vectors too.
        page_size: Records read per query (memory stays bounded by one page).

    Yields:
        Each record as a :class:`Hit`.

    """
    offset = 0
    while True:
        page = collection.find(limit=page_size, offset=offset, include_vectors=include_vectors)
        yield from page
        if len(page) < page_size:
            return
        offset += len(page)
