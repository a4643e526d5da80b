r"""A transactional key-value space per namespace, in the same database as the collections.

:class:`KeyValueStore` is what the frameworks' byte stores, document stores,
index stores and caches are built on (``langchain_sqlitevec``,
``llamaindex_sqlitevec``), and what the embedding cache uses
(:mod:`sqlitevec_store.embeddings.cache`)::

    db = Database("app.db")
    parents = db.key_value("parents")
    parents.put("doc-1", {"title": "Intro"})       # JSON values come back as JSON
    parents.put("doc-1/raw", b"\\x00\\x01")            # bytes come back as bytes
    parents.get("doc-1")                           # {'title': 'Intro'}
    list(parents.keys(prefix="doc-1/"))            # ['doc-1/raw']

Semantics:

* **Values** are ``bytes`` (``bytearray``/``memoryview`` are stored as
  bytes) or JSON: a dict, list, string, number or boolean, stored as compact
  JSON and given back parsed (tuples come back as lists, non-string dict keys
  as strings). ``None`` is refused (delete the key instead), as are NaN and
  infinities; a value that is not JSON is a ``TypeError``.
* **Keys** are strings (see :mod:`.keys`), ordered by code point; a
  namespace keeps its keys apart from every other namespace's.
* **Transactions.** Each write call (``put_many`` with 10,000 entries
  included) is one transaction, checked whole before anything is written. In
  a caller's ``with db.atomic():`` block every call joins that transaction,
  so records, key-value entries and record keys can change together.
* **Scans** (``keys``, ``items``) page through the keys in order, 1,000 at a
  time, each page one read: a key written during a scan may be missed, none
  is returned twice.
* **Async.** Every method has an ``a...`` twin: on Postgres through psycopg's
  async API, on a file in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from ..backends.base import KeyRow, StoredValue, kv_pages
from ..errors import InvalidInputError, InvalidInputTypeError
from .keys import check_key, check_keys
from .namespace import NamespacedStore

if TYPE_CHECKING:
    pass

__all__ = ["PAGE_SIZE", "KeyValueStore", "Value", "decode_value", "encode_value"]

#: A stored value: bytes, or anything JSON can hold but ``null``.
Value: TypeAlias = "bytes | dict[str, Any] | list[Any] | str | int | float | bool"

#: Keys read per page by :meth:`KeyValueStore.keys` and :meth:`KeyValueStore.items`.
PAGE_SIZE = 1000


def encode_value(value: object) -> StoredValue:
    """``value`` as stored: raw bytes, or compact UTF-8 JSON.

    Raises:
        InvalidInputTypeError: ``None``, or a value JSON cannot hold.
        InvalidInputError: NaN or an infinity, or a lone surrogate in a string.

    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return StoredValue(bytes(value), False)
    if value is None:
        raise InvalidInputTypeError("None cannot be stored as a value; delete the key instead")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except TypeError as exc:
        raise InvalidInputTypeError(f"A value must be bytes or JSON-serializable: {exc}") from exc
    except ValueError as exc:
        raise InvalidInputError(f"A value holds NaN or an infinity, which JSON cannot: {exc}") from exc
    try:
        return StoredValue(text.encode("utf-8"), True)
    except UnicodeEncodeError as exc:
        raise InvalidInputError("A value holds a lone surrogate, which is not valid Unicode") from exc


def decode_value(stored: StoredValue) -> Value:
    """A value as given to :func:`encode_value`, back from storage."""
    if stored.is_json:
        value: Value = json.loads(stored.data)
        return value
    return stored.data


def _checked_items(items: Mapping[str, object] | Iterable[tuple[str, object]]) -> list[tuple[str, StoredValue]]:
    """Every entry checked and encoded; a key given twice keeps its last value (as a dict would)."""
    if isinstance(items, (str, bytes)):
        raise InvalidInputTypeError("items must be a mapping or (key, value) pairs")
    pairs = items.items() if isinstance(items, Mapping) else items
    checked: dict[str, StoredValue] = {}
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidInputTypeError(f"Each item must be a (key, value) pair, got {pair!r:.80}")
        key, value = pair
        checked[check_key(key)] = encode_value(value)
    return list(checked.items())


