"""A real Postgres (16, with pgvector) for tests: started once per process from the ``pgserver`` package.

:func:`postgres_server_url` starts the server (or returns why it cannot);
:func:`fresh_schema_url` makes an empty schema for one test and returns a URL
whose ``search_path`` is that schema (then ``public``, where the ``vector``
extension lives), so tests never see each other's tables.

A test needing Postgres is skipped when the server cannot start, except when
``SVS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): then it fails. Set
``SVS_TEST_POSTGRES_URL`` to use a server of your own instead of pgserver's.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

__all__ = ["drop_schema", "fresh_schema_url", "postgres_required", "postgres_server_url", "schema_for_a_test"]

_lock = threading.Lock()
_state: dict[str, object] = {}


def postgres_required() -> bool:
    """Whether a missing Postgres must fail the run (CI) rather than skip."""
    return os.environ.get("SVS_REQUIRE_POSTGRES", "") not in ("", "0")


def postgres_server_url() -> tuple[str | None, str | None]:
    """``(url, None)`` of a running server with pgvector installed, or ``(None, why not)``."""
    with _lock:
        if "url" in _state or "error" in _state:
            return _state.get("url"), _state.get("error")  # type: ignore[return-value]
        try:
            url = os.environ.get("SVS_TEST_POSTGRES_URL") or _start_pgserver()
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            _state["url"] = url
        except Exception as exc:
            _state["error"] = f"{type(exc).__name__}: {exc}"
        return _state.get("url"), _state.get("error")  # type: ignore[return-value]


def _start_pgserver() -> str:
    import pgserver

    data = Path(os.environ.get("SVS_TEST_PGDATA") or Path(tempfile.gettempdir()) / f"svs-test-pg-{os.getuid()}")
    server = pgserver.get_server(data, cleanup_mode="stop")  # stopped when the last process using it exits
    _state["server"] = server
    return str(server.get_uri())


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options`` setting ``search_path`` to ``schema, public``."""
    option = quote(f"-csearch_path={schema},public", safe="")
    return f"{url}{'&' if '?' in url else '?'}options={option}"


def fresh_schema_url() -> tuple[str, str]:
    """A new empty schema and a URL whose tables land in it: ``(url, schema)``."""
    url, error = postgres_server_url()
    if url is None:
        raise RuntimeError(f"Postgres is not available: {error}")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return with_search_path(url, schema), schema


def drop_schema(schema: str) -> None:
    """Drop a schema made by :func:`fresh_schema_url` and everything in it."""
    url, _ = postgres_server_url()
    if url is None:
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def schema_for_a_test() -> Iterator[str]:
    """A URL into a fresh schema, dropped on exit; the calling test skips where no Postgres can start.

    Under ``SVS_REQUIRE_POSTGRES=1`` (CI) the test fails instead of skipping.
    """
    import pytest

    url, error = postgres_server_url()
    if url is None:
        if postgres_required():
            pytest.fail(f"Postgres is required (SVS_REQUIRE_POSTGRES=1) but cannot start: {error}")
        pytest.skip(f"Postgres cannot start here: {error}")
    schema_url, schema = fresh_schema_url()
    try:
        yield schema_url
    finally:
        drop_schema(schema)
