"""The local embedder: canonical ids, lazy loading, the query cache, the bundled offline model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from sqlitevec_store import DEFAULT_MODEL, Database, SentenceTransformerEmbedder, canonical_model_id
from sqlitevec_store import embeddings as embeddings_module
from sqlitevec_store.embeddings import local as local_module
from sqlitevec_store.errors import InvalidInputError, InvalidInputTypeError, SqliteVecStoreError


def test_canonical_model_ids(tmp_path: Path) -> None:
    assert canonical_model_id("all-MiniLM-L6-v2") == DEFAULT_MODEL
    assert canonical_model_id(DEFAULT_MODEL) == DEFAULT_MODEL
    assert canonical_model_id("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert canonical_model_id(str(tmp_path)) == str(tmp_path.resolve())
    bundled = embeddings_module.bundled_model_path()
    if bundled is not None:
        assert canonical_model_id(str(bundled)) == DEFAULT_MODEL
    with pytest.raises(InvalidInputError):
        canonical_model_id("  ")


def test_model_ids_per_backend() -> None:
    # ONNX fp32 vectors agree with torch's to float32 rounding: same id, collections shared
    assert canonical_model_id("all-MiniLM-L6-v2", backend="onnx") == DEFAULT_MODEL
    # int8 vectors move (cosine ~0.994): another id, so the registry keeps them apart
    assert canonical_model_id("all-MiniLM-L6-v2", backend="onnx-int8") == DEFAULT_MODEL + "#onnx-int8"
    assert canonical_model_id("BAAI/bge-small-en-v1.5", backend="onnx-int8") == "BAAI/bge-small-en-v1.5#onnx-int8"
    assert SentenceTransformerEmbedder(backend="onnx").model_id == DEFAULT_MODEL
    assert SentenceTransformerEmbedder(backend="onnx-int8").model_id == DEFAULT_MODEL + "#onnx-int8"
    with pytest.raises(InvalidInputError, match="backend must be one of"):
        SentenceTransformerEmbedder(backend="tensorrt")  # type: ignore[arg-type]


def test_onnx_backend_rejects_what_it_cannot_do() -> None:
    with pytest.raises(InvalidInputError, match="precision"):
        SentenceTransformerEmbedder(backend="onnx", encode_kwargs={"precision": "int8"})
    with pytest.raises(InvalidInputError, match="CPU"):
        SentenceTransformerEmbedder(backend="onnx", device="cuda")
    with pytest.raises(InvalidInputError, match="CPU"):
        SentenceTransformerEmbedder(backend="onnx-int8", model_kwargs={"device": "cuda"})
    # the options it does support are accepted
    SentenceTransformerEmbedder(backend="onnx", encode_kwargs={"batch_size": 8}, query_encode_kwargs={"prompt": "q: "})


def test_onnx_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLITEVEC_STORE_CACHE_DIR", str(tmp_path / "mine"))
    assert embeddings_module.onnx_cache_dir() == tmp_path / "mine" / "onnx"
    monkeypatch.delenv("SQLITEVEC_STORE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embeddings_module.onnx_cache_dir() == tmp_path / "xdg" / "sqlitevec-store" / "onnx"


def test_pooling_matches_sentence_transformers_definitions() -> None:
    hidden = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=np.int64)
    np.testing.assert_allclose(embeddings_module._pool(hidden, mask, "mean"), [[1, 2], [8, 9]])
    np.testing.assert_allclose(embeddings_module._pool(hidden, mask, "cls"), [[0, 1], [6, 7]])
    np.testing.assert_allclose(embeddings_module._pool(hidden, mask, "max"), [[2, 3], [10, 11]])


class CountingModel:
    """Stands in for a loaded model: counts encode calls, vectors from text lengths."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str], **options: Any) -> npt.NDArray[np.float32]:
        self.calls += 1
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def with_counting_model(embedder: SentenceTransformerEmbedder) -> CountingModel:
    model = CountingModel()
    embedder._model = model
    return model


def test_query_cache_hit_returns_an_equal_copy() -> None:
    embedder = SentenceTransformerEmbedder(query_cache_size=4)
    model = with_counting_model(embedder)
    first = embedder.embed_query("abc")
    second = embedder.embed_query("abc")
    assert model.calls == 1
    np.testing.assert_array_equal(first, second)
    assert first is not second and first.flags.writeable and second.flags.writeable
    assert (embedder._query_cache.hits, embedder._query_cache.misses) == (1, 1)
    # documents never go through the cache
    embedder.embed_documents(["abc"])
    embedder.embed_documents(["abc"])
    assert model.calls == 3


def test_query_cache_is_safe_from_callers_mutating_results() -> None:
    embedder = SentenceTransformerEmbedder(query_cache_size=4)
    with_counting_model(embedder)
    embedder.embed_query("abc")[:] = 0.0  # the miss's result
    hit = embedder.embed_query("abc")
    np.testing.assert_array_equal(hit, [3.0, 1.0, 0.0])
    hit *= 7  # the hit's result
    np.testing.assert_array_equal(embedder.embed_query("abc"), [3.0, 1.0, 0.0])