class KeyValueStore(NamespacedStore):
    """One namespace of a database's key-value space (see the module docstring).

    Args:
        db: The database (a file or a Postgres URL's schema).
        namespace: Keeps these keys apart from other namespaces'.

    Example:
        >>> from sqlitevec_store import Database
        >>> kv = Database(":memory:").key_value("demo")
        >>> kv.put_many({"a": b"1", "b": {"n": 2}})
        >>> kv.get_many(["a", "b", "c"])
        [b'1', {'n': 2}, None]

    """

    # -- writes -------------------------------------------------------------------

    def put(self, key: str, value: Value) -> None:
        """Store ``value`` under ``key`` (replacing what was there)."""
        self.put_many([(key, value)])

    def put_many(self, items: Mapping[str, Value] | Iterable[tuple[str, Value]]) -> None:
        """Store every entry in one transaction (all checked before any is written)."""
        checked = _checked_items(items)
        if checked:
            self._storage.kv_put(self._namespace, checked)

    def delete(self, key: str) -> bool:
        """Delete ``key``; whether it existed."""
        return self._storage.kv_delete(self._namespace, [check_key(key)]) > 0

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` in one transaction; how many existed."""
        return self._storage.kv_delete(self._namespace, _unique(check_keys(keys)))

    def clear(self, prefix: str = "") -> int:
        """Delete every key starting with ``prefix`` (all by default) in one transaction; how many."""
        return self._storage.kv_clear(self._namespace, check_key(prefix))

    # -- reads ----------------------------------------------------------------------

    def get(self, key: str, default: Value | None = None) -> Value | None:
        """The value of ``key``, or ``default``."""
        found = self._storage.kv_get(self._namespace, [check_key(key)])
        return decode_value(found[key]) if key in found else default

    def get_many(self, keys: Iterable[str]) -> list[Value | None]:
        """The value of each key (``None`` where missing), in order, read in one statement."""
        wanted = check_keys(keys)
        found = self._storage.kv_get(self._namespace, _unique(wanted))
        return [decode_value(found[key]) if key in found else None for key in wanted]

    def __contains__(self, key: object) -> bool:
        return bool(self._storage.kv_get(self._namespace, [check_key(key)]))

    def count(self, prefix: str = "") -> int:
        """How many keys start with ``prefix`` (all by default)."""
        return self._storage.kv_count(self._namespace, check_key(prefix))

    def __len__(self) -> int:
        return self.count()

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with ``prefix``, in code point order (paged; see the module docstring)."""
        for row in self._scan(check_key(prefix), values=False):
            yield row.key

    def items(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """Every ``(key, value)`` whose key starts with ``prefix``, in key order (paged)."""
        for row in self._scan(check_key(prefix), values=True):
            assert row.value is not None
            yield row.key, decode_value(row.value)

    def _scan(self, prefix: str, *, values: bool) -> Iterator[KeyRow]:
        for page in kv_pages(self._storage, self._namespace, prefix=prefix, values=values, size=PAGE_SIZE):
            yield from page

    # -- async ----------------------------------------------------------------------

    async def aput(self, key: str, value: Value) -> None:
        """Async :meth:`put`."""
        await self.aput_many([(key, value)])

    async def aput_many(self, items: Mapping[str, Value] | Iterable[tuple[str, Value]]) -> None:
        """Async :meth:`put_many`."""
        checked = _checked_items(items)
        if checked:
            await self._call("kv_put", self._namespace, checked)

    async def adelete(self, key: str) -> bool:
        """Async :meth:`delete`."""
        return int(await self._call("kv_delete", self._namespace, [check_key(key)])) > 0

    async def adelete_many(self, keys: Iterable[str]) -> int:
        """Async :meth:`delete_many`."""
        return int(await self._call("kv_delete", self._namespace, _unique(check_keys(keys))))

    async def aclear(self, prefix: str = "") -> int:
        """Async :meth:`clear`."""
        return int(await self._call("kv_clear", self._namespace, check_key(prefix)))

    async def aget(self, key: str, default: Value | None = None) -> Value | None:
        """Async :meth:`get`."""
        found = await self._call("kv_get", self._namespace, [check_key(key)])
        return decode_value(found[key]) if key in found else default

    async def aget_many(self, keys: Iterable[str]) -> list[Value | None]:
        """Async :meth:`get_many`."""
        wanted = check_keys(keys)
        found = await self._call("kv_get", self._namespace, _unique(wanted))
        return [decode_value(found[key]) if key in found else None for key in wanted]

    async def acount(self, prefix: str = "") -> int:
        """Async :meth:`count`."""
        return int(await self._call("kv_count", self._namespace, check_key(prefix)))

    async def akeys(self, prefix: str = "") -> AsyncIterator[str]:
        """Async :meth:`keys`."""
        async for row in self._ascan(check_key(prefix), values=False):
            yield row.key

    async def aitems(self, prefix: str = "") -> AsyncIterator[tuple[str, Value]]:
        """Async :meth:`items`."""
        async for row in self._ascan(check_key(prefix), values=True):
            assert row.value is not None
            yield row.key, decode_value(row.value)

    async def _ascan(self, prefix: str, *, values: bool) -> AsyncIterator[KeyRow]:
        after: str | None = None
        while True:
            page: Sequence[KeyRow] = await self._call(
                "kv_page", self._namespace, prefix, after, PAGE_SIZE, values=values
            )
            for row in page:
                yield row
            if len(page) < PAGE_SIZE:
                return
            after = page[-1].key


def _unique(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))
