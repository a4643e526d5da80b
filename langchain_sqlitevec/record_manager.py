"""A LangChain ``RecordManager`` in the same database as the vectors, for ``langchain_core.indexing.index()``.

:class:`SQLiteVecRecordManager` is a thin adapter over the core's record-key
log (:class:`sqlitevec_store.RecordKeys`): the keys ``index()`` wrote, when,
and from which source. It follows langchain's ``SQLRecordManager``
(``update`` stamps the database's time and refuses a ``time_at_least``
ahead of it, ``list_keys`` filters by ``after < updated_at < before``, group
ids and a limit), with one difference that makes cleanup safer: the clock
(:meth:`SQLiteVecRecordManager.get_time`) never goes backwards and never
gives the same time twice, even if the machine's clock is set back between
two runs. No SQL here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from langchain_core.indexing import RecordManager

from sqlitevec_store import Database, RecordKeys

from ._database import DatabaseHolder

__all__ = ["SQLiteVecRecordManager"]


class SQLiteVecRecordManager(DatabaseHolder, RecordManager):
    """Keeps track of what ``index()`` / ``aindex()`` wrote to a vector store, in a sqlitevec-store database.

    Put it in the vector store's own database (``database=vector_store.database``)
    so the vectors and their record keys live in one file.

    Setup:
        ```bash
        pip install "sqlitevec-store[langchain]"
        ```

    Instantiate:
        ```python
        from langchain_core.indexing import index
        from langchain_sqlitevec import SQLiteVecRecordManager, SQLiteVecVectorStore

        vector_store = SQLiteVecVectorStore(embeddings, db_path="app.db")
        record_manager = SQLiteVecRecordManager("sqlitevec/default", database=vector_store.database)
        ```

    Index:
        ```python
        index(docs, record_manager, vector_store, cleanup="incremental", source_id_key="source")
        # {'num_added': 3, 'num_updated': 0, 'num_skipped': 0, 'num_deleted': 0}
        ```

        Every cleanup mode works (``None``, ``"incremental"``, ``"full"``,
        ``"scoped_full"``). Group ids (``index()``'s source ids) must be
        strings.

    Async:
        ``aget_time``, ``aupdate``, ``aexists``, ``alist_keys``,
        ``adelete_keys`` (used by ``aindex()``): on Postgres through
        psycopg's async API, on a file in a worker thread.

    """

    def __init__(
        self,
        namespace: str,
        *,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any | None = None,
        database: Database | None = None,
    ) -> None:
        """Open the record manager; nothing is written until the first update.

        Args:
            namespace: The record manager's namespace (LangChain's convention:
                one per vector store and collection, e.g. ``"sqlitevec/docs"``).
            db_path: A database file, ``":memory:"`` (the default), or a ``postgresql://`` URL.
            connection: An open ``sqlite3`` / ``sqlean`` connection instead of ``db_path``.
            database: A core :class:`~sqlitevec_store.Database` (e.g. ``vector_store.database``)
                instead of ``db_path``; it is not closed by :meth:`close`.

        Raises:
            ValueError: A bad namespace, or more than one of ``db_path``,
                ``connection`` and ``database``.
            TypeError: An argument of the wrong type.

        """
        DatabaseHolder.__init__(self, db_path=db_path, connection=connection, database=database)
        try:
            self._keys: RecordKeys = self._db.record_keys(namespace)
        except BaseException:
            self.close()
            raise
        RecordManager.__init__(self, namespace)

    @property
    def record_keys(self) -> RecordKeys:
        """The core record-key log this manager writes."""
        return self._keys

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self.namespace!r}, db_path={self._db.path!r})"

    # -- schema -------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Nothing to do: the tables are part of the database's schema, created on first write."""

    async def acreate_schema(self) -> None:
        """Async :meth:`create_schema` (nothing to do)."""

    # -- sync ---------------------------------------------------------------------------

    def get_time(self) -> float:
        """The namespace's clock, in seconds since the epoch: never below, nor equal to, a time it gave before."""
        return self._keys.now()

    def update(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> None:
        """Record ``keys`` (with their group ids) as written now, in one transaction.

        Args:
            keys: The keys.
            group_ids: One group id (or ``None``) per key.
            time_at_least: A time from :meth:`get_time`; the update is refused
                if the clock is behind it.

        Raises:
            ValueError: ``group_ids`` of another length, or ``time_at_least``
                ahead of the clock (``InvalidInputError``).

        """
        self._keys.update(keys, group_ids=group_ids, time_at_least=time_at_least)

    def exists(self, keys: Sequence[str]) -> list[bool]:
        """Whether each key is recorded, in order."""
        return self._keys.exists(keys)

    def list_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Keys updated strictly after ``after`` and strictly before ``before``, in ``group_ids``; in key order."""
        return self._keys.list_keys(before=before, after=after, group_ids=group_ids, limit=limit)

    def delete_keys(self, keys: Sequence[str]) -> None:
        """Forget ``keys`` in one transaction; keys not recorded are ignored."""
        self._keys.delete_keys(keys)

    # -- async --------------------------------------------------------------------------

    async def aget_time(self) -> float:
        """Async :meth:`get_time`."""
        return await self._keys.anow()

    async def aupdate(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> None:
        """Async :meth:`update`."""
        await self._keys.aupdate(keys, group_ids=group_ids, time_at_least=time_at_least)

    async def aexists(self, keys: Sequence[str]) -> list[bool]:
        """Async :meth:`exists`."""
        return await self._keys.aexists(keys)

    async def alist_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Async :meth:`list_keys`."""
        return await self._keys.alist_keys(before=before, after=after, group_ids=group_ids, limit=limit)

    async def adelete_keys(self, keys: Sequence[str]) -> None:
        """Async :meth:`delete_keys`."""
        await self._keys.adelete_keys(keys)
