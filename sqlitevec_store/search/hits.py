"""Search results as hits: stored rows with their scores (vector, keyword, and the two fused).

Every search of :class:`~sqlitevec_store.collection.Collection` ends here:
``distance``, ``similarity`` and ``score`` mean what the README's "Scores"
guarantee says, whichever path found the row.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import numpy.typing as npt

from ..backends.base import ScoredRow, StoredRow
from ..options import HybridOptions
from ..records import Hit
from .fusion import DEFAULT_ALPHA, RRF_K, alpha_fusion, rrf_fusion

__all__ = ["fused_hits", "keyword_hit", "row_hit", "row_hits", "vector_hit"]


def row_hit(
    row: StoredRow,
    distance: float,
    vector: npt.NDArray[np.float32] | None,
    *,
    score: float | None = None,
    similarity: float | None = None,
) -> Hit:
    """A stored row as a :class:`Hit` (``similarity`` defaults to ``1 - distance``)."""
    return Hit(
        id=row.id,
        text=row.text,
        metadata=json.loads(row.metadata),
        distance=distance,
        similarity=1.0 - distance if similarity is None else similarity,
        doc_id=row.doc_id,
        extra=None if row.extra is None else json.loads(row.extra),
        vector=vector,
        score=score,
    )


def row_hits(rows: list[StoredRow], vectors: dict[int, npt.NDArray[np.float32]]) -> list[Hit]:
    """Rows read without a query as hits (``distance`` 0), with their vectors when ``vectors`` holds them."""
    return [row_hit(row, 0.0, vectors.get(row.pk)) for row in rows]


def vector_hit(found: ScoredRow, include_vectors: bool) -> Hit:
    """A vector-search hit: ``score`` and ``similarity`` ``1 - distance``."""
    distance = found.score
    return row_hit(found.row, distance, found.vector if include_vectors else None, score=1.0 - distance)


def keyword_hit(found: ScoredRow) -> Hit:
    """A keyword hit: ``score`` BM25, ``similarity`` ``score / (1 + score)``, ``distance`` its complement."""
    similarity = found.score / (1.0 + found.score)
    return row_hit(found.row, 1.0 - similarity, None, score=found.score, similarity=similarity)


def _scored(hit: Hit, score: float) -> Hit:
    """A hybrid hit: ``similarity`` and ``score`` are the fused score, ``distance`` its complement."""
    return dataclasses.replace(hit, similarity=score, distance=1.0 - score, score=score)


def fused_hits(dense: list[Hit], keyword: list[Hit], options: HybridOptions, k: int) -> list[Hit]:
    """The ``k`` best of two rankings fused (:mod:`sqlitevec_store.search.fusion`), as hybrid hits."""
    by_id = {hit.id: hit for hit in keyword}
    by_id.update((hit.id, hit) for hit in dense)
    alpha = options.alpha
    if options.fusion == "rrf":
        weight = 0.5 if alpha is None else float(alpha)
        fused = rrf_fusion([[h.id for h in dense], [h.id for h in keyword]], weights=[weight, 1.0 - weight], c=RRF_K)
    else:
        fused = alpha_fusion(
            [(h.id, h.similarity) for h in dense],
            [(h.id, h.score or 0.0) for h in keyword],
            alpha=DEFAULT_ALPHA if alpha is None else float(alpha),
        )
    return [_scored(by_id[key], score) for key, score in fused[:k]]
