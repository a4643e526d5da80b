"""IngestionPipeline with its docstore, cache and vector store in one database.

``test_cache*`` are ported from LlamaIndex's
``llama-index-core/tests/ingestion/test_cache.py`` and the ``test_pipeline_*``
cases from ``tests/ingestion/test_pipeline.py``, each run on LlamaIndex's
in-memory stores and on ours. The last tests are the issue's scenario: a
pipeline re-run after an edit and a deletion with ``UPSERTS`` and
``UPSERTS_AND_DELETE``, unchanged text never embedded twice.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from llama_index.core.ingestion import DocstoreStrategy, IngestionCache, IngestionPipeline
from llama_index.core.ingestion.pipeline import get_transformation_hash
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, Document, NodeRelationship, RelatedNodeInfo, TextNode, TransformComponent
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.storage.docstore.types import BaseDocumentStore
from llama_index.core.storage.docstore.utils import json_to_doc
from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore
from llama_index.core.storage.kvstore.types import BaseKVStore
from llama_index.core.vector_stores import SimpleVectorStore

from llamaindex_sqlitevec import CachedEmbedding, SQLiteVecDocumentStore, SQLiteVecKVStore, SQLiteVecVectorStore
from tests.fakes import FAKE_MODEL_ID
from tests.llamaindex.conftest import FakeEmbedding


class DummyTransform(TransformComponent):
    """Appends a marker to each node's text (LlamaIndex's test transformation)."""

    def __call__(self, nodes: Any, **kwargs: Any) -> Any:
        for node in nodes:
            node.set_content(node.get_content() + "\nTESTTEST")
        return nodes


@pytest.fixture(params=["simple", "sqlitevec"])
def cache_kvstore(request: pytest.FixtureRequest, backend_db_path: str) -> BaseKVStore:
    return SimpleKVStore() if request.param == "simple" else SQLiteVecKVStore(backend_db_path)


@pytest.fixture(params=["simple", "sqlitevec"])
def docstore(request: pytest.FixtureRequest, backend_db_path: str) -> BaseDocumentStore:
    return SimpleDocumentStore() if request.param == "simple" else SQLiteVecDocumentStore.from_uri(backend_db_path)


# -- ported from LlamaIndex: the ingestion cache ----------------------------------------


def test_cache(cache_kvstore: BaseKVStore) -> None:
    cache = IngestionCache(cache=cache_kvstore)
    transformation = DummyTransform()
    node = TextNode(text="dummy")
    key = get_transformation_hash([node], transformation)
    new_nodes = transformation([node])
    cache.put(key, new_nodes)
    hit = cache.get(key)
    assert hit is not None
    assert hit[0].get_content() == new_nodes[0].get_content()
    assert hit[0] == new_nodes[0]
    assert cache.get(get_transformation_hash(new_nodes, transformation)) is None


def test_cache_clear(cache_kvstore: BaseKVStore) -> None:
    cache = IngestionCache(cache=cache_kvstore, collection="my_cache")
    transformation = DummyTransform()
    node = TextNode(text="dummy")
    key = get_transformation_hash([node], transformation)
    cache.put(key, transformation([node]))
    assert cache.get(key) is not None
    cache.clear()
    assert cache.get(key) is None


def test_cache_collection_is_a_namespace_of_the_file(backend_db_path: str) -> None:
    kvstore = SQLiteVecKVStore(backend_db_path)
    cache = IngestionCache(cache=kvstore, collection="pipeline_cache")
    cache.put("key", [TextNode(text="cached", id_="n1")])
    stored = kvstore.client.key_value("llama_index/pipeline_cache").get("key")
    assert isinstance(stored, dict)
    assert [json_to_doc(n).node_id for n in stored["nodes"]] == ["n1"]


# -- ported from LlamaIndex: pipelines with a docstore ---------------------------------


def test_pipeline_dedup_duplicates_only(docstore: BaseDocumentStore) -> None:
    documents = [Document(text="one", doc_id="1"), Document(text="two", doc_id="2"), Document(text="three", doc_id="3")]
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=25, chunk_overlap=0)],
        docstore=docstore,
        docstore_strategy=DocstoreStrategy.DUPLICATES_ONLY,
    )
    assert len(pipeline.run(documents=documents)) == 3
    assert len(pipeline.run(documents=documents)) == 0


def test_pipeline_update_text_content(docstore: BaseDocumentStore) -> None:
    document = Document.example()
    document.id_ = "1"
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=25, chunk_overlap=0)],
        docstore=docstore,
        docstore_strategy=DocstoreStrategy.DUPLICATES_ONLY,
    )
    assert len(pipeline.run(documents=[document])) == 19
    assert len(docstore.docs) == 1
    nodes = pipeline.run(documents=[Document(text="test", doc_id="1")])
    assert len(nodes) == 1
    assert len(docstore.docs) == 1
    assert next(iter(docstore.docs.values())).text == "test"  # type: ignore[attr-defined]


def test_pipeline_update_metadata(docstore: BaseDocumentStore) -> None:
    document = Document.example()
    document.metadata = {"filename": "README.md", "category": "codebase"}
    document.id_ = "1"
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=25, chunk_overlap=0)],
        docstore=docstore,
        docstore_strategy=DocstoreStrategy.DUPLICATES_ONLY,
    )
    nodes = pipeline.run(documents=[document])
    new_metadata = {"filename": "README.md", "category": "documentation"}
    document.metadata = new_metadata
    nodes_new = pipeline.run(documents=[document])
    assert len(nodes_new) == len(nodes)
    assert len(docstore.docs) == 1
    assert next(iter(docstore.docs.values())).metadata == new_metadata
    assert all(node.metadata == new_metadata for node in nodes_new)


def test_pipeline_upserts_keep_all_nodes_per_doc(docstore: BaseDocumentStore) -> None:
    nodes: list[BaseNode] = [TextNode(text=f"chunk {i}", id_=f"node-{i}") for i in range(5)]
    for node in nodes:
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id="source-doc")
    pipeline = IngestionPipeline(
        transformations=[],
        docstore=docstore,
        vector_store=SimpleVectorStore(),
        docstore_strategy=DocstoreStrategy.UPSERTS,
    )
    assert {n.id_ for n in pipeline.run(nodes=nodes)} == {n.id_ for n in nodes}


def test_pipeline_with_transform_error(docstore: BaseDocumentStore) -> None:
    class RaisingTransform(TransformComponent):
        def __call__(self, nodes: Any, **kwargs: Any) -> Any:
            raise RuntimeError

    document = Document.example()
    document.id_ = "1"
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=25, chunk_overlap=0), RaisingTransform()],
        docstore=docstore,
        docstore_strategy=DocstoreStrategy.DUPLICATES_ONLY,
    )
    with pytest.raises(RuntimeError):
        pipeline.run(documents=[document])
    assert docstore.get_node("1", raise_error=False) is None


# -- the scenario: one file, an edit and a deletion -----------------------------

PARAGRAPH = "Paragraph {p} of document {d} talks about subject {s} in some detail, with enough words to fill a chunk."


def _text(doc: int, edited: bool = False) -> str:
    paragraphs = [PARAGRAPH.format(p=p, d=doc, s=(doc + p) % 4) for p in range(3)]
    if edited:
        paragraphs[1] = f"Paragraph 1 of document {doc} was rewritten: it now says something else entirely."
    return "\n\n".join(paragraphs)


def _documents(edited: int | None = None, deleted: int | None = None) -> list[Document]:
    return [
        Document(text=_text(d, edited=d == edited), id_=f"doc-{d}", metadata={"title": f"Document {d}"})
        for d in range(5)
        if d != deleted
    ]


class App(NamedTuple):
    """The stores of one file and a way to make a pipeline over them."""

    vector_store: SQLiteVecVectorStore
    docstore: SQLiteVecDocumentStore
    cache: IngestionCache
    fake: FakeEmbedding
    embed_model: CachedEmbedding

    def pipeline(self, strategy: DocstoreStrategy) -> IngestionPipeline:
        return IngestionPipeline(
            transformations=[SentenceSplitter(chunk_size=40, chunk_overlap=0), self.embed_model],
            docstore=self.docstore,
            vector_store=self.vector_store,
            cache=self.cache,
            docstore_strategy=strategy,
        )

    def vector_docs(self) -> dict[str, set[str]]:
        """Each ref doc id in the vector store, with its nodes' texts."""
        docs: dict[str, set[str]] = {}
        for node in self.vector_store.get_nodes():
            assert node.ref_doc_id is not None
            docs.setdefault(node.ref_doc_id, set()).add(node.get_content())
        return docs


