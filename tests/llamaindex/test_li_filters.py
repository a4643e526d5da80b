"""Filters: the store against a brute-force evaluation with LlamaIndex's own rules."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn
from pydantic import ValidationError

from llamaindex_sqlitevec import SQLiteVecVectorStore
from llamaindex_sqlitevec.filters import MAX_GROUP_DEPTH, metadata_filters_to_core
from sqlitevec_store import And, Comparison, Filter, Not, Op, Or, UnsupportedFilterError
from tests.filter_cases import FILTER_CASES, FIXTURE_DOCS, RANDOM_KEYS, random_metadata
from tests.llamaindex.reference import brute_force, filter_view, matches

F = FilterOperator
C = FilterCondition
DIM = 16
N_NODES = 400
RARE_COUNT = 3  # under 1% of the corpus

STRINGS = ["", "a", "A", "ab", "ba", "abc", "Ä", "ä", "ß", "x%y", "1", "needle", "d1", "d2", "None", "d"]
NUMBERS: list[int | float] = [-1, 0, 1, 2, 3, 0.5, 1.0, 2.0, -1.5, 10]
KEYS = [*RANDOM_KEYS, "rare", "absent", "doc_id", "ref_doc_id", "document_id"]
SCALAR_ONLY = {F.EQ, F.NE, F.GT, F.GTE, F.LT, F.LTE, F.CONTAINS}


def unit(rng: np.random.Generator, n: int = DIM) -> list[float]:
    v = rng.standard_normal(n)
    return [float(x) for x in v / np.linalg.norm(v)]


def make_corpus(seed: int, n: int) -> list[TextNode]:
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed)
    rare = set(rng.sample(range(n), RARE_COUNT))
    nodes = []
    for i in range(n):
        metadata = random_metadata(rng)
        if i in rare:
            metadata["rare"] = "needle"
        relationships = {}
        if rng.random() < 0.8:
            relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"d{rng.randint(0, 4)}")
        nodes.append(
            TextNode(
                id_=f"n{i:04d}",
                text=f"node {i}",
                metadata=metadata,
                relationships=relationships,
                embedding=unit(vectors),
            )
        )
    return nodes


@pytest.fixture(scope="module")
def corpus() -> Iterator[tuple[SQLiteVecVectorStore, list[TextNode], list[dict[str, Any]]]]:
    nodes = make_corpus(7, N_NODES)
    store = SQLiteVecVectorStore()
    store.add(nodes)
    try:
        yield store, nodes, [filter_view(n) for n in nodes]
    finally:
        store.close()


def check(
    corpus: tuple[SQLiteVecVectorStore, list[TextNode], list[dict[str, Any]]],
    filters: MetadataFilters | None,
    *,
    top_k: int = 10,
    seed: int = 0,
) -> list[str]:
    store, nodes, views = corpus
    query = unit(np.random.default_rng(seed))
    expected_ids, expected_sims = brute_force(nodes, query, top_k, filters, views=views)
    result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=top_k, filters=filters))
    assert result.ids == expected_ids, filters
    assert result.nodes is not None and [n.node_id for n in result.nodes] == expected_ids
    assert result.similarities is not None
    np.testing.assert_allclose(result.similarities, expected_sims, atol=1e-5)
    return expected_ids


def leaf(key: str, op: FilterOperator, value: Any) -> MetadataFilter:
    return MetadataFilter(key=key, operator=op, value=value)


def group(*filters: MetadataFilter | MetadataFilters, condition: FilterCondition = C.AND) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


# ---------------------------------------------------------------------------
# Every operator, every condition
# ---------------------------------------------------------------------------

VALUES: list[Any] = [
    "a",
    "ab",
    "",
    "needle",
    "None",
    "d1",
    1,
    0,
    2.5,
    -1.5,
    None,
    ["a", "ab"],
    [],
    [1, 2],
    [0.5, 1.0],
    ["d1", "None"],
]


@pytest.mark.parametrize("op", list(FilterOperator))
def test_every_operator_matches_llamaindex(corpus: Any, op: FilterOperator) -> None:
    for value in VALUES:
        if op in SCALAR_ONLY and isinstance(value, list):
            continue
        for key in ("k", "s", "tags", "doc_id", "absent"):
            check(corpus, group(leaf(key, op, value)), top_k=120)


@pytest.mark.parametrize("condition", list(FilterCondition))
@pytest.mark.parametrize("op", list(FilterOperator))
def test_every_condition_with_every_operator(corpus: Any, condition: FilterCondition, op: FilterOperator) -> None:
    value: Any = ["a", "abc"] if op in (F.IN, F.NIN, F.ANY, F.ALL) else "a"
    filters = group(leaf("s", op, value), leaf("k", F.NE, 1), leaf("tags", F.CONTAINS, "ab"), condition=condition)
    check(corpus, filters, top_k=50)


def test_empty_filters_match_everything(corpus: Any) -> None:
    assert len(check(corpus, MetadataFilters(filters=[]), top_k=N_NODES)) == N_NODES
    for condition in FilterCondition:
        nested = group(group(condition=condition), leaf("k", F.EQ, 1), condition=C.AND)
        check(corpus, nested, top_k=N_NODES)


def test_nested_filters_at_depth(corpus: Any) -> None:
    deep = group(
        group(
            group(leaf("k", F.GT, 0), leaf("s", F.TEXT_MATCH, "a"), condition=C.OR),
            group(group(leaf("tags", F.ANY, ["a", "b"]), condition=C.NOT), leaf("doc_id", F.NE, "d1")),
            condition=C.AND,
        ),
        group(leaf("n", F.IS_EMPTY, None), condition=C.NOT),
        condition=C.AND,
    )
    ids = check(corpus, deep, top_k=N_NODES)
    assert 0 < len(ids) < N_NODES


def _worst_case_nesting(levels: int) -> MetadataFilters:
    """``levels`` groups, each a NOT of two filters (two core levels), around the deepest leaf."""
    # NIN with a string on doc_id translates to the deepest leaf (six core levels).
    tree = group(leaf("doc_id", F.NIN, "d1"), leaf("k", F.GT, 2), condition=C.NOT)
    for n in range(levels - 1):
        tree = group(tree, leaf("k", F.NE, n), condition=C.NOT)
    return tree


def test_the_deepest_allowed_filters_work(corpus: Any) -> None:
    deepest = _worst_case_nesting(MAX_GROUP_DEPTH)
    check(corpus, deepest, top_k=N_NODES)
    store, _nodes, _views = corpus
    # doc_ids / node_ids add one more AND level in the store: still within the core's limit.
    query = VectorStoreQuery(
        query_embedding=unit(np.random.default_rng(0)), similarity_top_k=5, filters=deepest, doc_ids=["d1", "d2"]
    )
    store.query(query, strict_node_ids=True)


@pytest.mark.parametrize("levels", [MAX_GROUP_DEPTH + 1, 65, 1_000, 10_000])
@pytest.mark.parametrize("condition", [C.NOT, C.AND, C.OR])
def test_deeper_filters_are_refused_not_recursion_error(corpus: Any, levels: int, condition: FilterCondition) -> None:
    # Was: NOT 65 deep "at most 64 levels", 1,000 deep RecursionError.
    tree = group(leaf("k", F.EQ, 1), condition=condition)
    for _ in range(levels - 1):
        tree = group(tree, condition=condition)
    with pytest.raises(UnsupportedFilterError, match=f"at most {MAX_GROUP_DEPTH} levels"):
        metadata_filters_to_core(tree)
    store, _nodes, _views = corpus
    with pytest.raises(UnsupportedFilterError, match=f"at most {MAX_GROUP_DEPTH} levels"):
        store.query(VectorStoreQuery(query_embedding=unit(np.random.default_rng(0)), similarity_top_k=3, filters=tree))
    with pytest.raises(UnsupportedFilterError, match=f"at most {MAX_GROUP_DEPTH} levels"):
        metadata_filters_to_core(_worst_case_nesting(MAX_GROUP_DEPTH + 1))


# ---------------------------------------------------------------------------
# Random filters, random corpus
# ---------------------------------------------------------------------------


def random_leaf(rng: random.Random) -> MetadataFilter:
    key = rng.choice(KEYS)
    op = rng.choice(list(FilterOperator))
    while True:
        roll = rng.random()
        value: Any
        if roll < 0.1:
            value = None
        elif roll < 0.45:
            value = rng.choice(STRINGS)
        elif roll < 0.7:
            value = rng.choice(NUMBERS)
        elif roll < 0.8:
            value = [rng.choice(STRINGS) for _ in range(rng.randint(0, 3))]
        elif roll < 0.9:
            value = [rng.choice([-1, 0, 1, 2, 3, 10]) for _ in range(rng.randint(0, 3))]
        else:
            value = [rng.choice([0.5, 1.0, 2.0, -1.5]) for _ in range(rng.randint(1, 3))]
        if (op in SCALAR_ONLY and isinstance(value, list)) or (op is F.CONTAINS and value is None):
            continue  # documented as unsupported / different; tested apart
        try:
            return leaf(key, op, value)
        except ValidationError:
            continue


def random_filters(rng: random.Random, depth: int = 3) -> MetadataFilters:
    children: list[MetadataFilter | MetadataFilters] = []
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
        if depth > 0 and rng.random() < 0.3:
            children.append(random_filters(rng, depth - 1))
        else:
            children.append(random_leaf(rng))
    return group(*children, condition=rng.choice(list(FilterCondition)))


def test_random_filters_match_brute_force(corpus: Any) -> None:
    rng = random.Random(1234)
    sizes = []
    for n in range(400):
        filters = random_filters(rng)
        top_k = rng.choice([1, 3, 10, 25])
        sizes.append(len(check(corpus, filters, top_k=top_k, seed=n)))
    # The random filters are not all trivial: some match nothing, some are cut at top_k.
    assert 0 in sizes and 25 in sizes


def test_random_trees_matching_under_one_percent(corpus: Any) -> None:
    _, _, views = corpus
    rng = random.Random(77)
    rare_leaves = [
        leaf("rare", F.EQ, "needle"),
        leaf("rare", F.TEXT_MATCH_INSENSITIVE, "NEED"),
        leaf("rare", F.IN, ["needle", "pin"]),
        leaf("rare", F.CONTAINS, "eed"),
    ]
    selective = 0
    for n in range(100):
        filters = group(rng.choice(rare_leaves), random_filters(rng, depth=2), condition=C.AND)
        count = sum(matches(filters, view) for view in views)
        assert count <= RARE_COUNT < N_NODES / 100
        ids = check(corpus, filters, top_k=rng.choice([1, 2, 10]), seed=n)
        selective += bool(ids)
    assert selective > 20


def test_selective_filter_returns_exactly_top_k() -> None:
    nodes = make_corpus(99, 3000)
    rng = random.Random(5)
    for node in rng.sample(nodes, 25):  # under 1%
        node.metadata["topic"] = "sqlite"
    store = SQLiteVecVectorStore()
    store.add(nodes)
    views = [filter_view(n) for n in nodes]
    query = unit(np.random.default_rng(3))
    for filters, top_k, count in [
        (group(leaf("topic", F.EQ, "sqlite")), 10, 10),
        (group(leaf("topic", F.EQ, "sqlite")), 40, 25),
        (group(leaf("topic", F.IN, ["sqlite", "x"]), leaf("rare", F.EQ, "needle"), condition=C.OR), 10, 10),
        (group(group(leaf("topic", F.NIN, ["sqlite"]), condition=C.NOT)), 10, 10),
        (group(leaf("rare", F.TEXT_MATCH, "need")), 10, RARE_COUNT),
    ]:
        result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=top_k, filters=filters))
        expected_ids, expected_sims = brute_force(nodes, query, top_k, filters, views=views)
        assert len(result.ids or []) == count
        assert result.ids == expected_ids
        np.testing.assert_allclose(result.similarities or [], expected_sims, atol=1e-5)


def lookup(view: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    return lambda _: view


def test_oracle_agrees_with_build_metadata_filter_fn_on_flat_filters(corpus: Any) -> None:
    """Sanity check of the reference: on flat filters that do not raise, it is LlamaIndex's function."""
    _, _, views = corpus
    rng = random.Random(8)
    compared = 0
    for _ in range(300):
        filters = group(*(random_leaf(rng) for _ in range(rng.randint(1, 3))), condition=rng.choice(list(C)))
        for view in views[:50]:
            try:
                expected = build_metadata_filter_fn(lookup(view), filters)("x")
            except (TypeError, ValueError):
                continue
            assert matches(filters, view) == expected
            compared += 1
    assert compared > 5000


