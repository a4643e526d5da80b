r"""One metadata filter tree, compiled to bound SQL.

Both adapters and the command line translate their own filter syntax into
this tree; :func:`compile_filter` turns it into a SQL boolean expression over
the JSON ``metadata`` column plus its parameters. Compilation is pure: the
same tree always gives the same SQL and parameters, and nothing a user
supplies is pasted into the SQL text (keys become bound JSON paths, values
bound parameters, operators come from closed tables).

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
10,000 8 s). Floats are compared after the
same decimal-to-double conversion SQLite applies to stored JSON, so ``1e-300``
equals ``1e-300``. ``like``, ``ilike`` and ``text_match_insensitive`` do not
see past a NUL character inside a string value (a SQLite limit).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from .errors import InvalidInputTypeError, UnsupportedFilterError
from .records import json_scalar

__all__ = [
    "And",
    "Comparison",
    "Filter",
    "Not",
    "MAX_DEPTH",
    "MAX_FILTER_TERMS",
    "RECORD_FIELDS",
    "Op",
    "Or",
    "compile_filter",
    "like_to_glob",
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
# Compilation
# ---------------------------------------------------------------------------

#: Lists longer than this are bound as one JSON array instead of one parameter each.
_LONG_LIST = 64

_ORDER_SQL = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
_NUMBER_KINDS = "('integer','real')"


def like_to_glob(pattern: str) -> str:
    """Translate a SQL LIKE pattern into an equivalent, case-sensitive GLOB.

    ``%`` becomes ``*``, ``_`` becomes ``?``, a backslash makes the next
    character literal, and GLOB's own special characters are bracketed.
    """
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "\\")
            out.append(_glob_literal(nxt))
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(_glob_literal(ch))
    return "".join(out)


def _glob_literal(ch: str) -> str:
    return f"[{ch}]" if ch in "*?[" else ch


def _json_path(key: str) -> str:
    return f'$."{key}"'


class _Compiler:
    def __init__(self, column: str, prefix: str) -> None:
        self.column = column
        self.prefix = prefix
        self.params: dict[str, Any] = {}
        self._paths: dict[str, str] = {}
        self.field = "metadata"
        self.terms = 0

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def number(self, value: float) -> str:
        """Bind a number; floats go through SQLite's JSON number parser, like stored values do."""
        if isinstance(value, float):
            return f"json_extract({self.bind(json.dumps(value))}, '$')"
        return self.bind(value)

    def path(self, key: str) -> str:
        """Bind the JSON path of ``key`` once per compilation."""
        if key not in self._paths:
            self._paths[key] = self.bind(_json_path(key))
        return self._paths[key]

    @property
    def in_json(self) -> bool:
        """Whether the comparison being compiled tests a metadata key."""
        return self.field == "metadata"

    def kind(self, key: str) -> str:
        """SQL for the JSON kind of the value: 'null' when missing, never NULL."""
        if not self.in_json:
            return f"(CASE WHEN {self.field} IS NULL THEN 'null' ELSE 'text' END)"
        return f"IFNULL(json_type({self.column}, {self.path(key)}), 'null')"

    def value(self, key: str) -> str:
        """SQL for the value itself."""
        if not self.in_json:
            return self.field
        return f"json_extract({self.column}, {self.path(key)})"

    def equal(self, kind: str, value: str, scalar: Scalar) -> str:
        """SQL for "the JSON value with type ``kind`` and SQL value ``value`` equals scalar"."""
        if isinstance(scalar, bool):
            return f"{kind} = '{'true' if scalar else 'false'}'"
        if isinstance(scalar, str):
            return f"({kind} = 'text' AND {value} = {self.bind(scalar)})"
        return f"({kind} IN {_NUMBER_KINDS} AND {value} = {self.number(scalar)})"

    def member(self, key: str, values: Sequence[Scalar]) -> str:
        """SQL for "v is present and equal to one of ``values``"."""
        parts: list[str] = []
        numbers = [v for v in values if not isinstance(v, (bool, str))]
        strings = [v for v in values if isinstance(v, str)]
        bools = sorted({v for v in values if isinstance(v, bool)})
        if numbers:
            parts.append(f"({self.kind(key)} IN {_NUMBER_KINDS} AND {self.value(key)} IN {self.value_list(numbers)})")
        if strings:
            parts.append(f"({self.kind(key)} = 'text' AND {self.value(key)} IN {self.value_list(strings)})")
        if bools:
            names = ", ".join("'true'" if b else "'false'" for b in bools)
            parts.append(f"{self.kind(key)} IN ({names})")
        return "(" + " OR ".join(parts) + ")" if parts else "0"

    def value_list(self, values: Sequence[Scalar]) -> str:
        """``(:a, :b, ...)``, or for long lists one bound JSON array (no SQL variable limit)."""
        if len(values) > _LONG_LIST:
            return f"(SELECT value FROM json_each({self.bind(json.dumps(list(values)))}))"
        return "(" + ", ".join(self.number(v) if not isinstance(v, str) else self.bind(v) for v in values) + ")"

    def contains(self, key: str, scalar: Scalar) -> str:
        element = self.equal("e.type", "e.value", scalar)
        in_list = (
            (
                f"({self.kind(key)} = 'array' AND EXISTS (SELECT 1 FROM json_each("
                f"{self.column}, {self.path(key)}) AS e WHERE {element}))"
            )
            if self.in_json
            else "0"
        )
        if isinstance(scalar, str):
            substring = f"({self.kind(key)} = 'text' AND instr({self.value(key)}, {self.bind(scalar)}) > 0)"
            return f"({in_list} OR {substring})"
        return in_list

    def comparison(self, c: Comparison) -> str:
        self.field = c.field
        sql = self._comparison(c)
        if c.missing_matches and not (c.op is Op.EXISTS or c.op is Op.IS_EMPTY):
            return f"({self.kind(c.key)} = 'null' OR {sql})"
        return sql

    def _comparison(self, c: Comparison) -> str:
        key, op, val = c.key, c.op, c.value
        if op is Op.EQ:
            return self.equal(self.kind(key), self.value(key), val)
        if op is Op.NE:
            present = f"{self.kind(key)} != 'null'"
            return f"({present} AND NOT {self.equal(self.kind(key), self.value(key), val)})"
        if op in _ORDER_SQL:
            kinds = "= 'text'" if isinstance(val, str) else f"IN {_NUMBER_KINDS}"
            bound = self.bind(val) if isinstance(val, str) else self.number(val)
            return f"({self.kind(key)} {kinds} AND {self.value(key)} {_ORDER_SQL[op]} {bound})"
        if op is Op.IN:
            return self.member(key, val)
        if op is Op.NIN:
            return f"({self.kind(key)} != 'null' AND NOT {self.member(key, val)})"
        if op is Op.LIKE:
            return f"({self.kind(key)} = 'text' AND {self.value(key)} GLOB {self.bind(like_to_glob(val))})"
        if op is Op.ILIKE:
            pattern = like_to_glob(val.lower())
            return f"({self.kind(key)} = 'text' AND svs_lower({self.value(key)}) GLOB {self.bind(pattern)})"
        if op is Op.TEXT_MATCH:
            return f"({self.kind(key)} = 'text' AND instr({self.value(key)}, {self.bind(val)}) > 0)"
        if op is Op.TEXT_MATCH_INSENSITIVE:
            return f"({self.kind(key)} = 'text' AND instr(svs_lower({self.value(key)}), {self.bind(val.lower())}) > 0)"
        if op is Op.CONTAINS:
            return self.contains(key, val)
        if op is Op.ANY:
            return _join([self.contains(key, v) for v in val], "OR")
        if op is Op.ALL:
            return _join([f"{self.kind(key)} != 'null'"] + [self.contains(key, v) for v in val], "AND")
        if op is Op.EXISTS:
            return f"{self.kind(key)} {'!=' if val else '='} 'null'"
        # Op.IS_EMPTY
        empty_list = (
            f" OR ({self.kind(key)} = 'array' AND json_array_length({self.column}, {self.path(key)}) = 0)"
            if self.in_json
            else ""
        )
        return f"({self.kind(key)} = 'null' OR ({self.kind(key)} = 'text' AND {self.value(key)} = ''){empty_list})"

    def count(self, terms: int) -> None:
        """Count ``terms`` more terms of the SQL; refuse past :data:`MAX_FILTER_TERMS`."""
        self.terms += terms
        if self.terms > MAX_FILTER_TERMS:
            raise UnsupportedFilterError(
                f"Filters may hold at most {MAX_FILTER_TERMS} terms (comparisons, and/or/not, "
                "one per value of any/all); an $or of equalities on one key counts once: use $in for long lists"
            )

    def node(self, f: Filter, depth: int = 1) -> str:
        if depth > MAX_DEPTH:
            raise UnsupportedFilterError(f"Filters may nest at most {MAX_DEPTH} levels deep")
        if isinstance(f, Comparison):
            self.count(max(1, len(f.value)) if f.op in (Op.ANY, Op.ALL) else 1)
            return self.comparison(f)
        self.count(1)
        if isinstance(f, And):
            return _join([self.node(c, depth + 1) for c in _merged(f.filters, Op.NIN)], "AND")
        if isinstance(f, Or):
            return _join([self.node(c, depth + 1) for c in _merged(f.filters, Op.IN)], "OR")
        if isinstance(f, Not):
            return f"(NOT {self.node(f.filter, depth + 1)})"
        raise InvalidInputTypeError(f"Not a filter node: {type(f).__name__}")


