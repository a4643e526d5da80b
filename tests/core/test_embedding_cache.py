"""The embedding cache (sqlitevec_store/embeddings/cache.py): reuse, keys, model ids, errors, async."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sqlitevec_store import Database, EmbeddingCache, InvalidInputError, InvalidInputTypeError
from sqlitevec_store.embeddings.cache import NAMESPACE_PREFIX, CachingEmbedder, text_key
from tests.fakes import FakeEmbedder


def test_unchanged_text_is_never_embedded_twice(memdb: Database) -> None:
    model = FakeEmbedder()
    cache = memdb.embedding_cache(model.model_id or "")
    first = cache.embed(["a", "b", "a"], model.embed_documents)
    assert (first.embedded, first.reused) == (2, 1)
    assert model.texts_embedded == 2
    np.testing.assert_array_equal(first.vectors[0], first.vectors[2])
    again = cache.embed(["b", "a"], model.embed_documents)
    assert (again.embedded, again.reused) == (0, 2)
    assert model.texts_embedded == 2 and model.document_calls == 1  # no model call at all
    np.testing.assert_allclose(again.vectors, np.vstack([model.vector("b"), model.vector("a")]))
    edited = cache.embed(["a", "a, edited"], model.embed_documents)
    assert (edited.embedded, edited.reused) == (1, 1) and model.texts_embedded == 3
    assert len(cache) == 3


def test_models_never_share_vectors(memdb: Database) -> None:
    one, two = memdb.embedding_cache("m1"), memdb.embedding_cache("m2")
    one.embed(["t"], lambda texts: [[1.0, 0.0]] * len(texts))
    got = two.embed(["t"], lambda texts: [[0.0, 1.0]] * len(texts))
    assert got.embedded == 1
    assert one.lookup(["t"])[0].tolist() == [1.0, 0.0]  # type: ignore[union-attr]
    namespaces = [n.namespace for n in memdb.app_state().key_value]
    assert namespaces == [NAMESPACE_PREFIX + "m1", NAMESPACE_PREFIX + "m2"]
    assert one.clear() == 1 and len(one) == 0 and len(two) == 1


def test_keys_are_the_texts_sha256() -> None:
    assert text_key("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert text_key("é") != text_key("e")


def test_empty_call_and_bad_input(memdb: Database) -> None:
    cache = memdb.embedding_cache("m")
    assert cache.embed([], lambda texts: []).vectors.shape == (0, 0)
    with pytest.raises(InvalidInputError, match="2 texts"):
        cache.embed(["a", "b"], lambda texts: [[1.0]])
    with pytest.raises(InvalidInputError, match="NaN"):
        cache.embed(["a"], lambda texts: [[float("nan")]])
    with pytest.raises(InvalidInputTypeError):
        cache.embed([b"bytes"], lambda texts: [[1.0]])  # type: ignore[list-item]
    assert len(cache) == 0
    with pytest.raises(InvalidInputError):
        memdb.embedding_cache("")


def test_changed_dimension_under_one_id_is_an_error(memdb: Database) -> None:
    cache = memdb.embedding_cache("m")
    cache.embed(["a"], lambda texts: [[1.0, 0.0]])
    with pytest.raises(InvalidInputError, match="changed under the same id"):
        cache.embed(["a", "b"], lambda texts: [[1.0, 0.0, 0.0]])


def test_caching_embedder_counts(memdb: Database) -> None:
    model = FakeEmbedder()
    embedder = CachingEmbedder(model, memdb.embedding_cache(model.model_id or ""))
    embedder.embed_documents(["x", "y"])
    embedder.embed_documents(["y", "z"])
    assert (embedder.embedded, embedder.reused) == (3, 1)
    assert embedder.embed_query("q").shape == (model.dimension,) and model.query_calls == 1
    with pytest.raises(InvalidInputError):
        CachingEmbedder(model, memdb.embedding_cache("another-model"))


async def test_async_embed(memdb: Database) -> None:
    model = FakeEmbedder()
    cache = EmbeddingCache(memdb, "m")
    calls: list[Sequence[str]] = []

    async def embed(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return model.embed_documents(texts)

    first = await cache.aembed(["a", "b"], embed)
    second = await cache.aembed(["a", "b", "c"], embed)
    assert (first.embedded, second.embedded, second.reused) == (2, 1, 2)
    assert calls == [["a", "b"], ["c"]]