# ---------------------------------------------------------------------------
# doc_ids / node_ids
# ---------------------------------------------------------------------------


def test_doc_ids_and_node_ids_restrict_before_top_k(corpus: Any) -> None:
    store, nodes, _ = corpus
    query = unit(np.random.default_rng(11))
    in_d1 = [n for n in nodes if n.ref_doc_id == "d1"]
    result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=5, doc_ids=["d1"]))
    assert result.ids == brute_force(in_d1, query, 5)[0]

    chosen = [nodes[i] for i in range(0, N_NODES, 37)]
    result = store.query(
        VectorStoreQuery(query_embedding=query, similarity_top_k=100, node_ids=[n.node_id for n in chosen])
    )
    assert result.ids == brute_force(chosen, query, 100)[0]

    both = [n for n in chosen if n.ref_doc_id in ("d1", "d2")]
    filters = group(leaf("k", F.NE, 1))
    result = store.query(
        VectorStoreQuery(
            query_embedding=query,
            similarity_top_k=100,
            node_ids=[n.node_id for n in chosen],
            doc_ids=["d1", "d2"],
            filters=filters,
        )
    )
    assert result.ids == brute_force(both, query, 100, filters)[0]


def test_empty_id_lists_do_not_restrict(corpus: Any) -> None:
    store, nodes, _ = corpus
    query = unit(np.random.default_rng(12))
    result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=5, node_ids=[], doc_ids=[]))
    assert result.ids == brute_force(nodes, query, 5)[0]


