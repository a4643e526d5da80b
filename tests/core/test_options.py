"""The typed option objects and the shared open-or-adopt rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlean  # type: ignore[import-untyped]

from sqlitevec_store import Database
from sqlitevec_store.errors import InvalidInputError, InvalidInputTypeError
from sqlitevec_store.opening import open_database
from sqlitevec_store.options import DEFAULT_HYBRID_FETCH_K, HybridOptions, IndexOptions


def test_index_options_defaults_and_checks() -> None:
    assert IndexOptions() == IndexOptions("flat", 64)
    assert IndexOptions("rescore", 8).oversample == 8
    with pytest.raises(InvalidInputError, match="index_type"):
        IndexOptions("ivfflat")
    assert IndexOptions("hnsw", ef_search=100).ef_search == 100  # Postgres only; a file refuses it when opened
    for bad_ef in (0, 1001, 2.5):
        with pytest.raises((InvalidInputError, InvalidInputTypeError), match="ef_search"):
            IndexOptions("hnsw", ef_search=bad_ef)  # type: ignore[arg-type]
    for bad in (0, -1, 1.5, True, "8"):
        with pytest.raises((InvalidInputError, InvalidInputTypeError)):
            IndexOptions("rescore", bad)  # type: ignore[arg-type]


def test_hybrid_options_checks_and_candidates() -> None:
    assert HybridOptions().candidates(4) == DEFAULT_HYBRID_FETCH_K
    assert HybridOptions(fetch_k=3).candidates(10) == 10
    assert HybridOptions(fetch_k=50).candidates(10) == 50
    for bad in (-0.1, 1.1, float("nan"), True, "0.5"):
        with pytest.raises(InvalidInputError, match="alpha"):
            HybridOptions(alpha=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="fusion"):
        HybridOptions(fusion="max")
    with pytest.raises((InvalidInputError, InvalidInputTypeError)):
        HybridOptions(fetch_k=0)


def test_open_database_owns_what_it_opens(tmp_path: Path) -> None:
    opened = open_database()
    assert opened.owned and opened.database.path == ":memory:"
    opened.database.close()
    opened = open_database(db_path=tmp_path / "a.db")
    assert opened.owned and Path(str(opened.database.path)) == tmp_path / "a.db"
    opened.database.close()
    with Database(":memory:") as shared:
        assert open_database(database=shared) == (shared, False)


def test_open_database_wraps_a_connection_without_closing_it() -> None:
    conn = sqlean.connect(":memory:")
    opened = open_database(connection=conn)
    assert opened.owned
    opened.database.close()
    conn.execute("SELECT 1")  # still open: a passed connection is the caller's


def test_open_database_refuses_two_sources_and_wrong_types() -> None:
    with (
        Database(":memory:") as shared,
        pytest.raises(InvalidInputError, match="at most one of db_path, connection and database"),
    ):
        open_database(db_path=":memory:", database=shared)
    with pytest.raises(InvalidInputTypeError, match="connection must be an open sqlite3 connection"):
        open_database(connection="file.db")
    with pytest.raises(InvalidInputTypeError, match="db_path must be a str or Path"):
        open_database(db_path=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputTypeError, match="database must be"):
        open_database(database="file.db")  # type: ignore[arg-type]
