"""Fixtures for the LlamaIndex adapter tests: a counting fake embedding and store cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

from llamaindex_sqlitevec import CachedEmbedding, SQLiteVecKVStore, SQLiteVecVectorStore
from tests.conftest import close_every_instance
from tests.fakes import FAKE_MODEL_ID, FakeEmbedder


class FakeEmbedding(BaseEmbedding):
    """LlamaIndex ``BaseEmbedding`` over the deterministic core ``FakeEmbedder`` (with its call counters)."""

    _fake: FakeEmbedder = PrivateAttr()

    def __init__(self, dimension: int = 16, **kwargs: Any) -> None:
        super().__init__(model_name=FAKE_MODEL_ID, **kwargs)
        self._fake = FakeEmbedder(dimension=dimension)

    @property
    def fake(self) -> FakeEmbedder:
        return self._fake

    @property
    def model_id(self) -> str:
        return FAKE_MODEL_ID

    def _get_query_embedding(self, query: str) -> Embedding:
        return [float(x) for x in self._fake.embed_query(query)]

    def _get_text_embedding(self, text: str) -> Embedding:
        return [float(x) for x in self._fake.embed_documents([text])[0]]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [[float(x) for x in row] for row in self._fake.embed_documents(texts)]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)


@pytest.fixture
def fake_embedding() -> FakeEmbedding:
    return FakeEmbedding()


@pytest.fixture(autouse=True)
def _close_every_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every store a test opened, whichever way it was constructed."""
    yield from close_every_instance(monkeypatch, SQLiteVecVectorStore)


@pytest.fixture(autouse=True)
def _close_every_kvstore(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every key-value store (and so every docstore and index store) a test opened."""
    yield from close_every_instance(monkeypatch, SQLiteVecKVStore)


@pytest.fixture(autouse=True)
def _close_every_cached_embedding(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every cached embedding a test opened."""
    yield from close_every_instance(monkeypatch, CachedEmbedding)


@pytest.fixture
def store(backend_db_path: str) -> SQLiteVecVectorStore:
    """An empty store: in memory, or on Postgres under ``SVS_TEST_BACKEND=postgres``."""
    return SQLiteVecVectorStore(db_path=backend_db_path)
