"""SQLiteVecTranslator: hand-built structured queries, translated and run against the store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.structured_query import Comparator, Comparison, Operation, Operator, StructuredQuery

from langchain_sqlitevec import SQLiteVecTranslator, SQLiteVecVectorStore
from sqlitevec_store import UnsupportedFilterError
from sqlitevec_store.filters import MAX_DEPTH
from tests.filter_cases import FIXTURE_DOCS
from tests.langchain.conftest import FakeEmbeddings

ALL = list(range(len(FIXTURE_DOCS)))


def _but(*excluded: int) -> list[int]:
    return [i for i in ALL if i not in excluded]


@pytest.fixture(scope="module")
def fixture_store() -> Iterator[SQLiteVecVectorStore]:
    store = SQLiteVecVectorStore(FakeEmbeddings())
    store.add_documents([Document(f"document {i}", metadata=m, id=str(i)) for i, m in enumerate(FIXTURE_DOCS)])
    try:
        yield store
    finally:
        store.close()


def test_every_comparator_and_operator_is_allowed() -> None:
    translator = SQLiteVecTranslator()
    assert set(translator.allowed_comparators or ()) == set(Comparator)
    assert set(translator.allowed_operators or ()) == set(Operator)


@pytest.mark.parametrize(
    ("comparator", "value", "expected"),
    [
        (Comparator.EQ, "apple", {"s": {"$eq": "apple"}}),
        (Comparator.NE, 1, {"s": {"$ne": 1}}),
        (Comparator.GT, 1, {"s": {"$gt": 1}}),
        (Comparator.GTE, 1.5, {"s": {"$gte": 1.5}}),
        (Comparator.LT, "b", {"s": {"$lt": "b"}}),
        (Comparator.LTE, 0, {"s": {"$lte": 0}}),
        (Comparator.IN, ["a", "b"], {"s": {"$in": ["a", "b"]}}),
        (Comparator.IN, "a", {"s": {"$in": ["a"]}}),
        (Comparator.NIN, ["a"], {"s": {"$nin": ["a"]}}),
        (Comparator.NIN, 3, {"s": {"$nin": [3]}}),
        (Comparator.CONTAIN, "red", {"s": {"$contains": "red"}}),
        (Comparator.LIKE, "app%", {"s": {"$like": "app%"}}),
        (Comparator.EQ, {"type": "date", "date": "2024-05-01"}, {"s": {"$eq": "2024-05-01"}}),
        (
            Comparator.GTE,
            {"type": "datetime", "datetime": "2024-05-01T10:00:00"},
            {"s": {"$gte": "2024-05-01T10:00:00"}},
        ),
        (Comparator.IN, [{"type": "date", "date": "2024-05-01"}], {"s": {"$in": ["2024-05-01"]}}),
    ],
)
def test_comparisons(comparator: Comparator, value: Any, expected: dict[str, Any]) -> None:
    assert Comparison(comparator=comparator, attribute="s", value=value).accept(SQLiteVecTranslator()) == expected


def test_operations() -> None:
    a = Comparison(comparator=Comparator.EQ, attribute="a", value=1)
    b = Comparison(comparator=Comparator.LT, attribute="b", value=2)
    translator = SQLiteVecTranslator()
    assert Operation(operator=Operator.AND, arguments=[a, b]).accept(translator) == {
        "$and": [{"a": {"$eq": 1}}, {"b": {"$lt": 2}}]
    }
    assert Operation(operator=Operator.OR, arguments=[a, b]).accept(translator) == {
        "$or": [{"a": {"$eq": 1}}, {"b": {"$lt": 2}}]
    }
    assert Operation(operator=Operator.NOT, arguments=[a]).accept(translator) == {"$not": {"a": {"$eq": 1}}}
    # not(x, y): neither holds
    assert Operation(operator=Operator.NOT, arguments=[a, b]).accept(translator) == {
        "$not": {"$or": [{"a": {"$eq": 1}}, {"b": {"$lt": 2}}]}
    }


def _nested(levels: int, operator: Operator) -> Operation:
    tree = Operation(operator=operator, arguments=[Comparison(comparator=Comparator.EQ, attribute="n", value=1)])
    for _ in range(levels - 1):
        tree = Operation(operator=operator, arguments=[tree])
    return tree


@pytest.mark.parametrize("operator", [Operator.NOT, Operator.AND, Operator.OR])
def test_deep_operations_are_refused_not_recursion_error(
    fixture_store: SQLiteVecVectorStore, operator: Operator
) -> None:
    # The dict a translation gives is one level deeper than its operations (the comparison).
    _query, kwargs = SQLiteVecTranslator().visit_structured_query(
        StructuredQuery(query="q", filter=_nested(MAX_DEPTH - 1, operator))
    )
    fixture_store.similarity_search("q", k=2, **kwargs)
    for levels in (MAX_DEPTH, MAX_DEPTH + 1, 1_000, 10_000):  # 1,000 was a RecursionError
        with pytest.raises(UnsupportedFilterError, match=f"at most {MAX_DEPTH} levels"):
            _query, kwargs = SQLiteVecTranslator().visit_structured_query(
                StructuredQuery(query="q", filter=_nested(levels, operator))
            )
            fixture_store.similarity_search("q", k=2, **kwargs)


def test_structured_query() -> None:
    translator = SQLiteVecTranslator()
    assert translator.visit_structured_query(StructuredQuery(query="pie", filter=None)) == ("pie", {})
    query = StructuredQuery(
        query="pie", filter=Comparison(comparator=Comparator.EQ, attribute="s", value="apple"), limit=3
    )
    # The limit is SelfQueryRetriever's business (it sets k itself).
    assert translator.visit_structured_query(query) == ("pie", {"filter": {"s": {"$eq": "apple"}}})


def _c(comparator: Comparator, attribute: str, value: Any) -> Comparison:
    return Comparison(comparator=comparator, attribute=attribute, value=value)


SEARCH_CASES: list[tuple[str, Any, list[int]]] = [
    ("eq", _c(Comparator.EQ, "s", "apple"), [0, 10]),
    ("ne_never_matches_missing", _c(Comparator.NE, "n", 1), [2, 3, 4, 5, 8, 9, 10, 11, 12]),
    ("in", _c(Comparator.IN, "n", [1, "1"]), [0, 1, 3]),
    ("nin", _c(Comparator.NIN, "n", [1, True]), [2, 3, 5, 8, 9, 10, 11, 12]),
    ("contain", _c(Comparator.CONTAIN, "tags", "red"), [0, 4, 9]),
    ("like", _c(Comparator.LIKE, "s", "app%"), [0, 8, 10]),
    (
        "range",
        Operation(operator=Operator.AND, arguments=[_c(Comparator.GT, "n", 1), _c(Comparator.LTE, "n", 10)]),
        [2, 8],
    ),
    (
        "or",
        Operation(operator=Operator.OR, arguments=[_c(Comparator.EQ, "s", "apple"), _c(Comparator.EQ, "my key", "v2")]),
        [0, 6, 10],
    ),
    ("not_one", Operation(operator=Operator.NOT, arguments=[_c(Comparator.EQ, "b", True)]), _but(0, 9)),
    (
        "not_several",
        Operation(
            operator=Operator.NOT, arguments=[_c(Comparator.EQ, "s", "apple"), _c(Comparator.EQ, "my key", "v2")]
        ),
        _but(0, 6, 10),
    ),
    (
        "nested",
        Operation(
            operator=Operator.AND,
            arguments=[
                _c(Comparator.GTE, "n", 1),
                Operation(operator=Operator.NOT, arguments=[_c(Comparator.EQ, "s", "apple")]),
            ],
        ),
        [1, 2, 8],
    ),
]


@pytest.mark.parametrize(("name", "directive", "expected"), SEARCH_CASES, ids=[c[0] for c in SEARCH_CASES])
def test_translated_filters_work_in_a_search(
    fixture_store: SQLiteVecVectorStore, name: str, directive: Any, expected: list[int]
) -> None:
    query, kwargs = SQLiteVecTranslator().visit_structured_query(StructuredQuery(query="document 1", filter=directive))
    found = fixture_store.similarity_search(query, k=len(FIXTURE_DOCS), **kwargs)
    assert sorted(int(d.id or -1) for d in found) == expected


def test_date_filters_compare_iso_strings(fake_embeddings: FakeEmbeddings) -> None:
    store = SQLiteVecVectorStore(fake_embeddings)
    dates = ["2023-12-31", "2024-01-15", "2024-02-01", "2024-03-10"]
    store.add_texts([f"post {d}" for d in dates], [{"published": d} for d in dates], ids=dates)
    directive = Operation(
        operator=Operator.AND,
        arguments=[
            _c(Comparator.GTE, "published", {"type": "date", "date": "2024-01-15"}),
            _c(Comparator.LT, "published", {"type": "date", "date": "2024-03-01"}),
        ],
    )
    query, kwargs = SQLiteVecTranslator().visit_structured_query(StructuredQuery(query="post", filter=directive))
    assert sorted(d.id or "" for d in store.similarity_search(query, k=10, **kwargs)) == ["2024-01-15", "2024-02-01"]
