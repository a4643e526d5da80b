"""Fusing a vector ranking and a keyword ranking into one (pure functions).

Two methods, both returning scores in ``[0, 1]`` (higher is better) so a
hybrid hit's ``similarity`` means the same thing in the core, LangChain and
LlamaIndex:

``relative_score`` (the default)
    Each list's scores (cosine similarity, BM25) are min-max normalized to
    ``[0, 1]`` (a list with one score, or equal scores, normalizes to 1); a
    record missing from a list gets 0 there; ``score = alpha * vector + (1 -
    alpha) * keyword``. LlamaIndex's convention: ``alpha = 1`` is pure vector
    search, ``0`` pure keyword search. Without an ``alpha``,
    :data:`DEFAULT_ALPHA` (0.7) is used: the best of the fusions tried on the
    dev half of ``benchmarks/hybrid_quality.py`` (PostgreSQL manual), which
    beat dense search on the held-out half by 0.03 MRR@10 (see
    benchmarks/README.md).
``rrf`` (reciprocal rank fusion)
    ``score(d) = sum_i w_i / (c + rank_i(d))`` over the lists that hold ``d``
    (ranks start at 1), divided by its maximum ``sum_i w_i / (c + 1)``, so a
    record ranked first by both lists scores 1. Only ranks count. ``c`` is
    :data:`RRF_K` (60, as in Cormack et al. 2009 and most vector databases);
    the weights are ``alpha`` and ``1 - alpha`` (0.5 each without ``alpha``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["DEFAULT_ALPHA", "FUSION_METHODS", "RRF_K", "alpha_fusion", "min_max", "rrf_fusion"]

K = TypeVar("K", bound=Hashable)

#: The RRF constant ``c``: 60 is the value of Cormack et al. (2009) and of
#: most vector databases.
RRF_K = 60

#: ``alpha`` of relative score fusion when the caller gives none (chosen on the benchmark's dev half).
DEFAULT_ALPHA = 0.7

#: The fusion methods :meth:`~sqlitevec_store.Collection.hybrid_search` accepts.
FUSION_METHODS = ("relative_score", "rrf")


def rrf_fusion(
    rankings: Sequence[Sequence[K]], *, weights: Sequence[float] | None = None, c: float = RRF_K
) -> list[tuple[K, float]]:
    """Reciprocal rank fusion of ranked key lists, best first, scores in ``[0, 1]``.

    Ties keep the order of first appearance (vector list first).
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (c + rank)
    best = sum(weights) / (c + 1) or 1.0
    return sorted(((key, min(score / best, 1.0)) for key, score in scores.items()), key=lambda kv: -kv[1])


def min_max(scores: Sequence[float]) -> list[float]:
    """Scale scores to ``[0, 1]``; equal scores (or a single one) all become 1."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 1e-12:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]


def alpha_fusion(
    vector: Sequence[tuple[K, float]], keyword: Sequence[tuple[K, float]], *, alpha: float
) -> list[tuple[K, float]]:
    """Relative score fusion: ``alpha * vector + (1 - alpha) * keyword`` over min-max normalized scores.

    Each input is ``(key, score)`` pairs, best first, higher better. Ties keep
    the order of first appearance (vector list first).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    # A list with weight 0 takes no part (so alpha 1 is exactly the vector ranking, 0 the keyword one).
    if alpha == 0.0:
        vector = []
    if alpha == 1.0:
        keyword = []
    fused: dict[K, float] = {}
    for (key, _), norm in zip(vector, min_max([s for _, s in vector]), strict=True):
        fused[key] = fused.get(key, 0.0) + alpha * norm
    for (key, _), norm in zip(keyword, min_max([s for _, s in keyword]), strict=True):
        fused[key] = fused.get(key, 0.0) + (1.0 - alpha) * norm
    return sorted(fused.items(), key=lambda kv: -kv[1])
