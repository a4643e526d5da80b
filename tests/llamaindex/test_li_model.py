"""End to end with the real all-MiniLM-L6-v2 model (loaded once for the module), and the example."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from llamaindex_sqlitevec import SentenceTransformerEmbedding, SQLiteVecVectorStore
from sqlitevec_store import DEFAULT_MODEL, ModelMismatchError

pytestmark = pytest.mark.model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llamaindex_rag.py"


@pytest.fixture(scope="module")
def minilm() -> Iterator[SentenceTransformerEmbedding]:
    embedding = SentenceTransformerEmbedding()
    embedding.get_query_embedding("warm up")  # load once for the module
    yield embedding


def test_real_embeddings(minilm: SentenceTransformerEmbedding) -> None:
    assert minilm.model_id == DEFAULT_MODEL
    texts = ["The server listens on port 8420.", "Backups are written every night.", "Bonjour"]
    batch = np.array(minilm.get_text_embedding_batch(texts))
    assert batch.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batch[1], minilm.get_text_embedding(texts[1]), atol=1e-5)
    query = np.array(minilm.get_query_embedding("Which port does the server use?"))
    assert int(np.argmax(batch @ query)) == 0


async def test_real_async_embeddings(minilm: SentenceTransformerEmbedding) -> None:
    sync = minilm.get_query_embedding("hello world")
    np.testing.assert_allclose(await minilm.aget_query_embedding("hello world"), sync, atol=1e-6)


def test_index_with_the_real_model(tmp_path: Path, minilm: SentenceTransformerEmbedding) -> None:
    path = tmp_path / "real.db"
    store = SQLiteVecVectorStore(path, model_id=minilm.model_id)
    nodes = [
        TextNode(text="Set server.port to change the listening port.", metadata={"area": "network"}),
        TextNode(text="Run harborctl backup to write a snapshot of the data.", metadata={"area": "backup"}),
        TextNode(text="Restore a snapshot with harborctl restore.", metadata={"area": "backup"}),
    ]
    index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=minilm
    )
    top = index.as_retriever(similarity_top_k=1).retrieve("How do I restore my data?")
    assert top[0].node.get_content() == nodes[2].text
    backup_only = MetadataFilters(filters=[MetadataFilter(key="area", value="backup")])
    hits = index.as_retriever(similarity_top_k=5, filters=backup_only).retrieve("listening port")
    assert sorted(h.node.get_content() for h in hits) == sorted([nodes[1].text, nodes[2].text])
    store.close()
    with pytest.raises(ModelMismatchError):
        SQLiteVecVectorStore(path, model_id="sentence-transformers/all-mpnet-base-v2")


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llamaindex_rag_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_example_runs(tmp_path: Path, minilm: SentenceTransformerEmbedding, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example()
    db = tmp_path / "rag.db"
    assert example.main(["--db", str(db)], embed_model=minilm) == 0
    output = capsys.readouterr().out
    assert "Reopened" in output and "Query engine: How do I enable HTTPS?" in output
    assert "Configuration > TLS certificates > Enabling HTTPS" in output

    # Most questions find their expected section among the three hits.
    sections = output.split("Q: ")[1:]
    lines = Path(EXAMPLE.parent / "questions.txt").read_text(encoding="utf-8").splitlines()
    expected = dict(line.split("\t") for line in lines if line.strip())
    found = sum(
        1 for section in sections if any(section.startswith(q) and path in section for q, path in expected.items())
    )
    assert found >= len(expected) - 1, output

    # The file is reusable: a second run rebuilds the same collection.
    assert example.main(["--db", str(db)], embed_model=minilm) == 0
    assert SQLiteVecVectorStore(db, model_id=minilm.model_id).collection.count() == len(example.load_nodes())
