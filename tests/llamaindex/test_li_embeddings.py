"""SentenceTransformerEmbedding without the real model: configuration, batching, async."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from llamaindex_sqlitevec import SentenceTransformerEmbedding
from sqlitevec_store import DEFAULT_MODEL


class StubModel:
    """Stands in for a loaded SentenceTransformer: records calls, returns vectors from text lengths."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def encode(self, texts: list[str], **options: Any) -> npt.NDArray[np.float32]:
        self.calls.append((list(texts), options))
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def with_stub(embedding: SentenceTransformerEmbedding) -> StubModel:
    stub = StubModel()
    embedding.embedder._model = stub  # the core embedder loads lazily: hand it a model
    return stub


def test_defaults_and_nothing_loaded() -> None:
    embedding = SentenceTransformerEmbedding()
    assert embedding.model_name == DEFAULT_MODEL
    assert embedding.model_id == DEFAULT_MODEL
    assert embedding.embedder._model is None  # lazy: construction loads nothing
    assert embedding.class_name() == "SentenceTransformerEmbedding"
    assert SentenceTransformerEmbedding("all-MiniLM-L6-v2").model_id == DEFAULT_MODEL


def test_parameters_reach_the_core_embedder() -> None:
    embedding = SentenceTransformerEmbedding(
        "org/some-model",
        device="cpu",
        normalize=False,
        query_instruction="query: ",
        text_instruction="passage: ",
        embed_batch_size=7,
        cache_folder="/tmp/models",
        show_progress_bar=True,
        model_kwargs={"trust_remote_code": False},
        encode_kwargs={"precision": "float32"},
        query_encode_kwargs={"prompt_name": None},
    )
    core = embedding.embedder
    assert (core.model_name, core.device, core.normalize, core.batch_size) == ("org/some-model", "cpu", False, 7)
    assert (core.query_prompt, core.document_prompt, core.show_progress) == ("query: ", "passage: ", True)
    assert core.model_kwargs == {"trust_remote_code": False, "cache_folder": "/tmp/models"}
    assert core.encode_kwargs == {"precision": "float32"} and core.query_encode_kwargs == {"prompt_name": None}
    data = embedding.to_dict()
    assert data["query_instruction"] == "query: " and data["embed_batch_size"] == 7
    assert "_embedder" not in data


def test_embeddings_are_float_lists_with_instructions_applied() -> None:
    embedding = SentenceTransformerEmbedding(query_instruction="q: ", text_instruction="p: ", embed_batch_size=2)
    stub = with_stub(embedding)
    query = embedding.get_query_embedding("abc")
    assert query == [6.0, 1.0, 0.0] and all(type(x) is float for x in query)
    assert embedding.get_text_embedding("abcd") == [7.0, 1.0, 0.0]
    batch = embedding.get_text_embedding_batch(["a", "bb", "ccc", "dddd", "e"])
    assert batch == [[4.0, 1.0, 0.0], [5.0, 1.0, 0.0], [6.0, 1.0, 0.0], [7.0, 1.0, 0.0], [4.0, 1.0, 0.0]]
    texts = [call[0] for call in stub.calls]
    # batches are cut longest first (less padding); the results above are in the order given
    assert texts == [["q: abc"], ["p: abcd"], ["p: dddd", "p: ccc"], ["p: bb", "p: a"], ["p: e"]]
    assert all(call[1]["normalize_embeddings"] is True for call in stub.calls)


async def test_async_forms() -> None:
    embedding = SentenceTransformerEmbedding()
    with_stub(embedding)
    assert await embedding.aget_query_embedding("abc") == embedding.get_query_embedding("abc")
    assert await embedding.aget_text_embedding("ab") == [2.0, 1.0, 0.0]
    assert await embedding.aget_text_embedding_batch(["a", "bb"]) == [[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]]


def test_show_progress_reports_on_stderr_in_the_same_batches(capsys: Any) -> None:
    """What VectorStoreIndex(..., show_progress=True) asks for: our lines on stderr, not tqdm's."""
    embedding = SentenceTransformerEmbedding(embed_batch_size=2)
    stub = with_stub(embedding)
    texts = ["a", "bb", "ccc", "dddd", "e"]
    assert embedding.get_text_embedding_batch(texts, show_progress=True) == embedding.get_text_embedding_batch(texts)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "Embedding 5 texts ..." and lines[-1].startswith("Embedding 5 texts: 5/5 (100%) in ")
    assert "Generating embeddings" not in captured.err and captured.out == ""
    batches = [call[0] for call in stub.calls]
    assert batches[:3] == batches[3:] == [["dddd", "ccc"], ["bb", "a"], ["e"]]


async def test_async_show_progress(capsys: Any) -> None:
    embedding = SentenceTransformerEmbedding(embed_batch_size=2)
    with_stub(embedding)
    vectors = await embedding.aget_text_embedding_batch(["a", "bb", "ccc"], show_progress=True)
    assert vectors == [[1.0, 1.0, 0.0], [2.0, 1.0, 0.0], [3.0, 1.0, 0.0]]
    assert "Embedding 3 texts: 3/3 (100%)" in capsys.readouterr().err
