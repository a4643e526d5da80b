"""The JSON-lines dump format: writing a collection out, and loading it back all or nothing.

One record per line, a JSON object::

    {"id": "a.md#0", "text": "...", "metadata": {...}, "doc_id": "a.md",
     "extra": {...}, "vector": [0.1, ...], "model": "sentence-transformers/..."}

``text`` is required; ``id``, ``doc_id``, ``metadata``, ``extra``, ``vector``
and ``model`` may be left out or ``null``. :func:`write_dump` writes
``extra`` only when set and ``vector``/``model`` only when asked. Blank lines
are skipped; text that is not UTF-8 is an error naming the line.

Loading (:class:`Dump`, :func:`load_dump`) checks the whole file first (every
line valid, one vector length, one model), then writes it in one
transaction: a refused or failed load writes nothing, and leaves no
collection it would have created. Lines without a vector are embedded;
records with an existing id are replaced.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .collection import Collection
from .database import Database
from .embeddings import canonical_model_id
from .errors import InvalidInputError
from .model_choice import DEFAULT_BATCH_SIZE, Embedder, embed_texts
from .progress import Progress
from .records import Record, iter_hits

__all__ = ["Dump", "DumpPlan", "load_dump", "write_dump"]

#: The fields of a dump line: key, type, description ("text" is required).
LINE_FIELDS: tuple[tuple[str, type, str], ...] = (
    ("text", str, "a string"),
    ("id", str, "a string"),
    ("doc_id", str, "a string"),
    ("metadata", dict, "an object"),
    ("extra", dict, "an object"),
    ("vector", list, "a list of numbers"),
    ("model", str, "a string"),
)


def write_dump(collection: Collection, out: IO[str], *, include_vectors: bool = False) -> int:
    """Write every record of ``collection`` to ``out``, one JSON line each, in insertion order.

    Args:
        collection: The collection to dump.
        out: A text stream.
        include_vectors: Also write each ``vector`` and the collection's ``model``.

    Returns:
        The number of lines written.

    """
    model_id = collection.info().model_id
    count = 0
    for hit in iter_hits(collection, include_vectors=include_vectors):
        obj: dict[str, Any] = {"id": hit.id, "text": hit.text, "metadata": hit.metadata, "doc_id": hit.doc_id}
        if hit.extra is not None:
            obj["extra"] = hit.extra
        if include_vectors and hit.vector is not None:
            obj["vector"] = hit.vector.tolist()
            if model_id is not None:
                obj["model"] = model_id
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        count += 1
    return count


@dataclass
class DumpPlan:
    """What a checked dump holds.

    Attributes:
        lines: Records (non-blank lines).
        to_embed: Records without a vector.
        dimensions: The vector lengths seen (at most one once checked).
        models: The canonical model ids the vectors name (at most one once checked).

    """

    lines: int = 0
    to_embed: int = 0
    dimensions: set[int] = field(default_factory=set)
    models: set[str] = field(default_factory=set)

    @property
    def model(self) -> str | None:
        """The model the file's vectors come from, if they name one."""
        return next(iter(self.models), None)


class Dump:
    """A dump file (or stdin) that can be read twice: once to check it, once to load it.

    Args:
        source: The name used in messages (the path, or ``"stdin"``).
        read: Returns the lines afresh at each call.

    """

    def __init__(self, source: str, read: Callable[[], Iterable[str]]) -> None:
        self.source = source
        self._read = read

    @classmethod
    def open(cls, path: str) -> Dump:
        """The dump at ``path``, or on stdin for ``"-"`` (read as UTF-8 bytes, whatever the locale).

        Raises:
            InvalidInputError: stdin is not valid UTF-8 (a file's bad line is
                reported when it is read).

        """
        if path == "-":
            return cls("stdin", _stdin_lines())
        return cls(path, lambda: _file_lines(path))

    def records(self) -> Iterator[dict[str, Any]]:
        """The checked objects of every non-blank line, in order.

        Raises:
            InvalidInputError: A line is not UTF-8, not JSON, not an object,
                or a field has the wrong type.

        """
        for number, line in enumerate(self._read(), start=1):
            obj = _parse_line(line, number, self.source)
            if obj is not None:
                yield obj

    def plan(self) -> DumpPlan:
        """Check the whole dump and say what it holds.

        Raises:
            InvalidInputError: A line is invalid, or the vectors differ in
                length or in model.

        """
        plan = DumpPlan()
        for obj in self.records():
            plan.lines += 1
            if obj.get("vector") is None:
                plan.to_embed += 1
            else:
                plan.dimensions.add(len(obj["vector"]))
                if obj.get("model") is not None:
                    plan.models.add(canonical_model_id(obj["model"]))
        if len(plan.dimensions) > 1:
            raise InvalidInputError(f"{self.source}: vectors of different lengths: {sorted(plan.dimensions)}")
        if len(plan.models) > 1:
            raise InvalidInputError(f"{self.source}: vectors from different models: {', '.join(sorted(plan.models))}")
        return plan


