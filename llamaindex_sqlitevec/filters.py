"""Translate LlamaIndex ``MetadataFilters`` into the core filter tree.

The target semantics are those of
``llama_index.core.vector_stores.utils.build_metadata_filter_fn`` (what
``SimpleVectorStore`` applies), evaluated per node against the node's metadata
as ``node_to_metadata_dict`` writes it: the user's metadata plus ``doc_id``,
``ref_doc_id`` and ``document_id`` set to the node's ``ref_doc_id`` (or the
string ``"None"`` when it has none). Where that function raises, the
translation evaluates instead:

* A comparison that would raise for a node (``TEXT_MATCH`` on a number,
  ``GT 3`` on a string, ``IN 5``, iterating a ``None`` value, ...) does not
  match that node; it is one false leaf, combined with its siblings by the
  group's condition (so ``NOT`` of it matches).
* Nested ``MetadataFilters`` are evaluated recursively with the same rules as
  the top level: ``AND`` is all, ``OR`` is any, ``NOT`` is "none of", and an
  empty group (at any nesting level) matches every node. Groups may nest at most
  :data:`MAX_GROUP_DEPTH` (16) levels, the top-level group included; deeper
  filters are refused before anything recurses. Within that limit every filter
  fits the core's own limit (:data:`sqlitevec_store.filters.MAX_DEPTH`, 64
  levels): a group takes at most two core levels (``NOT`` of several filters
  is ``Not(Or(...))``), a leaf at most six.

Python's own comparison rules are reproduced with combinations of core
operators where the core default differs: ``NE`` and ``NIN`` match a missing
key (``missing_matches``); ``True == 1`` and ``False == 0`` (equality, ``IN``,
``CONTAINS``, ``ANY``, ``ALL`` add the boolean or number twin of each value;
``GT``/``LT``... also match booleans whose integer value satisfies the
comparison); ``IN "text"`` and ``NIN "text"`` test ``value in "text"``, a
substring test (enumerated as the set of substrings); ``ANY "ab"`` and
``ALL "ab"`` iterate the characters; ``EQ None`` matches nothing and
``NE None`` everything. Filters on ``doc_id``, ``ref_doc_id`` and
``document_id`` test the record's indexed ``doc_id`` column, where a node
without a source document reads as ``"None"``, as in LlamaIndex.

Remaining differences (each raises :class:`UnsupportedFilterError` instead of
returning a different answer, unless noted):

* ``EQ``/``NE`` and ``GT``/``GTE``/``LT``/``LTE`` with a list value (Python
  compares whole lists, lexicographically for the order operators).
* ``CONTAINS`` with a list value (Python looks for that list as an element of
  a list of lists); use ``ANY`` or ``ALL``.
* ``IN``/``NIN`` with a string value longer than
  :data:`MAX_SUBSTRING_SOURCE` characters.
* Keys the core cannot address (empty, over 512 characters, or containing a
  double quote, a backslash or a control character).
* Not raised, but different: ``CONTAINS``/``ANY``/``ALL`` never find anything
  inside a metadata value that is a dict (Python tests the dict's keys);
  ``CONTAINS None`` never matches (Python matches lists holding a ``null``);
  the bookkeeping keys ``_node_content`` and ``_node_type`` are not
  filterable (they live outside the metadata).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn

from sqlitevec_store import And, Comparison, Filter, Not, Op, Or, UnsupportedFilterError

__all__ = [
    "DOC_ID_KEYS",
    "MAX_GROUP_DEPTH",
    "MAX_SUBSTRING_SOURCE",
    "metadata_filters_to_core",
    "restrict",
]

#: Filter keys that test the record's ``doc_id`` column (the node's ``ref_doc_id``).
DOC_ID_KEYS = frozenset({"doc_id", "ref_doc_id", "document_id"})

#: Longest string accepted as the value of ``IN``/``NIN`` (its substrings are enumerated).
MAX_SUBSTRING_SOURCE = 100

#: How many levels of ``MetadataFilters`` groups may nest (the top-level group is level 1).
MAX_GROUP_DEPTH = 16

_NOTHING: Filter = Or([])
_EVERYTHING: Filter = And([])

_ORDER: dict[FilterOperator, tuple[Op, Callable[[Any, Any], bool]]] = {
    FilterOperator.GT: (Op.GT, operator.gt),
    FilterOperator.GTE: (Op.GTE, operator.ge),
    FilterOperator.LT: (Op.LT, operator.lt),
    FilterOperator.LTE: (Op.LTE, operator.le),
}


def metadata_filters_to_core(filters: MetadataFilters | None) -> Filter | None:
    """Translate LlamaIndex filters into a core filter tree.

    Returns:
        The tree, or ``None`` when the filters match every node (``None`` or
        an empty top-level group).

    Raises:
        UnsupportedFilterError: A filter the core cannot evaluate exactly as
            LlamaIndex would (see the module docstring), or groups nested
            deeper than :data:`MAX_GROUP_DEPTH`.

    """
    if filters is None or not filters.filters:
        return None
    _check_depth(filters)
    return _group(filters)


def _check_depth(filters: MetadataFilters) -> None:
    """Refuse groups nested deeper than :data:`MAX_GROUP_DEPTH`, without recursing."""
    pending: list[tuple[MetadataFilters, int]] = [(filters, 1)]
    while pending:
        group, depth = pending.pop()
        if depth > MAX_GROUP_DEPTH:
            raise UnsupportedFilterError(
                f"MetadataFilters may nest at most {MAX_GROUP_DEPTH} levels deep (the top-level group included)"
            )
        pending.extend((child, depth + 1) for child in group.filters if isinstance(child, MetadataFilters))


def restrict(*parts: Filter | None) -> Filter | None:
    """AND the given filters together, skipping ``None``."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else And(present)


