"""A brute-force LlamaIndex reference: ``build_metadata_filter_fn`` extended to nested filters.

Shares no code with the adapter's translation. Each leaf is evaluated by
LlamaIndex's own ``build_metadata_filter_fn`` (a raise is no match), groups
combine their children like that function does (AND: all, OR: any, NOT: none)
and an empty group matches everything, as an empty top level does. Metadata is
what LlamaIndex's own stores filter on: ``node_to_metadata_dict(node)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import FilterCondition, MetadataFilter, MetadataFilters
from llama_index.core.vector_stores.utils import build_metadata_filter_fn, node_to_metadata_dict


class Opaque(dict[str, Any]):
    """A dict value that ``in`` cannot look into (the store's documented difference).

    LlamaIndex tests ``x in {...}`` against the dict's keys; the store never
    matches CONTAINS/ANY/ALL on an object. Equality still behaves like a dict.
    """

    def __contains__(self, item: object) -> bool:
        raise TypeError("the store does not look into objects")

    def __iter__(self) -> Any:
        raise TypeError("the store does not look into objects")


def filter_view(node: BaseNode) -> dict[str, Any]:
    """The metadata LlamaIndex's filters see for ``node``, with dict values made opaque."""
    metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
    return {k: Opaque(v) if isinstance(v, dict) else v for k, v in metadata.items()}


def leaf_matches(f: MetadataFilter, metadata: Mapping[str, Any]) -> bool:
    check = build_metadata_filter_fn(lambda _: metadata, MetadataFilters(filters=[f]))
    try:
        return bool(check("node"))
    except (TypeError, ValueError):
        return False


def matches(filters: MetadataFilters | MetadataFilter | None, metadata: Mapping[str, Any]) -> bool:
    if filters is None:
        return True
    if isinstance(filters, MetadataFilter):
        return leaf_matches(filters, metadata)
    if not filters.filters:
        return True
    results = [matches(f, metadata) for f in filters.filters]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return all(results)
    if condition == FilterCondition.OR:
        return any(results)
    return not any(results)


def brute_force(
    nodes: Sequence[BaseNode],
    query: Sequence[float],
    top_k: int,
    filters: MetadataFilters | None = None,
    *,
    views: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[list[str], list[float]]:
    """The ``top_k`` matching nodes by cosine similarity: (ids, similarities)."""
    views = views if views is not None else [filter_view(n) for n in nodes]
    chosen = [n for n, view in zip(nodes, views, strict=True) if matches(filters, view)]
    if not chosen:
        return [], []
    matrix = np.array([n.get_embedding() for n in chosen], dtype=np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    q = np.asarray(query, dtype=np.float64)
    sims = matrix @ (q / np.linalg.norm(q))
    order = np.argsort(-sims, kind="stable")[:top_k]
    return [chosen[i].node_id for i in order], [float(sims[i]) for i in order]
