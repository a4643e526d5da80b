"""Shared filter test data: a reference evaluator, fixture documents and case tables.

:func:`reference_match` evaluates a core filter tree over one metadata dict in
plain Python. It is written from the semantics in the docstring of
:mod:`sqlitevec_store.filters` and deliberately shares no code with the SQL
compiler, so comparing the two finds bugs in either.

The tables (:data:`FILTER_CASES`, :data:`DICT_CASES`) hold hand-computed
expectations over :data:`FIXTURE_DOCS`; the tests check the tables against the
reference evaluator *and* the compiled SQL. :data:`SPEC_DISAGREEMENT_CASES`
holds cases where the current SQL is known to disagree with the specification
(kept apart so tests that reuse :data:`FILTER_CASES` against the store stay
green). :func:`random_filter` and :func:`random_metadata` generate random
trees and documents over a small vocabulary for property tests.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlitevec_store.filters import And, Comparison, Filter, Not, Op, Or

__all__ = [
    "DICT_CASES",
    "FILTER_CASES",
    "FIXTURE_DOCS",
    "INVALID_FILTERS",
    "INVALID_TREES",
    "RANDOM_KEYS",
    "SPEC_DISAGREEMENT_CASES",
    "DictCase",
    "FilterCase",
    "InvalidFilter",
    "InvalidTree",
    "like_regex",
    "reference_indices",
    "random_filter",
    "random_metadata",
    "reference_match",
]


# ---------------------------------------------------------------------------
# Reference evaluator (from the spec in sqlitevec_store/filters.py)
# ---------------------------------------------------------------------------

_NUMBER, _STRING, _BOOLEAN, _LIST, _OBJECT, _MISSING = "number", "string", "boolean", "list", "object", "missing"


def _kind(value: Any) -> str:
    """The spec's kind of a JSON value; ``None`` (JSON null) is *missing*."""
    if value is None:
        return _MISSING
    if isinstance(value, bool):  # before int: bool is an int subclass
        return _BOOLEAN
    if isinstance(value, (int, float)):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, (list, tuple)):
        return _LIST
    if isinstance(value, Mapping):
        return _OBJECT
    raise TypeError(f"not a JSON value: {value!r}")


def _equal(v: Any, x: Any) -> bool:
    """Spec equality: same scalar kind and equal value; lists/objects never equal."""
    kind = _kind(v)
    if kind not in (_NUMBER, _STRING, _BOOLEAN) or kind != _kind(x):
        return False
    return bool(v == x)


def like_regex(pattern: str) -> re.Pattern[str]:
    """Compile a SQL LIKE pattern into an anchored-by-fullmatch regex.

    ``%`` is any run (newlines included), ``_`` one character and a backslash
    makes the next character literal. The spec says nothing about a trailing
    lone backslash; it is taken as a literal backslash here.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                out.append(re.escape(pattern[i + 1]))
                i += 2
                continue
            out.append(re.escape("\\"))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _like(value: Any, pattern: str) -> bool:
    return isinstance(value, str) and like_regex(pattern).fullmatch(value) is not None


def _contains(v: Any, x: Any) -> bool:
    if _kind(v) == _LIST:
        return any(_equal(element, x) for element in v)
    return isinstance(v, str) and isinstance(x, str) and x in v


def _ordered(v: Any, x: Any, op: Op) -> bool:
    kv, kx = _kind(v), _kind(x)
    if not ((kv == kx == _NUMBER) or (kv == kx == _STRING)):
        return False
    if op is Op.GT:
        return bool(v > x)
    if op is Op.GTE:
        return bool(v >= x)
    if op is Op.LT:
        return bool(v < x)
    return bool(v <= x)


def _comparison_match(c: Comparison, metadata: Mapping[str, Any], columns: Mapping[str, Any] | None) -> bool:
    field = getattr(c, "field", "metadata")
    if field == "metadata":
        v = metadata.get(c.key)
    else:  # a record column (id / doc_id): a string, or NULL meaning missing
        if columns is None:
            raise ValueError(f"comparison on the {field!r} column needs columns=")
        v = columns.get(field)
    present = v is not None
    op, x = Op(c.op), c.value
    if op is Op.EXISTS:
        result = present == bool(x)
    elif op is Op.IS_EMPTY:
        result = (not present) or (isinstance(v, str) and v == "") or (isinstance(v, (list, tuple)) and len(v) == 0)
    elif op is Op.EQ:
        result = present and _equal(v, x)
    elif op is Op.NE:
        result = present and not _equal(v, x)
    elif op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        result = _ordered(v, x, op)
    elif op is Op.IN:
        result = present and any(_equal(v, item) for item in x)
    elif op is Op.NIN:
        result = present and not any(_equal(v, item) for item in x)
    elif op is Op.LIKE:
        result = _like(v, x)
    elif op is Op.ILIKE:
        result = isinstance(v, str) and _like(v.lower(), x.lower())
    elif op is Op.TEXT_MATCH:
        result = isinstance(v, str) and x in v
    elif op is Op.TEXT_MATCH_INSENSITIVE:
        result = isinstance(v, str) and x.lower() in v.lower()
    elif op is Op.CONTAINS:
        result = _contains(v, x)
    elif op is Op.ANY:
        result = any(_contains(v, item) for item in x)
    elif op is Op.ALL:
        result = present and all(_contains(v, item) for item in x)
    else:  # pragma: no cover - every Op is handled above
        raise AssertionError(f"unhandled operator {op!r}")
    # Spec: "... unless the comparison was built with missing_matches=True (then
    # it also matches every such document; exists and is_empty ignore the flag)".
    if c.missing_matches and not present and op not in (Op.EXISTS, Op.IS_EMPTY):
        return True
    return result


def reference_match(tree: Filter | None, metadata: Mapping[str, Any], columns: Mapping[str, Any] | None = None) -> bool:
    """Evaluate ``tree`` over one metadata dict, following the filters.py spec.

    ``columns`` maps record column names (``"id"``, ``"doc_id"``) to their
    values, for comparisons whose ``field`` is not ``"metadata"``.
    """
    if tree is None:
        return True
    if isinstance(tree, Comparison):
        return _comparison_match(tree, metadata, columns)
    if isinstance(tree, And):
        return all(reference_match(child, metadata, columns) for child in tree.filters)
    if isinstance(tree, Or):
        return any(reference_match(child, metadata, columns) for child in tree.filters)
    if isinstance(tree, Not):
        return not reference_match(tree.filter, metadata, columns)
    raise TypeError(f"not a filter node: {tree!r}")


def reference_indices(tree: Filter | None, docs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Sorted indices of ``docs`` that ``tree`` matches, per the reference."""
    return [i for i, doc in enumerate(docs) if reference_match(tree, doc)]


