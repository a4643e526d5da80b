"""Records and batches checked once, before anything is embedded or written.

Two entry points build a :class:`Batch`, the checked form of a write:

* :func:`check_texts` checks texts with their parallel metadatas, ids,
  doc_ids and extras *before* they are embedded (what the framework adapters
  call), and :meth:`Batch.with_vectors` adds the embeddings once they exist;
* :func:`check_records` checks core :class:`~sqlitevec_store.records.Record`
  objects, rows and vectors together (what :meth:`Collection.upsert
  <sqlitevec_store.collection.Collection.upsert>` does with records).

A :class:`Batch` with vectors is written by ``Collection.upsert`` as is,
without a second check. The smaller checks (counts, dimensions, strings SQLite
can store, vectors) live here too, so every message about bad input comes from
one module. Errors are :class:`~sqlitevec_store.errors.InvalidInputError`
(a ``ValueError``) or :class:`~sqlitevec_store.errors.InvalidInputTypeError`
(a ``TypeError``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .errors import DimensionMismatchError, InvalidInputError, InvalidInputTypeError
from .records import CONVERTED_SCALARS, Record, check_count, chunks, is_int, json_scalar

__all__ = [
    "MAX_DIMENSION",
    "Batch",
    "ItemRow",
    "check_batches",
    "check_dimension",
    "check_encodable",
    "check_k",
    "check_records",
    "check_strings",
    "canonical_json",
    "check_texts",
    "refuse_one_string",
    "vector_matrix",
]


class ItemRow(NamedTuple):
    """One record as the records table stores it (the columns after pk)."""

    id: str
    text: str
    metadata: str  # JSON text, checked
    doc_id: str | None
    extra: str | None  # JSON text or None


@dataclass(frozen=True)
class Batch:
    """A checked batch: rows, and their unit vectors once known (float32, shape (len, dim)).

    Build one with :func:`check_texts` (then :meth:`with_vectors`) or
    :func:`check_records`; :meth:`Collection.upsert
    <sqlitevec_store.collection.Collection.upsert>` writes a batch with vectors
    without checking it again.

    Attributes:
        rows: The checked rows, in input order (ids unique, generated where none was given).
        vectors: Their unit-length vectors, one row each, or ``None`` before they are known.

    Raises:
        InvalidInputError: ``vectors`` is not a 2-D float32 array with one row per row.

    """

    rows: list[ItemRow]
    vectors: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        """Refuse a batch whose vectors do not fit its rows (a structural check, not a second validation)."""
        vectors = self.vectors
        if vectors is None:
            return
        if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32 or vectors.ndim != 2:
            raise InvalidInputError("Batch.vectors must be a 2-D float32 array (use Batch.with_vectors)")
        if len(vectors) != len(self.rows):
            raise InvalidInputError(f"Batch has {len(self.rows)} rows but {len(vectors)} vectors")

    def __len__(self) -> int:
        """The number of rows."""
        return len(self.rows)

    @property
    def ids(self) -> list[str]:
        """The rows' ids, in order."""
        return [row.id for row in self.rows]

    @property
    def texts(self) -> list[str]:
        """The rows' texts, in order (what gets embedded)."""
        return [row.text for row in self.rows]

    def with_vectors(self, vectors: Sequence[Sequence[float]] | npt.NDArray[Any]) -> Batch:
        """The same rows with their vectors checked and normalized to unit length.

        Args:
            vectors: One vector per row (lists of floats or a 2-D array).

        Returns:
            A new batch; this one is unchanged.

        Raises:
            InvalidInputError: The count differs from the rows' ("The embedding
                model returned N vectors for M texts"), or a vector is empty,
                all zeros, or holds NaN or infinite values.
            InvalidInputTypeError: A vector is not a sequence of numbers.
            DimensionMismatchError: The vectors have different lengths.

        """
        vector_list = vectors if isinstance(vectors, np.ndarray) else list(vectors)
        if len(vector_list) != len(self.rows):
            raise InvalidInputError(
                f"The embedding model returned {len(vector_list)} vectors for {len(self.rows)} texts"
            )
        return dataclasses.replace(self, vectors=vector_matrix(vector_list, "vector"))


