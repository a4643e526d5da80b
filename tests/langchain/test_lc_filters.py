"""The shared dict-dialect filter cases (tests/filter_cases.py), run through the LangChain adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.documents import Document

from langchain_sqlitevec import SQLiteVecVectorStore
from tests.filter_cases import DICT_CASES, FIXTURE_DOCS, INVALID_FILTERS, DictCase, InvalidFilter
from tests.langchain.conftest import FakeEmbeddings

K_ALL = len(FIXTURE_DOCS)


def _load(store: SQLiteVecVectorStore) -> None:
    store.add_documents([Document(f"document {i}", metadata=m, id=str(i)) for i, m in enumerate(FIXTURE_DOCS)])


@pytest.fixture(scope="module")
def fixture_store() -> Iterator[SQLiteVecVectorStore]:
    store = SQLiteVecVectorStore(FakeEmbeddings())
    _load(store)
    try:
        yield store
    finally:
        store.close()


def _indices(docs: list[Document]) -> list[int]:
    return sorted(int(d.id or -1) for d in docs)


def test_metadata_round_trips(fixture_store: SQLiteVecVectorStore) -> None:
    docs = fixture_store.get_by_ids([str(i) for i in range(K_ALL)])
    assert [d.metadata for d in docs] == FIXTURE_DOCS


@pytest.mark.parametrize("case", DICT_CASES, ids=lambda c: c.name)
def test_similarity_search(fixture_store: SQLiteVecVectorStore, case: DictCase) -> None:
    found = fixture_store.similarity_search("document 3", k=K_ALL, filter=case.spec)
    assert _indices(found) == case.expected_indices


@pytest.mark.parametrize("case", DICT_CASES, ids=lambda c: c.name)
def test_with_score_and_mmr(fixture_store: SQLiteVecVectorStore, case: DictCase) -> None:
    pairs = fixture_store.similarity_search_with_score("document 3", k=K_ALL, filter=case.spec)
    assert _indices([d for d, _ in pairs]) == case.expected_indices
    distances = [s for _, s in pairs]
    assert distances == sorted(distances)
    mmr = fixture_store.max_marginal_relevance_search("document 3", k=K_ALL, fetch_k=K_ALL, filter=case.spec)
    assert _indices(mmr) == case.expected_indices


@pytest.mark.parametrize("case", DICT_CASES, ids=lambda c: c.name)
def test_top_k_among_matches(fixture_store: SQLiteVecVectorStore, case: DictCase) -> None:
    """With k=2 the result is the two nearest matching documents, whatever the unfiltered ranking."""
    ranking = [d.id for d in fixture_store.similarity_search("document 3", k=K_ALL)]
    expected = [i for i in ranking if i is not None and int(i) in case.expected_indices][:2]
    found = fixture_store.similarity_search("document 3", k=2, filter=case.spec)
    assert [d.id for d in found] == expected


@pytest.mark.parametrize("case", DICT_CASES, ids=lambda c: c.name)
def test_delete_by_filter(case: DictCase) -> None:
    store = SQLiteVecVectorStore(FakeEmbeddings())
    _load(store)
    assert store.delete(filter=case.spec) is True
    remaining = _indices(store.get_by_ids([str(i) for i in range(K_ALL)]))
    assert remaining == [i for i in range(K_ALL) if i not in case.expected_indices]


@pytest.mark.parametrize("case", INVALID_FILTERS, ids=lambda c: c.name)
def test_invalid_filters_raise_value_error(fixture_store: SQLiteVecVectorStore, case: InvalidFilter) -> None:
    with pytest.raises(ValueError):
        fixture_store.similarity_search("document", k=1, filter=case.spec)
    with pytest.raises(ValueError):
        fixture_store.delete(filter=case.spec)
    assert fixture_store.collection.count() == K_ALL
