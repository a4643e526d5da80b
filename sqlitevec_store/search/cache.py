"""The RAM copies of collections' vectors, kept in step with storage, and the filter statistics of searches.

One :class:`IndexCache` per ``Database``, shared by every ``Collection`` of
it. It owns the copies (:class:`~sqlitevec_store.search.vector_index.VectorIndex`, one per
collection and quantization), the share of rows recent filters matched and
the match masks of filters that come again. It talks to storage only through
the backend's change feed (:class:`~sqlitevec_store.backends.base.StorageBackend`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..backends.base import ChangeToken, ScoredRow, StorageBackend
from ..filters import Filter
from ..records import CollectionInfo
from .kernels import top_k
from .vector_index import VectorIndex

__all__ = ["FILTER_MASKS_KEPT", "FILTER_SHARES_KEPT", "MASK_AFTER_CHECKS", "IndexCache"]

#: Per Database, the match rate of this many recent filters is remembered.
FILTER_SHARES_KEPT = 256

#: A filter whose last search checked more candidates than this gets, when it comes again, a
#: mask of every matching row (one scan of the metadata), reused until the collection changes.
MASK_AFTER_CHECKS = 256

#: Per Database, at most this many filter masks are kept (one byte per row each).
FILTER_MASKS_KEPT = 32


class FilterKey(NamedTuple):
    """A filter of one collection (its tree's ``repr``: equal trees share statistics)."""

    collection: str
    filter: str


class FilterShare(NamedTuple):
    """How much of the collection a filter matched last time, and how many rows were asked about."""

    share: float
    checked: int


class FilterMask(NamedTuple):
    """Every row a filter matches, for one version of a RAM copy (by slot)."""

    version: tuple[int, int]
    allowed: npt.NDArray[np.bool_]


class _Tally:
    """Rows asked about and rows that matched, during one search."""

    def __init__(self) -> None:
        self.asked = 0
        self.matched = 0


class IndexCache:
    """RAM copies and filter statistics of one database's collections."""

    def __init__(self) -> None:
        """Start empty: a copy is read on a collection's first search."""
        self.indexes: dict[tuple[str, bool], VectorIndex] = {}
        self.filter_shares: dict[FilterKey, FilterShare] = {}
        self.filter_masks: dict[FilterKey, FilterMask] = {}

    def clear(self) -> None:
        """Drop every copy and mask (the database closed)."""
        self.indexes.clear()
        self.filter_masks.clear()

    def forget(self, name: str) -> None:
        """Drop the copies of collection ``name`` (it was dropped)."""
        for key in [key for key in self.indexes if key[0] == name.lower()]:
            del self.indexes[key]

    def synced(self, backend: StorageBackend, info: CollectionInfo, token: ChangeToken, quantized: bool) -> VectorIndex:
        """The shared RAM copy, brought in step with storage (inside a read transaction).

        Cheap when nothing changed (the same change ``token`` as at the last
        check). Otherwise the change feed names the updated and deleted pks,
        and pks above the largest one seen are the inserted ones; only those
        vectors are read. A copy of another epoch (the collection was
        re-created), too far behind the log, or of a collection without a log
        (schema version 2) is read in full.
        """
        dimension = info.dimension
        assert dimension is not None
        key = (info.name.lower(), quantized)
        index = self.indexes.get(key)
        if index is not None and index.token == token and index.dimension == dimension:
            return index
        state = backend.change_state(info)
        stale = (
            index is None
            or index.dimension != dimension
            or state.epoch is None
            or index.epoch != state.epoch
            or index.seq > state.newest
            or (state.oldest > 0 and index.seq < state.oldest - 1)
        )
        if not stale:
            assert index is not None
            touched = backend.changed_since(info, index.seq, index.max_pk)
            if len(touched) > max(len(index), 1000) // 2:
                stale = True
            elif touched:
                present = backend.vectors(info, sorted(touched))
                index.apply(present, [pk for pk in touched if pk not in present])
                index.max_pk = max(index.max_pk, *touched)
        if stale or index is None:
            loaded = backend.all_vectors(info)
            index = VectorIndex(dimension, quantized=quantized)
            index.load(loaded.pks, loaded.matrix)
            index.max_pk = loaded.max_pk
        index.epoch = state.epoch
        index.seq = state.newest
        index.token = token
        self.indexes[key] = index
        return index

    def search(
        self,
        backend: StorageBackend,
        info: CollectionInfo,
        index: VectorIndex,
        query: npt.NDArray[np.float32],
        *,
        k: int,
        filter: Filter | None,
        index_type: str,
        oversample: int,
        include_vectors: bool,
    ) -> list[ScoredRow]:
        """Search a RAM copy; the filter is asked of storage about candidates only (see :mod:`..index`)."""
        tally = _Tally()

        def check(pks: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
            assert filter is not None
            found = backend.matching_among(info, filter, pks)
            tally.asked += len(pks)
            tally.matched += len(found)
            return np.isin(pks, found)

        def matching() -> npt.NDArray[np.int64]:
            assert filter is not None
            found = backend.matching(info, filter)
            tally.asked, tally.matched = len(index), len(found)
            return found

        # How much of the collection this filter matched last time: the first round asks about enough candidates.
        # A filter that needed many candidate checks and comes again gets its full match mask, kept per version.
        key = FilterKey(info.name.lower(), repr(filter))
        known = self.filter_shares.get(key)
        allowed = None
        if filter is not None:
            cached = self.filter_masks.get(key)
            if cached is not None and cached.version == index.version:
                allowed = cached.allowed
            elif known is not None and known.checked > MASK_AFTER_CHECKS:
                allowed = np.zeros(len(index.pks), np.bool_)
                allowed[index.positions(matching())] = True
                self._remember_mask(key, FilterMask(index.version, allowed))
                tally.asked = 0  # not a measurement of the candidate loop
        unfiltered = filter is None or allowed is not None
        positions, distances = top_k(
            index,
            query,
            k,
            index_type=index_type,
            oversample=oversample,
            check=None if unfiltered else check,
            matching=None if unfiltered else matching,
            expected_share=known.share if known is not None else None,
            allowed=allowed,
        )
        if tally.asked:
            self.filter_shares.pop(key, None)
            self.filter_shares[key] = FilterShare(tally.matched / tally.asked, tally.asked)
            while len(self.filter_shares) > FILTER_SHARES_KEPT:
                del self.filter_shares[next(iter(self.filter_shares))]
        chosen = [int(pk) for pk in index.pks[positions]]
        by_pk = backend.rows(info, chosen)
        return [
            ScoredRow(by_pk[pk], float(distance), index.vector(int(position)) if include_vectors else None)
            for pk, position, distance in zip(chosen, positions, distances, strict=True)
            if pk in by_pk
        ]

    def _remember_mask(self, key: FilterKey, mask: FilterMask) -> None:
        self.filter_masks.pop(key, None)
        self.filter_masks[key] = mask
        while len(self.filter_masks) > FILTER_MASKS_KEPT:
            del self.filter_masks[next(iter(self.filter_masks))]