def _group(filters: MetadataFilters) -> Filter:
    if not filters.filters:
        return _EVERYTHING
    children = [_group(f) if isinstance(f, MetadataFilters) else _leaf(f) for f in filters.filters]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return children[0] if len(children) == 1 else And(children)
    if condition == FilterCondition.OR:
        return children[0] if len(children) == 1 else Or(children)
    if condition == FilterCondition.NOT:
        return Not(children[0] if len(children) == 1 else Or(children))
    raise UnsupportedFilterError(
        f"Unknown filter condition {condition!r}; supported: " + ", ".join(c.value for c in FilterCondition)
    )


class _Target:
    """Builds comparisons on one metadata key or on the ``doc_id`` column."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.field = "doc_id" if key in DOC_ID_KEYS else "metadata"

    def __call__(self, op: Op, value: Any = None, *, missing_matches: bool = False) -> Comparison:
        return Comparison(self.key, op, value, missing_matches=missing_matches, field=self.field)


def _leaf(f: MetadataFilter) -> Filter:
    target = _Target(f.key)
    tree = _translate(target, f.operator, f.value, f.key)
    if target.field == "metadata":
        return tree
    # LlamaIndex sees ref_doc_id or the string "None": never a missing key.
    present = _and(target(Op.EXISTS, True), tree)
    if _python_leaf_matches(f, "None"):
        return Or([present, target(Op.EXISTS, False)])
    return present


def _and(a: Filter, b: Filter) -> Filter:
    if b == _NOTHING:
        return _NOTHING
    return And([a, b])


def _translate(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    translate = _TRANSLATIONS.get(op)
    if translate is None:
        raise UnsupportedFilterError(
            f"Unknown filter operator {op!r} on {key!r}; supported: " + ", ".join(o.value for o in FilterOperator)
        )
    return translate(c, op, value, key)


def _is_empty(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    return c(Op.IS_EMPTY)


def _eq(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    if value is None:
        return _NOTHING
    _no_list(value, op, key, "compares whole lists; use IN")
    return _member(c, _twins([value]))


def _ne(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    if value is None:
        return _EVERYTHING
    _no_list(value, op, key, "compares whole lists; use NIN")
    return c(Op.NIN, _twins([value]), missing_matches=True)


def _in(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    if isinstance(value, list):
        return _member(c, _twins(value))
    if isinstance(value, str):
        return c(Op.IN, _substrings(value, op, key))
    return _NOTHING  # `v in 5` / `v in None` raise


def _nin(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    if isinstance(value, list):
        return c(Op.NIN, _twins(value), missing_matches=True)
    missing = c(Op.EXISTS, False)
    if isinstance(value, str):
        # A string not among the substrings; any other present value raises.
        outside = And([c(Op.LIKE, "%"), Not(c(Op.IN, _substrings(value, op, key)))])
        return Or([missing, outside])
    return missing


def _contains(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    if value is None:
        return _NOTHING
    _no_list(value, op, key, "looks for a list inside a list of lists; use ANY or ALL")
    return _contains_any(c, [value])


def _any_or_all(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    items = _iterated(value)
    if items is None:
        return _NOTHING  # iterating a number or None raises
    if op == FilterOperator.ANY:
        return _contains_any(c, items)
    if not any(_twins([x]) != [x] for x in items):
        return c(Op.ALL, _unique(items))
    return And([c(Op.EXISTS, True), *(_contains_any(c, [x]) for x in _unique(items))])


def _text_match(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    if not isinstance(value, str):
        return _NOTHING  # raises for every present value
    core_op = Op.TEXT_MATCH if op == FilterOperator.TEXT_MATCH else Op.TEXT_MATCH_INSENSITIVE
    return c(core_op, value)


def _no_list(value: Any, op: FilterOperator, key: str, why: str) -> None:
    if isinstance(value, (list, tuple)):
        raise UnsupportedFilterError(
            f"{op.name} on {key!r} with a list value ({value!r}) {why}; this store does not support it"
        )


def _order(c: _Target, op: FilterOperator, value: Any, key: str) -> Filter:
    core_op, compare = _ORDER[op]
    if value is None:
        return _NOTHING
    _no_list(value, op, key, "compares lists lexicographically")
    if isinstance(value, str):
        return c(core_op, value)
    number = int(value) if isinstance(value, bool) else value
    # Python orders booleans as the integers 0 and 1.
    bools = [c(Op.EQ, b) for b in (False, True) if compare(int(b), number)]
    return Or([c(core_op, number), *bools]) if bools else c(core_op, number)


def _member(c: _Target, values: list[Any]) -> Filter:
    return c(Op.EQ, values[0]) if len(values) == 1 else c(Op.IN, values)


def _contains_any(c: _Target, values: Iterable[Any]) -> Filter:
    twins = _twins(values)
    return c(Op.CONTAINS, twins[0]) if len(twins) == 1 else c(Op.ANY, twins)


def _iterated(value: Any) -> list[Any] | None:
    """What ``for x in value`` yields, or ``None`` when that raises."""
    if isinstance(value, str):
        return list(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def _unique(values: Iterable[Any]) -> list[Any]:
    """Distinct values in order; ``True`` and ``1`` stay distinct."""
    seen: set[tuple[type, Any]] = set()
    out: list[Any] = []
    for v in values:
        marker = (type(v), v)
        if marker not in seen:
            seen.add(marker)
            out.append(v)
    return out


def _twins(values: Iterable[Any]) -> list[Any]:
    """Every value with the values Python's ``==`` also equates to it (``1 == True``)."""
    out: list[Any] = []
    for v in values:
        out.append(v)
        if isinstance(v, bool):
            out.append(int(v))
        elif isinstance(v, (int, float)) and v in (0, 1):
            out.append(v == 1)
    return _unique(out)