def test_filters_on_ref_doc_keys_use_the_column(corpus: Any) -> None:
    _, nodes, _ = corpus
    without = [n.node_id for n in nodes if n.ref_doc_id is None]
    assert without
    for key in ("doc_id", "ref_doc_id", "document_id"):
        # LlamaIndex writes the string "None" for nodes without a source document.
        assert sorted(check(corpus, group(leaf(key, F.EQ, "None")), top_k=N_NODES)) == without
        assert len(check(corpus, group(leaf(key, F.IN, ["d1", "d3"])), top_k=N_NODES)) > 0


# ---------------------------------------------------------------------------
# The shared core filter table, through LlamaIndex filters
# ---------------------------------------------------------------------------

_OPS = {
    Op.EQ: F.EQ,
    Op.NE: F.NE,
    Op.GT: F.GT,
    Op.GTE: F.GTE,
    Op.LT: F.LT,
    Op.LTE: F.LTE,
    Op.IN: F.IN,
    Op.NIN: F.NIN,
    Op.TEXT_MATCH: F.TEXT_MATCH,
    Op.TEXT_MATCH_INSENSITIVE: F.TEXT_MATCH_INSENSITIVE,
    Op.CONTAINS: F.CONTAINS,
    Op.ANY: F.ANY,
    Op.ALL: F.ALL,
    Op.IS_EMPTY: F.IS_EMPTY,
}