def test_query_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    embedder = SentenceTransformerEmbedder(query_cache_size=2)
    model = with_counting_model(embedder)
    embedder.embed_query("a")
    embedder.embed_query("bb")
    embedder.embed_query("a")  # hit: "a" is now the most recent
    embedder.embed_query("ccc")  # evicts "bb"
    assert len(embedder._query_cache) == 2 and model.calls == 3
    embedder.embed_query("a")
    assert model.calls == 3
    embedder.embed_query("bb")
    assert model.calls == 4


def test_query_cache_can_be_turned_off() -> None:
    embedder = SentenceTransformerEmbedder(query_cache_size=0)
    model = with_counting_model(embedder)
    embedder.embed_query("abc")
    embedder.embed_query("abc")
    assert model.calls == 2 and len(embedder._query_cache) == 0
    assert embedder.query_cache_size == 0
    with pytest.raises(InvalidInputError):
        SentenceTransformerEmbedder(query_cache_size=-1)


def test_constructing_loads_nothing() -> None:
    code = (
        "import sys; from sqlitevec_store import SentenceTransformerEmbedder as E;"
        "e = E(); print(e.model_id);"
        "sys.exit(1 if any(m in sys.modules for m in ('torch', 'sentence_transformers')) else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == DEFAULT_MODEL


def test_load_source_prefers_the_bundled_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local_module, "bundled_model_path", lambda: tmp_path)
    assert SentenceTransformerEmbedder()._load_source() == str(tmp_path)
    assert SentenceTransformerEmbedder("org/other")._load_source() == "org/other"
    monkeypatch.setattr(local_module, "bundled_model_path", lambda: None)
    # without the package: the normal sentence-transformers lookup by name
    assert SentenceTransformerEmbedder()._load_source() == DEFAULT_MODEL


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError):
        SentenceTransformerEmbedder(batch_size=0)
    embedder = SentenceTransformerEmbedder()
    with pytest.raises(InvalidInputTypeError):
        embedder.embed_documents("one string")
    with pytest.raises(InvalidInputTypeError):
        embedder.embed_documents(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidInputTypeError):
        embedder.embed_query(None)  # type: ignore[arg-type]


