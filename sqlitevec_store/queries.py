"""The checked arguments of a collection's verbs, shared by its sync and async methods.

:class:`~sqlitevec_store.collection.Collection` and its async half
(:mod:`sqlitevec_store.collection_async`) check a call's arguments and shape
its results with these, so both kinds of method refuse the same input with
the same error and return the same hits; only their calls to storage differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .backends.base import ScoredRow
from .errors import InvalidInputError, InvalidInputTypeError
from .filters import Filter
from .options import HybridOptions
from .records import Hit, Record, check_count, chunks
from .search.hits import vector_hit
from .search.mmr import maximal_marginal_relevance
from .validation import Batch, check_k, check_strings, vector_matrix

__all__ = ["WRITE_CHUNK_SIZE", "FindQuery", "MmrQuery", "chain", "deletion", "hybrid_arguments", "parallel_records"]

#: Records are validated and written this many at a time (bounding memory
#: for generators); the whole call stays one transaction.
WRITE_CHUNK_SIZE = 1000


def parallel_records(
    texts: Iterable[str],
    vectors: Iterable[Sequence[float] | npt.NDArray[Any]],
    metadatas: Iterable[Mapping[str, Any] | None] | None,
    ids: Iterable[str | None] | None,
) -> list[Record]:
    """Records from parallel lists of texts, vectors, metadata and ids (each consumed fully; lengths must agree)."""
    text_list = list(texts)
    vector_list = list(vectors)
    meta_list = list(metadatas) if metadatas is not None else [None] * len(text_list)
    id_list = list(ids) if ids is not None else [None] * len(text_list)
    lengths = {len(text_list), len(vector_list), len(meta_list), len(id_list)}
    if len(lengths) != 1:
        raise InvalidInputError(
            f"texts ({len(text_list)}), vectors ({len(vector_list)}), metadatas "
            f"({len(meta_list)}) and ids ({len(id_list)}) must have the same length"
        )
    return [
        Record(text=t, vector=v, metadata=m or {}, id=i)
        for t, v, m, i in zip(text_list, vector_list, meta_list, id_list, strict=True)
    ]


def chain(first: Batch, rest: Iterator[Batch]) -> Iterator[Batch]:
    """``first``, then the rest (a write's first batch, checked before its transaction began)."""
    yield first
    yield from rest


class MmrQuery(NamedTuple):
    """An MMR search's arguments, checked: how many to pick among how many nearest."""

    query: npt.NDArray[np.float32]
    k: int
    fetch_k: int
    lambda_mult: float

    @classmethod
    def of(cls, vector: Sequence[float] | npt.NDArray[Any], k: int, fetch_k: int, lambda_mult: float) -> MmrQuery:
        """Check the arguments of an MMR search."""
        k = check_k(k)
        fetch_k = max(check_k(fetch_k, "fetch_k"), k)
        if isinstance(lambda_mult, bool) or not isinstance(lambda_mult, (int, float)) or not 0.0 <= lambda_mult <= 1.0:
            raise InvalidInputError(f"lambda_mult must be a number in [0, 1], got {lambda_mult!r}")
        return cls(vector_matrix([vector], "query vector")[0], k, fetch_k, float(lambda_mult))

    def picked(self, candidates: list[ScoredRow], include_vectors: bool) -> list[Hit]:
        """The ``k`` hits MMR picks among the ``fetch_k`` nearest ``candidates`` (found with their vectors)."""
        if not candidates:
            return []
        matrix = np.vstack([c.vector for c in candidates if c.vector is not None])
        picked = maximal_marginal_relevance(self.query, matrix, k=self.k, lambda_mult=self.lambda_mult)
        return [vector_hit(candidates[n], include_vectors) for n in picked]


class FindQuery(NamedTuple):
    """:meth:`~sqlitevec_store.collection.Collection.find`'s conditions, checked."""

    filter: Filter | None
    ids: list[str] | None
    doc_ids: list[str] | None
    limit: int | None
    offset: int

    @classmethod
    def of(
        cls,
        filter: Filter | None,
        ids: Sequence[str] | None,
        doc_ids: Sequence[str] | None,
        limit: int | None,
        offset: int,
    ) -> FindQuery:
        """Check the arguments of a find."""
        return cls(
            filter,
            None if ids is None else check_strings(ids, "ids"),
            None if doc_ids is None else check_strings(doc_ids, "doc_ids"),
            None if limit is None else check_k(limit, "limit"),
            check_count(offset, "offset", minimum=0),
        )

    def arguments(self) -> dict[str, Any]:
        """As keyword arguments of a backend's ``select``."""
        return self._asdict()


def hybrid_arguments(text: str, k: int, options: HybridOptions) -> tuple[int, HybridOptions]:
    """A hybrid search's ``k`` and options, checked."""
    k = check_k(k)
    options.candidates(k)
    if not isinstance(text, str):
        raise InvalidInputTypeError(f"query text must be a string, got {type(text).__name__}")
    return k, options


def deletion(
    ids: Iterable[str] | None, doc_ids: Iterable[str] | None, filter: Filter | None
) -> list[tuple[list[str] | None, list[str] | None]] | None:
    """The (ids, doc ids) chunk pairs a delete runs, each statement under the engine's parameter limit.

    ``None``: nothing was selected (no ids, doc ids or filter), so nothing is deleted.
    """
    id_list = None if ids is None else check_strings(ids, "ids")
    doc_list = None if doc_ids is None else check_strings(doc_ids, "doc_ids")
    if id_list is None and doc_list is None and filter is None:
        return None
    return [(i, d) for i in _chunk_or_none(id_list) for d in _chunk_or_none(doc_list)]


def _chunk_or_none(values: list[str] | None) -> Iterator[list[str] | None]:
    if values is None:
        yield None
        return
    if not values:
        yield []
        return
    yield from chunks(values, WRITE_CHUNK_SIZE)
