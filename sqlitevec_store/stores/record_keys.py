"""The record-key log: which source records a vector store holds, when each was last written, and from which group.

It is what LangChain's indexing API keeps in a *record manager*
(``langchain_sqlitevec.SQLiteVecRecordManager`` is a thin adapter over
:class:`RecordKeys`); here it lives in the same database as the vectors, so
one ``with db.atomic():`` block can write both.

* :meth:`RecordKeys.now` is a clock per namespace that never goes backwards
  and never gives the same time twice: the database's clock (the server's on
  Postgres, this machine's for a file), or the last time it gave plus one
  microsecond when that is later; the last time is stored. A wall clock set
  back (or standing still) between two indexing runs therefore cannot make
  ``index()``'s cleanup delete records written by the later run, nor spare
  records it should delete.
* :meth:`RecordKeys.update` stamps keys with :meth:`now` in one transaction
  and refuses a ``time_at_least`` ahead of it (it must come from ``now``).
* :meth:`RecordKeys.list_keys` selects by time (``after < updated_at <
  before``), groups and a limit, in key order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, InvalidInputTypeError
from ..records import check_count
from .keys import check_key, check_keys
from .namespace import NamespacedStore

if TYPE_CHECKING:
    pass

__all__ = ["RecordKeys"]


def _time(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputTypeError(f"{name} must be a number of seconds since the epoch, got {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    return float(value)


def _group_ids(group_ids: Sequence[str | None] | None, count: int) -> list[str | None]:
    if group_ids is None:
        return [None] * count
    if isinstance(group_ids, (str, bytes)):
        raise InvalidInputTypeError("group_ids must be a list, not a single string")
    groups = list(group_ids)
    if len(groups) != count:
        raise InvalidInputError(f"Got {count} keys but {len(groups)} group ids")
    return [None if group is None else check_key(group) for group in groups]


class RecordKeys(NamespacedStore):
    """One namespace of the record-key log (see the module docstring).

    Args:
        db: The database.
        namespace: Keeps these keys apart (LangChain: the record manager's namespace).

    """

    def _update_args(
        self, keys: Sequence[str], group_ids: Sequence[str | None] | None, time_at_least: float | None
    ) -> tuple[list[str], list[str | None], float | None]:
        checked = check_keys(keys)
        groups = _group_ids(group_ids, len(checked))
        latest = dict(zip(checked, groups, strict=True))  # a key given twice keeps its last group
        return list(latest), list(latest.values()), _time(time_at_least, "time_at_least")

    def _list_args(
        self, before: float | None, after: float | None, group_ids: Sequence[str] | None, limit: int | None
    ) -> dict[str, Any]:
        groups = None
        if group_ids is not None:
            if isinstance(group_ids, (str, bytes)):
                raise InvalidInputTypeError("group_ids must be a list, not a single string")
            groups = [check_key(group) for group in group_ids]
        return {
            "before": _time(before, "before"),
            "after": _time(after, "after"),
            "group_ids": groups,
            "limit": None if limit is None else check_count(limit, "limit", minimum=1),
        }

    # -- sync -------------------------------------------------------------------------

    def now(self) -> float:
        """The namespace's clock, in seconds since the epoch (never below a value it gave before)."""
        return self._storage.rk_now(self._namespace)

    def update(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> float:
        """Record ``keys`` (with their group ids) as written now, in one transaction; the time stamped.

        Raises:
            InvalidInputError: ``group_ids`` of another length, or
                ``time_at_least`` ahead of :meth:`now`.

        """
        checked, groups, at_least = self._update_args(keys, group_ids, time_at_least)
        return self._storage.rk_update(self._namespace, checked, groups, at_least)

    def exists(self, keys: Sequence[str]) -> list[bool]:
        """Whether each key is recorded, in order."""
        checked = check_keys(keys)
        found = self._storage.rk_exists(self._namespace, list(dict.fromkeys(checked)))
        return [key in found for key in checked]

    def list_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Recorded keys updated after ``after`` and before ``before``, in ``group_ids``, in key order."""
        return self._storage.rk_list(self._namespace, **self._list_args(before, after, group_ids, limit))

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Forget ``keys`` in one transaction; how many were recorded."""
        return self._storage.rk_delete(self._namespace, list(dict.fromkeys(check_keys(keys))))

    def count(self) -> int:
        """How many keys are recorded."""
        for entry in self._storage.rk_namespaces():
            if entry.namespace == self._namespace:
                return entry.entries
        return 0

    # -- async ------------------------------------------------------------------------

    async def anow(self) -> float:
        """Async :meth:`now`."""
        return float(await self._call("rk_now", self._namespace))

    async def aupdate(
        self,
        keys: Sequence[str],
        *,
        group_ids: Sequence[str | None] | None = None,
        time_at_least: float | None = None,
    ) -> float:
        """Async :meth:`update`."""
        checked, groups, at_least = self._update_args(keys, group_ids, time_at_least)
        return float(await self._call("rk_update", self._namespace, checked, groups, at_least))

    async def aexists(self, keys: Sequence[str]) -> list[bool]:
        """Async :meth:`exists`."""
        checked = check_keys(keys)
        found = await self._call("rk_exists", self._namespace, list(dict.fromkeys(checked)))
        return [key in found for key in checked]

    async def alist_keys(
        self,
        *,
        before: float | None = None,
        after: float | None = None,
        group_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Async :meth:`list_keys`."""
        keys: list[str] = await self._call(
            "rk_list", self._namespace, **self._list_args(before, after, group_ids, limit)
        )
        return keys

    async def adelete_keys(self, keys: Iterable[str]) -> int:
        """Async :meth:`delete_keys`."""
        return int(await self._call("rk_delete", self._namespace, list(dict.fromkeys(check_keys(keys)))))