def check_texts(
    texts: Iterable[str],
    metadatas: Iterable[Mapping[str, Any] | None] | None = None,
    ids: Iterable[str | None] | None = None,
    *,
    doc_ids: Iterable[str | None] | None = None,
    extras: Iterable[Mapping[str, Any] | None] | None = None,
) -> Batch:
    """Check texts and their parallel lists before anything is embedded.

    Every iterable is consumed fully. Missing ids (``None``) get a UUID4;
    missing metadata is ``{}``.

    Args:
        texts: The texts.
        metadatas: One metadata dict (or ``None``) per text.
        ids: One id (or ``None``) per text.
        doc_ids: One source-document id (or ``None``) per text.
        extras: One dict of framework bookkeeping (or ``None``) per text.

    Returns:
        The checked rows, without vectors (see :meth:`Batch.with_vectors`).

    Raises:
        InvalidInputTypeError: One string where a list was expected, a text or
            id that is not a string, metadata or extra that is not a dict of
            JSON values.
        InvalidInputError: Lengths differ, duplicate or empty ids, strings
            that are not valid UTF-8, numbers JSON cannot hold.

    """
    refuse_one_string(texts, "texts", "an iterable of strings")
    text_list = list(texts)
    for n, text in enumerate(text_list):
        if not isinstance(text, str):
            raise InvalidInputTypeError(f"text {n} must be a string, got {type(text).__name__}")
    if isinstance(metadatas, Mapping):
        raise InvalidInputTypeError("metadatas must be a list of dicts (one per text), not one dict")
    meta_list = _parallel(metadatas, "metadatas", len(text_list))
    for n, metadata in enumerate(meta_list):
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidInputTypeError(f"metadata {n} must be a dict or None, got {type(metadata).__name__}")
    refuse_one_string(ids, "ids")
    id_list = _parallel(ids, "ids", len(text_list))
    doc_list = _parallel(doc_ids, "doc_ids", len(text_list))
    extra_list = _parallel(extras, "extras", len(text_list))
    seen: set[str] = set()
    rows = []
    for n, text in enumerate(text_list):
        record_id = _check_id(id_list[n], n, seen)
        check_encodable(text, f"text {n}")
        metadata = meta_list[n]
        metadata_json = _check_metadata(metadata if metadata is not None else {}, f"metadata {n}")
        rows.append(
            ItemRow(record_id, text, metadata_json, _check_doc_id(doc_list[n], n), _check_extra(extra_list[n], n))
        )
    return Batch(rows)


def check_records(records: Iterable[Record], *, offset: int = 0, seen: set[str] | None = None) -> Batch:
    """Check core records: their rows and their vectors together.

    Args:
        records: The records (consumed fully).
        offset: The number of the first record in messages (for a stream checked in parts).
        seen: Ids already taken by earlier parts of the same write; this part's are added.

    Returns:
        The checked batch, vectors included.

    Raises:
        InvalidInputTypeError: An item that is not a :class:`Record`, a text
            or id that is not a string, metadata that is not a dict of JSON
            values.
        InvalidInputError: Duplicate or empty ids, a record without a vector,
            NaN/infinite/zero vectors, numbers JSON cannot hold.
        DimensionMismatchError: The vectors have different lengths.

    """
    batch = list(records)
    seen = set() if seen is None else seen
    rows = []
    for n, record in enumerate(batch, start=offset):
        if not isinstance(record, Record):
            raise InvalidInputTypeError(f"item {n} must be a Record, got {type(record).__name__}")
        record_id = _check_id(record.id, n, seen)
        if not isinstance(record.text, str):
            raise InvalidInputTypeError(f"text {n} must be a string, got {type(record.text).__name__}")
        check_encodable(record.text, f"text {n}")
        metadata = record.metadata if record.metadata is not None else {}
        if not isinstance(metadata, Mapping):
            raise InvalidInputTypeError(f"metadata {n} must be a dict, got {type(metadata).__name__}")
        metadata_json = _check_metadata(metadata, f"metadata {n}")
        row = ItemRow(
            record_id, record.text, metadata_json, _check_doc_id(record.doc_id, n), _check_extra(record.extra, n)
        )
        if record.vector is None:
            raise InvalidInputError(f"record {n} ({record_id!r}) has no vector")
        rows.append(row)
    return Batch(rows, vector_matrix([r.vector for r in batch], "vector", offset))


