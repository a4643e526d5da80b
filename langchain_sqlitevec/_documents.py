"""LangChain ``Document`` objects to and from what the core stores and returns.

A document going in is split into its text, metadata and id (an explicit id
wins over ``Document.id``); a core :class:`~sqlitevec_store.Hit` coming out
becomes a ``Document`` with its id set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from langchain_core.documents import Document

from sqlitevec_store import Hit
from sqlitevec_store.validation import refuse_one_string

__all__ = ["DocumentParts", "to_document"]


def to_document(hit: Hit) -> Document:
    """The ``Document`` of a core hit: its text, metadata and id."""
    return Document(page_content=hit.text, metadata=hit.metadata, id=hit.id)


class DocumentParts(NamedTuple):
    """Documents as the parallel lists the add methods take."""

    texts: list[str]
    metadatas: list[dict[str, Any]]
    ids: list[str | None] | None

    @classmethod
    def of(cls, documents: Iterable[Document], ids: Iterable[str | None] | None) -> DocumentParts:
        """Split ``documents`` (consumed fully, not modified); ``ids`` wins over ``Document.id``.

        Args:
            documents: The documents.
            ids: One id (or ``None``) per document, or ``None`` for the documents' own.

        Returns:
            The texts, metadatas and ids; ``ids`` is ``None`` when no id is set anywhere
            (every document then gets a generated UUID).

        Raises:
            TypeError: ``ids`` is one string.
            ValueError: ``ids`` and ``documents`` differ in length.

        """
        docs = list(documents)
        return cls([d.page_content for d in docs], [d.metadata for d in docs], _document_ids(docs, ids))


def _document_ids(docs: list[Document], ids: Iterable[str | None] | None) -> list[str | None] | None:
    """Explicit ids first, then ``Document.id``; ``None`` where neither is set."""
    if ids is None:
        doc_ids = [d.id for d in docs]
        return doc_ids if any(i is not None for i in doc_ids) else None
    refuse_one_string(ids, "ids")
    id_list = list(ids)
    if len(id_list) != len(docs):
        raise ValueError(f"Got {len(docs)} documents but {len(id_list)} ids; they must match")
    return [i if i is not None else d.id for i, d in zip(id_list, docs, strict=True)]
