"""Smoke-test an installed sqlitevec-store wheel: ``python wheel_smoke.py EXTRA``.

Run by ``scripts/wheel_matrix.sh`` inside a fresh virtual environment that has
the built wheel installed with one extra (``core`` means no extra). Checks that:

* the packages this extra provides import, from the installed wheel (not a
  checkout), each with ``__version__`` equal to the distribution's version and
  a ``py.typed`` marker; the adapters whose framework is absent fail to import;
* importing them imports neither torch nor sentence-transformers (nor, for the
  core, either framework);
* the distributions that extra must not pull are not installed (the bare core
  has no torch, no langchain-core, no llama-index-core);
* an add-and-search with raw vectors works through the core (in memory and on
  a file), and through each installed adapter with a deterministic fake
  embedding; with ``local``/``all``, the real default model embeds offline
  and the search writes nothing to stdout or stderr (no progress bars, no
  tokenizer warnings).

Exits non-zero, with the failed check on stderr, on the first failure.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as md
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DIST = "sqlitevec-store"
EXTRAS: dict[str, dict[str, Any]] = {
    # packages importable, adapters that must not import, distributions that must be absent
    "core": {
        "packages": ["sqlitevec_store"],
        "absent_packages": ["langchain_sqlitevec", "llamaindex_sqlitevec"],
        "absent_dists": [
            "torch",
            "sentence-transformers",
            "transformers",
            "langchain-core",
            "llama-index-core",
            "psycopg",
        ],
    },
    "langchain": {
        "packages": ["sqlitevec_store", "langchain_sqlitevec"],
        "absent_packages": ["llamaindex_sqlitevec"],
        "absent_dists": ["torch", "sentence-transformers", "transformers", "llama-index-core"],
    },
    "llamaindex": {
        "packages": ["sqlitevec_store", "llamaindex_sqlitevec"],
        "absent_packages": ["langchain_sqlitevec"],
        "absent_dists": ["torch", "sentence-transformers", "transformers", "langchain-core"],
    },
    "postgres": {
        "packages": ["sqlitevec_store"],
        "absent_packages": ["langchain_sqlitevec", "llamaindex_sqlitevec"],
        "absent_dists": ["torch", "sentence-transformers", "langchain-core", "llama-index-core"],
    },
    "local": {
        "packages": ["sqlitevec_store"],
        "absent_packages": ["langchain_sqlitevec", "llamaindex_sqlitevec"],
        "absent_dists": ["langchain-core", "llama-index-core"],
    },
    "all": {
        "packages": ["sqlitevec_store", "langchain_sqlitevec", "llamaindex_sqlitevec"],
        "absent_packages": [],
        "absent_dists": [],
    },
}
HEAVY = ("torch", "sentence_transformers", "transformers")
FRAMEWORKS = ("langchain_core", "llama_index")
DIM = 16
TEXTS = ["Backups run nightly at 02:00.", "TLS needs a certificate and a key.", "Logs rotate every week."]
TOPICS = ["ops", "security", "ops"]


def check(condition: object, message: str) -> None:
    """Fail the smoke test with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SystemExit(f"FAIL: {message}")


