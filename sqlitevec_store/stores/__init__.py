"""What a whole app keeps beside its vectors, in the same database: a key-value space and a record-key log.

* :class:`~.kv.KeyValueStore`: bytes and JSON values per namespace
  (``db.key_value(namespace)``); the frameworks' byte, document, index and
  chat stores and the embedding cache are built on it.
* :class:`~.record_keys.RecordKeys`: LangChain's record manager
  (``db.record_keys(namespace)``).

Both are tables of the same file (or Postgres schema), made by the first
write, and both take part in ``db.atomic()``.
"""

from __future__ import annotations

from .kv import KeyValueStore, Value
from .record_keys import RecordKeys

__all__ = ["KeyValueStore", "RecordKeys", "Value"]
