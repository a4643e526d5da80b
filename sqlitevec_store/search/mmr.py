"""Maximal marginal relevance: picking hits that are relevant to the query and diverse among themselves."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["maximal_marginal_relevance"]


def maximal_marginal_relevance(
    query: npt.NDArray[np.float32], candidates: npt.NDArray[np.float32], *, k: int, lambda_mult: float
) -> list[int]:
    """Indices of ``k`` candidates chosen by MMR (unit-length vectors assumed).

    The first pick is the candidate most similar to the query; each next pick
    maximizes ``lambda_mult * sim(query, c) - (1 - lambda_mult) * max
    sim(c, picked)``. Ties go to the earlier (nearer) candidate.
    """
    if len(candidates) == 0:
        return []
    relevance = candidates @ query
    picked = [int(np.argmax(relevance))]
    redundancy = candidates @ candidates[picked[0]]
    while len(picked) < min(k, len(candidates)):
        score = lambda_mult * relevance - (1.0 - lambda_mult) * redundancy
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        redundancy = np.maximum(redundancy, candidates @ candidates[best])
    return picked
