"""In-process search over a copy of one collection's vectors, held in RAM.

The ``.db`` file stays the source of truth; this module only holds a numpy
copy of its vectors and ranks them. It runs no SQL: the store keeps the copy
in step with the file (see ``Collection._synced_index``) and answers filter
questions through the callbacks passed to
:func:`~sqlitevec_store.search.kernels.top_k`, which ranks it.

Index types (chosen per :class:`~sqlitevec_store.Collection` with
``index_type=``):

``"flat"`` (the default)
    Exact. One matrix-vector product over every vector, then a partial sort.
    Same answers as sqlite-vec's own KNN. The product is one dot product per
    row (numpy's ``vecdot``; ``einsum`` on numpy 1.x), split over a few
    threads for large copies (:func:`~sqlitevec_store.search.kernels.dot`), not a BLAS
    matrix-vector product: it is bound by memory bandwidth either way, and
    BLAS's worker threads keep spinning on the cores after each call, which
    slowed the next query embedding (PyTorch, ONNX Runtime) about 2x on a
    2-core machine (benchmarks/README.md).
``"rescore"``
    Approximate. Each vector also has a 1-bit-per-dimension code (the signs of
    its difference from the collection's mean vector); a query ranks the codes
    by Hamming distance, keeps ``k * oversample`` candidates
    (:data:`~sqlitevec_store.search.kernels.DEFAULT_OVERSAMPLE`) and ranks those by
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
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .kernels import DEAD_HAMMING, dot

__all__ = ["INDEX_TYPES", "VectorIndex", "available_index_types"]

#: The index types a collection can be searched with.
INDEX_TYPES = ("flat", "rescore", "vec0")


def available_index_types() -> tuple[str, ...]:
    """The ``index_type`` values a collection accepts, default first."""
    return INDEX_TYPES


_GROWTH = 1.25

_SERIALS = itertools.count(1)

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
            values[~self._alive[: self._size]] = DEAD_HAMMING
        return values


_A = TypeVar("_A", bound=np.generic)


def _grown(array: npt.NDArray[_A], capacity: int) -> npt.NDArray[_A]:
    out = np.empty((capacity, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out
