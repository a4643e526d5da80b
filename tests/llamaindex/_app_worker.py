"""Child-process side of tests/llamaindex/test_li_whole_app.py: a LlamaIndex app whose state is one file.

Run as ``python -m tests.llamaindex._app_worker MODE PATH [ARGS...]`` from
the repository root; it prints JSON (or progress lines) on stdout.

Modes:

``build PATH``
    Vector store, docstore and index store on PATH; build a
    ``VectorStoreIndex`` (id ``"app"``) over :func:`documents` with the fake
    embedding; print :func:`answers` as one JSON line.

``query PATH``
    A fresh process: open the three stores on PATH, ``load_index_from_storage``
    and print :func:`answers` (the model is only asked for query vectors).

``ingest PATH DOCS BATCH``
    Print ``START``, then run an ``IngestionPipeline`` (splitter, cached fake
    embedding; docstore, ingestion cache and vector store on PATH) over
    :func:`ingest_documents` in batches of BATCH, each ``pipeline.run`` in one
    transaction (``with kvstore.atomic():``), printing ``BATCH i`` after each;
    then ``DONE``. The parent kills it with SIGKILL at random moments.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.indices.base import BaseIndex
from llama_index.core.ingestion import DocstoreStrategy, IngestionCache, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import Document

from llamaindex_sqlitevec import (
    CachedEmbedding,
    SQLiteVecDocumentStore,
    SQLiteVecIndexStore,
    SQLiteVecKVStore,
    SQLiteVecVectorStore,
)
from tests.fakes import FAKE_MODEL_ID
from tests.llamaindex.conftest import FakeEmbedding

#: The questions both processes answer.
QUERIES = ["topic 1 in detail", "document 7", "something about topic 2"]

#: The ingestion pipeline's splitter (the parent uses it to count the expected chunks).
SPLITTER = SentenceSplitter(chunk_size=64, chunk_overlap=0)

INDEX_ID = "app"


def documents() -> list[Document]:
    """The documents the index is built from."""
    return [
        Document(text=f"Document {i} is about topic {i % 4}. It has a second sentence, number {i}.", id_=f"doc-{i}")
        for i in range(12)
    ]


def ingest_documents(count: int) -> list[Document]:
    """The documents the ingestion pipeline reads: one to three paragraphs each."""
    return [
        Document(
            text="\n\n".join(
                f"Paragraph {p} of document {d} covers subject {(d + p) % 5} with words enough for a chunk."
                for p in range(1 + d % 3)
            ),
            id_=f"doc-{d:04}",
            metadata={"n": d},
        )
        for d in range(count)
    ]


def storage_context(path: str) -> StorageContext:
    """The three stores on one file, sharing one connection."""
    vector_store = SQLiteVecVectorStore(path, model_id=FAKE_MODEL_ID)
    return StorageContext.from_defaults(
        vector_store=vector_store,
        docstore=SQLiteVecDocumentStore.from_vector_store(vector_store),
        index_store=SQLiteVecIndexStore.from_vector_store(vector_store),
    )


def answers(index: BaseIndex[Any]) -> dict[str, Any]:
    """Each query's (node id, score, text) hits, and what the docstore knows of the documents."""
    retriever = index.as_retriever(similarity_top_k=4)
    docstore = index.storage_context.docstore
    return {
        "hits": [[[h.node.node_id, h.score, h.node.get_content()] for h in retriever.retrieve(q)] for q in QUERIES],
        "ref_docs": {doc_id: sorted(info.node_ids) for doc_id, info in index.ref_doc_info.items()},
        "doc_hashes": docstore.get_all_document_hashes(),
        "docstore_nodes": sorted(docstore.docs),
        "vector_nodes": sorted(n.node_id for n in index.vector_store.get_nodes()),  # type: ignore[attr-defined]
    }


def build(path: str) -> None:
    context = storage_context(path)
    # store_nodes_override: the docstore keeps the nodes too (and so ref_doc_info), not only the document hashes.
    index = VectorStoreIndex.from_documents(
        documents(), storage_context=context, embed_model=FakeEmbedding(), store_nodes_override=True
    )
    index.set_index_id(INDEX_ID)
    print(json.dumps(answers(index)))


def query(path: str) -> None:
    embed_model = FakeEmbedding()
    index = load_index_from_storage(
        storage_context(path), index_id=INDEX_ID, embed_model=embed_model, store_nodes_override=True
    )
    result = answers(index)
    result["document_vectors_computed"] = embed_model.fake.texts_embedded
    print(json.dumps(result))


def ingest(path: str, count: int, batch: int) -> None:
    vector_store = SQLiteVecVectorStore(path, model_id=FAKE_MODEL_ID)
    kvstore = SQLiteVecKVStore.from_vector_store(vector_store)
    pipeline = IngestionPipeline(
        transformations=[SPLITTER, CachedEmbedding.from_vector_store(FakeEmbedding(), vector_store)],
        docstore=SQLiteVecDocumentStore(kvstore),
        vector_store=vector_store,
        cache=IngestionCache(cache=kvstore, collection="pipeline_cache"),
        docstore_strategy=DocstoreStrategy.UPSERTS,
    )
    docs = ingest_documents(count)
    print("START", flush=True)
    for i in range(0, count, batch):
        with kvstore.atomic():
            pipeline.run(documents=docs[i : i + batch])
        print(f"BATCH {i // batch}", flush=True)
    print("DONE", flush=True)


def main(argv: list[str]) -> None:
    mode, path, *rest = argv
    if mode == "build":
        build(path)
    elif mode == "query":
        query(path)
    elif mode == "ingest":
        ingest(path, int(rest[0]), int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
