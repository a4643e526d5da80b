"""Typed option objects: checked once, then passed whole instead of loose keywords.

:class:`IndexOptions` says how a collection's vector searches run (the
``index_type`` and ``oversample`` a :class:`~sqlitevec_store.Database`,
both adapters and the CLI accept); :class:`HybridOptions` says how a hybrid
search fuses its two rankings (``alpha``, ``fetch_k``, ``fusion``). Each is
validated when it is built, so a bad value is refused before anything runs,
with the same message wherever it came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError
from .records import check_count
from .search.fusion import FUSION_METHODS
from .search.kernels import DEFAULT_OVERSAMPLE
from .search.vector_index import INDEX_TYPES

__all__ = ["DEFAULT_HYBRID_FETCH_K", "ENGINE_INDEX_TYPES", "HybridOptions", "IndexOptions"]

#: Index types only a database server offers (Postgres + pgvector): searched there, no RAM copy.
ENGINE_INDEX_TYPES = ("hnsw",)

#: pgvector's largest ``hnsw.ef_search``.
MAX_EF_SEARCH = 1000

#: Candidates per ranking in a hybrid search when the caller gives no ``fetch_k``.
DEFAULT_HYBRID_FETCH_K = 20


@dataclass(frozen=True)
class IndexOptions:
    """How a collection's vector searches run.

    Attributes:
        index_type: ``"flat"`` (exact, from a RAM copy of the vectors; the
            default), ``"rescore"`` (approximate: 1-bit codes, then exact
            rescoring of ``k * oversample`` candidates) or ``"vec0"`` (exact,
            sqlite-vec's own KNN, no RAM copy). On Postgres every search runs
            in the database: ``"flat"`` and ``"vec0"`` are an exact scan,
            ``"hnsw"`` (Postgres only) and ``"rescore"`` use pgvector's HNSW index.
        oversample: For ``"rescore"`` on a file: candidates ranked exactly per result.
        ef_search: For HNSW on Postgres: the size of the candidate list of a
            walk (``hnsw.ef_search``; ``None``: pgvector's 40), at least ``k``
            and widened for filters so a result is never short.

    Raises:
        InvalidInputError: An unknown ``index_type``, or ``oversample`` not
            an integer >= 1.

    """

    index_type: str = "flat"
    oversample: int = DEFAULT_OVERSAMPLE
    ef_search: int | None = None

    def __post_init__(self) -> None:
        known = INDEX_TYPES + ENGINE_INDEX_TYPES
        if self.index_type not in known:
            raise InvalidInputError(f"index_type must be one of {known}, got {self.index_type!r}")
        object.__setattr__(self, "oversample", check_count(self.oversample, "oversample"))
        if self.ef_search is not None:
            ef_search = check_count(self.ef_search, "ef_search")
            if ef_search > MAX_EF_SEARCH:
                raise InvalidInputError(
                    f"ef_search must be at most {MAX_EF_SEARCH} (pgvector's limit), got {ef_search}"
                )
            object.__setattr__(self, "ef_search", ef_search)


@dataclass(frozen=True)
class HybridOptions:
    """How a hybrid search fuses its vector and keyword rankings (see :mod:`.fusion`).

    Attributes:
        alpha: The weight of the vector side in ``[0, 1]`` (1: pure vector,
            0: pure keyword), or ``None`` for the method's default.
        fetch_k: Candidates per ranking, or ``None`` for
            ``max(k, DEFAULT_HYBRID_FETCH_K)``; never below ``k``.
        fusion: ``"relative_score"`` (default) or ``"rrf"``.

    Raises:
        InvalidInputError: ``alpha`` outside ``[0, 1]`` or not a number,
            ``fetch_k`` not an integer >= 1, or an unknown ``fusion``.

    """

    alpha: float | None = None
    fetch_k: int | None = None
    fusion: str = "relative_score"

    def __post_init__(self) -> None:
        alpha: Any = self.alpha
        if alpha is not None and (
            isinstance(alpha, bool)
            or not isinstance(alpha, (int, float))
            or not math.isfinite(alpha)
            or not 0.0 <= alpha <= 1.0
        ):
            raise InvalidInputError(f"alpha must be None or a number in [0, 1], got {alpha!r}")
        if self.fetch_k is not None:
            object.__setattr__(self, "fetch_k", check_count(self.fetch_k, "fetch_k"))
        if self.fusion not in FUSION_METHODS:
            raise InvalidInputError(f"fusion must be one of {FUSION_METHODS}, got {self.fusion!r}")

    def candidates(self, k: int) -> int:
        """Candidates to take from each ranking for a result of ``k`` hits."""
        return max(k, DEFAULT_HYBRID_FETCH_K if self.fetch_k is None else self.fetch_k)
