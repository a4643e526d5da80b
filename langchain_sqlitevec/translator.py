"""Translate LangChain structured queries into this store's dict filters.

``SelfQueryRetriever`` asks a language model for a
:class:`~langchain_core.structured_query.StructuredQuery` and hands it to a
translator, which turns the filter part into the vector store's own filter
syntax. :class:`SQLiteVecTranslator` produces the dict dialect that
:class:`~langchain_sqlitevec.SQLiteVecVectorStore` takes as ``filter=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.structured_query import (
    Comparator,
    Comparison,
    Operation,
    Operator,
    StructuredQuery,
    Visitor,
)

from sqlitevec_store import UnsupportedFilterError
from sqlitevec_store.filters import MAX_DEPTH

__all__ = ["SQLiteVecTranslator"]

# Keyed by the comparators' string values (Comparator is a StrEnum).
_COMPARATORS: dict[str, str] = {
    Comparator.EQ: "$eq",
    Comparator.NE: "$ne",
    Comparator.GT: "$gt",
    Comparator.GTE: "$gte",
    Comparator.LT: "$lt",
    Comparator.LTE: "$lte",
    Comparator.IN: "$in",
    Comparator.NIN: "$nin",
    Comparator.CONTAIN: "$contains",
    Comparator.LIKE: "$like",
}


class SQLiteVecTranslator(Visitor):
    """Translate a ``StructuredQuery`` into ``(query, {"filter": ...})`` for this store.

    Every comparator and operator of the structured-query language is
    supported: ``eq ne gt gte lt lte in nin`` map to the operators of the
    same name, ``contain`` to ``$contains`` (an element of a list, or a
    substring of a string) and ``like`` to ``$like``. ``and`` and ``or`` map
    to ``$and`` / ``$or``; ``not`` of one filter to ``$not``, and ``not`` of
    several filters means that none of them holds.

    Date values as the query constructor writes them (``{"type": "date",
    "date": "2024-05-01"}``) become their ISO strings, which compare in date
    order when the metadata stores ISO dates too.

    Example:
        ```python
        # langchain-classic in LangChain 1.x (``langchain.retrievers...`` before)
        from langchain_classic.retrievers.self_query.base import SelfQueryRetriever
        from langchain_sqlitevec import SQLiteVecTranslator

        retriever = SelfQueryRetriever.from_llm(
            llm,
            vector_store,
            "Harbor Notes documentation",
            metadata_field_info,
            structured_query_translator=SQLiteVecTranslator(),
        )
        ```

    """

    allowed_comparators = cast("tuple[Comparator, ...]", tuple(Comparator(c) for c in _COMPARATORS))
    """Every comparator of the structured-query language."""

    allowed_operators = cast("tuple[Operator, ...]", (Operator.AND, Operator.OR, Operator.NOT))
    """Every logical operator of the structured-query language."""

    def visit_operation(self, operation: Operation) -> dict[str, Any]:
        """Translate an ``and`` / ``or`` / ``not`` operation.

        Raises:
            UnsupportedFilterError: Operations nested deeper than
                :data:`~sqlitevec_store.filters.MAX_DEPTH` (checked before
                recursing; a result deeper than that is refused by the store).

        """
        _check_depth(operation)
        self._validate_func(operation.operator)
        args = [arg.accept(self) for arg in operation.arguments]
        if operation.operator is Operator.NOT:
            if len(args) == 1:
                return {"$not": args[0]}
            return {"$not": {"$or": args}}
        return {f"${operation.operator.value}": args}

    def visit_comparison(self, comparison: Comparison) -> dict[str, Any]:
        """Translate one comparison of a metadata attribute with a value."""
        self._validate_func(comparison.comparator)
        value = _plain(comparison.value)
        if comparison.comparator in (Comparator.IN, Comparator.NIN) and not isinstance(value, (list, tuple)):
            value = [value]
        return {comparison.attribute: {_COMPARATORS[comparison.comparator]: value}}

    def visit_structured_query(self, structured_query: StructuredQuery) -> tuple[str, dict[str, Any]]:
        """Return the query text and the search keyword arguments (``filter``, if any)."""
        if structured_query.filter is None:
            return structured_query.query, {}
        return structured_query.query, {"filter": structured_query.filter.accept(self)}


def _check_depth(operation: Operation) -> None:
    """Refuse operations nested deeper than ``MAX_DEPTH``, without recursing."""
    pending: list[tuple[Operation, int]] = [(operation, 1)]
    while pending:
        current, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise UnsupportedFilterError(f"Filters may nest at most {MAX_DEPTH} levels deep")
        pending.extend((arg, depth + 1) for arg in current.arguments if isinstance(arg, Operation))


def _plain(value: Any) -> Any:
    """Unwrap the query constructor's ``{"type": "date", "date": ...}`` values."""
    if isinstance(value, Mapping) and value.get("type") in ("date", "datetime"):
        inner = value.get(value["type"])
        if isinstance(inner, str):
            return inner
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
