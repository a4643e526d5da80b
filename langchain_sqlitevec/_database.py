"""The database a store works in: opened from a path or a connection, or shared; closed by whoever opened it.

:class:`DatabaseHolder` is the small base the byte store and the record
manager share (the vector store predates it and opens its database the same
way, through :func:`sqlitevec_store.opening.open_database`). Pass one of
``db_path``, ``connection`` or ``database``; ``database=vector_store.database``
puts a store in the same file, and on the same connection, as the vectors.
"""

from __future__ import annotations

import os
from typing import Any

from typing_extensions import Self

from sqlitevec_store import Database
from sqlitevec_store.opening import open_database

__all__ = ["DatabaseHolder"]


class DatabaseHolder:
    """Holds a core :class:`~sqlitevec_store.Database` and closes it only if it opened it."""

    def __init__(
        self,
        *,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any | None = None,
        database: Database | None = None,
    ) -> None:
        """Open ``db_path`` (default ``":memory:"``), wrap ``connection``, or share ``database``.

        Raises:
            ValueError: More than one of the three (``InvalidInputError``).
            TypeError: One of them has the wrong type (``InvalidInputTypeError``).

        """
        self._db, self._owns_db = open_database(db_path=db_path, connection=connection, database=database)

    @property
    def database(self) -> Database:
        """The core database (share it with other stores: ``database=this.database``)."""
        return self._db

    def close(self) -> None:
        """Close the database if this object opened it (not a passed connection or ``Database``). Idempotent."""
        if self._owns_db:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
