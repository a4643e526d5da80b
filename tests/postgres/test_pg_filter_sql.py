"""The Postgres filter compiler against the spec's reference evaluator, on a real Postgres.

Mirrors tests/core/test_filters.py (the SQLite compiler): the same case tables,
the same random trees, plus what is particular to Postgres (psycopg
placeholders, ``jsonb`` containment, ``lower()``, NUL).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlitevec_store.backends.postgres.filter_sql import compile_filter, final_sigma_regex, like_pattern, lower_sql
from sqlitevec_store.backends.sqlite.filter_sql import compile_filter as compile_sqlite
from sqlitevec_store.errors import UnsupportedFilterError
from sqlitevec_store.filters import (
    MAX_DEPTH,
    MAX_FILTER_TERMS,
    And,
    Comparison,
    Filter,
    Not,
    Op,
    Or,
    parse_filter_dict,
)
from tests import pg_support
from tests.filter_cases import (
    DICT_CASES,
    FILTER_CASES,
    FIXTURE_DOCS,
    INVALID_TREES,
    RANDOM_KEYS,
    SPEC_DISAGREEMENT_CASES,
    DictCase,
    FilterCase,
    InvalidTree,
    assert_random_filters_match,
    like_regex,
    random_filter,
    random_metadata,
    reference_indices,
    reference_match,
)

psycopg = pytest.importorskip("psycopg")

Connection = Any  # psycopg.Connection[Any]; psycopg is an optional extra


@pytest.fixture(scope="module")
def conn() -> Iterator[Connection]:
    """One autocommit connection into a fresh schema for the whole module (dropped afterwards)."""
    with pg_support.schema_for_a_test() as url, psycopg.connect(url, autocommit=True) as connection:
        yield connection


def _fill(
    conn: Connection,
    table: str,
    docs: Sequence[Mapping[str, Any]],
    columns: Sequence[Mapping[str, str | None]] | None = None,
) -> None:
    """``table(pk, id, doc_id, metadata jsonb NOT NULL)`` holding ``docs`` (pk = index)."""
    columns_sql = "pk int PRIMARY KEY, id text NOT NULL, doc_id text, metadata jsonb NOT NULL"
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns_sql})")
    conn.execute(f"DELETE FROM {table}")
    rows = [
        (i, (columns[i]["id"] if columns else f"r{i}"), (columns[i]["doc_id"] if columns else None), json.dumps(doc))
        for i, doc in enumerate(docs)
    ]
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} (pk, id, doc_id, metadata) VALUES (%s, %s, %s, %s::jsonb)", rows)


def _sql_indices(conn: Connection, table: str, tree: Filter | None) -> list[int]:
    sql, params = compile_filter(tree)
    rows = conn.execute(f"SELECT pk FROM {table} WHERE {sql} ORDER BY pk", params).fetchall()
    return [int(r[0]) for r in rows]


def _one_doc_matches(conn: Connection, doc: Mapping[str, Any], tree: Filter) -> bool:
    _fill(conn, "one", [doc])
    return _sql_indices(conn, "one", tree) == [0]


@pytest.fixture(scope="module")
def fixture_conn(conn: Connection) -> Connection:
    _fill(conn, "fixture", FIXTURE_DOCS)
    return conn


# ---------------------------------------------------------------------------
# Case tables: the expected indices, unchanged
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", FILTER_CASES + SPEC_DISAGREEMENT_CASES, ids=lambda c: c.name)
def test_sql_matches_filter_table(fixture_conn: Connection, case: FilterCase) -> None:
    assert _sql_indices(fixture_conn, "fixture", case.tree) == case.expected_indices


@pytest.mark.parametrize("case", DICT_CASES, ids=lambda c: c.name)
def test_sql_matches_dict_table(fixture_conn: Connection, case: DictCase) -> None:
    assert _sql_indices(fixture_conn, "fixture", parse_filter_dict(case.spec)) == case.expected_indices


def test_no_filter_is_true() -> None:
    assert compile_filter(None) == ("TRUE", {})


@pytest.mark.parametrize("case", INVALID_TREES, ids=lambda c: c.name)
def test_invalid_trees_are_refused_before_compiling(case: InvalidTree) -> None:
    # The tree refuses them as it is built, for every backend alike.
    with pytest.raises((UnsupportedFilterError, TypeError)):
        case.build()


@pytest.mark.parametrize(
    "tree",
    [
        Or([Comparison(f"k{i}", Op.EQ, i) for i in range(MAX_FILTER_TERMS)]),
        And([Comparison("x", Op.GT, i) for i in range(MAX_FILTER_TERMS)]),
        Comparison("x", Op.ANY, list(range(MAX_FILTER_TERMS + 1))),
        And([Or([Comparison("x", Op.EQ, i), Comparison("y", Op.EQ, i)]) for i in range(MAX_FILTER_TERMS // 3 + 1)]),
        And([And([]) for _ in range(MAX_FILTER_TERMS)]),
    ],
    ids=["or_keys", "and_gt", "any", "and_of_ors", "empty_ands"],
)
def test_filters_past_the_term_limit_are_refused_like_sqlite(tree: Filter) -> None:
    message = f"at most {MAX_FILTER_TERMS} terms"
    with pytest.raises(UnsupportedFilterError, match=message) as on_postgres:
        compile_filter(tree)
    with pytest.raises(UnsupportedFilterError, match=message) as on_sqlite:
        compile_sqlite(tree)
    assert str(on_postgres.value) == str(on_sqlite.value)


def test_the_deepest_tree_compiles_and_runs(fixture_conn: Connection) -> None:
    tree: Filter = Comparison("n", Op.EQ, 1)
    for _ in range(MAX_DEPTH - 1):
        tree = Not(tree)
    assert tree.depth == MAX_DEPTH
    expected = reference_indices(tree, FIXTURE_DOCS)
    assert _sql_indices(fixture_conn, "fixture", tree) == expected
    with pytest.raises(UnsupportedFilterError, match=f"at most {MAX_DEPTH} levels"):
        Not(tree)


# ---------------------------------------------------------------------------
# Random trees over random documents, against the reference evaluator
# ---------------------------------------------------------------------------


def test_random_filters_match_reference(conn: Connection) -> None:
    rng = random.Random(20240601)
    docs = [random_metadata(rng) for _ in range(400)]
    filters = [random_filter(rng, RANDOM_KEYS, 3) for _ in range(400)]
    _fill(conn, "rand", docs)
    assert_random_filters_match(docs, filters, lambda tree: _sql_indices(conn, "rand", tree), rare_share=20)


# Hypothesis: any text (NUL only in filter values: jsonb cannot store it), any finite float, 64-bit ints.
_H_KEYS = st.sampled_from(["k", "n", "a.b", "my key", "Ä", "%(f0)s"])
_H_DOC_TEXT = st.one_of(
    st.text("aAbB%_\\*?[]äÄßİΣς \n1'", max_size=4),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=4),
)
_H_FILTER_TEXT = st.one_of(_H_DOC_TEXT, st.text("a\x00b", max_size=3))
_H_NUMBERS = st.one_of(
    st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
)
_H_DOC_SCALARS = st.one_of(st.booleans(), _H_NUMBERS, _H_DOC_TEXT)
_H_FILTER_SCALARS = st.one_of(st.booleans(), _H_NUMBERS, _H_FILTER_TEXT)
_H_METADATA = st.dictionaries(
    _H_KEYS,
    st.one_of(
        _H_DOC_SCALARS,
        st.none(),
        st.lists(_H_DOC_SCALARS, max_size=4),
        st.lists(st.lists(_H_DOC_SCALARS, max_size=2), max_size=2),
        st.dictionaries(st.sampled_from(["a", "k"]), _H_DOC_SCALARS, max_size=2),
    ),
    max_size=5,
)


@st.composite
def _h_comparisons(draw: st.DrawFn) -> Comparison:
    key = draw(_H_KEYS)
    op = draw(st.sampled_from(list(Op)))
    value: Any
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        value = draw(st.one_of(_H_NUMBERS, _H_FILTER_TEXT))
    elif op in (Op.IN, Op.NIN, Op.ANY, Op.ALL):
        value = draw(st.lists(_H_FILTER_SCALARS, max_size=3))
    elif op in (Op.LIKE, Op.ILIKE):
        value = draw(st.text("aAbäÄßİΣς%_\\*?[]1\x00", max_size=5))
    elif op in (Op.TEXT_MATCH, Op.TEXT_MATCH_INSENSITIVE):
        value = draw(_H_FILTER_TEXT)
    elif op is Op.EXISTS:
        value = draw(st.booleans())
    elif op is Op.IS_EMPTY:
        value = None
    else:
        value = draw(_H_FILTER_SCALARS)
    missing = op not in (Op.EXISTS, Op.IS_EMPTY) and draw(st.booleans())
    return Comparison(key, op, value, missing_matches=missing)


_H_FILTERS = st.recursive(
    _h_comparisons(),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(And),
        st.lists(children, max_size=3).map(Or),
        children.map(Not),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(_H_METADATA, min_size=1, max_size=6), tree=_H_FILTERS)
def test_hypothesis_sql_matches_reference(conn: Connection, docs: list[dict[str, Any]], tree: Filter) -> None:
    _fill(conn, "hyp", docs)
    assert _sql_indices(conn, "hyp", tree) == reference_indices(tree, docs)


_ID_COLUMNS: list[dict[str, str | None]] = [
    {"id": "a", "doc_id": "d1"},
    {"id": "b", "doc_id": None},
    {"id": "B", "doc_id": ""},
    {"id": "1", "doc_id": "d2"},
    {"id": "İd", "doc_id": "D1"},
    {"id": "50%_x", "doc_id": "d1"},
]


def _random_field_comparison(rng: random.Random) -> Comparison:
    field = rng.choice(["id", "doc_id"])
    op = rng.choice(list(Op))
    pool: list[Any] = ["a", "b", "B", "1", "d1", "D1", "d", "", "i", 1, True, 1.0, "%", "_1", "İD", "x"]
    value: Any
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        value = rng.choice([v for v in pool if not isinstance(v, bool)])
    elif op in (Op.IN, Op.NIN, Op.ANY, Op.ALL):
        value = rng.sample(pool, rng.randint(0, 3))
    elif op in (Op.LIKE, Op.ILIKE, Op.TEXT_MATCH, Op.TEXT_MATCH_INSENSITIVE):
        value = rng.choice(["a", "B", "%", "d_", "D%", "", "i%", "50\\%%", "x"])
    elif op is Op.EXISTS:
        value = rng.random() < 0.5
    elif op is Op.IS_EMPTY:
        value = None
    else:
        value = rng.choice(pool)
    missing = op not in (Op.EXISTS, Op.IS_EMPTY) and rng.random() < 0.3
    return Comparison("ignored", op, value, missing_matches=missing, field=field)


def test_id_and_doc_id_fields_match_reference(conn: Connection) -> None:
    docs: list[dict[str, Any]] = [{"n": i} for i in range(len(_ID_COLUMNS))]
    _fill(conn, "ids", docs, _ID_COLUMNS)
    rng = random.Random(11)
    for _ in range(300):
        tree: Filter = _random_field_comparison(rng)
        if rng.random() < 0.3:
            tree = Not(tree)
        if rng.random() < 0.3:
            tree = Or([tree, _random_field_comparison(rng)])
        expected = [i for i, d in enumerate(docs) if reference_match(tree, d, _ID_COLUMNS[i])]
        assert _sql_indices(conn, "ids", tree) == expected, tree


def test_expressions_are_never_null(conn: Connection) -> None:
    # TRUE or FALSE on every document, so NOT is exact: checked directly, not only through NOT.
    rng = random.Random(99)
    docs = [random_metadata(rng) for _ in range(100)] + FIXTURE_DOCS
    _fill(conn, "nulls", docs, [{"id": f"r{i}", "doc_id": None if i % 2 else "d"} for i in range(len(docs))])
    trees = [c.tree for c in FILTER_CASES if c.tree is not None]
    trees += [random_filter(rng, RANDOM_KEYS, 2) for _ in range(200)]
    trees += [_random_field_comparison(rng) for _ in range(100)]
    for tree in trees:
        sql, params = compile_filter(tree)
        nulls = conn.execute(f"SELECT count(*) FROM nulls WHERE ({sql}) IS NULL", params).fetchone()[0]
        assert nulls == 0, tree


def test_string_orderings_compare_by_code_point_whatever_the_collation() -> None:
    # pgserver's database is C.UTF-8, which sorts by code point anyway (no other locale is installed
    # here), so only the SQL can show that a database with a linguistic collation would too.
    for field in ("metadata", "id", "doc_id"):
        for op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
            sql, _params = compile_filter(Comparison("k", op, "a", field=field))
            assert re.search(r'COLLATE "C" (<|<=|>|>=) %\(f\d+\)s::text', sql), sql


# ---------------------------------------------------------------------------
# Postgres particulars: jsonb containment, numbers, lower(), NUL
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, tree, expected",
    [
        # @> below the top level is structural: a nested list is no element, a scalar no list
        ({"x": [[1]]}, Comparison("x", Op.CONTAINS, 1), False),
        ({"x": [[1], 2]}, Comparison("x", Op.CONTAINS, 2), True),
        ({"x": 1}, Comparison("x", Op.CONTAINS, 1), False),
        ({"x": [1]}, Comparison("x", Op.EQ, 1), False),
        ({"x": {"a": 1}}, Comparison("x", Op.CONTAINS, 1), False),
        ({"x": [{"a": 1}]}, Comparison("x", Op.CONTAINS, 1), False),
        ({"x": [1.0]}, Comparison("x", Op.CONTAINS, 1), True),
        ({"x": [True]}, Comparison("x", Op.CONTAINS, 1), False),
        ({"x": [1]}, Comparison("x", Op.CONTAINS, True), False),
        ({"x": ["1"]}, Comparison("x", Op.CONTAINS, 1), False),
        ({"x": "a1b"}, Comparison("x", Op.CONTAINS, "1"), True),
        ({"x": ["a1b"]}, Comparison("x", Op.CONTAINS, "1"), False),
        ({"x": [None]}, Comparison("x", Op.CONTAINS, "null"), False),
        ({"x": []}, Comparison("x", Op.ALL, []), True),
        ({"x": [[]]}, Comparison("x", Op.IS_EMPTY), False),
        ({"x": {}}, Comparison("x", Op.IS_EMPTY), False),
        # numbers: numeric, exact
        ({"x": 1e-300}, Comparison("x", Op.EQ, 1e-300), True),
        ({"x": 1.5e300}, Comparison("x", Op.GTE, 1.5e300), True),
        ({"x": 1.5e300}, Comparison("x", Op.GT, 1.5e300), False),
        ({"x": [4.9145406989106656e-101]}, Comparison("x", Op.CONTAINS, 4.9145406989106656e-101), True),
        ({"x": 2**53 + 1}, Comparison("x", Op.EQ, float(2**53)), False),
        ({"x": 2**53 + 1}, Comparison("x", Op.GT, float(2**53)), True),
        ({"x": 2**63 - 1}, Comparison("x", Op.IN, [2**63 - 1]), True),
        ({"x": -(2**63)}, Comparison("x", Op.LT, -(2**63) + 1), True),
        ({"x": 0.1}, Comparison("x", Op.EQ, 0.1), True),
        ({"x": 0.1 + 0.2}, Comparison("x", Op.EQ, 0.3), False),
        ({"x": -0.0}, Comparison("x", Op.EQ, 0), True),
        ({"x": 1}, Comparison("x", Op.GT, "0"), False),
        ({"x": "10"}, Comparison("x", Op.LT, 9), False),
        ({"x": True}, Comparison("x", Op.GT, 0), False),
        # strings by code point, whatever the database's collation
        ({"x": "a"}, Comparison("x", Op.LT, "B"), False),
        ({"x": "Z"}, Comparison("x", Op.LT, "a"), True),
        ({"x": "é"}, Comparison("x", Op.GT, "z"), True),
        ({"x": "\U0001f600"}, Comparison("x", Op.GT, "\uffff"), True),
        # like: a trailing lone backslash is literal
        ({"x": "a\\"}, Comparison("x", Op.LIKE, "a\\"), True),
        ({"x": "a"}, Comparison("x", Op.LIKE, "a\\"), False),
        ({"x": "a\\"}, Comparison("x", Op.LIKE, "a\\\\"), True),
        ({"x": "a\\b"}, Comparison("x", Op.ILIKE, "A\\"), False),
        ({"x": "%"}, Comparison("x", Op.LIKE, "\\%"), True),
    ],
)
def test_postgres_particulars_agree_with_reference(
    conn: Connection, doc: dict[str, Any], tree: Filter, expected: bool
) -> None:
    assert reference_match(tree, doc) is expected
    assert _one_doc_matches(conn, doc, tree) is expected
    assert _one_doc_matches(conn, doc, Not(tree)) is not expected


@pytest.mark.parametrize(
    "value, tree, expected",
    [
        ("İstanbul", Comparison("x", Op.ILIKE, "i̇stanbul"), True),
        ("İstanbul", Comparison("x", Op.ILIKE, "istanbul"), False),
        ("ΟΔΟΣ", Comparison("x", Op.ILIKE, "οδος"), True),
        ("ΟΔΟΣ", Comparison("x", Op.ILIKE, "οδοσ"), False),
        ("ΣΑΣ ΜΑΣ.", Comparison("x", Op.TEXT_MATCH_INSENSITIVE, "ς μας."), True),
        ("Σ", Comparison("x", Op.ILIKE, "\u03c3"), True),
        ("AΣ\u0301", Comparison("x", Op.ILIKE, "aς\u0301"), True),
        ("AΣ\u0301B", Comparison("x", Op.ILIKE, "a\u03c3\u0301b"), True),
        ("ǅ", Comparison("x", Op.ILIKE, "ǆ"), True),
        ("ẞ", Comparison("x", Op.TEXT_MATCH_INSENSITIVE, "ß"), True),
        ("ÄRGER", Comparison("x", Op.ILIKE, "ärger"), True),
    ],
)
def test_case_insensitive_operators_lower_like_python(
    conn: Connection, value: str, tree: Filter, expected: bool
) -> None:
    assert reference_match(tree, {"x": value}) is expected
    assert _one_doc_matches(conn, {"x": value}, tree) is expected


def _pg_lower(conn: Connection, values: list[str]) -> list[str]:
    sql = f"SELECT {lower_sql('v', '%(rx)s::text')} FROM unnest(%(vs)s::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i"
    return [r[0] for r in conn.execute(sql, {"rx": final_sigma_regex(), "vs": values}).fetchall()]


def test_lower_agrees_with_python_on_every_code_point(conn: Connection) -> None:
    # Measured on pgserver's Postgres 16 (C.UTF-8, glibc): lower() alone differs only on U+0130.
    characters = [chr(c) for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    lowered = _pg_lower(conn, characters)
    differences = [(ch, got) for ch, got in zip(characters, lowered, strict=True) if got != ch.lower()]
    assert differences == []


def test_lower_handles_final_sigma_like_python(conn: Connection) -> None:
    rng = random.Random(5)
    # sigmas, cased, case-ignorable (combining, modifier, apostrophe, soft hyphen), caseless; U+2160 ROMAN NUMERAL ONE
    alphabet = [*"ΣAa .'\u0301ʰ1ς\u03c3İǅ\u0345\u2160-\u00ad", "\U0001d400"]
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(5000)]
    assert sum("Σ" in v for v in values) > 500
    assert _pg_lower(conn, values) == [v.lower() for v in values]


def test_final_sigma_classes_are_what_python_lower_uses() -> None:
    # Probe str.lower itself: x is cased when "xΣ" ends in ς; case-ignorable when only "AxΣ" does.
    regex = final_sigma_regex()
    cased_class, ignorable_class = re.findall(r"\(\?<=(\[.*?\])(\[.*?\])\*\)", regex)[0]

    def members(bracket: str) -> set[int]:
        out: set[int] = set()
        for start, end in re.findall(r"\\[uU]([0-9a-f]+)(?:-\\[uU]([0-9a-f]+))?", bracket):
            out.update(range(int(start, 16), int(end or start, 16) + 1))
        return out

    cased, ignorable = members(cased_class), members(ignorable_class)
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        probe_cased = (ch + "Σ").lower().endswith("ς")
        probe_ignorable = not probe_cased and ("A" + ch + "Σ").lower().endswith("ς")
        assert (code in cased, code in ignorable) == (probe_cased, probe_ignorable), hex(code)


@pytest.mark.parametrize(
    "tree, expected",
    [
        (Comparison("x", Op.EQ, "a\x00b"), []),
        (Comparison("x", Op.NE, "a\x00b"), [0, 1, 2, 3]),
        (Comparison("x", Op.IN, ["a\x00b", "a"]), [0]),
        (Comparison("x", Op.IN, ["a\x00b"]), []),
        (Comparison("x", Op.NIN, ["a\x00b"]), [0, 1, 2, 3]),
        (Comparison("x", Op.LT, "a\x00b"), [0, 2]),
        (Comparison("x", Op.LTE, "a\x00b"), [0, 2]),
        (Comparison("x", Op.GT, "a\x00b"), [1]),
        (Comparison("x", Op.GTE, "a\x00"), [1]),
        (Comparison("x", Op.LIKE, "a\x00%"), []),
        (Comparison("x", Op.LIKE, "%\\\x00%"), []),
        (Comparison("x", Op.ILIKE, "A\x00"), []),
        (Comparison("x", Op.TEXT_MATCH, "\x00"), []),
        (Comparison("x", Op.TEXT_MATCH_INSENSITIVE, "\x00"), []),
        (Comparison("x", Op.CONTAINS, "\x00"), []),
        (Comparison("x", Op.ANY, ["\x00", "b"]), [1, 3]),
        (Comparison("x", Op.ALL, ["ab", "a\x00"]), []),
        (Comparison("x", Op.EQ, "a\x00b", missing_matches=True), [4]),
        (Not(Comparison("x", Op.EQ, "a\x00b")), [0, 1, 2, 3, 4]),
        (Comparison("x", Op.EQ, "a\x00b", field="id"), []),
        (Comparison("x", Op.GT, "r\x00", field="id"), [0, 1, 2, 3, 4]),
        (Comparison("x", Op.IN, ["r0", "r1\x00"], field="id"), [0]),
    ],
)
def test_nul_in_a_filter_value_compares_with_values_that_cannot_hold_one(
    conn: Connection, tree: Filter, expected: list[int]
) -> None:
    # jsonb (and text) cannot store NUL, so the documents hold none; the spec's answer needs no NUL in SQL.
    docs: list[dict[str, Any]] = [{"x": "a"}, {"x": "ab"}, {"x": ""}, {"x": ["a", "b"]}, {}]
    columns = [{"id": f"r{i}", "doc_id": None} for i in range(len(docs))]
    assert [i for i, doc in enumerate(docs) if reference_match(tree, doc, columns[i])] == expected
    _fill(conn, "nul", docs)
    _sql, params = compile_filter(tree)
    assert not any("\x00" in str(v) for v in params.values())
    assert _sql_indices(conn, "nul", tree) == expected


# ---------------------------------------------------------------------------
# SQL text: placeholders, determinism, nothing pasted, embedding
# ---------------------------------------------------------------------------


def _every_op_tree(key: str, text: str, number: int) -> Filter:
    return And(
        [
            Comparison(key, Op.EQ, text),
            Comparison(key, Op.NE, number, missing_matches=True),
            Comparison(key, Op.GT, number),
            Comparison(key, Op.GTE, text),
            Comparison(key, Op.LT, number),
            Comparison(key, Op.LTE, text),
            Comparison(key, Op.IN, [text, number, True]),
            Comparison(key, Op.NIN, [text, number]),
            Comparison(key, Op.LIKE, text),
            Comparison(key, Op.ILIKE, text),
            Comparison(key, Op.TEXT_MATCH, text),
            Comparison(key, Op.TEXT_MATCH_INSENSITIVE, text),
            Comparison(key, Op.CONTAINS, text),
            Comparison(key, Op.ANY, [text, number]),
            Comparison(key, Op.ALL, [text, number]),
            Comparison(key, Op.EXISTS, True),
            Comparison(key, Op.IS_EMPTY),
            Comparison(key, Op.EQ, text, field="id"),
            Comparison(key, Op.IN, [text, "x" * 3] * 40, field="doc_id"),
            Comparison(key, Op.IN, list(range(100))),
        ]
    )


_PLACEHOLDER = re.compile(r"%\(([A-Za-z_]\w*)\)s::(text|jsonb|numeric)")


def test_parameters_are_named_cast_and_all_used() -> None:
    sql, params = compile_filter(_every_op_tree("k", "v", 3), "m.metadata", prefix="q")
    used = set(_PLACEHOLDER.findall(sql))
    assert {name for name, _cast in used} == set(params)
    assert all(name.startswith("q") for name in params)
    assert "%" not in _PLACEHOLDER.sub("", sql)  # psycopg would read any other % as a placeholder
    assert "m.metadata" in sql


def test_compilation_is_deterministic() -> None:
    for case in FILTER_CASES:
        first = compile_filter(case.tree)
        assert compile_filter(case.tree) == first, case.name
    rng1, rng2 = random.Random(7), random.Random(7)
    for _ in range(50):
        # Equal trees built separately compile to the same SQL and parameters.
        assert compile_filter(random_filter(rng1)) == compile_filter(random_filter(rng2))


@pytest.mark.parametrize(
    "evil",
    [
        "x'); DROP TABLE victim;--",
        "%s",
        "%(f0)s",
        "%%",
        "'",
        "''",
        "$1",
        "Robert'); DELETE FROM victim; --",
        "日本語 ß İ",
        "\\",
        "a.b",
        "\U0001f600",
    ],
)
def test_values_and_keys_are_only_parameters(conn: Connection, evil: str) -> None:
    number = 987654321
    key = evil if "\\" not in evil else "back slash"  # keys may not hold a backslash (validate_filter_key)
    tree = Or([_every_op_tree(key, evil, number), _every_op_tree("k", evil, number)])
    sql, params = compile_filter(tree)
    if evil not in ("'", "''"):  # the SQL has quoted constants ('null', '')
        assert evil not in _PLACEHOLDER.sub("", sql)
    assert "DROP" not in sql and "DELETE" not in sql and str(number) not in sql
    assert "%" not in _PLACEHOLDER.sub("", sql)
    docs: list[dict[str, Any]] = [{key: evil}, {"k": evil}, {"k": 1}, {key: [evil, number]}]
    _fill(conn, "victim", docs)
    conn.execute(f"SELECT pk FROM victim WHERE {sql}", params).fetchall()
    assert conn.execute("SELECT count(*) FROM victim").fetchone()[0] == 4
    for probe in (
        tree,
        Comparison(key, Op.EQ, evil),
        Comparison("k", Op.EQ, evil),
        Comparison(key, Op.CONTAINS, number),
        Comparison(key, Op.LIKE, evil),
        Comparison(key, Op.ILIKE, evil),
        Comparison("k", Op.TEXT_MATCH_INSENSITIVE, evil),
        Comparison(key, Op.IN, [evil, "other"]),
        Comparison(key, Op.GTE, evil),
    ):
        assert _sql_indices(conn, "victim", probe) == reference_indices(probe, docs), probe


def test_control_characters_and_quotes_in_values(conn: Connection) -> None:
    docs: list[dict[str, Any]] = [{"k": "a\nb"}, {"k": 'say "hi"'}, {"k": "tab\there"}, {"k": "\x7f\x01"}]
    _fill(conn, "ctl", docs)
    for value in ("a\nb", 'say "hi"', "tab\there", "\x7f\x01", '"', "\t"):
        for op in (Op.EQ, Op.TEXT_MATCH, Op.LIKE, Op.ILIKE, Op.CONTAINS, Op.GTE):
            tree = Comparison("k", op, value)
            assert _sql_indices(conn, "ctl", tree) == reference_indices(tree, docs), tree


def test_compiled_filter_embeds_with_other_named_parameters(fixture_conn: Connection) -> None:
    sql, params = compile_filter(Comparison("s", Op.EQ, "apple"), "t.metadata", prefix="flt")
    rows = fixture_conn.execute(
        f"SELECT t.pk FROM fixture AS t WHERE t.pk > %(f0)s AND {sql} ORDER BY t.pk", {"f0": 0, **params}
    ).fetchall()
    assert [r[0] for r in rows] == [10]


# ---------------------------------------------------------------------------
# Size: long lists bind one value; a filter at the term limit is quick
# ---------------------------------------------------------------------------


def test_huge_in_lists_bind_as_one_array(conn: Connection) -> None:
    docs = [{"i": i, "s": f"v{i}", "f": i / 3} for i in range(300)]
    columns: list[dict[str, str | None]] = [{"id": f"id{i}", "doc_id": f"d{i % 7}"} for i in range(300)]
    _fill(conn, "huge", docs, columns)
    wanted = list(range(0, 300_000, 7))
    tree = Comparison("i", Op.IN, wanted)
    _sql, params = compile_filter(tree)
    assert len(params) == 2  # the key and one jsonb array
    start = time.perf_counter()
    assert _sql_indices(conn, "huge", tree) == list(range(0, 300, 7))
    strings = [f"v{i}" for i in range(0, 300_000, 5)]
    assert _sql_indices(conn, "huge", Comparison("s", Op.NIN, strings)) == [i for i in range(300) if i % 5]
    floats = [i / 3 for i in range(0, 200)]
    assert _sql_indices(conn, "huge", Comparison("f", Op.IN, floats)) == list(range(200))
    ids = [f"id{i}" for i in range(0, 100_000, 3)]
    id_tree = Comparison("id", Op.IN, ids, field="id")
    assert len(compile_filter(id_tree)[1]) == 1
    assert _sql_indices(conn, "huge", id_tree) == list(range(0, 300, 3))
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("width", [5_000, 100_000])
def test_wide_or_of_equalities_on_one_key_is_one_in(conn: Connection, width: int) -> None:
    docs = [{"x": i, "s": str(i)} for i in range(200)]
    _fill(conn, "wide", docs)
    spec = {"$or": [{"x": i} for i in range(width)] + [{"s": {"$in": ["3", "7"]}}, {"s": "1"}]}
    tree = parse_filter_dict(spec)
    sql, params = compile_filter(tree)
    assert sql.count(" OR ") < 10 and len(params) < 10
    and_tree = parse_filter_dict({"$and": [{"x": {"$ne": i}} for i in range(width)] + [{"x": {"$nin": [-1]}}]})
    start = time.perf_counter()
    assert len(_sql_indices(conn, "wide", tree)) == 200
    assert _sql_indices(conn, "wide", and_tree) == []
    assert time.perf_counter() - start < 20  # under a second idle; loose for loaded CI machines


def test_a_filter_at_the_term_limit_compiles_and_runs_quickly(conn: Connection) -> None:
    docs = [{"x": i, f"k{i}": i} for i in range(2000)]
    _fill(conn, "lim", docs)
    tree = Or(
        [Comparison(f"k{i}", Op.EQ, i + 1) for i in range(MAX_FILTER_TERMS - 3)]
        + [Comparison("x", Op.LT, 3), Comparison("x", Op.ILIKE, "a%")]
    )
    start = time.perf_counter()
    sql, params = compile_filter(tree)
    compiled = time.perf_counter() - start
    rows = conn.execute(f"SELECT pk FROM lim WHERE {sql} ORDER BY pk", params).fetchall()
    seconds = time.perf_counter() - start
    assert [r[0] for r in rows] == [0, 1, 2]
    assert compiled < 2 and seconds < 15, (compiled, seconds)  # 0.06 s and about 1 s idle
    wide_contains = Comparison("x", Op.ANY, list(range(MAX_FILTER_TERMS)))
    assert len(_sql_indices(conn, "lim", wide_contains)) == 0  # x is a number, not a list


# ---------------------------------------------------------------------------
# like_pattern
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, postgres",
    [
        ("", ""),
        ("a%b_c", "a%b_c"),
        ("\\%", "\\%"),
        ("a\\", "a\\\\"),
        ("a\\\\", "a\\\\"),
        ("a\\\\\\", "a\\\\\\\\"),
        ("\\", "\\\\"),
    ],
)
def test_like_pattern(spec: str, postgres: str) -> None:
    assert like_pattern(spec) == postgres


def test_like_pattern_agrees_with_like_semantics(conn: Connection) -> None:
    rng = random.Random(3)
    alphabet = "ab%_\\*?[]^!-\nÄ"
    pairs = [
        (
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))),
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))),
        )
        for _ in range(3000)
    ]
    rows = conn.execute(
        "SELECT v LIKE p FROM unnest(%(vs)s::text[], %(ps)s::text[]) WITH ORDINALITY AS u(v, p, i) ORDER BY i",
        {"vs": [v for v, _ in pairs], "ps": [like_pattern(p) for _, p in pairs]},
    ).fetchall()
    for (value, pattern), (matched,) in zip(pairs, rows, strict=True):
        assert matched == (like_regex(pattern).fullmatch(value) is not None), (pattern, value)
