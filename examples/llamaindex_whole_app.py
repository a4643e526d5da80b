"""A whole LlamaIndex app in one SQLite file: vectors, docstore, index store, ingestion cache, chat history.

``ingest`` runs an ``IngestionPipeline`` over the Markdown files in
``examples/docs`` (or ``--docs``; split, then embedded with the local all-MiniLM-L6-v2
model), with its docstore, ingestion cache and vector store all in the file,
and records a ``VectorStoreIndex`` in the file's index store. Run it again
and nothing is embedded: unchanged files are skipped, and even a changed file
only sends its changed chunks to the model (the embedding cache). ``query``
is a fresh start: ``load_index_from_storage`` on the same file, retrieval for
a few questions, and the questions and answers kept as a chat history in the
file too. No LLM, no network, no JSON files beside the database.

Run it with::

    pip install "sqlitevec-store[llamaindex,local]"
    python examples/llamaindex_whole_app.py --db app.db ingest
    python examples/llamaindex_whole_app.py --db app.db query
    sqlitevec-store stats --db app.db   # the collection and every key-value namespace

Without a command it does both, in a temporary file unless ``--db`` is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import DocstoreStrategy, IngestionCache, IngestionPipeline
from llama_index.core.llms import ChatMessage
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import Document

from llamaindex_sqlitevec import (
    CachedEmbedding,
    SentenceTransformerEmbedding,
    SQLiteVecChatStore,
    SQLiteVecDocumentStore,
    SQLiteVecIndexStore,
    SQLiteVecKVStore,
    SQLiteVecVectorStore,
)

EXAMPLES = Path(__file__).resolve().parent
DOCS_DIR = EXAMPLES / "docs"
INDEX_ID = "docs"
CHAT_KEY = "example-session"
QUESTIONS = ["How do I restore a backup?", "Which port does the server listen on?", "The service will not start"]


def load_documents(docs_dir: Path = DOCS_DIR) -> list[Document]:
    """One document per Markdown file, its id the file name (so an edited file replaces its old version)."""
    return [
        Document(text=path.read_text(encoding="utf-8"), id_=path.name, metadata={"source": path.name})
        for path in sorted(docs_dir.glob("*.md"))
    ]


def open_stores(db_path: str, model_id: str) -> StorageContext:
    """The vector store, docstore and index store of the app: one file, one connection."""
    vector_store = SQLiteVecVectorStore(db_path, model_id=model_id)
    return StorageContext.from_defaults(
        vector_store=vector_store,
        docstore=SQLiteVecDocumentStore.from_vector_store(vector_store),
        index_store=SQLiteVecIndexStore.from_vector_store(vector_store),
    )


def ingest(db_path: str, embed_model: BaseEmbedding, model_id: str, out: TextIO, docs_dir: Path = DOCS_DIR) -> None:
    """Bring the file in step with ``docs_dir``: new and changed files in, removed files out."""
    storage = open_stores(db_path, model_id)
    vector_store = storage.vector_store
    assert isinstance(vector_store, SQLiteVecVectorStore)
    kvstore = SQLiteVecKVStore.from_vector_store(vector_store)
    cached_model = CachedEmbedding.from_vector_store(embed_model, vector_store, model_id=model_id)
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=200, chunk_overlap=20), cached_model],
        docstore=storage.docstore,
        vector_store=vector_store,
        cache=IngestionCache(cache=kvstore, collection="ingestion_cache"),
        docstore_strategy=DocstoreStrategy.UPSERTS_AND_DELETE,
    )
    try:
        documents = load_documents(docs_dir)
        with kvstore.atomic():  # the run's writes commit together: a crash leaves the file as it was
            nodes = pipeline.run(documents=documents)
            if storage.index_store.get_index_struct(INDEX_ID) is None:
                # Record the index in the file's index store, so load_index_from_storage finds it.
                index = VectorStoreIndex(nodes=[], storage_context=storage, embed_model=cached_model)
                index.set_index_id(INDEX_ID)
        print(
            f"Ingested {len(documents)} files into {db_path}: {len(nodes)} chunks (re)written, "
            f"embedded {cached_model.embedded}, reused {cached_model.reused}; "
            f"{vector_store.collection.count()} chunks stored",
            file=out,
        )
    finally:
        vector_store.close()


def query(db_path: str, embed_model: BaseEmbedding, model_id: str, out: TextIO, top_k: int = 2) -> None:
    """A fresh start: reload the index from the file, retrieve, and keep the exchange as a chat history."""
    storage = open_stores(db_path, model_id)
    vector_store = storage.vector_store
    assert isinstance(vector_store, SQLiteVecVectorStore)
    try:
        index = load_index_from_storage(storage, index_id=INDEX_ID, embed_model=embed_model)
        chat_store = SQLiteVecChatStore.from_vector_store(vector_store)
        retriever = index.as_retriever(similarity_top_k=top_k)
        for question in QUESTIONS:
            hits = retriever.retrieve(question)
            print(f"Q: {question}", file=out)
            for hit in hits:
                print(f"  {hit.score or 0.0:.3f}  {hit.node.metadata['source']}", file=out)
            chat_store.add_message(CHAT_KEY, ChatMessage(role="user", content=question))
            chat_store.add_message(CHAT_KEY, ChatMessage(role="assistant", content=hits[0].node.get_content()))
        print(f"Chat history {CHAT_KEY!r}: {len(chat_store.get_messages(CHAT_KEY))} messages", file=out)
    finally:
        vector_store.close()


def main(
    argv: Sequence[str] | None = None, *, embed_model: BaseEmbedding | None = None, out: TextIO = sys.stdout
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", help="the app's SQLite file (default: a temporary file)")
    parser.add_argument("--docs", type=Path, default=DOCS_DIR, help="folder of Markdown files (default: examples/docs)")
    parser.add_argument("command", nargs="?", choices=["ingest", "query"], help="one step (default: both)")
    args = parser.parse_args(argv)

    model = embed_model or SentenceTransformerEmbedding()
    model_id = getattr(model, "model_id", None) or model.model_name
    with tempfile.TemporaryDirectory() as tmp:
        db_path = args.db or str(Path(tmp) / "llamaindex_whole_app.db")
        if args.command in (None, "ingest"):
            ingest(db_path, model, model_id, out, args.docs)
        if args.command in (None, "query"):
            query(db_path, model, model_id, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
