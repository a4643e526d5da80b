"""In-process search over a copy of one collection's vectors, held in RAM.

The ``.db`` file stays the source of truth; this module only holds a numpy
copy of its vectors and ranks them. It runs no SQL: the store keeps the copy
in step with the file (see ``Collection._synced_index``) and answers filter
questions through the callbacks passed to :func:`top_k`.

Index types (chosen per :class:`~sqlitevec_store.Collection` with
``index_type=``):

``"flat"`` (the default)
    Exact. One matrix-vector product over every vector, then a partial sort.
    Same answers as sqlite-vec's own KNN. The product is one dot product per
    row (numpy's ``vecdot``; ``einsum`` on numpy 1.x), split over a few
    threads of this module for large copies (:func:`dot`), not a BLAS
    matrix-vector product: it is bound by memory bandwidth either way, and
    BLAS's worker threads keep spinning on the cores after each call, which
    slowed the next query embedding (PyTorch, ONNX Runtime) about 2x on a
    2-core machine (benchmarks/README.md).
``"rescore"``
    Approximate. Each vector also has a 1-bit-per-dimension code (the signs of
    its difference from the collection's mean vector); a query ranks the codes
    by Hamming distance, keeps ``k * oversample`` candidates and ranks those by
    their exact float distance. Recall depends on the data; measured figures
    are in ``benchmarks/README.md``.
``"vec0"``
    sqlite-vec's own exact KNN inside SQLite, with no copy in RAM (this module
    is not used).

Memory: ``"flat"`` holds ``4 * dimension`` bytes per vector plus 9 bytes of
bookkeeping (about 155 MB for 100,000 vectors of 384 dimensions, 1.5 GB for a
million), with up to 25% more while the collection grows. ``"rescore"`` adds
``dimension / 8`` bytes per vector for the codes (48 bytes at 384).

Filtered search stays exact: candidates are taken in ranking order and the
filter is asked about them (``check``); a widening loop stops when ``k``
candidates match, and when the loop would have to ask about a large part of
the collection it asks for every matching row once instead (``matching``).
Either way the result is the top ``k`` among the matching rows.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError

__all__ = [
    "DEFAULT_OVERSAMPLE",
    "INDEX_TYPES",
    "VectorIndex",
    "available_index_types",
    "top_k",
]

#: The index types a collection can be searched with.
INDEX_TYPES = ("flat", "rescore", "vec0")


def available_index_types() -> tuple[str, ...]:
    """The ``index_type`` values a collection accepts, default first."""
    return INDEX_TYPES


#: ``"rescore"`` ranks this many times ``k`` candidates by their exact distance.
#: Measured on 384-d MiniLM vectors (benchmarks/README.md): recall@10 0.98 / 0.994 / 0.998 at
#: 100K and 0.87 / 0.94 / 0.975 at 1M for 16 / 32 / 64, at almost the same latency.
DEFAULT_OVERSAMPLE = 64

#: When the filter loop would ask about more than this share of the rows, it
#: asks for every matching row instead (one scan of the metadata). Measured:
#: asking about one candidate costs ~2.6 us (a rowid lookup), scanning costs
#: ~0.46 us per row, so asking about more than ~1/6 of the rows is slower.
PREFILTER_SHARE = 0.15

#: Every vector's ranking value is one of these: an exact cosine distance, or
#: a Hamming distance between codes.
Check = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]
Matching = Callable[[], npt.NDArray[np.int64]]

_GROWTH = 1.25

_SERIALS = itertools.count(1)

#: A Hamming distance no live row can have: marks dead slots.
_DEAD_HAMMING = np.iinfo(np.uint16).max

if hasattr(np, "bitwise_count"):  # numpy >= 2.0

    def _popcount(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
        counts: npt.NDArray[np.uint8] = np.bitwise_count(words)
        return counts

else:  # pragma: no cover - numpy 1.x
    _POPCOUNT8 = np.array([bin(n).count("1") for n in range(256)], dtype=np.uint8)

    def _popcount(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
        as_bytes = words.view(np.uint8).reshape(len(words), 8)
        return _POPCOUNT8[as_bytes].sum(axis=1, dtype=np.uint8)  # type: ignore[no-any-return]


class VectorIndex:
    """A RAM copy of one collection's unit vectors, kept sorted by pk.

    Rows are addressed by position; deleted rows stay as dead slots (never
    returned) until the next full :meth:`load`, so positions stay stable.

    Args:
        dimension: The vector dimension.
        quantized: Also keep 1-bit codes (for ``"rescore"``).

    Attributes:
        seq: The position in the collection's change log this copy reflects.
        max_pk: The largest pk this copy has seen (new records have larger ones).
        epoch: The collection's random epoch (tells a dropped and re-created
            collection of the same name from the one this copy was read from).
        token: What the store last checked the connection state against.

    """

    def __init__(self, dimension: int, *, quantized: bool = False) -> None:
        """An empty index; fill it with :meth:`load`."""
        self.dimension = dimension
        self.quantized = quantized
        self.seq = 0
        self.max_pk = 0
        self.epoch: int | None = None
        self.token: tuple[int, ...] | None = None
        #: Changes whenever the content does (filter masks cached for one version stay valid only for it).
        self.version = (next(_SERIALS), 0)
        self._size = 0
        self._dead = 0
        self._pks: npt.NDArray[np.int64] = np.empty(0, np.int64)
        self._alive: npt.NDArray[np.bool_] = np.empty(0, np.bool_)
        self._vectors: npt.NDArray[np.float32] = np.empty((0, dimension), np.float32)
        self._words = math.ceil(dimension / 64)
        # One row per 64-bit word, one column per slot: a query then runs a few long vector operations.
        self._codes: npt.NDArray[np.uint64] = np.empty((self._words, 0), np.uint64)
        self._center: npt.NDArray[np.float32] = np.zeros(dimension, np.float32)

    # -- size -------------------------------------------------------------

    def __len__(self) -> int:
        """Number of live vectors."""
        return self._size - self._dead

    @property
    def nbytes(self) -> int:
        """Bytes of RAM held by the arrays (allocated capacity included)."""
        return int(self._pks.nbytes + self._alive.nbytes + self._vectors.nbytes + self._codes.nbytes)

    # -- filling ----------------------------------------------------------

    def load(self, pks: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        """Replace the whole content with these arrays (kept, not copied). ``pks`` need not be sorted."""
        pks = np.asarray(pks, np.int64)
        vectors = np.asarray(vectors, np.float32).reshape(len(pks), self.dimension)
        if len(pks) > 1 and not bool((pks[1:] > pks[:-1]).all()):
            order = np.argsort(pks, kind="stable")
            pks, vectors = pks[order], vectors[order]
        # The arrays are taken over, not copied: callers hand in fresh ones.
        self._pks = np.ascontiguousarray(pks)
        self._vectors = np.ascontiguousarray(vectors)
        self._alive = np.ones(len(pks), np.bool_)
        self._size = len(pks)
        self.version = (next(_SERIALS), 0)
        self._dead = 0
        if self.quantized:
            self._center = (
                self._vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
                if self._size
                else np.zeros(self.dimension, np.float32)
            )
            self._codes = np.ascontiguousarray(self._encode(self._vectors).T)

    def apply(self, present: dict[int, npt.NDArray[np.float32]], absent: Sequence[int]) -> None:
        """Patch in changed rows: ``present`` maps pk to its current vector; ``absent`` pks are gone."""
        self.version = (self.version[0], self.version[1] + 1)
        for pk in absent:
            position = self._position(pk)
            if position is not None and self._alive[position]:
                self._alive[position] = False
                self._dead += 1
        if not present:
            return
        new: list[int] = []
        for pk, vector in present.items():
            position = self._position(pk)
            if position is None:
                new.append(pk)
                continue
            self._vectors[position] = vector
            if self.quantized:
                self._codes[:, position] = self._encode(vector[None, :])[0]
            if not self._alive[position]:
                self._alive[position] = True
                self._dead -= 1
        if new:
            new.sort()
            if self._size and new[0] < self._pks[self._size - 1]:
                # A pk below the largest one that this copy never saw: rebuild in order.
                live = self._alive[: self._size]
                pks = np.concatenate([self._pks[: self._size][live], np.array(new, np.int64)])
                vectors = np.concatenate([self._vectors[: self._size][live], np.stack([present[p] for p in new])])
                center = self._center
                self.load(pks, vectors)
                if self.quantized:  # keep the codes' centre: it only changes on a full reload
                    self._center = center
                    self._codes = np.ascontiguousarray(self._encode(self._vectors).T)
                return
            self._append(np.array(new, np.int64), np.stack([present[p] for p in new]).astype(np.float32))

    def _append(self, pks: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        needed = self._size + len(pks)
        if needed > len(self._pks):
            capacity = max(needed, int(len(self._pks) * _GROWTH) + 16)
            self._pks = _grown(self._pks, capacity)
            self._alive = _grown(self._alive, capacity)
            self._vectors = _grown(self._vectors, capacity)
            if self.quantized:
                grown = np.empty((self._words, capacity), np.uint64)
                grown[:, : self._codes.shape[1]] = self._codes
                self._codes = grown
        end = self._size + len(pks)
        self._pks[self._size : end] = pks
        self._alive[self._size : end] = True
        self._vectors[self._size : end] = vectors
        if self.quantized:
            self._codes[:, self._size : end] = self._encode(vectors).T
        self._size = end

    def _position(self, pk: int) -> int | None:
        position = int(np.searchsorted(self._pks[: self._size], pk))
        if position < self._size and self._pks[position] == pk:
            return position
        return None

    def _encode(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
        bits = np.packbits(vectors > self._center, axis=1, bitorder="little")
        padded = np.zeros((len(vectors), self._words * 8), np.uint8)
        padded[:, : bits.shape[1]] = bits
        return padded.view(np.uint64)

    # -- reading ----------------------------------------------------------

    @property
    def pks(self) -> npt.NDArray[np.int64]:
        """Pks of all slots (dead ones included), ascending."""
        return self._pks[: self._size]

    def vector(self, position: int) -> npt.NDArray[np.float32]:
        """A copy of the vector at ``position``."""
        out: npt.NDArray[np.float32] = self._vectors[position].copy()
        return out

    def positions(self, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """Positions of the live rows among ``pks`` (unknown pks are skipped)."""
        slots = self._pks[: self._size]
        found = np.searchsorted(slots, pks)
        inside = found < self._size
        found = found[inside]
        found = found[slots[found] == pks[inside]]
        live: npt.NDArray[np.intp] = found[self._alive[found]]
        return live

    def distances(
        self, query: npt.NDArray[np.float32], positions: npt.NDArray[np.intp] | None = None
    ) -> npt.NDArray[np.float32]:
        """Cosine distances ``1 - v . q`` (dead slots: ``inf``)."""
        if positions is not None:
            return np.clip(1.0 - dot(self._vectors[positions], query), 0.0, 2.0)  # type: ignore[no-any-return]
        values = np.clip(1.0 - dot(self._vectors[: self._size], query), 0.0, 2.0)
        if self._dead:
            values[~self._alive[: self._size]] = np.inf
        return values  # type: ignore[no-any-return]

    def live_positions(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
        """Positions of the live slots that ``mask`` (one flag per slot, as :attr:`pks`) marks."""
        live: npt.NDArray[np.intp] = np.flatnonzero(mask[: self._size] & self._alive[: self._size])
        return live

    def hamming(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.uint16]:
        """Hamming distances between the query's code and every slot's (dead slots: 65535)."""
        code = self._encode(query[None, :])[0]
        values = _popcount(self._codes[0, : self._size] ^ code[0]).astype(np.uint16)
        for word in range(1, self._words):
            values += _popcount(self._codes[word, : self._size] ^ code[word])
        if self._dead:
            values[~self._alive[: self._size]] = _DEAD_HAMMING
        return values


#: Matrices with at least this many elements are multiplied in parts on several threads (below it, the
#: threads' hand-off costs more than they save: ~4M elements is 10,000 vectors of 384 dimensions).
PARALLEL_DOT_ELEMENTS = 1 << 22
#: Threads for one product; memory bandwidth, not cores, is the limit beyond a few.
DOT_THREADS = max(1, min(4, os.cpu_count() or 1))

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _dot_pool() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - created on first use, replaced in a forked child
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(DOT_THREADS, thread_name_prefix="sqlitevec-dot")
        return _pool


def _reset_pool_after_fork() -> None:
    # the parent's worker threads do not exist in a forked child: start afresh there
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool_after_fork)


def _rowdot(matrix: npt.NDArray[np.float32], vector: npt.NDArray[np.float32], out: npt.NDArray[np.float32]) -> None:
    if _VECDOT is not None:
        _VECDOT(matrix, vector, out=out)
    else:
        np.einsum("ij,j->i", matrix, vector, out=out)


_VECDOT: Any = getattr(np, "vecdot", None)  # numpy >= 2.0


def dot(matrix: npt.NDArray[np.float32], vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``matrix @ vector`` for a 2-D float32 matrix, without BLAS threads.

    Each row's dot product runs in the calling thread (numpy releases the GIL
    for it; ``vecdot`` calls BLAS's single-vector ``sdot``, which starts no
    threads); a large matrix is cut into :data:`DOT_THREADS` row blocks computed on
    this module's threads, which sleep between calls instead of spinning.
    """
    vector = np.asarray(vector, dtype=np.float32)
    rows = len(matrix)
    out = np.empty(rows, dtype=np.float32)
    parts = DOT_THREADS if matrix.size >= PARALLEL_DOT_ELEMENTS else 1
    if parts == 1:
        _rowdot(matrix, vector, out)
        return out
    bounds = [rows * i // parts for i in range(parts + 1)]
    futures = [
        _dot_pool().submit(_rowdot, matrix[lo:hi], vector, out[lo:hi]) for lo, hi in itertools.pairwise(bounds[1:])
    ]
    _rowdot(matrix[: bounds[1]], vector, out[: bounds[1]])  # the first block in the calling thread
    for future in futures:
        future.result()
    return out


_A = TypeVar("_A", bound=np.generic)


def _grown(array: npt.NDArray[_A], capacity: int) -> npt.NDArray[_A]:
    out = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


def top_k(
    index: VectorIndex,
    query: npt.NDArray[np.float32],
    k: int,
    *,
    index_type: str = "flat",
    oversample: int = DEFAULT_OVERSAMPLE,
    check: Check | None = None,
    matching: Matching | None = None,
    expected_share: float | None = None,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """The positions and cosine distances of the ``k`` best rows, nearest first.

    Ties in distance are broken by pk, as in sqlite-vec's ordering here.

    Args:
        index: The vectors.
        query: A unit vector of the index's dimension.
        k: How many.
        index_type: ``"flat"`` (exact) or ``"rescore"`` (codes, then exact rescoring).
        oversample: For ``"rescore"``: candidates per result.
        check: With a filter: which of the given pks match it.
        matching: With a filter: every matching pk (used when ``check`` would
            be asked about too many rows). Give both or neither.
        expected_share: With a filter: the share of rows it matched last time,
            if known; the first round then asks about as many candidates as
            that predicts are needed (a guess only: the answer stays exact).
        allowed: Instead of ``check``/``matching``: which slots match the
            filter (a mask over :attr:`pks`, built by the caller for this
            :attr:`version`).

    Returns:
        ``(positions, distances)``.

    """
    if index_type not in ("flat", "rescore"):
        raise InvalidInputError(f"index_type must be 'flat' or 'rescore' here, got {index_type!r}")
    if (check is None) != (matching is None):
        raise InvalidInputError("give both check and matching, or neither")
    live = len(index)
    if live == 0:
        return np.empty(0, np.intp), np.empty(0, np.float32)
    approximate = index_type == "rescore" and k * oversample < live
    need = min(k * oversample, live) if approximate else min(k, live)
    if allowed is not None:
        return _top_k_allowed(index, query, k, need=need, approximate=approximate, allowed=allowed)
    values: npt.NDArray[Any] = index.hamming(query) if approximate else index.distances(query)
    if check is None or matching is None:
        chosen = _smallest(values, index.pks, need)
    else:
        chosen = _smallest_matching(values, index, need, check=check, matching=matching, expected_share=expected_share)
    exact = index.distances(query, chosen) if approximate else values[chosen]
    if not approximate:
        return chosen, exact
    order = np.lexsort((index.pks[chosen], exact))[:k]
    return chosen[order], exact[order]


#: With a match mask, an exact search computes distances for the matching rows only when they are at most this
#: share of the collection (gathering rows costs more per row than one pass over all of them).
GATHER_SHARE = 0.25


def _top_k_allowed(
    index: VectorIndex,
    query: npt.NDArray[np.float32],
    k: int,
    *,
    need: int,
    approximate: bool,
    allowed: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """:func:`top_k` among the live slots ``allowed`` marks."""
    positions = index.live_positions(allowed)
    if approximate and len(positions) <= need:  # every match would be rescored: rank them exactly at once
        approximate, need = False, min(k, len(positions))
    values: npt.NDArray[Any]
    if approximate:
        values = index.hamming(query)[positions]
    elif len(positions) <= GATHER_SHARE * len(index):
        values = index.distances(query, positions)
    else:
        values = index.distances(query)[positions]
    picked = _smallest(values, index.pks[positions], need)
    chosen = positions[picked]
    if not approximate:
        distances = np.asarray(values[picked], dtype=np.float32)
        return chosen, distances
    exact = index.distances(query, chosen)
    order = np.lexsort((index.pks[chosen], exact))[:k]
    return chosen[order], exact[order]


def _usable(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Which values belong to live rows (dead ones are ``inf`` or 65535)."""
    usable: npt.NDArray[np.bool_] = values != _DEAD_HAMMING if values.dtype == np.uint16 else np.isfinite(values)
    return usable


def _smallest(values: npt.NDArray[Any], pks: npt.NDArray[np.int64], count: int) -> npt.NDArray[np.intp]:
    """Positions of the ``count`` smallest values of live rows, ordered by (value, pk)."""
    if count <= 0:
        return np.empty(0, np.intp)
    if count >= len(values):
        candidates = np.flatnonzero(_usable(values))
    elif values.dtype == np.uint16:
        # Small integers: a histogram finds the cut faster than a partition.
        cumulative = np.cumsum(np.bincount(values, minlength=1))
        threshold = int(np.searchsorted(cumulative, count))
        candidates = np.flatnonzero(values <= threshold)
    else:
        threshold = np.partition(values, count - 1)[count - 1]
        candidates = np.flatnonzero(values <= threshold)
    candidates = candidates[_usable(values[candidates])]
    order = np.lexsort((pks[candidates], values[candidates]))
    return candidates[order][:count]


def _smallest_matching(
    values: npt.NDArray[Any],
    index: VectorIndex,
    need: int,
    *,
    check: Check,
    matching: Matching,
    expected_share: float | None,
) -> npt.NDArray[np.intp]:
    """The ``need`` best matching positions: widen the candidates until enough match."""
    pks = index.pks
    live = len(index)
    limit = max(int(live * PREFILTER_SHARE), need)
    asked = np.zeros(len(values), np.bool_)
    matched = np.zeros(len(values), np.bool_)
    count = max(4 * need, 64)
    if expected_share is not None and expected_share > 0:
        count = max(need + 16, math.ceil(need / expected_share * 1.5))
    count = min(live, count)
    # A filter that matched nothing last time is asked once for every matching row.
    while expected_share != 0 and (count <= limit or count == live):
        ranked = _smallest(values, pks, count)
        fresh = ranked[~asked[ranked]]
        if len(fresh):
            asked[fresh] = True
            matched[fresh] = check(pks[fresh])
        hits = ranked[matched[ranked]]
        if len(hits) >= need or len(ranked) >= live:
            # Every row ranked before the last hit was asked: these are the best matching ones.
            return hits[:need]
        asked_count = int(asked.sum())
        found = int(matched.sum())
        # Widen to where the observed match rate predicts enough hits, with a margin.
        wanted = math.ceil(need * asked_count / found * 1.5) if found else count * 16
        count = min(live, max(wanted, count * 2))
        if count > limit and count != live:
            break
    positions = index.positions(np.asarray(matching(), np.int64))
    if len(positions) == 0:
        return np.empty(0, np.intp)
    subset = values[positions]
    live_rows = _usable(subset)
    positions, subset = positions[live_rows], subset[live_rows]
    order = np.lexsort((pks[positions], subset))[:need]
    return positions[order]
