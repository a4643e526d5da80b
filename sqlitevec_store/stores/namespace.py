"""What every store of the app state has: a database, a namespace in it, and the way to its storage."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..backends.base import AppStateStorage, async_app_state
from .keys import check_namespace

if TYPE_CHECKING:
    from ..database import Database

__all__ = ["NamespacedStore"]


class NamespacedStore:
    """A namespace of a database's app state.

    The base of :class:`~.kv.KeyValueStore` and :class:`~.record_keys.RecordKeys`.

    Args:
        db: The database (a file or a Postgres URL's schema).
        namespace: Keeps this store's keys apart from every other namespace's.

    """

    def __init__(self, db: Database, namespace: str) -> None:
        """Name the namespace; nothing is written until the first write."""
        self._db = db
        self._namespace = check_namespace(namespace)

    @property
    def namespace(self) -> str:
        """The namespace."""
        return self._namespace

    @property
    def database(self) -> Database:
        """The database holding the store."""
        return self._db

    @property
    def _storage(self) -> AppStateStorage:
        return self._db.backend.app_state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._db.path!r}, namespace={self._namespace!r})"

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run a storage method: its native async twin when it has one, else in a worker thread."""
        native = async_app_state(self._storage)
        if native is not None:
            return await getattr(native, f"a{method}")(*args, **kwargs)
        return await asyncio.to_thread(getattr(self._storage, method), *args, **kwargs)
