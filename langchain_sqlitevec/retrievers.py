"""The retriever of the LangChain store: langchain-core's plus hybrid and keyword search types.

:meth:`SQLiteVecVectorStore.as_retriever
<langchain_sqlitevec.SQLiteVecVectorStore.as_retriever>` makes one. The
store's class is named here for the type checker only: at run time the
``vectorstore`` field is langchain-core's, and the store module imports this
one, not the other way round.
"""

from __future__ import annotations

from collections.abc import Collection as AbcCollection
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever
from pydantic import model_validator
from typing_extensions import Self

if TYPE_CHECKING:
    from .vectorstores import SQLiteVecVectorStore

__all__ = ["SQLiteVecRetriever"]

#: The search types only this retriever has, and the store methods they call.
_TEXT_SEARCH_METHODS = ("hybrid_search", "ahybrid_search", "keyword_search", "akeyword_search")


class SQLiteVecRetriever(VectorStoreRetriever):
    """langchain-core's ``VectorStoreRetriever`` plus ``search_type="hybrid"`` and ``"keyword"``.

    Made by :meth:`SQLiteVecVectorStore.as_retriever`; ``search_kwargs`` go to
    :meth:`SQLiteVecVectorStore.hybrid_search` or
    :meth:`SQLiteVecVectorStore.keyword_search`.
    """

    if TYPE_CHECKING:
        vectorstore: SQLiteVecVectorStore

    allowed_search_types: ClassVar[AbcCollection[str]] = (
        "similarity",
        "similarity_score_threshold",
        "mmr",
        "hybrid",
        "keyword",
    )

    @model_validator(mode="after")
    def _check_store(self) -> Self:
        missing = [name for name in _TEXT_SEARCH_METHODS if not callable(getattr(self.vectorstore, name, None))]
        if missing:
            raise ValueError(
                f"vectorstore must be a SQLiteVecVectorStore, got {type(self.vectorstore).__name__} "
                f"(it has no {', '.join(missing)})"
            )
        return self

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
