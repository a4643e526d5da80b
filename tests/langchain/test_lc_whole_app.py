"""The whole LangChain app in one file: vectors, parents, the embedding cache and the record manager.

``CacheBackedEmbeddings.from_bytes_store`` keeps its vectors in a
:class:`SQLiteVecByteStore`, ``ParentDocumentRetriever`` keeps its parents in
another (through ``create_kv_docstore``), the children's vectors go to a
:class:`SQLiteVecVectorStore`; everything shares the vector store's database,
so the one file is the app's whole state. Reopened with fresh objects, the
retriever answers the same.
"""

from __future__ import annotations

from pathlib import Path

from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_classic.retrievers import ParentDocumentRetriever
from langchain_classic.storage import create_kv_docstore
from langchain_core.documents import Document
from langchain_core.indexing import index
from langchain_text_splitters import RecursiveCharacterTextSplitter

from langchain_sqlitevec import SQLiteVecByteStore, SQLiteVecRecordManager, SQLiteVecVectorStore
from sqlitevec_store import Database
from tests.langchain.conftest import FakeEmbeddings

MODEL = "tests/fake-lc"

PARENTS = [
    Document("Backups run nightly. Restore with harborctl restore. Keep three copies offsite.", metadata={"n": 1}),
    Document("Tokens expire after an hour. Refresh them with harborctl login. Clocks must agree.", metadata={"n": 2}),
    Document("The sync port is 7443. Open it in the firewall. TLS is required on it.", metadata={"n": 3}),
]


class App:
    """The app's objects over one file, built the way a user would."""

    def __init__(self, path: Path, underlying: FakeEmbeddings) -> None:
        # One database object (one connection to the one file), shared by every store.
        self.db = Database(path)
        self.vectors = SQLiteVecVectorStore(
            CacheBackedEmbeddings.from_bytes_store(
                underlying,
                SQLiteVecByteStore(database=self.db, namespace="embedding-cache"),
                namespace=MODEL,
                key_encoder="sha256",
            ),
            database=self.db,
            collection_name="children",
            model_id=MODEL,
        )
        self.parents = SQLiteVecByteStore(database=self.db, namespace="parents")
        self.retriever = ParentDocumentRetriever(
            vectorstore=self.vectors,
            docstore=create_kv_docstore(self.parents),
            child_splitter=RecursiveCharacterTextSplitter(chunk_size=40, chunk_overlap=0, separators=[". "]),
            search_kwargs={"k": 1},
        )

    def close(self) -> None:
        self.db.close()


def child_texts() -> list[str]:
    splitter = RecursiveCharacterTextSplitter(chunk_size=40, chunk_overlap=0, separators=[". "])
    return [d.page_content for d in splitter.split_documents(PARENTS)]


def test_vectors_parents_and_cache_in_one_file_then_reopened(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    underlying = FakeEmbeddings(model_id=MODEL)
    app = App(path, underlying)
    app.retriever.add_documents(PARENTS, ids=["p1", "p2", "p3"])
    children = child_texts()
    assert underlying.fake.texts_embedded == len(set(children))

    # A child's exact text is nearest to itself (fake embeddings); the retriever answers with its parent.
    assert [d.page_content for d in app.retriever.invoke(children[0])] == [PARENTS[0].page_content]
    assert app.retriever.invoke(children[-1])[0].metadata == {"n": 3}

    # Rebuilding the children's collection embeds nothing: every child vector comes from the byte-store cache.
    # (ParentDocumentRetriever gives children fresh ids on every add, so a rebuild starts from an empty collection.)
    app.vectors.delete_collection()
    app.retriever.add_documents(PARENTS, ids=["p1", "p2", "p3"])
    assert underlying.fake.texts_embedded == len(set(children))
    app.close()

    # The one file holds it all; nothing else was written beside it (but SQLite's own -wal/-shm).
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["app.db"]
    with Database(path) as db:
        assert db.collection("children", create=False).count() == len(children)
        assert db.key_value("parents").count() == 3
        assert sorted(db.key_value("parents").keys()) == ["p1", "p2", "p3"]
        assert db.key_value("embedding-cache").count() == len(set(children))
        assert db.key_value("embedding-cache").count(prefix=MODEL) == len(set(children))

    # Fresh objects (a fresh model object too): the same answers, and no document is embedded.
    fresh = FakeEmbeddings(model_id=MODEL)
    again = App(path, fresh)
    try:
        for i, parent in enumerate(PARENTS):
            child = next(c for c in children if c in parent.page_content)
            found = again.retriever.invoke(child)
            assert [d.page_content for d in found] == [parent.page_content], i
        assert fresh.fake.document_calls == 0
    finally:
        again.close()


async def test_async_parent_retrieval_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    underlying = FakeEmbeddings(model_id=MODEL)
    app = App(path, underlying)
    try:
        await app.retriever.aadd_documents(PARENTS, ids=["p1", "p2", "p3"])
        children = child_texts()
        found = await app.retriever.ainvoke(children[1])
        assert [d.metadata for d in found] == [{"n": 1}]
        assert [k async for k in app.parents.ayield_keys()] == ["p1", "p2", "p3"]
    finally:
        app.close()


def test_record_manager_beside_the_parents(tmp_path: Path) -> None:
    """index() keeps a second collection in step, in the same file as the app above."""
    path = tmp_path / "app.db"
    app = App(path, FakeEmbeddings(model_id=MODEL))
    try:
        app.retriever.add_documents(PARENTS, ids=["p1", "p2", "p3"])
        notes = SQLiteVecVectorStore(FakeEmbeddings(model_id=MODEL), database=app.db, collection_name="notes")
        manager = SQLiteVecRecordManager("sqlitevec/notes", database=app.db)
        docs = [Document("note one", metadata={"source": "a"}), Document("note two", metadata={"source": "b"})]
        kwargs = {"cleanup": "incremental", "source_id_key": "source", "key_encoder": "sha256"}
        assert index(docs, manager, notes, **kwargs)["num_added"] == 2  # type: ignore[arg-type]
        assert index(docs, manager, notes, **kwargs)["num_skipped"] == 2  # type: ignore[arg-type]
        summary = app.db.app_state()
        assert {n.namespace for n in summary.key_value} >= {"parents", "embedding-cache"}
        assert [n.namespace for n in summary.record_keys] == ["sqlitevec/notes"]
    finally:
        app.close()
