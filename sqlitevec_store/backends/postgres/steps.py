"""What a Postgres operation asks of a connection, written once for the sync and the async driver.

Each operation of :mod:`.operations` is a generator that *yields* steps and
receives their results: it never touches a connection itself (a "sans-IO"
design, as psycopg builds its own sync and async code on one set of
generators). :class:`~.backend.PostgresBackend` runs the same generator on a
pooled ``psycopg.Connection`` (the sync methods) or on a pooled
``psycopg.AsyncConnection`` (the ``a...`` methods, through psycopg's async
API), so the SQL and the search planning exist once.

The steps:

* :class:`Query`: run one statement and send back all rows, one row, the row
  count or nothing (:class:`Fetch`);
* :class:`CopyRows`: a binary ``COPY ... FROM STDIN`` of typed rows;
* :class:`EfSearch`: give the HNSW walk this ``ef_search`` (the driver sets it
  for the transaction, or on the connection only when it has another value);
* :class:`InTransaction`: run nested steps inside a write (``atomic``) or read
  (``snapshot``) transaction of the same connection, which the driver opens,
  commits or rolls back.
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

__all__ = ["CopyRows", "EfSearch", "Fetch", "InTransaction", "Query", "Step", "Steps"]

_T = TypeVar("_T")


class Fetch(enum.Enum):
    """What a :class:`Query` sends back."""

    ALL = "all"  # list of row tuples
    ONE = "one"  # one row tuple or None
    ROWCOUNT = "rowcount"  # rows affected
    NOTHING = "nothing"  # None


class Query(NamedTuple):
    """One statement with its bound parameters."""

    sql: str
    params: Mapping[str, Any] | Sequence[Any] | None = None
    fetch: Fetch = Fetch.NOTHING
    binary: bool = False


class CopyRows(NamedTuple):
    """A binary ``COPY ... FROM STDIN`` of ``rows``, with the column types ``types``."""

    sql: str
    types: Sequence[str]
    rows: Sequence[Sequence[Any]]


class EfSearch(NamedTuple):
    """Set ``hnsw.ef_search`` for the next walk."""

    ef: int


class InTransaction(NamedTuple):
    """Run ``steps`` in a write (``write=True``) or read transaction; sends back their result."""

    steps: Steps[Any]
    write: bool


#: One request to the driver.
Step = Query | CopyRows | EfSearch | InTransaction

#: An operation: yields steps, receives their results, returns its value.
Steps = Generator[Step, Any, _T]
