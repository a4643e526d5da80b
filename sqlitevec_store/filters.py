r"""One metadata filter tree, with one documented semantics, compiled per backend.

Both adapters and the command line translate their own filter syntax into
this tree (the dict dialect of PGVector and Chroma: :func:`parse_filter_dict`).
Each storage backend compiles the tree into its own query language, keeping
the semantics below; the SQLite backend's compiler is
:func:`sqlitevec_store.backends.sqlite.filter_sql.compile_filter`. This module
runs no SQL: it holds the tree, checks it as it is built, and the
engine-neutral steps every compiler takes (:class:`TreeCompiler`: the walk,
with :func:`merged_comparisons` and :class:`TermBudget`).

Semantics
---------
``v`` is the value of the top-level metadata key ``key`` (the key is taken
literally: ``"a.b"`` is one key, not a path). A key that is absent or whose
value is JSON ``null`` is *missing*.

Values have kinds: number (int or float; booleans are not numbers), string,
boolean, list, object. Two scalars are *equal* when they are of the same kind
and equal (``1 == 1.0``; ``True`` equals only ``True``; ``"1"`` never equals
``1``). Lists and objects are never equal to a scalar.

===================== =======================================================
operator              matches when
===================== =======================================================
``eq x``              ``v`` is present and equal to ``x``
``ne x``              ``v`` is present and not equal to ``x``
``gt/gte/lt/lte x``   ``x`` is a number and ``v`` a number, or both are strings
                      (compared by code point), and the comparison holds
``in xs``             ``v`` is present and equal to one of ``xs``
``nin xs``            ``v`` is present and equal to none of ``xs``
``like p``            ``v`` is a string matching the SQL LIKE pattern ``p``,
                      case-sensitively (``%`` any run, ``_`` one character,
                      ``\`` escapes the next character)
``ilike p``           the same after :meth:`str.lower` on both sides
``text_match s``      ``v`` is a string and ``s`` is a substring of it
``text_match_insensitive s``  the same after :meth:`str.lower` on both sides
``contains x``        ``v`` is a list holding an element equal to ``x``, or
                      ``v`` and ``x`` are strings and ``x`` is a substring of ``v``
``any xs``            ``contains x`` holds for at least one ``x`` in ``xs``
``all xs``            ``v`` is present and ``contains x`` holds for every ``x``
``exists b``          ``v`` is present (``b`` true) or missing (``b`` false)
``is_empty``          ``v`` is missing, ``""`` or ``[]``
===================== =======================================================

Apart from ``exists false`` and ``is_empty``, a comparison does not match a
document where the key is missing, unless the comparison was built with
``missing_matches=True`` (then it also matches every such document; ``exists``
and ``is_empty`` ignore the flag, since they are about missing keys already). This is
how the two frameworks differ: PGVector-style LangChain filters never match a
missing key, while LlamaIndex's ``NE`` and ``NIN`` do; each adapter sets the
flag accordingly. ``And([])`` matches everything, ``Or([])`` nothing, and
``Not(f)`` is the plain logical negation of ``f`` (it matches documents where
the key of ``f`` is missing).

numpy scalars, dates and datetimes, as metadata and as filter values, are
compared in the JSON form metadata stores them in
(:func:`~sqlitevec_store.records.json_scalar`): numbers and booleans, and
ISO-8601 strings (aware datetimes in UTC), so ``{"at": {"$gt": datetime(...)}}``
orders stored datetimes correctly.

Limits: a tree may nest at most :data:`MAX_DEPTH` levels (a comparison is one
level, each ``And``/``Or``/``Not`` above it one more); a deeper tree is refused
when it is built, before anything recurses. A tree compiles to at most
:data:`MAX_FILTER_TERMS` terms: every node counts one, except that ``any`` and
``all`` count one per value, an ``Or`` of ``eq``/``in`` comparisons on one key
is compiled as one ``in`` (one term, however many values), as is an ``And`` of
``ne``/``nin`` comparisons on one key as one ``nin``, and a comparison repeated
under the same ``And``/``Or`` counts once. ``in`` and ``nin`` take any number of
values. Past either limit compilation raises :class:`UnsupportedFilterError`:
SQLite's time to prepare a statement grows faster than linearly with its size
(measured: 1,000 ``Or``-ed comparisons on different keys 0.1 s, 5,000 0.8 s,
10,000 8 s). What a backend adds to these rules its compiler's module says
(SQLite: :mod:`sqlitevec_store.backends.sqlite.filter_sql`).
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar, Union

from .errors import InvalidInputTypeError, UnsupportedFilterError
from .records import json_scalar

__all__ = [
    "LastCompiled",
    "And",
    "Comparison",
    "Filter",
    "Not",
    "MAX_DEPTH",
    "MAX_FILTER_TERMS",
    "RECORD_FIELDS",
    "Op",
    "Or",
    "TermBudget",
    "TreeCompiler",
    "merged_comparisons",
    "parse_filter_dict",
    "validate_filter_key",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: How deeply filter nodes may nest (SQLite's own expression limit is 1000).
MAX_DEPTH = 64

#: How many terms a compiled filter may hold (see "Limits" above).
MAX_FILTER_TERMS = 1024

#: What a :class:`Comparison` can test: a metadata key, or a record column.
RECORD_FIELDS = ("metadata", "id", "doc_id")


class Op(str, Enum):
    """Comparison operators of the core filter tree."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    LIKE = "like"
    ILIKE = "ilike"
    TEXT_MATCH = "text_match"
    TEXT_MATCH_INSENSITIVE = "text_match_insensitive"
    CONTAINS = "contains"
    ANY = "any"
    ALL = "all"
    EXISTS = "exists"
    IS_EMPTY = "is_empty"