#: What :func:`_merged` folds into one comparison: equalities under ``Or``, inequalities under ``And``.
_MERGED_OPS = {Op.IN: (Op.EQ, Op.IN), Op.NIN: (Op.NE, Op.NIN)}


def _typed(value: Any) -> Any:
    """``value`` with the type of each scalar, so ``True``, ``1`` and ``1.0`` stay apart."""
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return (type(value), value)


def _merged(children: Sequence[Filter], into: Op) -> list[Filter]:
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


def _join(parts: Sequence[str], operator: str) -> str:
    """Join with AND/OR as a balanced tree, so wide lists stay shallow for SQLite's parser."""
    if not parts:
        return "1" if operator == "AND" else "0"
    if len(parts) == 1:
        return parts[0]
    if len(parts) <= 8:
        return "(" + f" {operator} ".join(parts) + ")"
    middle = len(parts) // 2
    return f"({_join(parts[:middle], operator)} {operator} {_join(parts[middle:], operator)})"


def compile_filter(tree: Filter | None, column: str = "metadata", *, prefix: str = "f") -> tuple[str, dict[str, Any]]:
    """Compile a filter tree into a SQL boolean expression and its parameters.

    Every sub-expression evaluates to 0 or 1, never NULL, so ``NOT`` is exact.
    Parameters are named (``:f0``, ``:f1``, ...) in the order they are first
    used, so the same tree always gives the same SQL and the expression can
    be embedded in a larger statement with named parameters of its own.

    Args:
        tree: The filter, or ``None`` for "match everything".
        column: The SQL expression of the JSON metadata column. This is an
            identifier chosen by the core, never user input.
        prefix: The prefix of the parameter names.

    Returns:
        ``(sql, params)``: the expression and a dict of named parameters.

    """
    if tree is None:
        return "1", {}
    compiler = _Compiler(column, prefix)
    return compiler.node(tree), compiler.params


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
