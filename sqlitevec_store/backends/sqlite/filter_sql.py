r"""The SQLite compilation of the filter tree: a bound SQL boolean expression over the JSON metadata column.

The tree and its semantics are :mod:`sqlitevec_store.filters`; this module
writes them in SQLite's dialect (``json_type``/``json_extract``, ``GLOB`` for
``like``, ``json_each`` for lists). Compilation is pure: the same tree always
gives the same SQL and parameters, and nothing a user supplies is pasted into
the SQL text (keys become bound JSON paths, values bound parameters,
operators come from closed tables). The engine-neutral steps (the walk, folding
``$or``-ed equalities into one ``in``, the term limit) come from
:class:`sqlitevec_store.filters.TreeCompiler`, so every backend applies them alike.

What SQLite adds to the semantics: floats are compared after the same
decimal-to-double conversion SQLite applies to stored JSON, so ``1e-300``
equals ``1e-300``; ``like``, ``ilike`` and ``text_match_insensitive`` do not
see past a NUL character inside a string value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...filters import (
    Comparison,
    Filter,
    Op,
    Scalar,
    TreeCompiler,
)

__all__ = ["compile_filter", "like_to_glob"]

#: Lists longer than this are bound as one JSON array instead of one parameter each.
_LONG_LIST = 64

_ORDER_SQL = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
_NUMBER_KINDS = "('integer','real')"
_TEXT_OPS = (Op.LIKE, Op.ILIKE, Op.TEXT_MATCH, Op.TEXT_MATCH_INSENSITIVE)


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


class _Compiler(TreeCompiler):
    TRUE = "1"
    FALSE = "0"

    def __init__(self, column: str, prefix: str) -> None:
        super().__init__()
        self.column = column
        self.prefix = prefix
        self.params: dict[str, Any] = {}
        self._paths: dict[str, str] = {}
        self.field = "metadata"

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

    def text(self, key: str, op: Op, val: str) -> str:
        """SQL for the string operators: ``like``, ``ilike``, ``text_match``, ``text_match_insensitive``."""
        if op is Op.LIKE:
            return f"({self.kind(key)} = 'text' AND {self.value(key)} GLOB {self.bind(like_to_glob(val))})"
        if op is Op.ILIKE:
            pattern = like_to_glob(val.lower())
            return f"({self.kind(key)} = 'text' AND svs_lower({self.value(key)}) GLOB {self.bind(pattern)})"
        if op is Op.TEXT_MATCH:
            return f"({self.kind(key)} = 'text' AND instr({self.value(key)}, {self.bind(val)}) > 0)"
        # Op.TEXT_MATCH_INSENSITIVE
        return f"({self.kind(key)} = 'text' AND instr(svs_lower({self.value(key)}), {self.bind(val.lower())}) > 0)"

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
        if op in _TEXT_OPS:
            return self.text(key, op, val)
        if op is Op.CONTAINS:
            return self.contains(key, val)
        if op is Op.ANY:
            return self.join([self.contains(key, v) for v in val], "OR")
        if op is Op.ALL:
            return self.join([f"{self.kind(key)} != 'null'"] + [self.contains(key, v) for v in val], "AND")
        if op is Op.EXISTS:
            return f"{self.kind(key)} {'!=' if val else '='} 'null'"
        # Op.IS_EMPTY
        empty_list = (
            f" OR ({self.kind(key)} = 'array' AND json_array_length({self.column}, {self.path(key)}) = 0)"
            if self.in_json
            else ""
        )
        return f"({self.kind(key)} = 'null' OR ({self.kind(key)} = 'text' AND {self.value(key)} = ''){empty_list})"


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
