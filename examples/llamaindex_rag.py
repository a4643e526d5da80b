"""Retrieval for RAG with LlamaIndex, stored in one SQLite file.

Splits the Markdown files in ``examples/docs`` into one node per heading
section, embeds them with the local all-MiniLM-L6-v2 model, stores them with
``SQLiteVecVectorStore`` through a ``VectorStoreIndex``, then reopens the file
(nothing is embedded again) and retrieves: plain, with a metadata filter, and
through a query engine that answers with the retrieved context. No LLM and no
network are needed.

Run it with::

    pip install "sqlitevec-store[llamaindex,local]"
    python examples/llamaindex_rag.py --db rag.db
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers.context_only import ContextOnly
from llama_index.core.schema import NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from llamaindex_sqlitevec import SentenceTransformerEmbedding, SQLiteVecVectorStore
from sqlitevec_store.chunking import split_markdown

EXAMPLES = Path(__file__).resolve().parent
DOCS_DIR = EXAMPLES / "docs"
QUESTIONS_FILE = EXAMPLES / "questions.txt"


def load_nodes(docs_dir: Path = DOCS_DIR) -> list[TextNode]:
    """One TextNode per Markdown section; each file is the nodes' source document."""
    nodes = []
    for path in sorted(docs_dir.glob("*.md")):
        for chunk in split_markdown(path.read_text(encoding="utf-8"), source=path.name):
            nodes.append(
                TextNode(
                    id_=f"{path.name}#{chunk.metadata['chunk_index']}",
                    text=chunk.text,
                    metadata=chunk.metadata,
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=path.name)},
                    # The chunk text already starts with its heading path: embed the text alone.
                    excluded_embed_metadata_keys=list(chunk.metadata),
                    excluded_llm_metadata_keys=[k for k in chunk.metadata if k != "source"],
                )
            )
    return nodes


def load_questions(path: Path = QUESTIONS_FILE) -> list[str]:
    """The questions of ``questions.txt`` (one per line, an expected answer after a tab)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[0] for line in lines if line.strip()]


def build_index(db_path: str, embed_model: BaseEmbedding, model_id: str | None) -> int:
    """Embed and store every section; returns how many nodes were stored."""
    nodes = load_nodes()
    store = SQLiteVecVectorStore(db_path, model_id=model_id)
    try:
        store.clear()  # rebuild from scratch on every run
        VectorStoreIndex(
            nodes,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed_model,
        )
    finally:
        store.close()
    return len(nodes)


def print_hits(hits: Sequence[NodeWithScore], out: TextIO) -> None:
    for hit in hits:
        path = " > ".join(hit.node.metadata.get("heading_path", []))
        print(f"  {hit.score or 0.0:.3f}  {path}  ({hit.node.metadata.get('source')})", file=out)


def main(
    argv: Sequence[str] | None = None, *, embed_model: BaseEmbedding | None = None, out: TextIO = sys.stdout
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", help="SQLite file to write (default: a temporary file)")
    parser.add_argument("--top-k", type=int, default=3, help="hits per question")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        db_path = args.db or str(Path(tmp) / "llamaindex_rag.db")
        model = embed_model or SentenceTransformerEmbedding()
        model_id = getattr(model, "model_id", None)

        count = build_index(db_path, model, model_id)
        print(f"Indexed {count} sections of {DOCS_DIR.name}/*.md into {db_path}", file=out)

        # Reopen the file: the stored vectors are used as they are, nothing is re-embedded.
        store = SQLiteVecVectorStore(db_path, model_id=model_id)
        try:
            index = VectorStoreIndex.from_vector_store(store, embed_model=model)
            print(f"Reopened {db_path}: {store.collection.count()} nodes\n", file=out)

            retriever = index.as_retriever(similarity_top_k=args.top_k)
            for question in load_questions():
                print(f"Q: {question}", file=out)
                print_hits(retriever.retrieve(question), out)

            only_config = MetadataFilters(filters=[MetadataFilter(key="source", value="configuration.md")])
            question = "How do I change the port?"
            print(f"\nQ: {question}  [filter: source == configuration.md]", file=out)
            print_hits(index.as_retriever(similarity_top_k=2, filters=only_config).retrieve(question), out)

            # A query engine that answers with the retrieved context: the MockLLM
            # only satisfies the constructor and is never called.
            engine = RetrieverQueryEngine(
                retriever=index.as_retriever(similarity_top_k=1),
                response_synthesizer=ContextOnly(llm=MockLLM()),
            )
            question = "How do I enable HTTPS?"
            print(f"\nQuery engine: {question}\n{engine.query(question)}", file=out)
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