def check_batches(records: Iterable[Record] | Batch, size: int) -> Iterator[Batch]:
    """Checked parts of at most ``size`` records of one write, each checked when it is reached.

    A :class:`Batch` is cut as is (it was checked when it was built); records,
    a generator included, are read and checked ``size`` at a time, ids unique
    across the whole write, so memory stays bounded.

    Raises:
        InvalidInputError: A :class:`Batch` without vectors, or any error of :func:`check_records`.

    """
    if isinstance(records, Batch):
        vectors = records.vectors
        if vectors is None:
            raise InvalidInputError("the Batch has no vectors yet; add them with Batch.with_vectors(...)")
        for start in range(0, len(records), size):
            yield Batch(records.rows[start : start + size], vectors[start : start + size])
        return
    seen: set[str] = set()
    offset = 0
    for part in chunks(records, size):
        yield check_records(part, offset=offset, seen=seen)
        offset += len(part)


def _parallel(values: Iterable[Any] | None, what: str, count: int) -> list[Any]:
    """``values`` as a list of ``count`` items (``None`` each when not given)."""
    if values is None:
        return [None] * count
    out = list(values)
    if len(out) != count:
        raise InvalidInputError(f"Got {count} texts but {len(out)} {what}; they must match")
    return out


def _check_id(value: Any, n: int, seen: set[str]) -> str:
    """Record ``n``'s id (a UUID4 when ``None``), refused when not a unique, storable, non-empty string."""
    record_id = value if value is not None else str(uuid.uuid4())
    if not isinstance(record_id, str):
        raise InvalidInputTypeError(f"id {n} must be a string or None, got {type(record_id).__name__} ({record_id!r})")
    if not record_id:
        raise InvalidInputError(f"id {n} is an empty string")
    check_encodable(record_id, f"id {n}")
    if record_id in seen:
        raise InvalidInputError(f"id {record_id!r} appears twice in one batch")
    seen.add(record_id)
    return record_id