@pytest.mark.model
def test_real_model_offline(minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = minilm.embed_documents(
        ["How do I restore a backup?", "Restoring from a backup archive", "The cat sat on the mat."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    query = minilm.embed_query("How do I restore a backup?")
    np.testing.assert_allclose(query, vectors[0], atol=1e-5)
    assert minilm.dimension == 384
    assert minilm.embed_documents([]).shape[0] == 0


@pytest.mark.model
def test_real_model_end_to_end_through_the_store(minilm: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    texts = ["Backups are written nightly to /var/backups.", "TLS needs a certificate and a key.", "Cats purr."]
    with Database(tmp_path / "e2e.db") as db:
        col = db.collection("docs", model_id=minilm.model_id)
        col.add(texts, minilm.embed_documents(texts), metadatas=[{"i": i} for i in range(3)])
        hits = col.search(minilm.embed_query("where do backups go?"), k=3)
        assert hits[0].text == texts[0]
        assert hits[0].similarity > hits[1].similarity
        assert db.collections()[0].model_id == DEFAULT_MODEL


@pytest.mark.model
def test_model_is_loaded_once_per_process(minilm: SentenceTransformerEmbedder) -> None:
    other = SentenceTransformerEmbedder("all-MiniLM-L6-v2", batch_size=8)
    assert other.model is minilm.model
    assert SentenceTransformerEmbedder(model_kwargs={"device": "cpu"}).model is not None


@pytest.mark.model
def test_query_fast_path_is_bit_for_bit_encode(minilm: SentenceTransformerEmbedder) -> None:
    queries = [
        "How do I restore a backup?",
        "",
        "Écrire des données en UTF-8 — 東京",
        "WAL archiving copies every completed segment to the archive. " * 40,  # past the 256-token window
    ]
    for query in queries:
        fast = minilm._torch_query(query)
        assert fast is not None
        plain = minilm.model.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
        assert fast.dtype == np.float32 and fast.shape == (384,)
        np.testing.assert_array_equal(fast, plain)
    prompted = SentenceTransformerEmbedder(query_prompt="query: ", query_cache_size=0)
    fast = prompted._torch_query("backups")
    assert fast is not None
    np.testing.assert_array_equal(fast, minilm.model.encode(["query: backups"], normalize_embeddings=True)[0])
    # options the fast path does not reproduce send the query through encode()
    assert SentenceTransformerEmbedder(query_encode_kwargs={"prompt": "q: "})._torch_query("x") is None


def test_onnx_backend_without_onnxruntime_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    embedder = SentenceTransformerEmbedder(backend="onnx", model_kwargs={"trust_remote_code": False})
    with pytest.raises(SqliteVecStoreError, match=r"sqlitevec-store\[onnx\]"):
        embedder.embed_query("x")


def test_onnx_export_refuses_pipelines_it_cannot_reproduce() -> None:
    def module(name: str, config: dict[str, Any] | None = None) -> Any:
        return type(name, (), {"get_config_dict": lambda self: dict(config or {})})()

    layout = embeddings_module._module_layout
    assert layout([module("Transformer"), module("Pooling", {"pooling_mode": "cls"})]) == ("cls", False)
    pipeline = [module("Transformer"), module("Pooling", {"pooling_mode": "mean"}), module("Normalize")]
    assert layout(pipeline) == ("mean", True)
    with pytest.raises(SqliteVecStoreError, match="Dense"):
        layout([module("Transformer"), module("Pooling", {"pooling_mode": "mean"}), module("Dense")])
    with pytest.raises(SqliteVecStoreError, match="weightedmean"):
        layout([module("Transformer"), module("Pooling", {"pooling_mode": "weightedmean"})])


def test_missing_hub_model_fails_fast_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a folder, not in the cache, HF_HUB_OFFLINE set: refused at once, the hub never asked."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(local_module, "_hub_reachable", lambda: pytest.fail("the hub was asked"))
    with pytest.raises(SqliteVecStoreError, match="cannot be downloaded: HF_HUB_OFFLINE is set") as info:
        SentenceTransformerEmbedder("nonexistent-org/nonexistent-model").embed_documents(["x"])
    assert "[local]" not in str(info.value)  # sentence-transformers is not what is missing


def test_missing_hub_model_fails_fast_when_the_hub_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(local_module, "_hub_reachable", lambda: False)
    with pytest.raises(SqliteVecStoreError, match="the Hugging Face Hub cannot be reached"):
        SentenceTransformerEmbedder("nonexistent-org/nonexistent-model").embed_documents(["x"])


def test_cached_hub_model_loads_from_the_cache_when_the_hub_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(local_module, "_in_hub_cache", lambda repo_id, kwargs: True)
    embedder = SentenceTransformerEmbedder("some-org/cached-model")
    monkeypatch.setattr(local_module, "_hub_reachable", lambda: False)
    assert embedder._check_available("some-org/cached-model", {}) == {"local_files_only": True}
    monkeypatch.setattr(local_module, "_hub_reachable", lambda: True)
    assert embedder._check_available("some-org/cached-model", {}) == {}


def test_load_error_has_one_period_and_no_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A folder that is not a model: sentence-transformers' message, ending in one period."""
    pytest.importorskip("sentence_transformers")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SqliteVecStoreError) as info:
        SentenceTransformerEmbedder(str(tmp_path)).embed_documents(["x"])
    message = str(info.value)
    assert ".." not in message and "[local]" not in message


def _st_directory(root: Path, modules: list[tuple[str, dict[str, Any] | None]]) -> Path:
    """A sentence-transformers model directory holding only its configuration files."""
    entries = []
    for n, (kind, config) in enumerate(modules):
        path = "" if config is None else f"{n}_{kind}"
        entries.append({"idx": n, "name": str(n), "path": path, "type": f"sentence_transformers.models.{kind}"})
        if config is not None:
            (root / path).mkdir(parents=True)
            (root / path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (root / "modules.json").write_text(json.dumps(entries), encoding="utf-8")
    return root


def test_configured_dimension_reads_the_model_files(tmp_path: Path) -> None:
    pooling = {"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    plain = _st_directory(tmp_path / "plain", [("Transformer", None), ("Pooling", pooling), ("Normalize", None)])
    assert embeddings_module.configured_dimension(plain) == 768
    two_modes = {**pooling, "pooling_mode_cls_token": True}
    assert embeddings_module.configured_dimension(_st_directory(tmp_path / "two", [("Pooling", two_modes)])) == 1536
    dense = _st_directory(tmp_path / "dense", [("Pooling", pooling), ("Dense", {"out_features": 256})])
    assert embeddings_module.configured_dimension(dense) == 256
    custom = _st_directory(tmp_path / "custom", [("Pooling", pooling), ("MyProjection", {"size": 3})])
    assert embeddings_module.configured_dimension(custom) is None  # unknown module: not guessed
    assert embeddings_module.configured_dimension(tmp_path / "missing") is None
    embedder = SentenceTransformerEmbedder(str(plain), model_kwargs={"truncate_dim": 128})
    assert embedder.known_dimension == 128 and embedder._model is None
    assert SentenceTransformerEmbedder("BAAI/bge-small-en-v1.5").known_dimension is None
    if embeddings_module.bundled_model_path() is not None:
        default = SentenceTransformerEmbedder()
        assert default.known_dimension == 384 and default._model is None
