"""Shared fixtures: temporary databases that are always closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlitevec_store import Database


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