def _check_doc_id(value: Any, n: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputTypeError(f"doc_id {n} must be a string or None")
    check_encodable(value, f"doc_id {n}")
    return value


def _check_extra(value: Any, n: int) -> str | None:
    """Record ``n``'s framework bookkeeping as JSON text (``None`` stays ``None``)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputTypeError(f"extra {n} must be a dict or None")
    _check_json(value, f"extra {n}")
    return _dumps(value)


#: The largest vector dimension a collection may have, whatever its backend: sqlite-vec's vec0
#: limit (``backends.sqlite.ddl.VEC0_MAX_DIMENSION``), so that every collection fits in a file.
MAX_DIMENSION = 8192


def check_dimension(dimension: Any, what: str = "dimension") -> int:
    """Refuse a dimension that is not an int from 1 to :data:`MAX_DIMENSION`, before anything is written."""
    if not is_int(dimension) or dimension < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {dimension!r}")
    if dimension > MAX_DIMENSION:
        raise InvalidInputError(f"{what} is {dimension}, above sqlite-vec's limit of {MAX_DIMENSION} dimensions")
    return int(dimension)


def check_k(value: Any, name: str = "k") -> int:
    """A count of at least 1 and at most :data:`~sqlitevec_store.records.MAX_COUNT` (see :func:`check_count`)."""
    return check_count(value, name)


def refuse_one_string(values: object, what: str, expected: str = "a list of strings") -> None:
    """Refuse one string (or bytes) where a list of them is expected: iterating it would give characters.

    Raises:
        InvalidInputTypeError: ``values`` is a ``str`` or ``bytes``.

    """
    if isinstance(values, (str, bytes)):
        raise InvalidInputTypeError(f"{what} must be {expected}, not one string")


def check_strings(values: Iterable[Any], what: str) -> list[str]:
    """``values`` as a list of storable strings (ids, doc_ids); one string instead of a list is refused."""
    refuse_one_string(values, what)
    out = list(values)
    for value in out:
        if not isinstance(value, str):
            raise InvalidInputTypeError(f"{what} must be strings, got {type(value).__name__} ({value!r})")
        check_encodable(value, what)
    return out


def check_encodable(value: str, where: str) -> None:
    """Refuse strings SQLite cannot store (lone surrogates are not valid UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{where} contains a character that is not valid UTF-8 ({exc.reason})") from None


def _check_json(value: Any, where: str, depth: int = 0) -> None:
    """Refuse values that do not survive a JSON round trip (after :func:`json_scalar`)."""
    if depth > 100:
        raise InvalidInputError(f"{where} is nested more than 100 levels deep")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputTypeError(
                    f"{where} has a key {key!r} of type {type(key).__name__}; keys must be strings"
                )
            check_encodable(key, f"a key of {where}")
            _check_json(item, f"{where}[{key!r}]", depth + 1)
    elif isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            _check_json(item, f"{where}[{n}]", depth + 1)
    else:
        _check_json_scalar(value, where)


def _check_json_scalar(value: Any, where: str) -> None:
    """Refuse a value that is not a JSON scalar (after :func:`json_scalar`) or that JSON cannot hold."""
    if isinstance(value, CONVERTED_SCALARS):
        value = json_scalar(value)
    if isinstance(value, str):
        check_encodable(value, where)
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise InvalidInputError(f"{where} is {value}, outside the 64-bit range SQLite's JSON can compare")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where} is {value}, which JSON cannot hold")
        return
    if isinstance(value, np.ndarray):
        raise InvalidInputTypeError(
            f"{where} is a numpy array of shape {value.shape}; store a list instead (array.tolist())"
        )
    raise InvalidInputTypeError(
        f"{where} is a {type(value).__name__} ({value!r:.80}), which is not JSON-serializable; "
        "use str, int, float, bool, None, lists and dicts (numpy scalars, dates and datetimes are converted)"
    )


_SCALARS = (str, int, float, bool, type(None))


def _check_metadata(value: Mapping[str, Any], where: str) -> str:
    """Validate a metadata dict and return its JSON (fast for flat dicts of scalars, the common case)."""
    flat = True
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or kind not in _SCALARS:
            flat = False
            break
        if (kind is int and not -(2**63) <= item < 2**63) or (kind is float and not math.isfinite(item)):
            flat = False
            break
    if not flat:
        _check_json(value, where)
        return _dumps(value)
    text = _dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _check_json(value, where)  # names the string with the lone surrogate
        raise
    return text


def canonical_json(value: Any) -> str:
    """The JSON text the core stores for an already checked metadata or extra value (compact, UTF-8 as is).

    For values read back from a store (a migration writes them again): no check
    is repeated here.
    """
    return _dumps(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    # Only reached for values _check_json accepted: numpy scalars, dates and datetimes.
    converted = json_scalar(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON-serializable")
    return converted


def vector_matrix(vectors: Sequence[Any] | npt.NDArray[Any], what: str, offset: int = 0) -> npt.NDArray[np.float32]:
    """Validate vectors and return them as unit-length float32 rows (``offset`` numbers them in messages)."""
    matrix = _fast_matrix(vectors)
    if matrix is not None:
        return _unit_rows(matrix, what, offset)
    rows: list[npt.NDArray[np.float64]] = []
    for n, vector in enumerate(vectors, start=offset):
        if isinstance(vector, (str, bytes)) or vector is None:
            raise InvalidInputTypeError(f"{what} {n} must be a sequence of numbers, got {type(vector).__name__}")
        try:
            array = np.asarray(vector, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputTypeError(f"{what} {n} must be a sequence of numbers: {exc}") from exc
        if array.ndim != 1 or array.size == 0:
            raise InvalidInputError(f"{what} {n} must be a non-empty 1-D sequence, got shape {array.shape}")
        rows.append(array)
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    dims = {row.size for row in rows}
    if len(dims) > 1:
        raise DimensionMismatchError(f"{what}s have different lengths in one batch: {sorted(dims)}")
    return _unit_rows(np.vstack(rows), what, offset)


def _fast_matrix(vectors: Sequence[Any] | npt.NDArray[Any]) -> npt.NDArray[np.float64] | None:
    """The common case in one numpy call: rows that are all numeric arrays or lists of one length."""
    if len(vectors) == 0 or isinstance(vectors[0], (str, bytes)) or vectors[0] is None:
        return None
    try:
        matrix = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError):
        return None  # ragged, or not numbers: the slow path says which row
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        return None
    return matrix


def _unit_rows(matrix: npt.NDArray[np.float64], what: str, offset: int) -> npt.NDArray[np.float32]:
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = offset + int(np.flatnonzero(~finite)[0])
        raise InvalidInputError(f"{what} {bad} contains NaN or infinite values")
    # Scale each row by its largest component first, so huge finite values
    # (1e300) do not overflow the norm and tiny ones do not underflow it.
    peaks = np.abs(matrix).max(axis=1)
    if (peaks == 0).any():
        bad = offset + int(np.flatnonzero(peaks == 0)[0])
        raise InvalidInputError(f"{what} {bad} is all zeros; cosine distance needs a direction")
    scaled = matrix / peaks[:, None]
    unit: npt.NDArray[np.float32] = (scaled / np.linalg.norm(scaled, axis=1)[:, None]).astype(np.float32)
    return unit