# ---------------------------------------------------------------------------
# Fixture documents
# ---------------------------------------------------------------------------

FIXTURE_DOCS: list[dict[str, Any]] = [
    # 0
    {"n": 1, "s": "apple", "b": True, "tags": ["red", "green"], "a.b": 1, "obj": {"x": 1}},
    # 1
    {"n": 1.0, "s": "Apple", "b": False, "tags": ["green"], "my key": "v1"},
    # 2: "a" is a nested dict, so the literal key "a.b" is missing here
    {"n": 2.5, "s": "banana", "b": None, "tags": [], "a": {"b": 1}},
    # 3
    {"n": "1", "s": "", "tags": ["1", 1, 2.0], "txt": "a*b?[c]"},
    # 4
    {"n": True, "s": "Ärger", "b": 1, "tags": "red green", "txt": "axxb"},
    # 5
    {"n": -3, "s": "straße", "b": "true", "tags": [True, "blue"], "txt": "50%_off"},
    # 6
    {"n": None, "s": "ÄRGER", "tags": None, "my key": "v2", "txt": "back\\slash"},
    # 7
    {},
    # 8
    {"n": 10, "s": "apple pie", "tags": [["red"], {"x": "red"}], "obj": {}, "a.b": "1", "txt": "line1\nline2"},
    # 9
    {"n": 0, "s": "Zebra", "b": True, "tags": ["red", "red"], "obj": [], "my key": "v1"},
    # 10
    {"n": 1e3, "s": "apple", "tags": ["Red", 1.5], "a.b": 1.0, "city": "İstanbul", "txt": "[c]"},
    # 11
    {"n": [1, 2], "s": ["apple"], "b": [True], "tags": ["x"], "city": "istanbul"},
    # 12
    {"n": {"v": 1}, "s": {"v": "apple"}, "b": {}, "tags": [], "my key": "", "txt": ""},
]

_ALL = list(range(len(FIXTURE_DOCS)))


def _but(*excluded: int) -> list[int]:
    return [i for i in _ALL if i not in excluded]


# ---------------------------------------------------------------------------
# Core-tree cases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterCase:
    """A core filter tree and the sorted FIXTURE_DOCS indices it must match."""

    name: str
    tree: Filter | None
    expected_indices: list[int]


def _c(key: str, op: Op, value: Any = None, missing_matches: bool = False) -> Comparison:
    return Comparison(key, op, value, missing_matches=missing_matches)


