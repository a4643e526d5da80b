"""The numpy kernels of in-process search: the dot product and the top-k selection.

:func:`dot` computes a matrix-vector product without BLAS threads;
:func:`top_k` picks the ``k`` nearest rows of a RAM copy
(:class:`~sqlitevec_store.search.vector_index.VectorIndex`, or anything with
the methods of :class:`RankedIndex`), exact or by 1-bit codes then exact
rescoring, and keeps a filtered search exact by asking the filter about
candidates in ranking order. The design and its measurements are described in
:mod:`sqlitevec_store.search.vector_index`. No SQL runs here: filter questions
are answered through the callbacks the caller passes.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError

__all__ = ["DEAD_HAMMING", "DEFAULT_OVERSAMPLE", "PREFILTER_SHARE", "RankedIndex", "dot", "top_k"]

#: ``"rescore"`` ranks this many times ``k`` candidates by their exact distance.
#: Measured on 384-d MiniLM vectors (benchmarks/README.md): recall@10 0.98 / 0.994 / 0.998 at
#: 100K and 0.87 / 0.94 / 0.975 at 1M for 16 / 32 / 64, at almost the same latency.
DEFAULT_OVERSAMPLE = 64

#: When the filter loop would ask about more than this share of the rows, it
#: asks for every matching row instead (one scan of the metadata). Measured:
#: asking about one candidate costs ~2.6 us (a rowid lookup), scanning costs
#: ~0.46 us per row, so asking about more than ~1/6 of the rows is slower.
PREFILTER_SHARE = 0.15

#: The filter callbacks of :func:`top_k`: which of the given pks match, and every matching pk.
Check = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]
Matching = Callable[[], npt.NDArray[np.int64]]

#: A Hamming distance no live row can have: marks dead slots.
DEAD_HAMMING = np.iinfo(np.uint16).max


class RankedIndex(Protocol):
    """What :func:`top_k` reads of a RAM copy of vectors (:class:`~sqlitevec_store.search.vector_index.VectorIndex`)."""

    def __len__(self) -> int:
        """Number of live vectors."""

    @property
    def pks(self) -> npt.NDArray[np.int64]:
        """Pks of all slots (dead ones included), ascending."""

    def positions(self, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """Positions of the live rows among ``pks``."""

    def distances(
        self, query: npt.NDArray[np.float32], positions: npt.NDArray[np.intp] | None = None
    ) -> npt.NDArray[np.float32]:
        """Cosine distances to the query (dead slots: ``inf``)."""

    def live_positions(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
        """Positions of the live slots that ``mask`` marks."""

    def hamming(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.uint16]:
        """Hamming distances between codes (dead slots: :data:`DEAD_HAMMING`)."""


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


def top_k(
    index: RankedIndex,
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
    index: RankedIndex,
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
    usable: npt.NDArray[np.bool_] = values != DEAD_HAMMING if values.dtype == np.uint16 else np.isfinite(values)
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
    index: RankedIndex,
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
