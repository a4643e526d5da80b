"""The retriever of the LangChain store: langchain-core's plus hybrid and keyword search types.

:meth:`SQLiteVecVectorStore.as_retriever
<langchain_sqlitevec.SQLiteVecVectorStore.as_retriever>` makes one. It needs
only the store's reads (:class:`~._search.SearchMethods`), so the store's
module imports this one and not the other way round.
"""

from __future__ import annotations

from collections.abc import Collection as AbcCollection
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever
from pydantic import field_validator

from ._search import SearchMethods

__all__ = ["SQLiteVecRetriever"]


class SQLiteVecRetriever(VectorStoreRetriever):
    """langchain-core's ``VectorStoreRetriever`` plus ``search_type="hybrid"`` and ``"keyword"``.

    Made by :meth:`SQLiteVecVectorStore.as_retriever`; ``search_kwargs`` go to
    :meth:`SQLiteVecVectorStore.hybrid_search` or
    :meth:`SQLiteVecVectorStore.keyword_search`.
    """

    vectorstore: SearchMethods

    allowed_search_types: ClassVar[AbcCollection[str]] = (
        "similarity",
        "similarity_score_threshold",
        "mmr",
        "hybrid",
        "keyword",
    )

    @field_validator("vectorstore", mode="before")
    @classmethod
    def _check_store(cls, value: Any) -> Any:
        # Named for the user, before pydantic's own check names the base class.
        if not isinstance(value, SearchMethods):
            raise ValueError(f"vectorstore must be a SQLiteVecVectorStore, got {type(value).__name__}")
        return value

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type == "hybrid":
            return self.vectorstore.hybrid_search(query, **(self.search_kwargs | kwargs))
        if self.search_type == "keyword":
            return self.vectorstore.keyword_search(query, **(self.search_kwargs | kwargs))
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type == "hybrid":
            return await self.vectorstore.ahybrid_search(query, **(self.search_kwargs | kwargs))
        if self.search_type == "keyword":
            return await self.vectorstore.akeyword_search(query, **(self.search_kwargs | kwargs))
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)
