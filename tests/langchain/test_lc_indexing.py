"""``langchain_core.indexing.index()`` and ``aindex()`` over SQLiteVecVectorStore + SQLiteVecRecordManager.

Ports the cases of langchain-core's ``tests/unit_tests/indexing/test_indexing.py``
that apply to a record manager and a vector store (same content, every
cleanup mode, bad source ids, deduplication, force_update), each run sync and
async, with both stores in one database. Upstream patches ``get_time`` to
fixed dates; here the manager's own clock runs (it never repeats), which is
what a real app sees. After every run the store and the record manager must
agree (:func:`~tests.langchain.indexing_checks.assert_agree`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.indexing import aindex, index

from langchain_sqlitevec import SQLiteVecRecordManager, SQLiteVecVectorStore
from tests.langchain.conftest import FakeEmbeddings
from tests.langchain.indexing_checks import assert_agree, stored

Indexer = Callable[..., Coroutine[Any, Any, dict[str, int]]]


@pytest.fixture
def embeddings() -> FakeEmbeddings:
    return FakeEmbeddings(model_id="tests/fake-lc")


@pytest.fixture
def store(backend_db_path: str, embeddings: FakeEmbeddings) -> SQLiteVecVectorStore:
    return SQLiteVecVectorStore(embeddings, db_path=backend_db_path, collection_name="docs")


@pytest.fixture
def record_manager(store: SQLiteVecVectorStore) -> SQLiteVecRecordManager:
    manager = SQLiteVecRecordManager("sqlitevec/docs", database=store.database)
    manager.create_schema()
    return manager


@pytest.fixture(params=["index", "aindex"])
def run(request: pytest.FixtureRequest, store: SQLiteVecVectorStore, record_manager: SQLiteVecRecordManager) -> Indexer:
    """``index()`` or ``aindex()`` on the fixture's store and manager, as one awaitable."""

    async def indexer(docs: list[Document], **kwargs: Any) -> dict[str, int]:
        kwargs.setdefault("key_encoder", "sha256")
        if request.param == "index":
            return index(docs, record_manager, store, **kwargs)
        return await aindex(docs, record_manager, store, **kwargs)

    return indexer


def result(added: int = 0, updated: int = 0, skipped: int = 0, deleted: int = 0) -> dict[str, int]:
    return {"num_added": added, "num_updated": updated, "num_skipped": skipped, "num_deleted": deleted}


def docs_of(*pairs: tuple[str, str | None]) -> list[Document]:
    return [Document(text, metadata={} if source is None else {"source": source}) for text, source in pairs]


A = ("This is a test document.", "1")
B = ("This is another document.", "2")


async def test_indexing_same_content(run: Indexer, store: SQLiteVecVectorStore, record_manager: Any) -> None:
    docs = docs_of((A[0], None), (B[0], None))
    assert await run(docs) == result(added=2)
    assert len(stored(store)) == 2
    for _ in range(2):
        assert await run(docs) == result(skipped=2)
    assert_agree(store, record_manager, docs)


@pytest.mark.parametrize("cleanup", [None, "incremental", "full", "scoped_full"])
async def test_every_cleanup_mode_rerun_edit_and_delete(
    run: Indexer,
    store: SQLiteVecVectorStore,
    record_manager: SQLiteVecRecordManager,
    embeddings: FakeEmbeddings,
    cleanup: str | None,
) -> None:
    """First run, an unchanged re-run (all skipped, nothing embedded), an edit, then a deletion."""
    kwargs = {"cleanup": cleanup, "source_id_key": "source"}
    first = docs_of(("one a", "s1"), ("one b", "s1"), ("two a", "s2"), ("three a", "s3"))
    assert await run(first, **kwargs) == result(added=4)
    assert_agree(store, record_manager, first)

    calls = embeddings.fake.document_calls
    assert await run(first, **kwargs) == result(skipped=4)
    assert embeddings.fake.document_calls == calls  # nothing re-embedded
    assert_agree(store, record_manager, first)

    edited = docs_of(("one a", "s1"), ("one b, edited", "s1"), ("two a", "s2"), ("three a", "s3"))
    got = await run(edited, **kwargs)
    if cleanup is None:  # the old version stays
        assert got == result(added=1, skipped=3)
        assert_agree(store, record_manager, [*first, *edited])
    else:  # every mode that cleans up removes the old version of an edited source
        assert got == result(added=1, skipped=3, deleted=1)
        assert_agree(store, record_manager, edited)

    # "three a" deleted from its source; source s2 gone entirely from this run.
    after_deletion = docs_of(("one a", "s1"), ("one b, edited", "s1"), ("three b", "s3"))
    got = await run(after_deletion, **kwargs)
    if cleanup is None:
        assert got == result(added=1, skipped=2)
    elif cleanup in ("incremental", "scoped_full"):
        # Only sources seen in this run are cleaned: "three a" goes, source s2 stays.
        assert got == result(added=1, skipped=2, deleted=1)
        assert_agree(store, record_manager, [*after_deletion, *docs_of(("two a", "s2"))])
    else:  # full: everything not in this run goes
        assert got == result(added=1, skipped=2, deleted=2)
        assert_agree(store, record_manager, after_deletion)


