"""``SQLiteVecDocumentStore`` and ``SQLiteVecIndexStore``: LlamaIndex's docstore and index store in the file.

Both are LlamaIndex's own key-value stores (``KVDocumentStore``,
``KVIndexStore``) on a :class:`~llamaindex_sqlitevec.kvstore.SQLiteVecKVStore`,
built the way LlamaIndex builds its Postgres ones (``PostgresDocumentStore``,
``PostgresIndexStore``): from a key-value store, or ``from_uri`` /
``from_params``, plus :meth:`~SQLiteVecDocumentStore.from_vector_store` to
share a vector store's database. With the three on one file,
``StorageContext.from_defaults(vector_store=..., docstore=..., index_store=...)``
needs no ``persist()``: everything is written as it happens, and
``load_index_from_storage`` in another process reads it back.

The document store's own multi-step writes (``add_documents``,
``delete_document``, ``delete_ref_doc``) are each one transaction here, so a
crash never leaves a node without its metadata or reference-document entry
(their async forms are LlamaIndex's: one transaction per step). To make a
whole ``IngestionPipeline.run`` one transaction (vectors, docstore and cache
commit together, or a crash leaves the file as it was), run it inside
``with kvstore.atomic():`` on a key-value store sharing the vector store's
database.

With a vector store that keeps the text (as ``SQLiteVecVectorStore`` does),
``VectorStoreIndex`` keeps its nodes only there and gives the docstore the
documents' hashes; pass ``store_nodes_override=True`` (when building and to
``load_index_from_storage``) to keep the nodes in the docstore too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.index_store.keyval_index_store import KVIndexStore
from llama_index.core.storage.kvstore.types import DEFAULT_BATCH_SIZE

from sqlitevec_store import Database

from .kvstore import DEFAULT_NAMESPACE_PREFIX, SQLiteVecKVStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .base import SQLiteVecVectorStore

__all__ = ["SQLiteVecDocumentStore", "SQLiteVecIndexStore"]


class SQLiteVecDocumentStore(KVDocumentStore):
    """LlamaIndex document (node) store in the same file as the vectors.

    Args:
        sqlitevec_kvstore: The key-value store holding the documents.
        namespace: Names the docstore's collections (``"docstore"``:
            ``docstore/data``, ``docstore/metadata``, ``docstore/ref_doc_info``).
        batch_size: Passed to the key-value store's ``put_all`` (every call
            is one transaction whatever it is).

    Example:
        .. code-block:: python

            from llama_index.core import StorageContext, VectorStoreIndex
            from llamaindex_sqlitevec import SQLiteVecDocumentStore, SQLiteVecIndexStore, SQLiteVecVectorStore

            vector_store = SQLiteVecVectorStore("app.db")
            storage_context = StorageContext.from_defaults(
                vector_store=vector_store,
                docstore=SQLiteVecDocumentStore.from_vector_store(vector_store),
                index_store=SQLiteVecIndexStore.from_vector_store(vector_store),
            )

    """

    def __init__(
        self,
        sqlitevec_kvstore: SQLiteVecKVStore,
        namespace: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """A document store on ``sqlitevec_kvstore``."""
        super().__init__(sqlitevec_kvstore, namespace=namespace, batch_size=batch_size)
        self._sqlitevec_kvstore = sqlitevec_kvstore

    @classmethod
    def from_uri(
        cls,
        uri: str | os.PathLike[str],
        namespace: str | None = None,
        *,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> SQLiteVecDocumentStore:
        """A document store on ``uri`` (see :meth:`SQLiteVecKVStore.from_uri`); :meth:`close` closes it."""
        return cls(SQLiteVecKVStore.from_uri(uri, namespace_prefix=namespace_prefix), namespace, batch_size)

    @classmethod
    def from_params(
        cls,
        *,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any = None,
        database: Database | None = None,
        namespace: str | None = None,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> SQLiteVecDocumentStore:
        """A document store on one of ``db_path``, ``connection`` or ``database`` (see :class:`SQLiteVecKVStore`)."""
        kvstore = SQLiteVecKVStore(db_path, connection=connection, database=database, namespace_prefix=namespace_prefix)
        return cls(kvstore, namespace, batch_size)

    @classmethod
    def from_vector_store(
        cls,
        vector_store: SQLiteVecVectorStore,
        namespace: str | None = None,
        *,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> SQLiteVecDocumentStore:
        """A document store sharing ``vector_store``'s database (one file, one connection)."""
        return cls(
            SQLiteVecKVStore.from_vector_store(vector_store, namespace_prefix=namespace_prefix), namespace, batch_size
        )

    @property
    def kvstore(self) -> SQLiteVecKVStore:
        """The key-value store holding the documents."""
        return self._sqlitevec_kvstore

    def close(self) -> None:
        """Close the key-value store (its database, if it opened it). Idempotent."""
        self._sqlitevec_kvstore.close()

    def add_documents(
        self,
        docs: Sequence[BaseNode],
        allow_update: bool = True,
        batch_size: int | None = None,
        store_text: bool = True,
    ) -> None:
        """Add nodes (their data, metadata and reference-document entries) in one transaction."""
        with self._sqlitevec_kvstore.atomic():
            super().add_documents(docs, allow_update=allow_update, batch_size=batch_size, store_text=store_text)

    def delete_document(self, doc_id: str, raise_error: bool = True) -> None:
        """Delete a node and its entries in one transaction."""
        with self._sqlitevec_kvstore.atomic():
            super().delete_document(doc_id, raise_error=raise_error)

    def delete_ref_doc(self, ref_doc_id: str, raise_error: bool = True) -> None:
        """Delete a reference document and all its nodes in one transaction."""
        with self._sqlitevec_kvstore.atomic():
            super().delete_ref_doc(ref_doc_id, raise_error=raise_error)


