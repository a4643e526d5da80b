"""Retrieval-augmented generation with LangChain over the sample documents in examples/docs.

The Markdown files are split into one chunk per heading section, embedded with
the local all-MiniLM-L6-v2 model and stored in SQLite. A retriever from
``as_retriever()`` feeds an LCEL chain:

    {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | model

The model step is pluggable. With no chat model configured, the chain ends by
rendering the assembled prompt, which is printed, so the example runs offline.
To call a real model, install ``langchain`` and a provider package and name the
model in ``SQLITEVEC_RAG_CHAT_MODEL`` (for example ``openai:gpt-4o-mini`` or
``ollama:llama3.2``), or pass any chat model to :func:`main`.

Run:
    pip install "sqlitevec-store[langchain,local]"
    python examples/langchain_rag.py "How do I restore from a backup?"
    python examples/langchain_rag.py --db harbor.db --source configuration.md "Which port does the server use?"

With ``--db`` the index is kept in a file and reused on the next run without
re-embedding.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore
from sqlitevec_store.chunking import split_markdown

DOCS_DIR = Path(__file__).resolve().parent / "docs"
COLLECTION = "harbor_docs"
CHAT_MODEL_ENV = "SQLITEVEC_RAG_CHAT_MODEL"

PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You answer questions about Harbor Notes using only the numbered context passages. "
            "Cite the passages you use like [1]. If the context does not contain the answer, say so.",
        ),
        ("human", "Context:\n\n{context}\n\nQuestion: {question}"),
    ]
)


def load_documents(docs_dir: Path = DOCS_DIR) -> Iterator[Document]:
    """One Document per heading section of every Markdown file, with a stable id."""
    for path in sorted(docs_dir.glob("*.md")):
        for chunk in split_markdown(path.read_text(encoding="utf-8"), source=path.name):
            chunk_id = f"{path.name}#{chunk.metadata['chunk_index']}"
            yield Document(page_content=chunk.text, metadata=chunk.metadata, id=chunk_id)


def format_docs(docs: Sequence[Document]) -> str:
    """Number the retrieved passages (each starts with its heading path) and name their files."""
    return "\n\n".join(f"[{n}] ({d.metadata.get('source', '?')})\n{d.page_content}" for n, d in enumerate(docs, 1))


def render_prompt(prompt: PromptValue) -> str:
    """The assembled prompt as text: what a chat model would receive."""
    return "\n\n".join(f"=== {message.type} ===\n{message.content}" for message in prompt.to_messages())


def chat_model_from_env() -> Runnable[Any, Any] | None:
    """The chat model named in SQLITEVEC_RAG_CHAT_MODEL (``provider:model``), or None."""
    spec = os.environ.get(CHAT_MODEL_ENV, "").strip()
    if not spec:
        return None
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise SystemExit(f"{CHAT_MODEL_ENV}={spec!r} needs `pip install langchain` and the provider package") from exc
    model: Runnable[Any, Any] = init_chat_model(spec)
    return model


def build_chain(
    retriever: Runnable[str, list[Document]], model: Runnable[Any, Any] | None = None
) -> Runnable[str, str]:
    """The RAG chain; without a model it returns the rendered prompt instead of an answer."""
    answer_step: Runnable[Any, str] = model | StrOutputParser() if model is not None else RunnableLambda(render_prompt)
    return {"context": retriever | format_docs, "question": RunnablePassthrough()} | PROMPT | answer_step


def open_store(db_path: str, embeddings: Embeddings) -> SQLiteVecVectorStore:
    """Open the index, embedding the sample documents only if it is empty."""
    store = SQLiteVecVectorStore(embeddings, db_path=db_path, collection_name=COLLECTION)
    if store.collection.count() == 0:
        store.add_documents(load_documents())
    return store


def main(
    argv: Sequence[str] | None = None,
    *,
    model: Runnable[Any, Any] | None = None,
    embeddings: Embeddings | None = None,
) -> str:
    """Answer (or, without a chat model, print the prompt for) one question; returns the printed text."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="How do I restore from a backup?")
    parser.add_argument("--db", default=":memory:", help="SQLite file for the index (default: in memory)")
    parser.add_argument("-k", type=int, default=3, help="passages to retrieve (default 3)")
    parser.add_argument("--search-type", choices=["similarity", "mmr"], default="similarity")
    parser.add_argument("--source", help="only retrieve from this file, e.g. configuration.md")
    args = parser.parse_args(argv)

    search_kwargs: dict[str, Any] = {"k": args.k}
    if args.source:
        search_kwargs["filter"] = {"source": args.source}

    with open_store(args.db, embeddings or SentenceTransformerEmbeddings()) as store:
        retriever = store.as_retriever(search_type=args.search_type, search_kwargs=search_kwargs)
        model = model if model is not None else chat_model_from_env()
        chain = build_chain(retriever, model)
        if model is None:
            print(f"(No chat model configured: set {CHAT_MODEL_ENV}=provider:model. The assembled prompt:)\n")
        result = chain.invoke(args.question)
    print(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