def _app(db_path: str) -> App:
    vector_store = SQLiteVecVectorStore(db_path, model_id=FAKE_MODEL_ID)
    fake = FakeEmbedding()
    return App(
        vector_store=vector_store,
        docstore=SQLiteVecDocumentStore.from_vector_store(vector_store),
        cache=IngestionCache(cache=SQLiteVecKVStore.from_vector_store(vector_store), collection="pipeline_cache"),
        fake=fake,
        embed_model=CachedEmbedding.from_vector_store(fake, vector_store),
    )


@pytest.mark.parametrize("strategy", [DocstoreStrategy.UPSERTS, DocstoreStrategy.UPSERTS_AND_DELETE])
def test_rerun_after_an_edit_and_a_deletion(backend_db_path: str, strategy: DocstoreStrategy) -> None:
    app = _app(backend_db_path)
    pipeline = app.pipeline(strategy)
    nodes = pipeline.run(documents=_documents())
    assert len(nodes) == 15  # three paragraphs, three chunks, per document
    assert app.fake.fake.texts_embedded == 15
    before = app.vector_docs()
    assert set(before) == {f"doc-{d}" for d in range(5)}
    assert set(app.docstore.docs) == set(before)
    ids_before = {n.node_id for n in app.vector_store.get_nodes()}

    assert pipeline.run(documents=_documents()) == []  # nothing changed: nothing runs
    assert app.fake.fake.texts_embedded == 15

    edited = _documents(edited=2, deleted=4)
    rerun = pipeline.run(documents=edited)
    assert {n.ref_doc_id for n in rerun} == {"doc-2"}
    assert app.fake.fake.texts_embedded == 16  # only the rewritten paragraph reached the model
    after = app.vector_docs()
    assert after["doc-2"] == {n.get_content() for n in rerun}
    assert any("rewritten" in text for text in after["doc-2"])
    assert after["doc-2"] != before["doc-2"]
    for d in (0, 1, 3):
        assert after[f"doc-{d}"] == before[f"doc-{d}"]
    assert app.docstore.get_document_hash("doc-2") == edited[2].hash
    if strategy == DocstoreStrategy.UPSERTS:
        assert after["doc-4"] == before["doc-4"]  # upserts never delete
        assert set(app.docstore.docs) == {f"doc-{d}" for d in range(5)}
    else:
        assert "doc-4" not in after
        assert set(app.docstore.docs) == {"doc-0", "doc-1", "doc-2", "doc-3"}
        assert app.docstore.get_document_hash("doc-4") is None
    unchanged = {n.node_id for n in app.vector_store.get_nodes() if n.ref_doc_id in ("doc-0", "doc-1", "doc-3")}
    assert unchanged <= ids_before
    for doc_id, doc in app.docstore.docs.items():
        assert app.docstore.get_document_hash(doc_id) == doc.hash


