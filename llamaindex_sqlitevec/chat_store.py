"""``SQLiteVecChatStore``: LlamaIndex chat histories in the same file as the vectors.

A ``BaseChatStore`` on :class:`~llamaindex_sqlitevec.kvstore.SQLiteVecKVStore`:
each chat key's messages are one entry of the collection ``chat_store/data``
(core namespace ``llama_index/chat_store/data``): ``{"messages": [...]}``,
each message as ``ChatMessage.model_dump(mode="json")`` gives it. Every change (adding,
deleting one message) reads and rewrites the history in one transaction, so
two processes adding to the same chat never lose a message.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store.base import BaseChatStore

from sqlitevec_store import Database

from .kvstore import DEFAULT_NAMESPACE_PREFIX, SQLiteVecKVStore

if TYPE_CHECKING:
    from .base import SQLiteVecVectorStore

__all__ = ["DEFAULT_CHAT_COLLECTION", "SQLiteVecChatStore"]

#: The key-value collection holding the histories.
DEFAULT_CHAT_COLLECTION = "chat_store/data"


class SQLiteVecChatStore(BaseChatStore):
    """LlamaIndex chat store (per-user chat histories) in a SQLite file or Postgres schema.

    Args:
        sqlitevec_kvstore: The key-value store holding the histories.
        collection: Its collection for them (``"chat_store/data"``).

    Example:
        .. code-block:: python

            from llama_index.core.memory import ChatMemoryBuffer
            from llamaindex_sqlitevec import SQLiteVecChatStore, SQLiteVecVectorStore

            vector_store = SQLiteVecVectorStore("app.db")
            chat_store = SQLiteVecChatStore.from_vector_store(vector_store)
            memory = ChatMemoryBuffer.from_defaults(chat_store=chat_store, chat_store_key="user-1")

    """

    collection: str = Field(default=DEFAULT_CHAT_COLLECTION, description="Key-value collection of the histories.")

    _kvstore: SQLiteVecKVStore = PrivateAttr()

    def __init__(
        self, sqlitevec_kvstore: SQLiteVecKVStore, *, collection: str = DEFAULT_CHAT_COLLECTION, **kwargs: Any
    ) -> None:
        kwargs["collection"] = collection
        # The parent's synthesized __init__ does not know this class's fields.
        super().__init__(**kwargs)
        self._kvstore = sqlitevec_kvstore
        self._kvstore.namespace(collection)  # the collection name is checked now

    @classmethod
    def from_uri(
        cls,
        uri: str | os.PathLike[str],
        *,
        collection: str = DEFAULT_CHAT_COLLECTION,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> SQLiteVecChatStore:
        """A chat store on ``uri`` (see :meth:`SQLiteVecKVStore.from_uri`); :meth:`close` closes it."""
        return cls(SQLiteVecKVStore.from_uri(uri, namespace_prefix=namespace_prefix), collection=collection)

    @classmethod
    def from_params(
        cls,
        *,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any = None,
        database: Database | None = None,
        collection: str = DEFAULT_CHAT_COLLECTION,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> SQLiteVecChatStore:
        """A chat store on one of ``db_path``, ``connection`` or ``database`` (see :class:`SQLiteVecKVStore`)."""
        kvstore = SQLiteVecKVStore(db_path, connection=connection, database=database, namespace_prefix=namespace_prefix)
        return cls(kvstore, collection=collection)

    @classmethod
    def from_vector_store(
        cls,
        vector_store: SQLiteVecVectorStore,
        *,
        collection: str = DEFAULT_CHAT_COLLECTION,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> SQLiteVecChatStore:
        """A chat store sharing ``vector_store``'s database (one file, one connection)."""
        kvstore = SQLiteVecKVStore.from_vector_store(vector_store, namespace_prefix=namespace_prefix)
        return cls(kvstore, collection=collection)

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex (de)serialization."""
        return "SQLiteVecChatStore"

    @property
    def kvstore(self) -> SQLiteVecKVStore:
        """The key-value store holding the histories."""
        return self._kvstore

    def close(self) -> None:
        """Close the key-value store (its database, if it opened it). Idempotent."""
        self._kvstore.close()

    # -- the history of one key ------------------------------------------------------

    def _read(self, key: str) -> list[ChatMessage] | None:
        entry = self._kvstore.get(key, collection=self.collection)
        return None if entry is None else [ChatMessage.model_validate(message) for message in entry["messages"]]

    def _write(self, key: str, messages: list[ChatMessage]) -> None:
        entry = {"messages": [message.model_dump(mode="json") for message in messages]}
        self._kvstore.put(key, entry, collection=self.collection)

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the history of ``key``."""
        self._write(key, list(messages))

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The history of ``key`` (empty when there is none)."""
        return self._read(key) or []

    def add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        """Append ``message`` to the history of ``key`` (or insert it at ``idx``)."""
        with self._kvstore.atomic():
            messages = self._read(key) or []
            if idx is None:
                messages.append(message)
            else:
                messages.insert(idx, message)
            self._write(key, messages)

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete the history of ``key``; it, or ``None`` when there was none."""
        with self._kvstore.atomic():
            messages = self._read(key)
            if messages is not None:
                self._kvstore.delete(key, collection=self.collection)
        return messages

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at ``idx``; it, or ``None`` when there is no such message."""
        with self._kvstore.atomic():
            messages = self._read(key)
            if messages is None or not -len(messages) <= idx < len(messages):
                return None
            message = messages.pop(idx)
            self._write(key, messages)
        return message

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Delete the last message; it, or ``None`` when the history is empty or missing."""
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        """Every key with a history, in code point order."""
        return list(self._kvstore.namespace(self.collection).keys())
