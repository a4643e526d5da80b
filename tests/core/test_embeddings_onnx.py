"""The ONNX backends end to end: export from the bundled model, agreement with torch, ids, reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sqlitevec_store import DEFAULT_MODEL, Database, ModelMismatchError, SentenceTransformerEmbedder
from sqlitevec_store.embeddings import Backend
from tests.onnx_support import onnx_cache

__all__ = ["onnx_cache"]  # the fixture, imported for pytest

pytestmark = pytest.mark.model

TEXTS = [
    "To restore from a backup, stop the server, then run the restore command with the archive path.",
    "Backups run nightly at 02:00.",
    "TLS needs a certificate and a key; the server refuses plain connections once it is enabled.",
    "Vacuum reclaims storage occupied by dead tuples. " * 60,  # past the 256-token window
    "Les sauvegardes sont chiffrées avec AES-256 — 東京のサーバー.",
    "Cats purr.",
]


@pytest.fixture
def onnx(onnx_cache: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(backend="onnx")


def test_onnx_vectors_are_torch_vectors(onnx: SentenceTransformerEmbedder, minilm: SentenceTransformerEmbedder) -> None:
    assert onnx.model_id == minilm.model_id == DEFAULT_MODEL
    docs = onnx.embed_documents(TEXTS)
    assert docs.shape == (len(TEXTS), 384) and docs.dtype == np.float32
    np.testing.assert_allclose(docs, minilm.embed_documents(TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    for text in ("where are backups kept?", ""):
        np.testing.assert_allclose(onnx.embed_query(text), minilm.embed_query(text), atol=1e-5)
    assert onnx.dimension == 384
    assert onnx.embed_documents([]).shape[0] == 0


def test_export_is_checked_and_cached(onnx: SentenceTransformerEmbedder, onnx_cache: Path) -> None:
    onnx.embed_query("load it")
    exports = list((onnx_cache / "onnx").iterdir())
    assert len(exports) == 1 and exports[0].name.startswith("sentence-transformers--all-MiniLM-L6-v2-")
    manifest = json.loads((exports[0] / "manifest.json").read_text())
    assert manifest["model_id"] == DEFAULT_MODEL and manifest["pooling"] == "mean" and manifest["normalize"]
    assert manifest["check"]["max_abs_diff"] < 1e-5  # the export was compared with PyTorch
    assert not [p for p in (onnx_cache / "onnx").iterdir() if p.name.startswith(".")]  # no leftovers


def test_int8_is_close_but_has_its_own_model_id(onnx_cache: Path, minilm: SentenceTransformerEmbedder) -> None:
    int8 = SentenceTransformerEmbedder(backend="onnx-int8")
    assert int8.model_id == DEFAULT_MODEL + "#onnx-int8"
    cosine = (int8.embed_documents(TEXTS) * minilm.embed_documents(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98, cosine
    assert float(int8.embed_query("backups") @ minilm.embed_query("backups")) > 0.95
    (export,) = (onnx_cache / "onnx").iterdir()
    assert (export / "model_int8.onnx").is_file()


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_a_text_gets_the_same_vector_whatever_its_batch(onnx_cache: Path, backend: Backend) -> None:
    embedder = SentenceTransformerEmbedder(backend=backend, query_cache_size=0)
    batched = embedder.embed_documents([*TEXTS, "backups", "where are backups kept?"])
    alone = np.stack([embedder.embed_documents([t])[0] for t in [*TEXTS, "backups", "where are backups kept?"]])
    np.testing.assert_allclose(batched, alone, atol=1e-6)
    np.testing.assert_allclose(embedder.embed_query("backups"), batched[-2], atol=1e-6)


def test_prompts_and_options_apply_as_with_torch(onnx_cache: Path, minilm: SentenceTransformerEmbedder) -> None:
    onnx = SentenceTransformerEmbedder(
        backend="onnx", query_prompt="query: ", encode_kwargs={"batch_size": 2}, query_cache_size=0
    )
    torch_prompted = SentenceTransformerEmbedder(query_prompt="query: ", query_cache_size=0)
    np.testing.assert_allclose(onnx.embed_query("backups"), torch_prompted.embed_query("backups"), atol=1e-5)
    np.testing.assert_allclose(onnx.embed_documents(TEXTS), minilm.embed_documents(TEXTS), atol=1e-5)


def test_a_later_process_reuses_the_export_without_torch(onnx: SentenceTransformerEmbedder, onnx_cache: Path) -> None:
    onnx.embed_query("export first")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (onnx_cache / "onnx").rglob("*"))
    code = (
        "import sys\n"
        "from sqlitevec_store import SentenceTransformerEmbedder\n"
        "v = SentenceTransformerEmbedder(backend='onnx').embed_query('backups')\n"
        "assert v.shape == (384,), v.shape\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "SQLITEVEC_STORE_CACHE_DIR": str(onnx_cache)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (onnx_cache / "onnx").rglob("*")) == before


def test_collections_are_shared_with_torch_but_not_with_int8(
    onnx: SentenceTransformerEmbedder, minilm: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    with Database(tmp_path / "shared.db") as db:
        col = db.collection("docs", model_id=minilm.model_id)
        col.add(TEXTS, minilm.embed_documents(TEXTS))
        by_torch = col.search(minilm.embed_query("how do I restore a backup?"), k=3)
        reopened = db.collection("docs", model_id=onnx.model_id)
        by_onnx = reopened.search(onnx.embed_query("how do I restore a backup?"), k=3)
        assert [h.id for h in by_onnx] == [h.id for h in by_torch]
        np.testing.assert_allclose([h.similarity for h in by_onnx], [h.similarity for h in by_torch], atol=1e-5)
        with pytest.raises(ModelMismatchError):
            db.collection("docs", model_id=SentenceTransformerEmbedder(backend="onnx-int8").model_id)