Scalar = Union[str, int, float, bool]  # noqa: UP007 - runtime alias on 3.10


@dataclass(frozen=True)
class Comparison:
    """A test of one metadata key (or of a record's ``id`` / ``doc_id`` column).

    Attributes:
        key: The top-level metadata key. Ignored when ``field`` is not ``"metadata"``.
        op: The operator.
        value: A scalar, a list of scalars (``in``, ``nin``, ``any``, ``all``),
            a bool (``exists``) or ``None`` (``is_empty``).
        missing_matches: Also match documents where the key is missing.
        field: ``"metadata"`` (default) tests ``metadata[key]``; ``"id"`` and
            ``"doc_id"`` test the record's string columns of that name (a
            ``doc_id`` of NULL counts as missing). Adapters use this for
            framework keys kept outside the user's metadata.
    """

    key: str
    op: Op
    value: Any = None
    missing_matches: bool = False
    field: str = "metadata"
    #: Levels this node spans: 1 for a comparison.
    depth: int = dataclasses.field(default=1, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.field not in RECORD_FIELDS:
            raise UnsupportedFilterError(
                f"Unknown filter field {self.field!r}; expected one of {', '.join(RECORD_FIELDS)}"
            )
        if self.field == "metadata":
            validate_filter_key(self.key)
        try:
            op = Op(self.op)
        except ValueError:
            raise UnsupportedFilterError(
                f"Unknown filter operator {self.op!r}; supported: " + ", ".join(o.value for o in Op)
            ) from None
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", _check_value(op, self.key, self.value))


@dataclass(frozen=True)
class And:
    """All of ``filters`` match (an empty ``And`` matches everything).

    Raises:
        UnsupportedFilterError: The node would nest deeper than :data:`MAX_DEPTH`.
    """

    filters: tuple[Filter, ...] = field(default_factory=tuple)
    #: Levels this node spans: one more than its deepest child.
    depth: int = dataclasses.field(default=1, init=False, repr=False, compare=False)

    def __init__(self, filters: Sequence[Filter] = ()) -> None:
        children = _check_children(filters, "And")
        object.__setattr__(self, "filters", children)
        object.__setattr__(self, "depth", _depth_above(children))


@dataclass(frozen=True)
class Or:
    """At least one of ``filters`` matches (an empty ``Or`` matches nothing).

    Raises:
        UnsupportedFilterError: The node would nest deeper than :data:`MAX_DEPTH`.
    """

    filters: tuple[Filter, ...] = field(default_factory=tuple)
    #: Levels this node spans: one more than its deepest child.
    depth: int = dataclasses.field(default=1, init=False, repr=False, compare=False)

    def __init__(self, filters: Sequence[Filter] = ()) -> None:
        children = _check_children(filters, "Or")
        object.__setattr__(self, "filters", children)
        object.__setattr__(self, "depth", _depth_above(children))


@dataclass(frozen=True)
class Not:
    """``filter`` does not match.

    Raises:
        UnsupportedFilterError: The node would nest deeper than :data:`MAX_DEPTH`.
    """

    filter: Filter
    #: Levels this node spans: one more than ``filter``'s.
    depth: int = dataclasses.field(default=1, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.filter, (Comparison, And, Or, Not)):
            raise InvalidInputTypeError(f"Not() takes a filter node, got {type(self.filter).__name__}")
        object.__setattr__(self, "depth", _depth_above((self.filter,)))


Filter = Union[Comparison, And, Or, Not]  # noqa: UP007 - runtime alias on 3.10


def _check_children(filters: Sequence[Filter], name: str) -> tuple[Filter, ...]:
    if isinstance(filters, (str, bytes, Mapping)) or not isinstance(filters, Sequence):
        raise InvalidInputTypeError(f"{name}() takes a list of filters, got {type(filters).__name__}")
    for child in filters:
        if not isinstance(child, (Comparison, And, Or, Not)):
            raise InvalidInputTypeError(f"{name}() takes filter nodes, got {type(child).__name__}")
    return tuple(filters)


def _depth_above(children: Sequence[Filter]) -> int:
    """The depth of a node over ``children``; refused past :data:`MAX_DEPTH`.

    Each node stores its depth when it is built, so a too-deep tree is refused
    as it grows and nothing ever recurses more than :data:`MAX_DEPTH` levels
    (``repr``, ``==``, ``hash`` and compilation included).
    """
    depth = 1 + max((c.depth for c in children), default=0)
    if depth > MAX_DEPTH:
        raise UnsupportedFilterError(f"Filters may nest at most {MAX_DEPTH} levels deep")
    return depth


def validate_filter_key(key: Any) -> str:
    """Check that ``key`` can name a metadata key in a filter.

    Raises:
        UnsupportedFilterError: The key is empty, too long, or contains a
            double quote, a backslash or a control character.

    """
    if not isinstance(key, str):
        raise UnsupportedFilterError(f"Filter keys must be strings, got {type(key).__name__}")
    if not key or len(key) > 512:
        raise UnsupportedFilterError(f"Filter keys must be 1 to 512 characters long, got {key!r}")
    if '"' in key or "\\" in key or any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in key):
        raise UnsupportedFilterError(
            f"Filter key {key!r} contains a double quote, a backslash, a control character "
            "or a lone surrogate; such keys cannot be filtered on"
        )
    return key


