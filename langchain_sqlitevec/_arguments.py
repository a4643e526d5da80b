"""Checks of the keyword arguments the LangChain store takes beside its named parameters.

LangChain's ``VectorStore`` interface passes ``**kwargs`` through most
methods; the store accepts only the few it documents and refuses the rest
with a ``TypeError`` naming them, so a typo never passes silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlitevec_store.records import check_count

__all__ = ["AddOptions", "check_show_progress", "reject_unknown"]

#: Keyword arguments that LangChain's own machinery passes to the add methods and the store ignores:
#: ``TimeWeightedVectorStoreRetriever.add_documents(docs, current_time=...)`` forwards its kwargs.
IGNORED_ADD_KWARGS = ("current_time",)


def reject_unknown(kwargs: Mapping[str, Any], method: str) -> None:
    """Refuse any keyword argument left in ``kwargs``.

    Raises:
        TypeError: ``kwargs`` is not empty; the message names ``method`` and the keywords.

    """
    if kwargs:
        names = ", ".join(sorted(kwargs))
        raise TypeError(f"{method}() got unexpected keyword argument(s): {names}")


def check_show_progress(value: Any) -> bool:
    """``value`` if it is a ``bool``.

    Raises:
        TypeError: Anything else (``1``, ``"yes"``, ``None``).

    """
    if not isinstance(value, bool):
        raise TypeError(f"show_progress must be True or False, got {value!r}")
    return value


@dataclass(frozen=True)
class AddOptions:
    """The keyword options of the add methods and constructors, checked.

    Attributes:
        batch_size: Texts per call to the embedding model (``None``: all in one call).
        show_progress: Whether progress is reported on stderr.

    """

    batch_size: int | None
    show_progress: bool

    @classmethod
    def pop(cls, kwargs: dict[str, Any], method: str, *, show_progress: bool) -> AddOptions:
        """Take ``batch_size`` and ``show_progress`` out of ``kwargs`` and refuse what else is left.

        Args:
            kwargs: The method's ``**kwargs``; emptied.
            method: The method's name, for the messages.
            show_progress: The default when ``kwargs`` has none.

        Raises:
            TypeError: An unknown keyword, or ``show_progress`` not a ``bool``.
            ValueError: ``batch_size`` is not a count (see :func:`~sqlitevec_store.records.check_count`).

        """
        progress = check_show_progress(kwargs.pop("show_progress", show_progress))
        batch_size = kwargs.pop("batch_size", None)
        for name in IGNORED_ADD_KWARGS:
            kwargs.pop(name, None)
        reject_unknown(kwargs, method)
        return cls(None if batch_size is None else check_count(batch_size, "batch_size"), progress)
