"""SQLiteVecChatStore: LlamaIndex chat histories in the file.

The first tests are ported from LlamaIndex's
``llama-index-core/tests/storage/chat_store/test_simple_chat_store.py`` and
run against ``SimpleChatStore`` too; the two marked "upstream main" follow
the newer upstream semantics (out-of-range deletes give ``None``) that the
installed ``SimpleChatStore`` does not have yet, so they run on ours only.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.storage.chat_store import SimpleChatStore
from llama_index.core.storage.chat_store.base import BaseChatStore

from llamaindex_sqlitevec import SQLiteVecChatStore, SQLiteVecKVStore, SQLiteVecVectorStore


@pytest.fixture(params=["simple", "sqlitevec", "shared"])
def chat_store(request: pytest.FixtureRequest, backend_db_path: str) -> BaseChatStore:
    if request.param == "simple":
        return SimpleChatStore()
    if request.param == "sqlitevec":
        return SQLiteVecChatStore.from_uri(backend_db_path)
    return SQLiteVecChatStore.from_vector_store(SQLiteVecVectorStore(backend_db_path))


@pytest.fixture
def ours(backend_db_path: str) -> SQLiteVecChatStore:
    return SQLiteVecChatStore.from_uri(backend_db_path)


def _msg(content: str, role: str = "user") -> ChatMessage:
    return ChatMessage(role=role, content=content)


# -- ported from LlamaIndex -------------------------------------------------------------


def test_add_messages(chat_store: BaseChatStore) -> None:
    for key in ("user1", "user2"):
        chat_store.add_message(key, _msg("hello"))
        chat_store.add_message(key, _msg("world"))
    assert chat_store.get_messages("user1") == [_msg("hello"), _msg("world")]
    assert chat_store.get_messages("user2") == [_msg("hello"), _msg("world")]
    assert chat_store.get_keys() == ["user1", "user2"]
    chat_store.add_message("user1", _msg("hello"), idx=0)  # type: ignore[call-arg]
    assert chat_store.get_messages("user1") == [_msg("hello"), _msg("hello"), _msg("world")]


def test_delete_chat_messages(chat_store: BaseChatStore) -> None:
    for key in ("user1", "user2"):
        chat_store.add_message(key, _msg("hello"))
        chat_store.add_message(key, _msg("world"))
    assert chat_store.delete_messages("user1") == [_msg("hello"), _msg("world")]
    assert chat_store.get_messages("user1") == []
    assert chat_store.get_messages("user2") == [_msg("hello"), _msg("world")]
    assert chat_store.delete_messages("user1") is None
    assert chat_store.get_keys() == ["user2"]


def test_delete_chat_message(chat_store: BaseChatStore) -> None:
    chat_store.add_message("user1", _msg("hello"))
    chat_store.add_message("user1", _msg("world"))
    assert chat_store.delete_last_message("user1") == _msg("world")
    assert chat_store.get_messages("user1") == [_msg("hello")]


def test_delete_chat_message_idx(chat_store: BaseChatStore) -> None:
    chat_store.add_message("user1", _msg("hello"))
    chat_store.add_message("user1", _msg("world"))
    assert chat_store.delete_message("user1", 0) == _msg("hello")
    assert chat_store.get_messages("user1") == [_msg("world")]
    assert chat_store.delete_message("user1", 5) is None
    assert chat_store.delete_message("nobody", 0) is None


async def test_async_forms(chat_store: BaseChatStore) -> None:
    await chat_store.aset_messages("k", [_msg("a"), _msg("b")])
    await chat_store.async_add_message("k", _msg("c"))
    assert await chat_store.aget_messages("k") == [_msg("a"), _msg("b"), _msg("c")]
    assert await chat_store.adelete_message("k", 1) == _msg("b")
    assert await chat_store.adelete_last_message("k") == _msg("c")
    assert await chat_store.aget_keys() == ["k"]
    assert await chat_store.adelete_messages("k") == [_msg("a")]


def test_delete_chat_message_out_of_bounds(ours: SQLiteVecChatStore) -> None:  # upstream main
    ours.add_message("user1", _msg("hello"))
    assert ours.delete_message("user1", -2) is None
    assert ours.get_messages("user1") == [_msg("hello")]


def test_delete_last_chat_message_from_empty_history(ours: SQLiteVecChatStore) -> None:  # upstream main
    ours.add_message("user1", _msg("hello"))
    assert ours.delete_last_message("user1") == _msg("hello")
    assert ours.delete_last_message("user1") is None
    assert ours.delete_last_message("nobody") is None


# -- ours ---------------------------------------------------------------------------------


def test_messages_round_trip_exactly(ours: SQLiteVecChatStore) -> None:
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="ハロー héllo 😀"),
        ChatMessage(role=MessageRole.ASSISTANT, blocks=[TextBlock(text="one"), TextBlock(text="two")]),
        ChatMessage(role=MessageRole.USER, content="with kwargs", additional_kwargs={"n": 1, "tags": ["a"]}),
    ]
    ours.set_messages("k", messages)
    assert ours.get_messages("k") == messages
    stored = ours.kvstore.client.key_value("llama_index/chat_store/data").get("k")
    assert isinstance(stored, dict)
    assert len(stored["messages"]) == 3


def test_a_chat_memory_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    first = SQLiteVecChatStore.from_uri(path)
    memory = ChatMemoryBuffer.from_defaults(chat_store=first, chat_store_key="user-1")
    memory.put(_msg("What is sqlite-vec?"))
    memory.put(_msg("A vector search extension for SQLite.", role="assistant"))
    first.close()
    again = SQLiteVecChatStore.from_params(db_path=path)
    memory = ChatMemoryBuffer.from_defaults(chat_store=again, chat_store_key="user-1")
    assert [m.content for m in memory.get_all()] == ["What is sqlite-vec?", "A vector search extension for SQLite."]


@pytest.mark.sqlite_only
def test_concurrent_adds_lose_no_message(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    SQLiteVecChatStore.from_uri(path).close()
    stores = [SQLiteVecChatStore.from_uri(path) for _ in range(4)]  # four connections to one file

    def add(store: SQLiteVecChatStore, worker: int) -> None:
        for i in range(25):
            store.add_message("shared", _msg(f"{worker}-{i}"))

    threads = [threading.Thread(target=add, args=(store, n)) for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    contents = [m.content for m in stores[0].get_messages("shared")]
    assert sorted(contents) == sorted(f"{w}-{i}" for w in range(4) for i in range(25))
    for worker in range(4):  # each writer's messages in its order
        mine = [c for c in contents if c is not None and c.startswith(f"{worker}-")]
        assert mine == [f"{worker}-{i}" for i in range(25)]


def test_collection_and_constructors(backend_db_path: str) -> None:
    kvstore = SQLiteVecKVStore(backend_db_path, namespace_prefix="app/")
    store = SQLiteVecChatStore(kvstore, collection="chats")
    store.add_message("k", _msg("hi"))
    assert kvstore.client.key_value("app/chats").count() == 1
    assert store.collection == "chats"
    assert SQLiteVecChatStore.class_name() == "SQLiteVecChatStore"
    with pytest.raises(ValueError, match="collection"):
        SQLiteVecChatStore(kvstore, collection="")