class SQLiteVecIndexStore(KVIndexStore):
    """LlamaIndex index store (the index structs ``load_index_from_storage`` reads) in the file.

    Args:
        sqlitevec_kvstore: The key-value store holding the index structs.
        namespace: Names the collection (``"index_store"``: ``index_store/data``).
        collection_suffix: Put after the namespace (``"/data"``).

    """

    def __init__(
        self,
        sqlitevec_kvstore: SQLiteVecKVStore,
        namespace: str | None = None,
        collection_suffix: str | None = None,
    ) -> None:
        """An index store on ``sqlitevec_kvstore``."""
        super().__init__(sqlitevec_kvstore, namespace=namespace, collection_suffix=collection_suffix)
        self._sqlitevec_kvstore = sqlitevec_kvstore

    @classmethod
    def from_uri(
        cls,
        uri: str | os.PathLike[str],
        namespace: str | None = None,
        *,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> SQLiteVecIndexStore:
        """An index store on ``uri`` (see :meth:`SQLiteVecKVStore.from_uri`); :meth:`close` closes it."""
        return cls(SQLiteVecKVStore.from_uri(uri, namespace_prefix=namespace_prefix), namespace)

    @classmethod
    def from_params(
        cls,
        *,
        db_path: str | os.PathLike[str] | None = None,
        connection: Any = None,
        database: Database | None = None,
        namespace: str | None = None,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> SQLiteVecIndexStore:
        """An index store on one of ``db_path``, ``connection`` or ``database`` (see :class:`SQLiteVecKVStore`)."""
        kvstore = SQLiteVecKVStore(db_path, connection=connection, database=database, namespace_prefix=namespace_prefix)
        return cls(kvstore, namespace)

    @classmethod
    def from_vector_store(
        cls,
        vector_store: SQLiteVecVectorStore,
        namespace: str | None = None,
        *,
        namespace_prefix: str = DEFAULT_NAMESPACE_PREFIX,
    ) -> SQLiteVecIndexStore:
        """An index store sharing ``vector_store``'s database (one file, one connection)."""
        return cls(SQLiteVecKVStore.from_vector_store(vector_store, namespace_prefix=namespace_prefix), namespace)

    @property
    def kvstore(self) -> SQLiteVecKVStore:
        """The key-value store holding the index structs."""
        return self._sqlitevec_kvstore

    def close(self) -> None:
        """Close the key-value store (its database, if it opened it). Idempotent."""
        self._sqlitevec_kvstore.close()