def test_the_ingestion_cache_skips_transformations_already_run(backend_db_path: str) -> None:
    app = _app(backend_db_path)
    app.pipeline(DocstoreStrategy.UPSERTS).run(documents=_documents())
    assert app.fake.fake.texts_embedded == 15
    first_ids = sorted(n.node_id for n in app.vector_store.get_nodes())
    # Another docstore and collection in the same file, the same cache: every step is a cache hit.
    other_store = SQLiteVecVectorStore(database=app.vector_store.client, collection_name="copy")
    fake = FakeEmbedding()
    # Its embedding cache is empty (another database), so only the ingestion cache can spare the model.
    embed_model = CachedEmbedding(fake, db_path=":memory:")
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=40, chunk_overlap=0), embed_model],
        docstore=SQLiteVecDocumentStore.from_vector_store(other_store, namespace="copy_docstore"),
        vector_store=other_store,
        cache=app.cache,
    )
    nodes = pipeline.run(documents=_documents())
    assert len(nodes) == 15
    assert fake.fake.texts_embedded == 0
    assert len(embed_model.cache) == 0
    assert sorted(n.node_id for n in other_store.get_nodes()) == first_ids  # the cached nodes, ids and all
    assert len(app.cache.cache.get_all(collection="pipeline_cache")) == 2  # the splitter's and the embedder's


async def test_async_rerun_after_an_edit(backend_db_path: str) -> None:
    app = _app(backend_db_path)
    pipeline = app.pipeline(DocstoreStrategy.UPSERTS_AND_DELETE)
    await pipeline.arun(documents=_documents())
    await pipeline.arun(documents=_documents(edited=1, deleted=0))
    assert app.fake.fake.texts_embedded == 16
    after = app.vector_docs()
    assert set(after) == {"doc-1", "doc-2", "doc-3", "doc-4"}
    assert set(app.docstore.docs) == set(after)
    assert any("rewritten" in text for text in after["doc-1"])


class RaisingTransform(TransformComponent):
    """Fails mid-run, after the splitter."""

    def __call__(self, nodes: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated mid-run failure")


def test_a_failed_run_inside_atomic_leaves_everything_as_it_was(backend_db_path: str) -> None:
    """Upstream's test_upserts_failed_rerun_preserves_old_vectors (main), on llama-index-core's pipeline.

    The installed pipeline deletes a changed document's old vectors and docstore
    entries before it runs the transformations; inside ``kvstore.atomic()`` a
    failure rolls that back with everything else.
    """
    app = _app(backend_db_path)
    app.pipeline(DocstoreStrategy.UPSERTS_AND_DELETE).run(documents=_documents())
    vectors = {n.node_id: n.get_content() for n in app.vector_store.get_nodes()}
    hashes = app.docstore.get_all_document_hashes()
    cached = app.cache.cache.get_all(collection="pipeline_cache")
    failing = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=40, chunk_overlap=0), RaisingTransform()],
        docstore=app.docstore,
        vector_store=app.vector_store,
        cache=app.cache,
        docstore_strategy=DocstoreStrategy.UPSERTS_AND_DELETE,
    )
    with pytest.raises(RuntimeError, match="simulated"), app.docstore.kvstore.atomic():
        failing.run(documents=_documents(edited=1, deleted=3))
    assert {n.node_id: n.get_content() for n in app.vector_store.get_nodes()} == vectors
    assert app.docstore.get_all_document_hashes() == hashes
    assert app.cache.cache.get_all(collection="pipeline_cache") == cached
