"""Files -> chunks -> records, kept in sync with the files by content hash.

:func:`sync_files` indexes Markdown and plain-text files into a collection,
from Python as from the ``sqlitevec-store index`` command:

* Paths are files, folders (searched recursively for :data:`FOLDER_SUFFIXES`,
  hidden files and folders skipped) or glob patterns (:func:`collect_files`).
* Markdown is split at headings (:func:`~sqlitevec_store.chunking.split_markdown`),
  plain text at blank lines (:func:`~sqlitevec_store.chunking.split_paragraphs`).
* A chunk's id is ``"<file>#<n>"``, where ``<file>`` (its ``doc_id`` and
  ``source`` metadata) is the file's path relative to ``base`` (by default the
  store file's folder), POSIX-style, or absolute outside it.
* Each record's ``extra`` holds the file's SHA-256 (:data:`HASH_KEY`) and the
  ``max_chars`` it was split with (:data:`MAX_CHARS_KEY`). A later run skips
  a file whose hash and ``max_chars`` are unchanged, replaces the chunks of a
  changed file, and deletes the chunks of a file that no longer exists under
  the given paths.
* Embedding runs in batches; the files whose chunks are all embedded are
  written after each batch, each batch of files in one transaction, so an
  interrupted run keeps what it finished and redoes the rest next time.
* Chunk vectors go through the database's embedding cache
  (:mod:`sqlitevec_store.embeddings.cache`, keyed by the model id and the
  chunk's exact text): a changed file's chunks whose text did not change
  (every paragraph but the edited one) are not embedded again, and a run whose
  chunks are all cached never loads the model. ``cache_embeddings=False``
  embeds every chunk of a changed file and stores nothing in the cache.
* A new collection (or an empty one recording another model) is registered
  in the transaction of its first records: a run that fails before leaves no
  trace of it.

Which model to embed with is decided before (:mod:`sqlitevec_store.model_choice`);
progress goes to the :class:`~sqlitevec_store.progress.Progress` the caller makes.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import numpy.typing as npt

from .chunking import Chunk, split_markdown, split_paragraphs
from .collection import Collection
from .database import Database
from .embeddings.cache import EmbeddingCache
from .errors import InvalidInputError
from .model_choice import DEFAULT_BATCH_SIZE, Embedder, embed_texts
from .opening import is_postgres_url
from .progress import Progress
from .records import Record, iter_hits

__all__ = [
    "DEFAULT_MAX_CHARS",
    "FOLDER_SUFFIXES",
    "HASH_KEY",
    "MAX_CHARS_KEY",
    "FileSet",
    "IngestSummary",
    "collect_files",
    "sync_files",
]

logger = logging.getLogger(__name__)

#: File suffixes picked up when a folder is indexed, and how each is split.
FOLDER_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text"}

#: Keys written into each record's ``extra`` to recognise unchanged files.
HASH_KEY = "source_sha256"
MAX_CHARS_KEY = "max_chars"

DEFAULT_MAX_CHARS = 2000
_GLOB_CHARS = frozenset("*?[")

#: Makes the progress reporter of one run: ``(total, label) -> Progress``.
ProgressFactory = Callable[[int, str], Progress]


@dataclass(frozen=True)
class FileSet:
    """The files one run indexes.

    Attributes:
        files: Absolute paths of the files to index, in order, without repeats.
        roots: Absolute folders (and files) under which a stored file that no
            longer exists is deleted.

    """

    files: list[str]
    roots: list[str]


@dataclass(frozen=True)
class IngestSummary:
    """What :func:`sync_files` did.

    Attributes:
        files_indexed: Files whose chunks were (re)written.
        files_unchanged: Files skipped: same content and ``max_chars`` as stored,
            or empty with nothing stored.
        files_removed: Stored files that no longer exist under the paths.
        files_unreadable: Files skipped because they could not be read as UTF-8.
        chunks_written: Chunks written (the chunks of new and changed files).
        chunks_embedded: Of those, chunks the model embedded (distinct texts not in the cache).
        chunks_reused: Of those, chunks whose vector came from the embedding cache.
        chunks_deleted: Chunks deleted (of changed and of removed files).
        total: Records the collection holds afterwards.
        embed_seconds: Seconds spent embedding and writing (after ``before_embedding``).
        replaced_model: The model an empty collection recorded and this run
            replaced with the embedder's; ``None`` otherwise.

    """

    files_indexed: int
    files_unchanged: int
    files_removed: int
    files_unreadable: int
    chunks_written: int
    chunks_embedded: int
    chunks_reused: int
    chunks_deleted: int
    total: int
    embed_seconds: float
    replaced_model: str | None = None


def sync_files(
    db: Database,
    collection_name: str,
    paths: Sequence[str],
    embedder: Embedder,
    *,
    base: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressFactory | None = None,
    before_embedding: Callable[[], None] | None = None,
    warn: Callable[[str], None] | None = None,
    cache_embeddings: bool = True,
) -> IngestSummary:
    """Index files into a collection, re-embedding only what changed (see the module docstring).

    Args:
        db: The open, writable store.
        collection_name: The collection; created (recording ``embedder.model_id``)
            by its first write if missing.
        paths: Files, folders or glob patterns.
        embedder: Embeds the chunks; its ``model_id`` is the collection's model.
        base: The folder ``doc_id`` paths are relative to (default: the
            store file's folder, else the current directory).
        max_chars: Longest chunk, in characters.
        batch_size: Texts per embedding call.
        progress: Makes the progress reporter (default: a silent one).
        before_embedding: Called once before the model embeds its first text
            (e.g. to load the model and say so); not called if nothing is
            embedded (every chunk unchanged or cached).
        warn: Receives a line for each glob without match and each unreadable
            file (default: this module's logger).
        cache_embeddings: Look chunks up in (and add them to) the database's
            embedding cache for ``embedder.model_id`` (an embedder without a
            model id embeds every chunk).

    Returns:
        What was indexed, skipped, removed and embedded.

    Raises:
        InvalidInputError: A path neither exists nor is a glob pattern, or
            ``max_chars`` or ``batch_size`` is below 1.
        ModelMismatchError: The collection holds vectors of another model.

    """
    if max_chars < 1 or batch_size < 1:
        raise InvalidInputError(f"max_chars and batch_size must be at least 1, got {max_chars} and {batch_size}")
    say = warn or logger.warning
    make_progress = progress or (lambda total, label: Progress(total, label, enabled=False))
    # A Postgres store has no folder: ids are then relative to the current directory.
    on_disk = db.path not in (None, "", ":memory:") and not is_postgres_url(db.path)
    db_file = os.path.abspath(db.path) if on_disk and db.path is not None else None
    if base is None:
        base = os.path.dirname(db_file) if db_file is not None else os.path.abspath(os.curdir)
    exclude = {db_file + suffix for suffix in ("", "-wal", "-shm", "-journal")} if db_file else set()
    target = _Target.open_for(db, collection_name, embedder.model_id)
    found = collect_files(paths, exclude=exclude, warn=say)
    stored = _stored_files(target.collection) if target.collection is not None else {}
    pending: list[_Pending] = []
    current: set[str] = set()
    unchanged = unreadable = 0
    for path in found.files:
        doc_id = _doc_id(path, base)
        current.add(doc_id)
        try:
            data = Path(path).read_bytes()
            text = data.decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            say(f"skipped {doc_id}: {exc}")
            unreadable += 1
            continue
        digest = hashlib.sha256(data).hexdigest()
        old = stored.get(doc_id)
        if old is not None and old.hashes == {(digest, max_chars)}:
            unchanged += 1
            continue
        chunks = _split_file(path, text, doc_id, max_chars)
        if not chunks and old is None:
            unchanged += 1  # empty, and nothing stored for it
            continue
        extra = {HASH_KEY: digest, MAX_CHARS_KEY: max_chars}
        pending.append(_Pending(doc_id, chunks, extra, old.chunks if old else 0))

    vanished = [
        doc_id
        for doc_id in stored
        if doc_id not in current
        and _under(_doc_path(doc_id, base), found.roots)
        and not os.path.exists(_doc_path(doc_id, base))
    ]
    removed_chunks = target.collection.delete(doc_ids=vanished) if vanished and target.collection is not None else 0

    texts = [chunk.text for p in pending for chunk in p.chunks]
    model = _Model(embedder, before_embedding)
    if cache_embeddings and embedder.model_id:
        model.cache = db.embedding_cache(embedder.model_id)
    if texts and (model.cache is None or model.cache.missing(texts)):
        model.load()  # before the progress bar starts: loading is not embedding
    embed_seconds = _embed_and_write(
        db, target, pending=pending, texts=texts, model=model, batch_size=batch_size, make_progress=make_progress
    )
    replaced = target.replaced
    if target.collection is None:
        # nothing to write: an empty collection that records no model yet (the first write records it)
        target.collection = db.create_collection(collection_name)
    return IngestSummary(
        files_indexed=len(pending),
        files_unchanged=unchanged,
        files_removed=len(vanished),
        files_unreadable=unreadable,
        chunks_written=len(texts),
        chunks_embedded=model.embedded,
        chunks_reused=model.reused,
        chunks_deleted=sum(p.replaces for p in pending) + removed_chunks,
        total=target.collection.count(),
        embed_seconds=embed_seconds,
        replaced_model=replaced,
    )


def collect_files(
    paths: Sequence[str], *, exclude: set[str] | frozenset[str] = frozenset(), warn: Callable[[str], None] | None = None
) -> FileSet:
    """The files that ``paths`` (files, folders, globs) name, and the roots they were searched under.

    Args:
        paths: Files, folders (searched with :func:`_walk`) or glob patterns
            (``**`` recurses).
        exclude: Absolute paths never to index (the store's own files).
        warn: Receives a line for each glob without a match.

    Returns:
        The files and roots.

    Raises:
        InvalidInputError: A path neither exists nor is a glob pattern.

    """
    files: dict[str, None] = {}
    roots: list[str] = []
    for given in paths:
        if os.path.exists(given):
            path = os.path.abspath(given)
            roots.append(path)
            for found in _walk(path) if os.path.isdir(path) else [path]:
                files[os.path.abspath(found)] = None
        elif _GLOB_CHARS & set(given):
            matches = [m for m in sorted(glob.glob(given, recursive=True)) if os.path.isfile(m)]
            if not matches:
                (warn or logger.warning)(f"no files match {given!r}")
            roots.append(_glob_base(given))
            for found in matches:
                files[os.path.abspath(found)] = None
        else:
            raise InvalidInputError(f"{given!r}: no such file or folder.")
    return FileSet([f for f in files if f not in exclude], roots)


# ---------------------------------------------------------------------------
# Files and their ids
# ---------------------------------------------------------------------------


def _doc_id(path: str, base: str) -> str:
    """A file's id: its path relative to ``base`` (POSIX), or absolute outside it."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return PurePath(path).as_posix()
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return PurePath(path).as_posix()
    return PurePath(rel).as_posix()


def _doc_path(doc_id: str, base: str) -> str:
    """The file a ``doc_id`` names (the inverse of :func:`_doc_id`)."""
    path = Path(doc_id)
    return os.path.normpath(path if path.is_absolute() else Path(base) / path)


def _glob_base(pattern: str) -> str:
    """The folder a glob pattern searches under (its parts before the first wildcard)."""
    parts: list[str] = []
    for part in PurePath(pattern).parts:
        if _GLOB_CHARS & set(part):
            break
        parts.append(part)
    return os.path.abspath(os.path.join(*parts)) if parts else os.path.abspath(os.curdir)


def _walk(folder: str) -> list[str]:
    """Markdown and text files under ``folder``, skipping hidden files and folders."""
    found: list[str] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            os.path.join(top, name)
            for name in sorted(files)
            if not name.startswith(".") and Path(name).suffix.lower() in FOLDER_SUFFIXES
        )
    return found


def _under(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _split_file(path: str, text: str, doc_id: str, max_chars: int) -> list[Chunk]:
    """The chunks of one file: Markdown at headings, anything else at blank lines."""
    if FOLDER_SUFFIXES.get(Path(path).suffix.lower()) == "markdown":
        return split_markdown(text, source=doc_id, max_chars=max_chars)
    return split_paragraphs(text, source=doc_id, max_chars=max_chars)


# ---------------------------------------------------------------------------
# What is stored, and writing
# ---------------------------------------------------------------------------


@dataclass
class _Stored:
    """What the collection holds for one indexed file."""

    hashes: set[tuple[Any, Any]] = field(default_factory=set)
    chunks: int = 0


@dataclass
class _Pending:
    """A file to (re)write: its new chunks, their ``extra``, and how many stored chunks they replace."""

    doc_id: str
    chunks: list[Chunk]
    extra: dict[str, Any]
    replaces: int


def _stored_files(collection: Collection) -> dict[str, _Stored]:
    """Files indexed into the collection (records with a content hash in ``extra``), by ``doc_id``."""
    stored: dict[str, _Stored] = {}
    for hit in iter_hits(collection):
        extra = hit.extra or {}
        if hit.doc_id is None or HASH_KEY not in extra:
            continue
        entry = stored.setdefault(hit.doc_id, _Stored())
        entry.hashes.add((extra.get(HASH_KEY), extra.get(MAX_CHARS_KEY)))
        entry.chunks += 1
    return stored


@dataclass
class _Target:
    """The collection a run writes to, registered only by its first write.

    A new collection (or an empty one whose recorded model this run replaces)
    is created inside the transaction of the first batch of records, after
    the model has loaded and embedded it: a run that fails before leaves no
    trace of the collection or its model.
    """

    db: Database
    name: str
    model_id: str | None
    collection: Collection | None = None
    replace: str | None = None
    replaced: str | None = None

    @classmethod
    def open_for(cls, db: Database, name: str, model_id: str | None) -> _Target:
        """The target for ``model_id``: an existing collection is checked against it now.

        Raises:
            ModelMismatchError: The collection holds vectors of another model.

        """
        target = cls(db, name, model_id)
        if not db.has_collection(name):
            return target
        existing = db.collection(name, create=False)
        recorded = existing.info().model_id
        if existing.dimension is None and recorded is not None and model_id is not None and model_id != recorded:
            # it holds no vectors, so it has built nothing: this run records its own model instead
            target.replace = recorded
            target.collection = existing
            return target
        target.collection = db.collection(name, model_id=model_id)
        return target

    def open(self) -> Collection:
        """The collection, created now if needed; call it inside the write transaction."""
        if self.collection is None or self.replace is not None:
            if self.replace is not None:
                self.db.drop_collection(self.name)
                self.replaced, self.replace = self.replace, None
            self.collection = self.db.create_collection(self.name, model_id=self.model_id, exist_ok=False)
        return self.collection


@dataclass
class _Model:
    """The embedder of one run: loaded (``before``) on its first text, through the cache when there is one."""

    embedder: Embedder
    before: Callable[[], None] | None
    cache: EmbeddingCache | None = None
    loaded: bool = False
    embedded: int = 0
    reused: int = 0

    def load(self) -> None:
        """Call ``before`` (once)."""
        if not self.loaded:
            self.loaded = True
            if self.before is not None:
                self.before()

    def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.load()
        return embed_texts(self.embedder, texts)

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Vectors for ``texts``: cached ones reused, the rest embedded (and cached)."""
        if self.cache is None:
            self.embedded += len(texts)
            return self._embed(texts)
        got = self.cache.embed(texts, self._embed)
        self.embedded += got.embedded
        self.reused += got.reused
        return got.vectors


def _embed_and_write(
    db: Database,
    target: _Target,
    *,
    pending: Sequence[_Pending],
    texts: Sequence[str],
    model: _Model,
    batch_size: int,
    make_progress: ProgressFactory,
) -> float:
    """Embed ``texts`` (the chunks of ``pending``, in order) and write each file once all its chunks are.

    Returns:
        The seconds the progress reporter measured for embedding and writing.

    """
    ends = np.cumsum([len(p.chunks) for p in pending]).tolist()
    written = 0  # files written so far
    first_row = 0  # row of the first chunk of pending[written] in `texts`
    parts: list[npt.NDArray[np.float32]] = []
    label = f"Embedding {len(texts)} chunks from {len(pending)} files"
    with make_progress(len(texts), label) as bar:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            parts.append(model.embed(batch))
            bar.update(len(batch))
            done = start + len(batch)
            upto = written
            while upto < len(pending) and ends[upto] <= done:
                upto += 1
            if upto > written:
                matrix = np.vstack(parts)
                _write_files(db, target, pending[written:upto], matrix)
                used = ends[upto - 1] - first_row
                parts = [matrix[used:]]
                first_row = ends[upto - 1]
                written = upto
    if written < len(pending):  # files that became empty
        _write_files(db, target, pending[written:], np.zeros((0, 0), dtype=np.float32))
    return bar.elapsed


def _write_files(db: Database, target: _Target, files: Sequence[_Pending], vectors: Any) -> None:
    """Replace the chunks of ``files`` (one transaction); ``vectors`` holds their rows in order."""
    records = []
    row = 0
    for pending in files:
        for index, chunk in enumerate(pending.chunks):
            records.append(
                Record(
                    text=chunk.text,
                    vector=vectors[row],
                    metadata=chunk.metadata,
                    id=f"{pending.doc_id}#{index}",
                    doc_id=pending.doc_id,
                    extra=pending.extra,
                )
            )
            row += 1
    with db.atomic():
        collection = target.open()
        collection.delete(doc_ids=[p.doc_id for p in files])
        collection.upsert(records)