def _check_scalar(value: Any, key: str, op: Op, *, allow_bool: bool = True) -> Scalar:
    value = json_scalar(value)  # numpy scalars, dates and datetimes: compared in their stored form
    if isinstance(value, bool):
        if not allow_bool:
            raise UnsupportedFilterError(f"{op.value} on {key!r} cannot compare a boolean")
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise UnsupportedFilterError(f"{op.value} on {key!r}: {value} is outside 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsupportedFilterError(f"{op.value} on {key!r}: {value} is not a finite number")
        return value
    if isinstance(value, str):
        return _encodable(value, key, op)
    raise UnsupportedFilterError(
        f"{op.value} on {key!r} takes a string, number or boolean, got {type(value).__name__} ({value!r})"
    )


def _encodable(value: str, key: str, op: Op) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsupportedFilterError(
            f"{op.value} on {key!r}: the value contains a character that is not valid UTF-8 ({exc.reason})"
        ) from None
    return value


def _check_value(op: Op, key: str, value: Any) -> Any:
    if op in (Op.IN, Op.NIN, Op.ANY, Op.ALL):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise UnsupportedFilterError(f"{op.value} on {key!r} takes a list of values, got {type(value).__name__}")
        return tuple(_check_scalar(v, key, op) for v in value)
    if op is Op.EXISTS:
        if not isinstance(value, bool):
            raise UnsupportedFilterError(f"exists on {key!r} takes true or false, got {value!r}")
        return value
    if op is Op.IS_EMPTY:
        return None
    if op in (Op.LIKE, Op.ILIKE, Op.TEXT_MATCH, Op.TEXT_MATCH_INSENSITIVE):
        if not isinstance(value, str):
            raise UnsupportedFilterError(
                f"{op.value} on {key!r} takes a string, got {type(value).__name__} ({value!r})"
            )
        return _encodable(value, key, op)
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        return _check_scalar(value, key, op, allow_bool=False)
    return _check_scalar(value, key, op)


# ---------------------------------------------------------------------------
# Steps every backend's compiler takes (tree to tree, no SQL)
# ---------------------------------------------------------------------------

#: What :func:`merged_comparisons` folds into one comparison: equalities under ``Or``, inequalities under ``And``.
_MERGED_OPS = {Op.IN: (Op.EQ, Op.IN), Op.NIN: (Op.NE, Op.NIN)}


def _typed(value: Any) -> Any:
    """``value`` with the type of each scalar, so ``True``, ``1`` and ``1.0`` stay apart."""
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return (type(value), value)


def merged_comparisons(children: Sequence[Filter], into: Op) -> list[Filter]:
    """The children of an ``Or`` (``into=IN``) or ``And`` (``into=NIN``), with the same meaning.

    Under ``Or``, the ``eq``/``in`` comparisons on one key (same field, same
    ``missing_matches``) become one ``in`` over all their values: "present and
    equal to one of them". Under ``And``, ``ne``/``nin`` become one ``nin``:
    "present and equal to none of them" (with ``missing_matches``, "missing or
    ..." on both sides). A comparison repeated among the children is kept once.
    The merged comparison takes the place of its group's first member, and a
    group of one is kept as it is, so the SQL stays deterministic.
    """
    foldable = _MERGED_OPS[into]
    out: list[Filter | tuple[str, str, bool]] = []
    groups: dict[tuple[str, str, bool], list[Comparison]] = {}
    seen: set[Any] = set()
    for child in children:
        if not isinstance(child, Comparison):
            out.append(child)
            continue
        if child.op in foldable:
            group = (child.field, child.key, child.missing_matches)
            if group not in groups:
                groups[group] = []
                out.append(group)
            groups[group].append(child)
            continue
        identity = (child.field, child.key, child.op, child.missing_matches, _typed(child.value))
        if identity not in seen:
            seen.add(identity)
            out.append(child)
    return [item if not isinstance(item, tuple) else _fold(groups[item], into) for item in out]


def _fold(members: list[Comparison], into: Op) -> Comparison:
    """One ``in``/``nin`` comparison over the distinct values of ``members``."""
    if len(members) == 1:
        return members[0]
    values: dict[Any, Scalar] = {}
    for member in members:
        for value in member.value if member.op in (Op.IN, Op.NIN) else (member.value,):
            values.setdefault(_typed(value), value)
    first = members[0]
    return Comparison(first.key, into, list(values.values()), missing_matches=first.missing_matches, field=first.field)


class TermBudget:
    """The terms one compilation has used, refused past :data:`MAX_FILTER_TERMS` (see "Limits" above).

    A compiler calls :meth:`spend` once for each node it compiles, after
    :func:`merged_comparisons` has folded the children of each ``And``/``Or``.
    """

    def __init__(self) -> None:
        """An unused budget."""
        self.used = 0

    def spend(self, node: Filter) -> None:
        """Count ``node``'s own terms: one, or one per value of ``any``/``all``.

        Raises:
            UnsupportedFilterError: The compilation now holds more than :data:`MAX_FILTER_TERMS` terms.

        """
        if isinstance(node, Comparison) and node.op in (Op.ANY, Op.ALL):
            self.used += max(1, len(node.value))
        else:
            self.used += 1
        if self.used > MAX_FILTER_TERMS:
            raise UnsupportedFilterError(
                f"Filters may hold at most {MAX_FILTER_TERMS} terms (comparisons, and/or/not, "
                "one per value of any/all); an $or of equalities on one key counts once: use $in for long lists"
            )


class TreeCompiler(ABC):
    """The walk every backend's compiler shares: depth and term limits, folding, AND/OR/NOT.

    A backend subclasses it with :meth:`comparison` (one comparison in its SQL)
    and its literals for an empty ``And``/``Or``; :meth:`node` walks the tree,
    folds the children of each ``And``/``Or`` (:func:`merged_comparisons`),
    spends the :class:`TermBudget` and joins the parts with :meth:`join`. The
    parts it joins are SQL boolean expressions that are never NULL, so ``NOT``
    is exact.
    """

    #: The expressions an empty ``And`` (true) and an empty ``Or`` (false) compile to.
    TRUE = "TRUE"
    FALSE = "FALSE"

    def __init__(self) -> None:
        """A compiler with an unused term budget."""
        self.budget = TermBudget()

    @abstractmethod
    def comparison(self, c: Comparison) -> str:
        """One comparison as a boolean expression."""

    def node(self, f: Filter, depth: int = 1) -> str:
        """``f`` and everything under it, as one boolean expression.

        Raises:
            UnsupportedFilterError: Deeper than :data:`MAX_DEPTH`, or past :data:`MAX_FILTER_TERMS`.
            InvalidInputTypeError: ``f`` is not a filter node.

        """
        if depth > MAX_DEPTH:
            raise UnsupportedFilterError(f"Filters may nest at most {MAX_DEPTH} levels deep")
        self.budget.spend(f)
        if isinstance(f, Comparison):
            return self.comparison(f)
        if isinstance(f, And):
            return self.join([self.node(c, depth + 1) for c in merged_comparisons(f.filters, Op.NIN)], "AND")
        if isinstance(f, Or):
            return self.join([self.node(c, depth + 1) for c in merged_comparisons(f.filters, Op.IN)], "OR")
        if isinstance(f, Not):
            return f"(NOT {self.node(f.filter, depth + 1)})"
        raise InvalidInputTypeError(f"Not a filter node: {type(f).__name__}")

    def join(self, parts: Sequence[str], operator: str) -> str:
        """Join with ``AND``/``OR`` as a balanced tree, so wide lists stay shallow for the parser."""
        if not parts:
            return self.TRUE if operator == "AND" else self.FALSE
        if len(parts) == 1:
            return parts[0]
        if len(parts) <= 8:
            return "(" + f" {operator} ".join(parts) + ")"
        middle = len(parts) // 2
        return f"({self.join(parts[:middle], operator)} {operator} {self.join(parts[middle:], operator)})"


# ---------------------------------------------------------------------------
# The dict dialect (PGVector / Chroma style), used by LangChain and the CLI
# ---------------------------------------------------------------------------

_DICT_OPERATORS: dict[str, Op] = {
    "$eq": Op.EQ,
    "$ne": Op.NE,
    "$gt": Op.GT,
    "$gte": Op.GTE,
    "$lt": Op.LT,
    "$lte": Op.LTE,
    "$in": Op.IN,
    "$nin": Op.NIN,
    "$like": Op.LIKE,
    "$ilike": Op.ILIKE,
    "$exists": Op.EXISTS,
    "$contains": Op.CONTAINS,
}
_DICT_LOGICAL = ("$and", "$or", "$not")


def _supported_dict_operators() -> str:
    return ", ".join([*_DICT_OPERATORS, *_DICT_LOGICAL])


def parse_filter_dict(spec: Mapping[str, Any] | None, _depth: int = 1) -> Filter | None:
    """Parse the dict filter dialect LangChain users know from PGVector and Chroma.

    ``{"a": 1}`` is equality; several keys mean AND; ``{"a": {"$gt": 1}}``
    applies an operator (several operators on one key mean AND);
    ``{"$and": [...]}``, ``{"$or": [...]}`` take lists of filters and
    ``{"$not": {...}}`` one filter, nested up to :data:`MAX_DEPTH` (64)
    levels (checked before recursing). A missing key matches only
    ``{"$exists": False}``. The size limit (:data:`MAX_FILTER_TERMS`) is
    checked when the tree is compiled.

    Raises:
        UnsupportedFilterError: Unknown operator (the message lists the
            supported ones), a value the operator cannot take, or nesting
            deeper than :data:`MAX_DEPTH`.

    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise UnsupportedFilterError(f"A filter must be a dict, got {type(spec).__name__}")
    if _depth > MAX_DEPTH:
        raise UnsupportedFilterError(f"Filters may nest at most {MAX_DEPTH} levels deep")
    nodes: list[Filter] = []
    for key, value in spec.items():
        if not isinstance(key, str):
            raise UnsupportedFilterError(f"Filter keys must be strings, got {key!r}")
        if key.startswith("$"):
            nodes.append(_parse_logical(key, value, _depth))
        else:
            nodes.extend(_parse_field(key, value))
    if len(nodes) == 1:
        return nodes[0]
    return And(nodes)


def _parse_logical(key: str, value: Any, depth: int) -> Filter:
    if key == "$not":
        child = parse_filter_dict(value, depth + 1) if isinstance(value, Mapping) else None
        if child is None or not isinstance(value, Mapping):
            raise UnsupportedFilterError(f"$not takes one filter (a dict), got {value!r}")
        return Not(child)
    if key in ("$and", "$or"):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, Mapping) for v in value):
            raise UnsupportedFilterError(f"{key} takes a list of filters (dicts), got {value!r}")
        children = [c for c in (parse_filter_dict(v, depth + 1) for v in value) if c is not None]
        return And(children) if key == "$and" else Or(children)
    raise UnsupportedFilterError(f"Unknown filter operator {key!r}; supported: {_supported_dict_operators()}")


def _parse_field(key: str, value: Any) -> list[Filter]:
    if isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value):
        out: list[Filter] = []
        for op_name, operand in value.items():
            op = _DICT_OPERATORS.get(op_name) if isinstance(op_name, str) else None
            if op is None:
                raise UnsupportedFilterError(
                    f"Unknown filter operator {op_name!r} on {key!r}; supported: {_supported_dict_operators()}"
                )
            out.append(Comparison(key, op, operand))
        return out
    if value is None or isinstance(value, (Mapping, list, tuple)):
        raise UnsupportedFilterError(
            f"Equality on {key!r} takes a string, number or boolean, got {value!r}; "
            "use $in for lists and $exists for missing keys"
        )
    return [Comparison(key, Op.EQ, value)]


_Compiled = TypeVar("_Compiled")


class LastCompiled(Generic[_Compiled]):
    """A backend's filter compiler that remembers the last filter it compiled.

    A search checks its filter before it runs (``check_filter``) and a hybrid
    search filters twice: each compiles the same tree object once. Keyed by
    identity (trees are immutable), one entry, safe to share between threads
    (at worst a tree is compiled twice).

    Args:
        compile: Compiles one tree for the backend.

    """

    def __init__(self, compile: Callable[[Filter], _Compiled]) -> None:
        """Remember nothing yet."""
        self._compile = compile
        self._last: tuple[Filter, _Compiled] | None = None

    def __call__(self, filter: Filter | None) -> _Compiled | None:
        """``filter`` compiled (``None`` for no filter)."""
        if filter is None:
            return None
        last = self._last
        if last is not None and last[0] is filter:
            return last[1]
        compiled = self._compile(filter)
        self._last = (filter, compiled)
        return compiled