class NotExpressible(Exception):
    pass


def to_llamaindex(tree: Filter) -> MetadataFilter | MetadataFilters:
    if isinstance(tree, Comparison):
        if tree.field != "metadata" or tree.op not in _OPS:
            raise NotExpressible
        value = list(tree.value) if isinstance(tree.value, tuple) else tree.value
        try:
            return MetadataFilter(key=tree.key, operator=_OPS[tree.op], value=value)
        except ValidationError:  # booleans, mixed lists
            raise NotExpressible from None
    if isinstance(tree, And):
        return group(*(to_llamaindex(c) for c in tree.filters), condition=C.AND)
    if isinstance(tree, Or):
        return group(*(to_llamaindex(c) for c in tree.filters), condition=C.OR)
    if isinstance(tree, Not):
        return group(to_llamaindex(tree.filter), condition=C.NOT)
    raise NotExpressible


def test_shared_filter_cases_through_llamaindex_filters() -> None:
    """Run tests/filter_cases.py's FILTER_CASES that LlamaIndex filters can express.

    Every expressible case must give what the LlamaIndex reference gives; where
    LlamaIndex's semantics coincide with the core table's (same indices), that
    is the table's expectation too.
    """
    rng = np.random.default_rng(0)
    nodes = [
        TextNode(id_=str(i), text=f"doc {i}", metadata=doc, embedding=unit(rng)) for i, doc in enumerate(FIXTURE_DOCS)
    ]
    store = SQLiteVecVectorStore()
    store.add(nodes)
    views = [filter_view(n) for n in nodes]
    query = unit(rng)
    run = agreeing = 0
    for case in FILTER_CASES:
        if case.tree is None:
            continue
        try:
            converted = to_llamaindex(case.tree)
        except NotExpressible:
            continue
        filters = converted if isinstance(converted, MetadataFilters) else group(converted)
        result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=len(nodes), filters=filters))
        got = sorted(int(i) for i in result.ids or [])
        reference = [i for i, view in enumerate(views) if matches(filters, view)]
        assert got == reference, case.name
        run += 1
        if reference == case.expected_indices:
            agreeing += 1
    assert run >= 60 and agreeing >= 40, (run, agreeing)