async def test_full_cleanup_of_an_empty_run_deletes_everything(
    run: Indexer, store: SQLiteVecVectorStore, record_manager: SQLiteVecRecordManager
) -> None:
    assert await run(docs_of(A, B), cleanup="full") == result(added=2)
    assert await run([], cleanup="full") == result(deleted=2)
    assert stored(store) == {} and record_manager.list_keys() == []


async def test_incremental_fails_with_bad_source_ids(run: Indexer, store: SQLiteVecVectorStore) -> None:
    docs = docs_of(A, B, ("This is yet another document.", None))
    docs[2].metadata["source"] = None
    with pytest.raises(ValueError):
        await run(docs, cleanup="incremental")  # no source_id_key
    with pytest.raises(ValueError):
        await run(docs, cleanup="incremental", source_id_key="source")  # a None source
    with pytest.raises(ValueError):
        await run(docs, cleanup="scoped_full", source_id_key="source")


async def test_no_delete(run: Indexer, store: SQLiteVecVectorStore, record_manager: SQLiteVecRecordManager) -> None:
    docs = docs_of(A, B)
    assert await run(docs, cleanup=None, source_id_key="source") == result(added=2)
    assert await run(docs, cleanup=None, source_id_key="source") == result(skipped=2)
    mutated = docs_of(("mutated content", "1"), B)
    assert await run(mutated, cleanup=None, source_id_key="source") == result(added=1, skipped=1)
    assert_agree(store, record_manager, [*docs, *mutated])


async def test_incremental_delete_with_batches(
    run: Indexer, store: SQLiteVecVectorStore, record_manager: SQLiteVecRecordManager
) -> None:
    """Upstream's test_incremental_delete_with_batch_size: sources spread over several batches."""
    docs = docs_of(("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"))
    kwargs = {"cleanup": "incremental", "source_id_key": "source", "batch_size": 3, "cleanup_batch_size": 1}
    assert await run(docs, **kwargs) == result(added=4)
    assert await run(docs, **kwargs) == result(skipped=4)
    changed = docs_of(("1 changed", "1"), ("2 changed", "2"), ("3", "3"), ("4", "4"))
    assert await run(changed, **kwargs) == result(added=2, skipped=2, deleted=2)
    assert_agree(store, record_manager, changed)


async def test_deduplication(run: Indexer, store: SQLiteVecVectorStore, record_manager: Any) -> None:
    docs = docs_of(A, A)
    assert await run(docs, cleanup="full") == result(added=1, skipped=1)
    assert await run(docs, cleanup="full") == result(skipped=2)
    assert_agree(store, record_manager, docs[:1])


async def test_force_update_rewrites_and_counts_updates(
    run: Indexer, store: SQLiteVecVectorStore, record_manager: Any, embeddings: FakeEmbeddings
) -> None:
    docs = docs_of(A, B, A)
    assert await run(docs, cleanup="full") == result(added=2, skipped=1)
    before = embeddings.fake.texts_embedded
    assert await run(docs, cleanup="full", force_update=True) == result(updated=2, skipped=1)
    assert embeddings.fake.texts_embedded == before + 2
    assert_agree(store, record_manager, docs)


async def test_two_namespaces_index_two_collections_in_one_file(
    run: Indexer, store: SQLiteVecVectorStore, record_manager: SQLiteVecRecordManager, embeddings: FakeEmbeddings
) -> None:
    other_store = SQLiteVecVectorStore(embeddings, database=store.database, collection_name="other")
    other_manager = SQLiteVecRecordManager("sqlitevec/other", database=store.database)
    other_docs = docs_of(("elsewhere", "x"))
    assert index(other_docs, other_manager, other_store, cleanup="full", key_encoder="sha256") == result(added=1)
    docs = docs_of(A, B)
    assert await run(docs, cleanup="full") == result(added=2)
    assert await run([], cleanup="full") == result(deleted=2)  # the other namespace is untouched
    assert_agree(other_store, other_manager, other_docs)


def test_cache_embeddings_and_index_together(backend_db_path: str, embeddings: FakeEmbeddings) -> None:
    """A store with cache_embeddings=True re-indexed after its record manager was lost embeds nothing."""
    store = SQLiteVecVectorStore(embeddings, db_path=backend_db_path, cache_embeddings=True)
    manager = SQLiteVecRecordManager("ns", database=store.database)
    docs = docs_of(A, B)
    assert index(docs, manager, store, cleanup="full", key_encoder="sha256") == result(added=2)
    manager.delete_keys(manager.list_keys())  # the manager forgot; the vectors are still cached
    assert index(docs, manager, store, cleanup="full", key_encoder="sha256") == result(added=2)
    assert embeddings.fake.texts_embedded == 2
    assert_agree(store, manager, docs)