# Per-key values, for hand-checking the tables below:
#   n:    0:1  1:1.0  2:2.5  3:"1"  4:True  5:-3  6:null  7:-  8:10  9:0  10:1000.0  11:[1,2]  12:{v:1}
#   s:    0:"apple" 1:"Apple" 2:"banana" 3:"" 4:"Ärger" 5:"straße" 6:"ÄRGER" 7:- 8:"apple pie"
#         9:"Zebra" 10:"apple" 11:["apple"] 12:{v:"apple"}
#   b:    0:True 1:False 2:null 4:1 5:"true" 9:True 11:[True] 12:{}          (3,6,7,8,10 absent)
#   tags: 0:[red,green] 1:[green] 2:[] 3:["1",1,2.0] 4:"red green" 5:[True,"blue"] 6:null 7:-
#         8:[[red],{x:red}] 9:[red,red] 10:["Red",1.5] 11:["x"] 12:[]
#   a.b:  0:1  8:"1"  10:1.0          my key: 1:"v1" 6:"v2" 9:"v1" 12:""
#   txt:  3:"a*b?[c]" 4:"axxb" 5:"50%_off" 6:"back\slash" 8:"line1\nline2" 10:"[c]" 12:""
#   obj:  0:{x:1} 8:{} 9:[]           city: 10:"İstanbul" 11:"istanbul"
FILTER_CASES: list[FilterCase] = [
    FilterCase("none_matches_all", None, _ALL),
    # --- eq: kinds, int/float, bool vs number, "1" vs 1
    FilterCase("eq_int_matches_int_and_float", _c("n", Op.EQ, 1), [0, 1]),
    FilterCase("eq_float_matches_int_and_float", _c("n", Op.EQ, 1.0), [0, 1]),
    FilterCase("eq_string_one_not_number", _c("n", Op.EQ, "1"), [3]),
    FilterCase("eq_true_not_one", _c("n", Op.EQ, True), [4]),
    FilterCase("eq_false_not_zero", _c("n", Op.EQ, False), []),
    FilterCase("eq_bool_true", _c("b", Op.EQ, True), [0, 9]),
    FilterCase("eq_bool_false", _c("b", Op.EQ, False), [1]),
    FilterCase("eq_one_not_true", _c("b", Op.EQ, 1), [4]),
    FilterCase("eq_string_not_in_list_or_object", _c("s", Op.EQ, "apple"), [0, 10]),
    FilterCase("eq_empty_string", _c("s", Op.EQ, ""), [3]),
    FilterCase("eq_unicode_case_sensitive", _c("s", Op.EQ, "Ärger"), [4]),
    FilterCase("eq_large_float", _c("n", Op.EQ, 1000), [10]),
    FilterCase("eq_dotted_key_is_literal", _c("a.b", Op.EQ, 1), [0, 10]),
    FilterCase("eq_dotted_key_float", _c("a.b", Op.EQ, 1.0), [0, 10]),
    FilterCase("eq_dotted_key_string", _c("a.b", Op.EQ, "1"), [8]),
    FilterCase("eq_key_with_space", _c("my key", Op.EQ, "v1"), [1, 9]),
    FilterCase("eq_missing_matches", _c("my key", Op.EQ, "v1", missing_matches=True), _but(6, 12)),
    # --- ne
    FilterCase("ne_excludes_missing", _c("n", Op.NE, 1), [2, 3, 4, 5, 8, 9, 10, 11, 12]),
    FilterCase("ne_missing_matches", _c("n", Op.NE, 1, missing_matches=True), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    FilterCase("ne_bool", _c("b", Op.NE, True), [1, 4, 5, 11, 12]),
    FilterCase("ne_object_and_list_present", _c("obj", Op.NE, 1), [0, 8, 9]),
    FilterCase("ne_dotted_missing_matches", _c("a.b", Op.NE, 1, missing_matches=True), _but(0, 10)),
    # --- ordering
    FilterCase("gt_number", _c("n", Op.GT, 1), [2, 8, 10]),
    FilterCase("gte_number", _c("n", Op.GTE, 1), [0, 1, 2, 8, 10]),
    FilterCase("lt_number_excludes_bool_and_string", _c("n", Op.LT, 1), [5, 9]),
    FilterCase("lte_float", _c("n", Op.LTE, 1.0), [0, 1, 5, 9]),
    FilterCase("gt_float_bound", _c("n", Op.GT, 2.4999), [2, 8, 10]),
    FilterCase("lt_string_code_point", _c("s", Op.LT, "B"), [1, 3]),
    FilterCase("gte_string", _c("s", Op.GTE, "apple"), [0, 2, 4, 5, 6, 8, 10]),
    FilterCase("gt_string_prefix", _c("s", Op.GT, "apple"), [2, 4, 5, 6, 8]),
    FilterCase("gt_string_non_ascii_after_z", _c("s", Op.GT, "z"), [4, 6]),
    FilterCase("lt_string_only_strings", _c("n", Op.LT, "5"), [3]),
    FilterCase("gt_number_not_bool", _c("b", Op.GT, 0), [4]),
    FilterCase("gte_string_missing_matches", _c("s", Op.GTE, "Z", missing_matches=True), [0, 2, 4, 5, 6, 7, 8, 9, 10]),
    FilterCase("lt_dotted_key_missing_matches", _c("a.b", Op.LT, 5, missing_matches=True), _but(8)),
    FilterCase("lte_missing_matches", _c("n", Op.LTE, 0, missing_matches=True), [5, 6, 7, 9]),
    FilterCase("gt_string_missing_matches", _c("txt", Op.GT, "b", missing_matches=True), [0, 1, 2, 6, 7, 8, 9, 11]),
    # --- in / nin
    FilterCase("in_mixed_kinds", _c("n", Op.IN, [1, "1"]), [0, 1, 3]),
    FilterCase("in_bool_and_float", _c("n", Op.IN, [True, 2.5]), [2, 4]),
    FilterCase("in_empty", _c("n", Op.IN, []), []),
    FilterCase("in_strings", _c("s", Op.IN, ["apple", "Zebra", "nope"]), [0, 9, 10]),
    FilterCase("in_false_and_one", _c("b", Op.IN, [False, 1]), [1, 4]),
    FilterCase("in_missing_matches", _c("my key", Op.IN, ["v2"], missing_matches=True), _but(1, 9, 12)),
    FilterCase("nin_excludes_missing", _c("n", Op.NIN, [1, True]), [2, 3, 5, 8, 9, 10, 11, 12]),
    FilterCase(
        "nin_missing_matches", _c("n", Op.NIN, [1, True], missing_matches=True), [2, 3, 5, 6, 7, 8, 9, 10, 11, 12]
    ),
    FilterCase("nin_empty_is_present", _c("my key", Op.NIN, []), [1, 6, 9, 12]),
    FilterCase("nin_key_with_space_missing_matches", _c("my key", Op.NIN, ["v1"], missing_matches=True), _but(1, 9)),
    # --- like
    FilterCase("like_prefix_case_sensitive", _c("s", Op.LIKE, "app%"), [0, 8, 10]),
    FilterCase("like_underscore", _c("s", Op.LIKE, "_pple"), [0, 1, 10]),
    FilterCase("like_percent_matches_all_strings", _c("s", Op.LIKE, "%"), [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]),
    FilterCase("like_glob_chars_literal", _c("txt", Op.LIKE, "a*b?[c]"), [3]),
    FilterCase("like_two_wildcards", _c("txt", Op.LIKE, "a%b%"), [3, 4]),
    FilterCase("like_bracket_literal", _c("txt", Op.LIKE, "[c]"), [10]),
    FilterCase("like_escaped_percent_underscore", _c("txt", Op.LIKE, "50\\%\\_off"), [5]),
    FilterCase("like_escaped_inside_wildcards", _c("txt", Op.LIKE, "%\\%\\_%"), [5]),
    FilterCase("like_escaped_backslash", _c("txt", Op.LIKE, "back\\\\slash"), [6]),
    FilterCase("like_underscore_matches_newline", _c("txt", Op.LIKE, "line1_line2"), [8]),
    FilterCase("like_percent_spans_newline", _c("txt", Op.LIKE, "l%2"), [8]),
    FilterCase("like_question_mark_literal", _c("txt", Op.LIKE, "%?%"), [3]),
    FilterCase("like_empty_pattern", _c("txt", Op.LIKE, ""), [12]),
    FilterCase("like_escaped_ordinary_char", _c("txt", Op.LIKE, "\\a%"), [3, 4]),
    FilterCase("like_only_strings", _c("n", Op.LIKE, "1"), [3]),
    FilterCase("like_missing_matches", _c("txt", Op.LIKE, "%c]", missing_matches=True), [0, 1, 2, 3, 7, 9, 10, 11]),
    # --- ilike
    FilterCase("ilike_ascii", _c("s", Op.ILIKE, "APPLE"), [0, 1, 10]),
    FilterCase("ilike_unicode_umlaut", _c("s", Op.ILIKE, "ärger"), [4, 6]),
    FilterCase("ilike_unicode_pattern_upper", _c("s", Op.ILIKE, "%RGER"), [4, 6]),
    FilterCase("ilike_sharp_s_is_not_ss", _c("s", Op.ILIKE, "STRASSE"), []),
    FilterCase("ilike_sharp_s", _c("s", Op.ILIKE, "STRAßE"), [5]),
    FilterCase("ilike_dotted_capital_i_prefix", _c("city", Op.ILIKE, "i%"), [10, 11]),
    # "İ".lower() is "i" + COMBINING DOT ABOVE, so it is not plain "istanbul".
    FilterCase("ilike_dotted_capital_i_lowers_to_two_chars", _c("city", Op.ILIKE, "istanbul"), [11]),
    FilterCase("ilike_glob_chars_literal", _c("txt", Op.ILIKE, "A*B?[C]"), [3]),
    FilterCase("ilike_missing_matches", _c("s", Op.ILIKE, "z%", missing_matches=True), [7, 9]),
    # --- text_match / text_match_insensitive
    FilterCase("text_match_substring", _c("s", Op.TEXT_MATCH, "pple"), [0, 1, 8, 10]),
    FilterCase("text_match_empty_matches_all_strings", _c("s", Op.TEXT_MATCH, ""), [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]),
    FilterCase("text_match_no_wildcards", _c("txt", Op.TEXT_MATCH, "%_"), [5]),
    FilterCase("text_match_case_sensitive_unicode", _c("s", Op.TEXT_MATCH, "ä"), []),
    FilterCase("text_match_unicode", _c("s", Op.TEXT_MATCH, "Ä"), [4, 6]),
    FilterCase("text_match_backslash", _c("txt", Op.TEXT_MATCH, "k\\s"), [6]),
    FilterCase("text_match_missing_matches", _c("city", Op.TEXT_MATCH, "İst", missing_matches=True), _but(11)),
    FilterCase("text_match_insensitive_unicode", _c("s", Op.TEXT_MATCH_INSENSITIVE, "ÄR"), [4, 6]),
    FilterCase("text_match_insensitive_ascii", _c("s", Op.TEXT_MATCH_INSENSITIVE, "APPLE"), [0, 1, 8, 10]),
    FilterCase("text_match_insensitive_lower_to_upper", _c("s", Op.TEXT_MATCH_INSENSITIVE, "rge"), [4, 6]),
    FilterCase(
        "text_match_insensitive_missing_matches",
        _c("city", Op.TEXT_MATCH_INSENSITIVE, "STAN", missing_matches=True),
        _ALL,
    ),
    # --- contains: list membership vs substring
    FilterCase("contains_string_member_or_substring", _c("tags", Op.CONTAINS, "red"), [0, 4, 9]),
    FilterCase("contains_substring_only_for_strings", _c("tags", Op.CONTAINS, "ree"), [4]),
    FilterCase("contains_int_not_true", _c("tags", Op.CONTAINS, 1), [3]),
    FilterCase("contains_int_matches_float_element", _c("tags", Op.CONTAINS, 2), [3]),
    FilterCase("contains_true", _c("tags", Op.CONTAINS, True), [5]),
    FilterCase("contains_string_one", _c("tags", Op.CONTAINS, "1"), [3]),
    FilterCase("contains_float", _c("tags", Op.CONTAINS, 1.5), [10]),
    FilterCase("contains_on_strings_is_substring", _c("s", Op.CONTAINS, "pp"), [0, 1, 8, 10]),
    FilterCase("contains_list_element_or_substring", _c("s", Op.CONTAINS, "apple"), [0, 8, 10, 11]),
    FilterCase("contains_number_needs_list", _c("n", Op.CONTAINS, 1), [11]),
    FilterCase("contains_missing_matches", _c("tags", Op.CONTAINS, 1, missing_matches=True), [3, 6, 7]),
    # --- any
    FilterCase("any_mixed", _c("tags", Op.ANY, ["blue", 1.5]), [5, 10]),
    FilterCase("any_empty", _c("tags", Op.ANY, []), []),
    FilterCase("any_member_or_substring", _c("tags", Op.ANY, ["green", "x"]), [0, 1, 4, 11]),
    FilterCase("any_on_strings", _c("s", Op.ANY, ["pie", "ban"]), [2, 8]),
    FilterCase("any_missing_matches", _c("tags", Op.ANY, ["blue"], missing_matches=True), [5, 6, 7]),
    # --- all
    FilterCase("all_members", _c("tags", Op.ALL, ["red", "green"]), [0, 4]),
    FilterCase("all_empty_is_present", _c("tags", Op.ALL, []), [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12]),
    FilterCase("all_kinds", _c("tags", Op.ALL, [1, "1", 2]), [3]),
    FilterCase("all_missing_matches", _c("tags", Op.ALL, ["red"], missing_matches=True), [0, 4, 6, 7, 9]),
    # --- exists
    FilterCase("exists_true", _c("b", Op.EXISTS, True), [0, 1, 4, 5, 9, 11, 12]),
    FilterCase("exists_false_includes_null", _c("b", Op.EXISTS, False), [2, 3, 6, 7, 8, 10]),
    FilterCase("exists_dotted_key", _c("a.b", Op.EXISTS, True), [0, 8, 10]),
    FilterCase("exists_nested_parent_key", _c("a", Op.EXISTS, True), [2]),
    FilterCase("exists_false_key_with_space", _c("my key", Op.EXISTS, False), [0, 2, 3, 4, 5, 7, 8, 10, 11]),
    FilterCase("exists_empty_object_and_list", _c("obj", Op.EXISTS, True), [0, 8, 9]),
    FilterCase("exists_false_missing_matches", _c("b", Op.EXISTS, False, missing_matches=True), [2, 3, 6, 7, 8, 10]),
    # --- is_empty
    FilterCase("is_empty_list", _c("tags", Op.IS_EMPTY), [2, 6, 7, 12]),
    FilterCase("is_empty_string", _c("s", Op.IS_EMPTY), [3, 7]),
    FilterCase("is_empty_txt", _c("txt", Op.IS_EMPTY), [0, 1, 2, 7, 9, 11, 12]),
    FilterCase("is_empty_object_is_not_empty", _c("obj", Op.IS_EMPTY), [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]),
    FilterCase("is_empty_missing_matches", _c("s", Op.IS_EMPTY, missing_matches=True), [3, 7]),
    FilterCase("not_is_empty", Not(_c("my key", Op.IS_EMPTY)), [1, 6, 9]),
    # --- logic
    FilterCase("and_empty_matches_all", And([]), _ALL),
    FilterCase("or_empty_matches_none", Or([]), []),
    FilterCase("not_and_empty", Not(And([])), []),
    FilterCase("not_or_empty", Not(Or([])), _ALL),
    FilterCase("not_eq_includes_missing", Not(_c("n", Op.EQ, 1)), _but(0, 1)),
    FilterCase("not_over_missing_key", Not(_c("my key", Op.EQ, "v1")), _but(1, 9)),
    FilterCase("not_exists", Not(_c("a.b", Op.EXISTS, True)), _but(0, 8, 10)),
    FilterCase("not_ne", Not(_c("n", Op.NE, 1)), [0, 1, 6, 7]),
    FilterCase("not_ne_missing_matches", Not(_c("n", Op.NE, 1, missing_matches=True)), [0, 1]),
    FilterCase("not_like", Not(_c("s", Op.LIKE, "%e%")), [2, 3, 6, 7, 11, 12]),
    FilterCase("double_not", Not(Not(_c("s", Op.EQ, "apple"))), [0, 10]),
    FilterCase("and_range", And([_c("n", Op.GTE, 1), _c("n", Op.LTE, 10), Not(_c("n", Op.EQ, 10))]), [0, 1, 2]),
    FilterCase("or_two_keys", Or([_c("a.b", Op.EQ, "1"), _c("my key", Op.EQ, "")]), [8, 12]),
    FilterCase(
        "nested_and_or_not_3_deep",
        And(
            [
                Or([_c("s", Op.EQ, "apple"), Not(And([_c("n", Op.GT, 0), _c("n", Op.LT, 5)]))]),
                Not(Or([_c("b", Op.EQ, True), _c("tags", Op.IS_EMPTY)])),
            ]
        ),
        [3, 4, 5, 8, 10, 11],
    ),
    FilterCase(
        "nested_or_of_ands",
        Or(
            [
                And([_c("my key", Op.EXISTS, True), Not(_c("my key", Op.EQ, "v1"))]),
                And([_c("tags", Op.CONTAINS, "red"), Or([_c("b", Op.EQ, True), Not(_c("b", Op.EXISTS, True))])]),
            ]
        ),
        [0, 6, 9, 12],
    ),
    FilterCase("nested_single_children_4_deep", Not(And([Not(Or([Not(_c("n", Op.EQ, 1))]))])), _but(0, 1)),
    FilterCase(
        "nested_4_deep_with_missing_matches",
        Or(
            [
                And(
                    [
                        Not(Or([_c("n", Op.NIN, [1, 2.5], missing_matches=True), _c("s", Op.ILIKE, "a%")])),
                        _c("tags", Op.ALL, []),
                    ]
                ),
                And([_c("txt", Op.EXISTS, True), Not(_c("txt", Op.TEXT_MATCH, "a"))]),
            ]
        ),
        [2, 5, 8, 10, 12],
    ),
    FilterCase("and_with_empty_children", And([Or([]), _c("s", Op.EQ, "apple")]), []),
    FilterCase("or_with_empty_and", Or([And([]), Or([])]), _ALL),
]

# Cases where the spec and the compiled SQL once disagreed (now fixed); kept as regressions.
SPEC_DISAGREEMENT_CASES: list[FilterCase] = [
    # exists and is_empty ignore missing_matches: this is plain "b is present".
    FilterCase(
        "exists_true_missing_matches",
        _c("b", Op.EXISTS, True, missing_matches=True),
        [i for i, d in enumerate(FIXTURE_DOCS) if d.get("b") is not None],
    ),
]


# ---------------------------------------------------------------------------
# Dict-dialect cases (parse_filter_dict)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DictCase:
    """A dict-dialect filter and the sorted FIXTURE_DOCS indices it must match."""

    name: str
    spec: dict[str, Any]
    expected_indices: list[int]


DICT_CASES: list[DictCase] = [
    DictCase("empty_dict_matches_all", {}, _ALL),
    DictCase("implicit_eq", {"s": "apple"}, [0, 10]),
    DictCase("implicit_eq_true_not_one", {"n": True}, [4]),
    DictCase("two_keys_mean_and", {"n": 1, "b": True}, [0]),
    DictCase("two_operators_mean_and", {"n": {"$gt": 1, "$lte": 10}}, [2, 8]),
    DictCase("ne_never_matches_missing", {"n": {"$ne": 1}}, [2, 3, 4, 5, 8, 9, 10, 11, 12]),
    DictCase("nin_never_matches_missing", {"n": {"$nin": [1, True]}}, [2, 3, 5, 8, 9, 10, 11, 12]),
    DictCase("in", {"n": {"$in": [1, "1"]}}, [0, 1, 3]),
    DictCase("eq_operator_key_with_space", {"my key": {"$eq": "v1"}}, [1, 9]),
    DictCase("dotted_key_is_literal", {"a.b": 1}, [0, 10]),
    DictCase("gte_lt_strings", {"s": {"$gte": "a", "$lt": "b"}}, [0, 8, 10]),
    DictCase("like", {"s": {"$like": "app%"}}, [0, 8, 10]),
    DictCase("ilike_unicode", {"s": {"$ilike": "%RGER"}}, [4, 6]),
    DictCase("exists_false", {"b": {"$exists": False}}, [2, 3, 6, 7, 8, 10]),
    DictCase("exists_true", {"my key": {"$exists": True}}, [1, 6, 9, 12]),
    DictCase("contains_string", {"tags": {"$contains": "red"}}, [0, 4, 9]),
    DictCase("contains_number", {"tags": {"$contains": 1}}, [3]),
    DictCase("or", {"$or": [{"s": "apple"}, {"my key": "v2"}]}, [0, 6, 10]),
    DictCase("and_with_not", {"$and": [{"n": {"$gte": 1}}, {"$not": {"s": "apple"}}]}, [1, 2, 8]),
    DictCase("not_matches_missing", {"$not": {"b": True}}, _but(0, 9)),
    DictCase("and_empty", {"$and": []}, _ALL),
    DictCase("or_empty", {"$or": []}, []),
    DictCase("not_empty_dict", {"$not": {}}, []),
    DictCase(
        "nested_or_and_not",
        {
            "$or": [
                {"$and": [{"b": {"$exists": True}}, {"$not": {"b": {"$in": [True, False]}}}]},
                {"n": {"$lt": 0}},
            ]
        },
        [4, 5, 11, 12],
    ),
    DictCase("field_and_logical", {"s": "apple", "$or": [{"n": 1}, {"n": 1000}]}, [0, 10]),
]


# ---------------------------------------------------------------------------
# Invalid filters
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidFilter:
    """A dict-dialect input that ``parse_filter_dict`` must refuse."""

    name: str
    spec: Any


@dataclass(frozen=True)
class InvalidTree:
    """A core-tree construction that must raise."""

    name: str
    build: Callable[[], object]


INVALID_FILTERS: list[InvalidFilter] = [
    InvalidFilter("unknown_field_operator", {"n": {"$foo": 1}}),
    InvalidFilter("unknown_logical_operator", {"$foo": [{"n": 1}]}),
    InvalidFilter("operator_mixed_with_plain_key", {"n": {"$gt": 1, "y": 2}}),
    InvalidFilter("in_with_string", {"n": {"$in": "abc"}}),
    InvalidFilter("in_with_number", {"n": {"$in": 1}}),
    InvalidFilter("nin_with_dict", {"n": {"$nin": {"a": 1}}}),
    InvalidFilter("in_with_nested_list", {"n": {"$in": [[1]]}}),
    InvalidFilter("gt_with_bool", {"n": {"$gt": True}}),
    InvalidFilter("lte_with_list", {"n": {"$lte": [1]}}),
    InvalidFilter("like_with_number", {"n": {"$like": 5}}),
    InvalidFilter("exists_with_string", {"n": {"$exists": "yes"}}),
    InvalidFilter("key_with_double_quote", {'a"b': 1}),
    InvalidFilter("key_with_backslash", {"a\\b": 1}),
    InvalidFilter("key_with_control_char", {"a\nb": 1}),
    InvalidFilter("empty_key", {"": 1}),
    InvalidFilter("too_long_key", {"k" * 513: 1}),
    InvalidFilter("non_string_key", {1: 2}),
    InvalidFilter("nan_value", {"n": math.nan}),
    InvalidFilter("inf_value", {"n": {"$eq": math.inf}}),
    InvalidFilter("nan_in_list", {"n": {"$in": [1, math.nan]}}),
    InvalidFilter("int_out_of_range", {"n": {"$eq": 2**64}}),
    InvalidFilter("none_equality", {"n": None}),
    InvalidFilter("none_eq_operator", {"n": {"$eq": None}}),
    InvalidFilter("and_with_dict", {"$and": {"n": 1}}),
    InvalidFilter("or_with_string", {"$or": "n"}),
    InvalidFilter("and_with_non_dict_items", {"$and": [1]}),
    InvalidFilter("not_with_list", {"$not": [{"n": 1}]}),
    InvalidFilter("nested_object_value", {"n": {"x": 1}}),
    InvalidFilter("empty_object_value", {"n": {}}),
    InvalidFilter("list_value", {"n": [1, 2]}),
    InvalidFilter("bytes_value", {"n": b"x"}),
    InvalidFilter("not_a_dict", "n = 1"),
    InvalidFilter("invalid_deep_inside", {"$or": [{"s": "a"}, {"$and": [{"$not": {"n": {"$in": "x"}}}]}]}),
]

INVALID_TREES: list[InvalidTree] = [
    InvalidTree("unknown_op", lambda: Comparison("n", "foo", 1)),  # type: ignore[arg-type]
    InvalidTree("in_with_string", lambda: Comparison("n", Op.IN, "abc")),
    InvalidTree("gt_with_bool", lambda: Comparison("n", Op.GT, True)),
    InvalidTree("empty_key", lambda: Comparison("", Op.EQ, 1)),
    InvalidTree("key_with_double_quote", lambda: Comparison('a"b', Op.EQ, 1)),
    InvalidTree("non_string_key", lambda: Comparison(1, Op.EQ, 1)),  # type: ignore[arg-type]
    InvalidTree("nan", lambda: Comparison("n", Op.EQ, math.nan)),
    InvalidTree("none_equality", lambda: Comparison("n", Op.EQ, None)),
    InvalidTree("object_value", lambda: Comparison("n", Op.EQ, {"x": 1})),
    InvalidTree("list_value_for_eq", lambda: Comparison("n", Op.EQ, [1])),
    InvalidTree("exists_with_int", lambda: Comparison("n", Op.EXISTS, 1)),
    InvalidTree("text_match_with_number", lambda: Comparison("n", Op.TEXT_MATCH, 1)),
    InvalidTree("and_with_string", lambda: And("abc")),  # type: ignore[arg-type]
    InvalidTree("and_with_dict_child", lambda: And([{"n": 1}])),  # type: ignore[list-item]
    InvalidTree("or_with_single_node", lambda: Or(Comparison("n", Op.EQ, 1))),  # type: ignore[arg-type]
    InvalidTree("not_with_dict", lambda: Not({"n": 1})),  # type: ignore[arg-type]
]


# ---------------------------------------------------------------------------
# Random documents and filters
# ---------------------------------------------------------------------------

RANDOM_KEYS: list[str] = ["k", "n", "s", "tags", "a.b", "my key"]
_RANDOM_NUMBERS: list[int | float] = [-1, 0, 1, 2, 3, 0.5, 1.0, 2.0, -1.5, 10]
_RANDOM_STRINGS: list[str] = ["", "a", "A", "ab", "ba", "abc", "Ä", "ä", "ß", "x%y", "a*b", "[a]", "?", "\\", "1"]
_LIKE_PIECES: list[str] = ["%", "%", "_", "a", "A", "b", "ä", "Ä", "\\%", "\\_", "\\\\", "*", "?", "[", "x", "y", "ß"]


def _random_scalar(rng: random.Random) -> str | int | float | bool:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(_RANDOM_NUMBERS)
    if roll < 0.85:
        return rng.choice(_RANDOM_STRINGS)
    return rng.random() < 0.5


def _random_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.55:
        return _random_scalar(rng)
    if roll < 0.65:
        return None
    if roll < 0.9:
        return [_random_scalar(rng) for _ in range(rng.randint(0, 3))]
    if roll < 0.95:
        return [[_random_scalar(rng)]]
    return {"a": _random_scalar(rng)}


def random_metadata(rng: random.Random, keys: Sequence[str] = RANDOM_KEYS) -> dict[str, Any]:
    """A random metadata dict: each key absent (20%) or a random JSON value."""
    return {key: _random_value(rng) for key in keys if rng.random() >= 0.2}


def _random_like(rng: random.Random) -> str:
    return "".join(rng.choice(_LIKE_PIECES) for _ in range(rng.randint(0, 4)))


def _random_comparison(rng: random.Random, keys: Sequence[str]) -> Comparison:
    key = rng.choice(list(keys))
    op = rng.choice(list(Op))
    value: Any
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        value = rng.choice(_RANDOM_NUMBERS) if rng.random() < 0.6 else rng.choice(_RANDOM_STRINGS)
    elif op in (Op.IN, Op.NIN, Op.ANY, Op.ALL):
        value = [_random_scalar(rng) for _ in range(rng.randint(0, 3))]
    elif op in (Op.LIKE, Op.ILIKE):
        value = _random_like(rng)
    elif op in (Op.TEXT_MATCH, Op.TEXT_MATCH_INSENSITIVE):
        value = rng.choice(_RANDOM_STRINGS)
    elif op is Op.EXISTS:
        value = rng.random() < 0.5
    elif op is Op.IS_EMPTY:
        value = None
    else:  # eq, ne, contains
        value = _random_scalar(rng)
    # missing_matches on exists/is_empty is a known spec/SQL disagreement
    # (see SPEC_DISAGREEMENT_CASES); keep the random tests on the agreed part.
    missing_matches = op not in (Op.EXISTS, Op.IS_EMPTY) and rng.random() < 0.25
    return Comparison(key, op, value, missing_matches=missing_matches)


def random_filter(rng: random.Random, keys: Sequence[str] = RANDOM_KEYS, depth: int = 3) -> Filter:
    """A random filter tree at most ``depth`` logical levels deep over ``keys``."""
    if depth <= 0 or rng.random() < 0.35:
        return _random_comparison(rng, keys)
    roll = rng.random()
    if roll < 0.2:
        return Not(random_filter(rng, keys, depth - 1))
    children = [random_filter(rng, keys, depth - 1) for _ in range(rng.choice([0, 1, 2, 2, 3, 3]))]
    return And(children) if roll < 0.6 else Or(children)


def assert_random_filters_match(
    docs: Sequence[Mapping[str, Any]],
    filters: Sequence[Filter],
    sql_indices: Callable[[Filter], list[int]],
    *,
    rare_share: int,
) -> None:
    """Each filter selects in SQL (``sql_indices``) exactly the documents the reference evaluator selects.

    The filters must also include selective ones (at least 5 matching fewer than ``len(docs) // rare_share``
    documents, but some) and broad ones (at least 20 matching over half), or the comparison says little.
    """
    rare = common = 0
    for tree in filters:
        expected = reference_indices(tree, docs)
        got = sql_indices(tree)
        if got != expected:
            diff = sorted(set(got) ^ set(expected))
            example = docs[diff[0]]
            raise AssertionError(
                f"SQL and reference disagree on {len(diff)} documents for {tree!r}; "
                f"first: {example!r} (reference={reference_match(tree, example)})"
            )
        if 0 < len(expected) < len(docs) // rare_share:
            rare += 1
        if len(expected) > len(docs) // 2:
            common += 1
    # The generator must produce selective and broad filters, or the test is vacuous.
    assert rare >= 5, rare
    assert common >= 20, common