# ---------------------------------------------------------------------------
# Unsupported filters and the documented differences
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        leaf("k", F.EQ, [1, 2]),
        leaf("k", F.NE, ["a"]),
        leaf("k", F.GT, [1]),
        leaf("tags", F.CONTAINS, ["a"]),
        leaf("s", F.IN, "x" * 101),
        leaf("s", F.NIN, "x" * 101),
        leaf('a"b', F.EQ, 1),
        leaf("", F.EQ, 1),
    ],
    ids=lambda f: f"{f.operator.name}-{f.key[:5]}",
)
def test_unsupported_filters_raise(store: SQLiteVecVectorStore, bad: MetadataFilter) -> None:
    store.add([TextNode(id_="a", text="a", embedding=[1.0, 0.0])])
    nested = group(group(bad, condition=C.NOT))
    with pytest.raises(UnsupportedFilterError):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0.0], filters=nested))
    with pytest.raises(ValueError):
        store.get_nodes(filters=group(bad))


def test_text_match_on_non_strings_is_no_match_not_an_error(store: SQLiteVecVectorStore) -> None:
    store.add(
        [
            TextNode(id_="num", text="a", metadata={"v": 5}, embedding=[1.0, 0.0]),
            TextNode(id_="str", text="b", metadata={"v": "x5x"}, embedding=[0.0, 1.0]),
        ]
    )
    with pytest.raises(TypeError):  # LlamaIndex's own function raises here
        build_metadata_filter_fn(lambda _: {"v": 5}, group(leaf("v", F.TEXT_MATCH, "5")))("num")
    found = store.get_nodes(filters=group(leaf("v", F.TEXT_MATCH, "5")))
    assert [n.node_id for n in found] == ["str"]
    negated = store.get_nodes(filters=group(leaf("v", F.TEXT_MATCH, "5"), condition=C.NOT))
    assert [n.node_id for n in negated] == ["num"]


def test_documented_differences(store: SQLiteVecVectorStore) -> None:
    store.add(
        [
            TextNode(id_="obj", text="a", metadata={"v": {"key": 1}}, embedding=[1.0, 0.0]),
            TextNode(id_="nulls", text="b", metadata={"v": [None, 1]}, embedding=[0.0, 1.0]),
        ]
    )
    # LlamaIndex: "key" in {"key": 1} is True; the store does not look into objects.
    assert build_metadata_filter_fn(lambda _: {"v": {"key": 1}}, group(leaf("v", F.CONTAINS, "key")))("obj")
    assert store.get_nodes(filters=group(leaf("v", F.CONTAINS, "key"))) == []
    # LlamaIndex: None in [None, 1] is True; the store never matches CONTAINS None.
    assert build_metadata_filter_fn(lambda _: {"v": [None, 1]}, group(leaf("v", F.CONTAINS, None)))("nulls")
    assert store.get_nodes(filters=group(leaf("v", F.CONTAINS, None))) == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # Python: True == 1, False == 0, and booleans order as integers.
        (group(leaf("v", F.EQ, 1)), ["one", "true"]),
        (group(leaf("v", F.NE, 1)), ["zero", "false", "missing", "text"]),
        (group(leaf("v", F.IN, [0])), ["zero", "false"]),
        (group(leaf("v", F.GT, 0.5)), ["one", "true"]),
        (group(leaf("v", F.LTE, 0)), ["zero", "false"]),
        (group(leaf("tags", F.CONTAINS, 1)), ["true"]),
        # IN/NIN with a string: a substring test; ANY/ALL with a string iterate its characters.
        (group(leaf("s", F.IN, "xabcx")), ["one", "zero"]),
        (group(leaf("s", F.NIN, "xabcx")), ["true", "false", "missing"]),
        (group(leaf("s", F.ANY, "zq")), ["true", "false"]),
        (group(leaf("s", F.ALL, "ab")), ["one"]),
        # None values.
        (group(leaf("v", F.EQ, None)), []),
        (group(leaf("v", F.NE, None)), ["one", "zero", "true", "false", "missing", "text"]),
        (group(leaf("v", F.NIN, None)), ["missing"]),
    ],
)
def test_python_comparison_rules(
    store: SQLiteVecVectorStore, filters: MetadataFilters, expected: Sequence[str]
) -> None:
    metas = {
        "one": {"v": 1, "s": "abc"},
        "zero": {"v": 0.0, "s": "b"},
        "true": {"v": True, "s": "q", "tags": [True]},
        "false": {"v": False, "s": "zz"},
        "missing": {},
        "text": {"v": "1", "s": 5},
    }
    rng = np.random.default_rng(0)
    nodes = [TextNode(id_=k, text=k, metadata=m, embedding=unit(rng, 4)) for k, m in metas.items()]
    store.add(nodes)
    got = [n.node_id for n in store.get_nodes(filters=filters)]
    assert sorted(got) == sorted(expected)
    assert sorted(got) == sorted(n.node_id for n in nodes if matches(filters, filter_view(n)))