def fake_vector(text: str) -> list[float]:
    """A deterministic unit vector from the text's hash (equal texts, equal vectors)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    raw = [b - 127.5 for b in digest[:DIM]]
    norm = sum(x * x for x in raw) ** 0.5
    return [x / norm for x in raw]


def step(name: str, started: float) -> None:
    """Report a passed check and its time."""
    print(f"  ok  {name} ({time.perf_counter() - started:.2f} s)", flush=True)


def check_install(extra: str, spec: dict[str, Any]) -> str:
    """The distribution comes from a wheel file and pulled nothing it must not; returns its version."""
    version = md.version(DIST)
    dist = md.distribution(DIST)
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    check(
        direct_url.get("url", "").endswith(".whl") and not direct_url.get("dir_info", {}).get("editable"),
        f"{DIST} is not installed from a wheel file: {direct_url}",
    )
    installed = {(d.metadata["Name"] or "").lower().replace("_", "-").replace(".", "-") for d in md.distributions()}
    present = [name for name in spec["absent_dists"] if name in installed]
    check(not present, f"[{extra}] pulled distributions it must not: {present}")
    return version


def check_imports(spec: dict[str, Any], version: str) -> None:
    """Each package imports from this environment with the right version and py.typed; no torch on import."""
    for name in spec["packages"]:
        module = importlib.import_module(name)
        location = Path(module.__file__ or "").resolve()
        check(
            Path(sys.prefix).resolve() in location.parents,
            f"{name} imported from {location}, not from this environment",
        )
        check(
            module.__version__ == version, f"{name}.__version__ is {module.__version__!r}, distribution is {version!r}"
        )
        check((location.parent / "py.typed").is_file(), f"{name} ships no py.typed")
    for name in spec["absent_packages"]:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        raise SystemExit(f"FAIL: {name} imported although its framework is not installed")
    # Fresh interpreters: importing the packages loads no model stack, and the core loads no framework.
    for names, unwanted in ((spec["packages"], HEAVY), (["sqlitevec_store"], HEAVY + FRAMEWORKS)):
        code = f"import json, sys, {', '.join(names)}; print(json.dumps([m for m in {unwanted!r} if m in sys.modules]))"
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        loaded = json.loads(out)
        check(loaded == [], f"importing {', '.join(names)} imported {loaded}")


def check_cli(version: str) -> None:
    """The console script is installed and reports the version."""
    exe = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin") / "sqlitevec-store"
    out = subprocess.run([str(exe), "--version"], check=True, capture_output=True, text=True).stdout
    check(version in out, f"sqlitevec-store --version printed {out!r}")


def core_search(tmp: Path) -> None:
    """Add and search raw vectors through the core, in memory and on a file."""
    from sqlitevec_store import Database, Record, parse_filter_dict

    for target in (":memory:", str(tmp / "core.db")):
        with Database(target) as db:
            docs = db.collection("smoke")
            docs.upsert(
                Record(text=t, vector=fake_vector(t), metadata={"topic": topic}, id=f"doc-{i}")
                for i, (t, topic) in enumerate(zip(TEXTS, TOPICS, strict=True))
            )
            check(docs.count() == 3, f"core count is {docs.count()}")
            hits = docs.search(fake_vector(TEXTS[1]), k=2)
            check(hits[0].id == "doc-1" and abs(hits[0].similarity - 1) < 1e-5, f"core search gave {hits}")
            hits = docs.search(fake_vector(TEXTS[1]), k=3, filter=parse_filter_dict({"topic": "ops"}))
            check({h.id for h in hits} == {"doc-0", "doc-2"}, f"core filtered search gave {hits}")
    with Database(str(tmp / "core.db"), read_only=True) as db:
        check(db.collection("smoke", create=False).count() == 3, "the file did not keep the records")


def langchain_search() -> None:
    """Add and search through the LangChain vector store with a fake embedding."""
    from langchain_core.embeddings import Embeddings

    from langchain_sqlitevec import SQLiteVecVectorStore

    class FakeEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [fake_vector(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return fake_vector(text)

    store = SQLiteVecVectorStore(FakeEmbeddings(), collection_name="lc")
    try:
        ids = store.add_texts(TEXTS, metadatas=[{"topic": t} for t in TOPICS], ids=["a", "b", "c"])
        check(ids == ["a", "b", "c"], f"add_texts returned {ids}")
        docs = store.similarity_search(TEXTS[2], k=1)
        check(docs[0].id == "c" and docs[0].page_content == TEXTS[2], f"LangChain search gave {docs}")
        docs = store.similarity_search(TEXTS[1], k=3, filter={"topic": "ops"})
        check({d.id for d in docs} == {"a", "c"}, f"LangChain filtered search gave {docs}")
    finally:
        store.close()


def llamaindex_search() -> None:
    """Add and search through the LlamaIndex vector store with a fake embedding."""
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

    from llamaindex_sqlitevec import SQLiteVecVectorStore

    class FakeEmbedding(BaseEmbedding):
        def _get_text_embedding(self, text: str) -> list[float]:
            return fake_vector(text)

        def _get_query_embedding(self, query: str) -> list[float]:
            return fake_vector(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return fake_vector(query)

    store = SQLiteVecVectorStore(collection_name="li")
    try:
        nodes = [
            TextNode(id_=f"n{i}", text=t, metadata={"topic": topic}, excluded_embed_metadata_keys=["topic"])
            for i, (t, topic) in enumerate(zip(TEXTS, TOPICS, strict=True))
        ]
        index = VectorStoreIndex(
            nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=FakeEmbedding()
        )
        hits = index.as_retriever(similarity_top_k=1).retrieve(TEXTS[0])
        check(hits[0].node.node_id == "n0" and abs((hits[0].score or 0) - 1) < 1e-5, f"LlamaIndex search gave {hits}")
        filters = MetadataFilters(filters=[MetadataFilter(key="topic", value="ops")])
        hits = index.as_retriever(similarity_top_k=3, filters=filters).retrieve(TEXTS[1])
        check({h.node.node_id for h in hits} == {"n0", "n2"}, f"LlamaIndex filtered search gave {hits}")
    finally:
        store.close()


def real_model_search(packages: list[str]) -> None:
    """Embed with the real default model (offline) through the core and each installed adapter."""
    from sqlitevec_store import Database, SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    with Database(":memory:") as db:
        docs = db.collection("real", model_id=embedder.model_id)
        docs.add(TEXTS, embedder.embed_documents(TEXTS), ids=["backup", "tls", "logs"])
        check(docs.dimension == 384, f"default model gave dimension {docs.dimension}")
        hits = docs.search(embedder.embed_query("when do backups run?"), k=1)
        check(hits[0].id == "backup", f"real-model search gave {hits}")
    if "langchain_sqlitevec" in packages:
        from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore

        lc_store = SQLiteVecVectorStore(SentenceTransformerEmbeddings(), collection_name="lc_real")
        try:
            lc_store.add_texts(TEXTS, ids=["backup", "tls", "logs"])
            found = lc_store.similarity_search("which certificate does TLS need?", k=1)
            check(found[0].id == "tls", f"LangChain real-model search gave {found}")
        finally:
            lc_store.close()
    if "llamaindex_sqlitevec" in packages:
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.core.schema import TextNode

        from llamaindex_sqlitevec import SentenceTransformerEmbedding
        from llamaindex_sqlitevec import SQLiteVecVectorStore as LIStore

        embed_model = SentenceTransformerEmbedding()
        li_store = LIStore(collection_name="li_real", model_id=embed_model.model_id)
        try:
            index = VectorStoreIndex(
                [TextNode(id_=i, text=t) for i, t in zip(["backup", "tls", "logs"], TEXTS, strict=True)],
                storage_context=StorageContext.from_defaults(vector_store=li_store),
                embed_model=embed_model,
            )
            found_nodes = index.as_retriever(similarity_top_k=1).retrieve("how often do logs rotate?")
            check(found_nodes[0].node.node_id == "logs", f"LlamaIndex real-model search gave {found_nodes}")
        finally:
            li_store.close()


def postgres_ready() -> None:
    """The ``postgres`` extra brings psycopg 3 and its pool; the backend imports (no server here)."""
    import psycopg
    import psycopg_pool

    from sqlitevec_store.backends.postgres import backend
    from sqlitevec_store.backends.postgres.connection import is_postgres_url

    check(psycopg.__version__.startswith("3."), f"psycopg {psycopg.__version__}")
    check(hasattr(psycopg_pool, "ConnectionPool") and hasattr(backend, "PostgresBackend"), "backend import")
    check(is_postgres_url("postgresql://h/db") and not is_postgres_url("notes.db"), "URL detection")


def main() -> None:
    """Run every check for the extra named on the command line."""
    if len(sys.argv) == 3 and sys.argv[1] == "--real-model" and sys.argv[2] in EXTRAS:
        real_model_search(EXTRAS[sys.argv[2]]["packages"])
        return
    if len(sys.argv) != 2 or sys.argv[1] not in EXTRAS:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(EXTRAS)}}}")
    extra = sys.argv[1]
    spec = EXTRAS[extra]
    print(f"smoke [{extra}] with Python {sys.version.split()[0]} in {sys.prefix}", flush=True)

    t = time.perf_counter()
    version = check_install(extra, spec)
    step(f"installed {DIST} {version} from a wheel; no unwanted distributions", t)
    t = time.perf_counter()
    check_imports(spec, version)
    step(f"import {', '.join(spec['packages'])}: __version__ {version}, py.typed, no torch", t)
    t = time.perf_counter()
    check_cli(version)
    step("sqlitevec-store --version", t)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        core_search(Path(tmp))
        step("core add + search (memory and file) with raw vectors", t)
    if "langchain_sqlitevec" in spec["packages"]:
        t = time.perf_counter()
        langchain_search()
        step("LangChain add + search with a fake embedding", t)
    if "llamaindex_sqlitevec" in spec["packages"]:
        t = time.perf_counter()
        llamaindex_search()
        step("LlamaIndex add + search with a fake embedding", t)
    if extra in ("postgres", "all"):
        t = time.perf_counter()
        postgres_ready()
        step("psycopg, psycopg-pool and the Postgres backend import; a URL is told from a path", t)
    if extra in ("local", "all"):
        # In a child process, so that everything it writes can be checked: a normal search with the
        # real model shows no progress bar, tokenizer warning or anything else.
        t = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--real-model", extra], capture_output=True, text=True, check=False
        )
        check(child.returncode == 0, f"real-model search failed:\n{child.stdout}{child.stderr}")
        check(child.stdout == "" and child.stderr == "", f"real-model search wrote:\n{child.stdout}{child.stderr}")
        step("real all-MiniLM-L6-v2 embed + search, offline, silent", t)
    print(f"smoke [{extra}] passed", flush=True)


if __name__ == "__main__":
    main()