def load_dump(
    db: Database,
    collection_name: str,
    dump: Dump,
    plan: DumpPlan,
    *,
    embedder: Embedder | None,
    model_id: str | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, str], Progress] | None = None,
) -> Collection:
    """Write a checked dump into a collection in one transaction: all or nothing.

    Args:
        db: The open, writable store.
        collection_name: The collection; created (recording ``model_id``) in
            the same transaction if missing.
        dump: The dump, read a second time here.
        plan: ``dump.plan()``.
        embedder: Embeds the lines without a vector (required if ``plan.to_embed``).
        model_id: The collection's model (see :mod:`sqlitevec_store.model_choice`).
        batch_size: Lines per embedding call and per write.
        progress: Makes the progress reporter (default: a silent one).

    Returns:
        The collection written to.

    Raises:
        InvalidInputError: Lines need embedding and no embedder was given, or
            the dump changed since it was checked.
        ModelMismatchError: The collection was built with another model.

    """
    if plan.to_embed and embedder is None:
        raise InvalidInputError(f"{dump.source}: {plan.to_embed} lines have no vector, and no embedder was given")
    make_progress = progress or (lambda total, label: Progress(total, label, enabled=False))

    def records(bar: Progress) -> Iterator[Record]:
        batch: list[dict[str, Any]] = []

        def flush() -> Iterator[Record]:
            missing = [obj["text"] for obj in batch if obj.get("vector") is None]
            vectors = iter(embed_texts(embedder, missing)) if missing and embedder is not None else iter(())
            for obj in batch:
                vector = obj.get("vector")
                yield Record(
                    text=obj["text"],
                    vector=vector if vector is not None else next(vectors),
                    metadata=obj.get("metadata") or {},
                    id=obj.get("id"),
                    doc_id=obj.get("doc_id"),
                    extra=obj.get("extra"),
                )
            bar.update(len(batch))
            batch.clear()

        for obj in dump.records():
            batch.append(obj)
            if len(batch) >= batch_size:
                yield from flush()
        yield from flush()

    # a new collection is registered in the transaction of its records: a refused import leaves none
    with make_progress(plan.lines, f"Importing {plan.lines} records") as bar, db.atomic():
        collection = db.collection(collection_name, model_id=model_id)
        collection.upsert(records(bar))
    return collection


def _parse_line(line: str, number: int, source: str) -> dict[str, Any] | None:
    """One validated dump line (``None`` for a blank line)."""
    if not line.strip():
        return None
    where = f"{source} line {number}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise InvalidInputError(f"{where}: nested too deeply to read") from exc
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key, kind, name in LINE_FIELDS:
        value = obj.get(key)
        if value is None and key != "text":
            continue
        if not isinstance(value, kind):
            raise InvalidInputError(f"{where}: {key!r} must be {name}, got {value!r:.60}")
    vector = obj.get("vector")
    if vector is not None and (
        not vector or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector)
    ):
        raise InvalidInputError(f"{where}: 'vector' must be a non-empty list of numbers")
    return obj


def _stdin_lines() -> Callable[[], Iterable[str]]:
    """The lines of stdin, read once and kept (it cannot be read twice)."""
    buffer = getattr(sys.stdin, "buffer", None)
    data: bytes = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(f"stdin line {line}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    lines = io.StringIO(text).readlines()
    return lambda: lines


def _file_lines(path: str) -> Iterator[str]:
    """A file's lines, decoded as UTF-8 one at a time (a bad line is an error naming it)."""
    number = 0
    with open(path, "rb") as handle:
        for raw in handle:
            number += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(f"{path} line {number}: not valid UTF-8 ({exc.reason})") from exc
