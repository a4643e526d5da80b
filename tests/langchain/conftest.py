"""Fixtures for the LangChain adapter tests: a counting fake embedding and store cleanup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.embeddings import Embeddings

from langchain_sqlitevec import (
    SentenceTransformerEmbeddings,
    SQLiteVecByteStore,
    SQLiteVecRecordManager,
    SQLiteVecVectorStore,
)
from tests.conftest import close_every_instance
from tests.fakes import FakeEmbedder


class FakeEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over the deterministic core ``FakeEmbedder`` (with its call counters)."""

    def __init__(self, dimension: int = 16, model_id: str | None = None) -> None:
        self.fake = FakeEmbedder(dimension=dimension, model_id=model_id)
        self.model_id = model_id

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.fake.embed_documents(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.fake.embed_query(text)]


@pytest.fixture
def fake_embeddings() -> FakeEmbeddings:
    return FakeEmbeddings()


@pytest.fixture(autouse=True)
def _close_every_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every store a test opened, whichever way it was constructed."""
    yield from close_every_instance(monkeypatch, SQLiteVecVectorStore)


@pytest.fixture(autouse=True)
def _close_every_byte_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every byte store a test opened."""
    yield from close_every_instance(monkeypatch, SQLiteVecByteStore)


@pytest.fixture(autouse=True)
def _close_every_record_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every record manager a test opened."""
    yield from close_every_instance(monkeypatch, SQLiteVecRecordManager)


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbeddings:
    """The real default model, loaded once per session (only tests marked ``model`` use it)."""
    return SentenceTransformerEmbeddings()
