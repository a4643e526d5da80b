"""Keys and namespaces of the key-value space and the record-key log: what may be stored, and prefix ranges.

Engine-neutral rules shared by the core (:mod:`.kv`, :mod:`.record_keys`)
and the backends:

* A namespace is a non-empty string of at most :data:`MAX_NAMESPACE_LENGTH`
  characters; a key any string of at most :data:`MAX_KEY_LENGTH`. Neither
  may hold a NUL character (Postgres text cannot) or a lone surrogate (not
  UTF-8), so one key means the same on every backend.
* Keys order by code point. Every key starting with ``prefix`` lies in the
  range ``[prefix, prefix_end(prefix))``, so a prefix scan is an index range
  on both engines (SQLite compares text with ``memcmp`` of UTF-8, Postgres
  with the ``"C"`` collation the key columns are declared with: both are
  code point order).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import InvalidInputError, InvalidInputTypeError

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_NAMESPACE_LENGTH",
    "check_key",
    "check_keys",
    "check_namespace",
    "prefix_end",
    "range_params",
]

#: The longest key, in characters.
MAX_KEY_LENGTH = 4096

#: The longest namespace, in characters.
MAX_NAMESPACE_LENGTH = 512

_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def _check_text(value: object, what: str, maximum: int, *, empty: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInputTypeError(f"{what} must be a string, got {type(value).__name__}")
    if not value and not empty:
        raise InvalidInputError(f"{what} must not be empty")
    if len(value) > maximum:
        raise InvalidInputError(f"{what} is {len(value)} characters long; at most {maximum} are allowed")
    if "\x00" in value:
        raise InvalidInputError(f"{what} {value!r} holds a NUL character, which no backend can store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} {value!r} is not valid Unicode (a lone surrogate)") from exc
    return value


def check_namespace(namespace: object) -> str:
    """``namespace``, checked.

    Raises:
        InvalidInputTypeError: Not a string.
        InvalidInputError: Empty, too long, or not storable (NUL, lone surrogate).

    """
    return _check_text(namespace, "namespace", MAX_NAMESPACE_LENGTH, empty=False)


def check_key(key: object) -> str:
    """``key``, checked (the empty string is a key).

    Raises:
        InvalidInputTypeError: Not a string.
        InvalidInputError: Too long, or not storable (NUL, lone surrogate).

    """
    return _check_text(key, "key", MAX_KEY_LENGTH, empty=True)


def check_keys(keys: Iterable[object]) -> list[str]:
    """Every key checked, in order (a single string is refused: it would be read as its characters)."""
    if isinstance(keys, (str, bytes)):
        raise InvalidInputTypeError(f"keys must be a list of strings, not a single {type(keys).__name__}")
    return [check_key(key) for key in keys]


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix``; ``None`` when there is none.

    The empty prefix (every key) and a prefix of only U+10FFFF characters have no end.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        if code <= _LAST_CODE_POINT:
            return "".join(chars) + chr(code)
    return None


def range_params(namespace: str, prefix: str, after: str | None) -> dict[str, Any]:
    """The bound values of a prefix scan: ``namespace``, ``prefix``, and ``end`` and ``after`` where they apply.

    ``end`` (:func:`prefix_end`) is absent when no key bounds the prefix from
    above; ``after`` when the scan starts at the first key.
    """
    params: dict[str, Any] = {"namespace": namespace, "prefix": prefix}
    end = prefix_end(prefix)
    if end is not None:
        params["end"] = end
    if after is not None:
        params["after"] = after
    return params