def _substrings(text: str, op: FilterOperator, key: str) -> list[str]:
    """Every substring of ``text`` (the strings ``s`` for which ``s in text``)."""
    if len(text) > MAX_SUBSTRING_SOURCE:
        raise UnsupportedFilterError(
            f"{op.name} on {key!r} with a string value tests `value in {text[:20]!r}...` (a substring test); "
            f"this store supports it for strings of up to {MAX_SUBSTRING_SOURCE} characters. Pass a list instead."
        )
    found = {text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)}
    return ["", *sorted(found)]


def _python_leaf_matches(f: MetadataFilter, value: Any) -> bool:
    """Whether LlamaIndex's own evaluation matches ``{f.key: value}`` (a raise is no match)."""
    check = build_metadata_filter_fn(lambda _: {f.key: value}, MetadataFilters(filters=[f]))
    try:
        return bool(check(""))
    except (TypeError, ValueError):
        return False


# One translation per LlamaIndex operator (see the module docstring for each one's semantics).
_TRANSLATIONS: dict[FilterOperator, Callable[[_Target, FilterOperator, Any, str], Filter]] = {
    FilterOperator.IS_EMPTY: _is_empty,
    FilterOperator.EQ: _eq,
    FilterOperator.NE: _ne,
    **dict.fromkeys(_ORDER, _order),
    FilterOperator.IN: _in,
    FilterOperator.NIN: _nin,
    FilterOperator.CONTAINS: _contains,
    FilterOperator.ANY: _any_or_all,
    FilterOperator.ALL: _any_or_all,
    FilterOperator.TEXT_MATCH: _text_match,
    FilterOperator.TEXT_MATCH_INSENSITIVE: _text_match,
}
