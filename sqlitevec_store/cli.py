"""The ``sqlitevec-store`` command line: fill, query and look inside a store file.

Built on the core (:class:`~sqlitevec_store.Database`); nothing here writes SQL.
Every command takes ``--db FILE``; commands that act on one collection take
``--collection NAME`` (default :data:`~sqlitevec_store.DEFAULT_COLLECTION`, the
adapters' default too). Commands that only read (``query``, ``stats``,
``export``) open the file read-only, and no command but ``index`` and
``import`` ever creates a file.

Errors print ``Error: ...`` to stderr and exit with status 1; bad options
(including a ``--filter`` that is not valid JSON or uses an unknown operator)
exit with status 2. A failed ``index`` or ``import`` leaves no file it created
and no collection it would have created.

Progress and status lines (loading the model, a first ONNX export) go to
stderr, never stdout: a bar on a terminal, else a line every
:data:`PROGRESS_INTERVAL` seconds (see :mod:`sqlitevec_store.progress`).

The embedding model is made by :func:`make_embedder`, which tests replace with
a fake. It is created only when something has to be embedded, and
sentence-transformers (and torch) are imported only when it embeds.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Protocol, TypeVar

import click
import numpy as np
import numpy.typing as npt
from click.core import ParameterSource

from . import __version__
from .chunking import Chunk, split_markdown
from .connection import database_errors, release_wal_files
from .embeddings import BACKENDS, DEFAULT_MODEL, canonical_model_id, export_logger, split_model_id
from .errors import CollectionNotFoundError, ModelMismatchError, SqliteVecStoreError
from .filters import Filter, parse_filter_dict
from .progress import DEFAULT_INTERVAL, Progress
from .records import MAX_COUNT, Hit, Record
from .schema import KEYWORD_INDEX_VERSION, validate_collection_name
from .store import DEFAULT_COLLECTION, Collection, Database

__all__ = ["Embedder", "cli", "main", "make_embedder", "split_paragraphs"]

F = TypeVar("F", bound=Callable[..., Any])

#: How the index type is described by ``stats`` (sqlite-vec 0.1: brute force, exact).
INDEX_TYPE = "vec0 flat (exact)"

#: File suffixes picked up when a folder is indexed, and how each is split.
FOLDER_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text"}

#: Keys ``index`` writes into ``extra`` to recognise unchanged files.
HASH_KEY = "source_sha256"
MAX_CHARS_KEY = "max_chars"

#: Metadata keys written by the chunkers, left out of the query table's metadata column.
CHUNK_KEYS = frozenset({"source", "heading_path", "heading", "level", "chunk_index", "part"})

#: Seconds between two progress lines when stderr is not a terminal.
PROGRESS_INTERVAL = DEFAULT_INTERVAL

PREVIEW_CHARS = 100
PAGE_SIZE = 1000
DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_CHARS = 2000
_GLOB_CHARS = frozenset("*?[")


class Embedder(Protocol):
    """What the command line needs from an embedding model."""

    @property
    def model_id(self) -> str | None:
        """The canonical model id recorded in the collection."""

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed documents; an ``(n, dimension)`` array."""

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one query; a ``(dimension,)`` array."""


def make_embedder(model_name: str, backend: str | None = None) -> Embedder:
    """The embedder for ``model_name`` (a model name, or a model id a collection records) on ``backend``.

    ``backend=None`` means the backend the id implies (``"onnx-int8"`` for an
    id ending in ``#onnx-int8``), else ``"torch"``. Constructing it loads
    nothing; the model is loaded on the first text. Tests replace this
    function to use a fake embedder.
    """
    from .embeddings import SentenceTransformerEmbedder, split_model_id

    name, implied = split_model_id(model_name)
    return SentenceTransformerEmbedder(name, backend=backend or implied or "torch")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Plumbing: errors, options, opening files
# ---------------------------------------------------------------------------


class _Group(click.Group):
    """A group that reports the core's errors as ``Error: ...`` with exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SqliteVecStoreError as exc:
            raise click.ClickException(str(exc)) from exc
        except database_errors() as exc:  # the core reports its own; this is a last resort
            raise click.ClickException(f"SQLite: {exc}") from exc
        except RecursionError as exc:  # a value nested deeper than Python's recursion limit
            raise click.ClickException("The input is nested too deeply to be processed.") from exc
        except BrokenPipeError:
            raise  # click exits quietly on a closed pipe (`... | head`)
        except OSError as exc:
            name = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{name}") from exc


def _check_collection_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_collection_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _parse_filter(ctx: click.Context, param: click.Parameter, value: str | None) -> Filter | None:
    if value is None:
        return None
    try:
        spec = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise click.BadParameter("nested too deeply") from exc
    if not isinstance(spec, dict):
        raise click.BadParameter(f'must be a JSON object such as {{"heading": "Install"}}, got {value:.80}')
    try:
        return parse_filter_dict(spec)
    except ValueError as exc:  # UnsupportedFilterError, bad values
        raise click.BadParameter(str(exc)) from exc
    except RecursionError as exc:
        raise click.BadParameter("nested too deeply") from exc


def _db_option(f: F) -> F:
    return click.option(
        "--db",
        "db_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The store file.",
    )(f)


def _collection_option(f: F) -> F:
    return click.option(
        "--collection",
        "collection_name",
        default=DEFAULT_COLLECTION,
        show_default=True,
        callback=_check_collection_name,
        help="The collection.",
    )(f)


def _model_option(f: F) -> F:
    return click.option(
        "--model",
        "model_name",
        default=None,
        help=f"Embedding model (sentence-transformers id or folder). Default: the collection's, else {DEFAULT_MODEL}.",
    )(f)


def _backend_option(f: F) -> F:
    return click.option(
        "--backend",
        type=click.Choice(list(BACKENDS)),
        default=None,
        help="How the model runs. torch: sentence-transformers on PyTorch; onnx: the same vectors, and a "
        "one-shot query starts in well under a second instead of several (needs the [onnx] extra; the first "
        "use exports the model once, with torch); onnx-int8: faster still, but its vectors differ, so it is a "
        "model of its own. Default: the backend the collection's model implies (onnx-int8 for a model id "
        "ending in #onnx-int8), else torch.",
    )(f)


def _batch_option(f: F) -> F:
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1, max=MAX_COUNT),
        default=DEFAULT_BATCH_SIZE,
        show_default=True,
        help="Texts per embedding call.",
    )(f)


@contextmanager
def _open_existing(db_path: Path, *, read_only: bool) -> Iterator[Database]:
    """Open a store file that must already exist (never creates one).

    A read-only open of a WAL-mode file makes SQLite create ``-wal`` and
    ``-shm`` files beside it; when they were not there before, they are
    removed again afterwards if no other connection uses the file and it is
    writable (see :func:`~sqlitevec_store.connection.release_wal_files`).
    """
    if not db_path.exists():
        raise click.ClickException(f"Database file {str(db_path)!r} does not exist (nothing was created).")
    had_wal = Path(f"{db_path}-wal").exists()
    try:
        with Database(db_path, read_only=read_only) as db:
            yield db
    finally:
        if read_only and not had_wal:
            release_wal_files(db_path)


def _existing_collection(
    db: Database, name: str, model_id: str | None = None, *, index_type: str = "vec0"
) -> Collection:
    try:
        return db.collection(name, model_id=model_id, create=False, index_type=index_type)
    except CollectionNotFoundError:
        names = db.collection_names()
        have = f"it has: {', '.join(names)}" if names else "it has no collections"
        raise click.ClickException(f"No collection named {name!r} in {str(db.path)!r}; {have}.") from None


def _resolve_model(collection: Collection, requested: str | None, backend: str | None = None) -> str | None:
    """The collection's recorded model, checked against --model and --backend; else --model; else ``None``."""
    info = collection.info()
    recorded = info.model_id
    implied = split_model_id(recorded)[1] if recorded is not None else None
    if recorded is not None and backend is not None:
        # only a backend whose vectors the collection holds may embed its queries and documents
        made = canonical_model_id(split_model_id(recorded)[0], backend=backend)
        if made != recorded:
            raise ModelMismatchError(
                f"Collection {info.name!r} was built with the embedding model {recorded!r}; --backend {backend} "
                f"makes {made!r} vectors. Use --backend {implied or 'torch'}"
                + ("" if implied else " or onnx")
                + ", or leave --backend out."
            )
    # --model names a model; it runs on --backend, else on the backend the recorded id implies
    wanted = canonical_model_id(requested, backend=backend or implied or "torch") if requested is not None else None
    if recorded is not None and wanted is not None and wanted != recorded:
        raise ModelMismatchError(
            f"Collection {info.name!r} was built with the embedding model {recorded!r}, "
            f"not {wanted!r}; leave out --model to use the collection's model."
        )
    return recorded or wanted


def _unbuilt_model(recorded: str | None, requested: str | None, backend: str | None) -> str | None:
    """The model for a collection that holds no vectors yet: --model, else the recorded one (on --backend)."""
    if requested is not None:
        return canonical_model_id(requested, backend=backend or "torch")
    if recorded is not None and backend is not None:
        return canonical_model_id(split_model_id(recorded)[0], backend=backend)
    return recorded


@contextmanager
def _undo_new_file(db_path: Path) -> Iterator[None]:
    """Leave no file behind when a command that would have created the store file fails.

    A file that did not exist is removed with its ``-wal``, ``-shm`` and
    ``-journal``; an empty file (which opening gives a header) is emptied again.
    Wrap the :class:`Database`, so it is closed first.
    """
    existed = db_path.exists()
    was_empty = existed and db_path.is_file() and db_path.stat().st_size == 0
    try:
        yield
    except BaseException:
        if not existed or was_empty:
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            if was_empty:
                db_path.write_bytes(b"")
            else:
                db_path.unlink(missing_ok=True)
        raise


def _no_model(name: str) -> click.ClickException:
    return click.ClickException(
        f"Collection {name!r} holds vectors but records no embedding model; name the model that made them with --model."
    )


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _progress(total: int, label: str, *, quiet: bool) -> Progress:
    """Progress on stderr: a bar on a terminal, else a line every :data:`PROGRESS_INTERVAL` seconds."""
    return Progress(total, label, enabled=not quiet, interval=PROGRESS_INTERVAL)


def _status(message: str, *, quiet: bool) -> None:
    """A line on stderr saying what is happening (never stdout, which may carry data)."""
    if not quiet:
        click.echo(message, err=True)


class _EchoHandler(logging.Handler):
    """Shows the embedder's one-time slow steps (ONNX export, quantization) on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.getMessage()} ...", err=True)


@contextmanager
def _show_slow_steps(*, quiet: bool) -> Iterator[None]:
    """While this is open, the embedder's export and quantization messages go to stderr."""
    if quiet:
        yield
        return
    handler = _EchoHandler(logging.INFO)
    was_level = export_logger.level
    export_logger.addHandler(handler)
    if export_logger.getEffectiveLevel() > logging.INFO:
        export_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        export_logger.removeHandler(handler)
        export_logger.setLevel(was_level)


def _load_model(embedder: Embedder, *, quiet: bool) -> float:
    """Load the model before the first batch, saying so; the seconds it took.

    Loading takes from a few seconds to half a minute (torch, the weights,
    a first ONNX export), so it is announced, and it is kept out of the
    embedding rate.
    """
    load = getattr(embedder, "load", None)
    if load is None:  # an embedder without a separate load step (tests' fakes)
        return 0.0
    backend = getattr(embedder, "backend", None)
    on = f" ({backend})" if backend else ""
    _status(f"Loading the embedding model {embedder.model_id}{on} ...", quiet=quiet)
    started = time.perf_counter()
    with _show_slow_steps(quiet=quiet):
        load()
    seconds = time.perf_counter() - started
    _status(f"Model loaded in {seconds:.1f} s.", quiet=quiet)
    return seconds


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def _iter_hits(collection: Collection, *, include_vectors: bool = False) -> Iterator[Hit]:
    """Every record, in insertion order, a page at a time."""
    offset = 0
    while True:
        page = collection.find(limit=PAGE_SIZE, offset=offset, include_vectors=include_vectors)
        yield from page
        if len(page) < PAGE_SIZE:
            return
        offset += len(page)


# ---------------------------------------------------------------------------
# The group
# ---------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sqlitevec-store")
def cli() -> None:
    """Fill, query and inspect a sqlitevec-store file.

    \b
    Examples:
      sqlitevec-store index docs/ --db store.db
      sqlitevec-store query "how do I restore a backup?" --db store.db -k 3
      sqlitevec-store stats --db store.db
    """  # noqa: D301 - click's \b keeps a paragraph unwrapped


def main() -> None:
    """Entry point of the ``sqlitevec-store`` console script."""
    cli(prog_name="sqlitevec-store")


# ---------------------------------------------------------------------------
# index
# ---------------------------------------------------------------------------


def split_paragraphs(text: str, *, source: str | None = None, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Split plain text at blank lines, packing paragraphs into chunks of at most ``max_chars``.

    A paragraph longer than ``max_chars`` is cut at whitespace. Metadata
    matches :func:`~sqlitevec_store.chunking.split_markdown`'s text before a
    first heading: ``source`` (if given), ``heading_path`` ``[]``,
    ``heading`` ``""``, ``level`` 0 and ``chunk_index``.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", normalized) if p.strip()]
    bodies: list[str] = []
    current = ""
    for paragraph in paragraphs:
        for piece in _hard_split(paragraph, max_chars):
            if current and len(current) + 2 + len(piece) <= max_chars:
                current = f"{current}\n\n{piece}"
            else:
                if current:
                    bodies.append(current)
                current = piece
    if current:
        bodies.append(current)
    chunks = []
    for index, body in enumerate(bodies):
        metadata: dict[str, Any] = {} if source is None else {"source": source}
        metadata.update(heading_path=[], heading="", level=0, chunk_index=index)
        chunks.append(Chunk(text=body, metadata=metadata))
    return chunks


def _hard_split(text: str, limit: int) -> list[str]:
    pieces = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind(" ", 0, limit + 1), rest.rfind("\n", 0, limit + 1))
        if cut < limit // 2:
            cut = limit
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if rest:
        pieces.append(rest)
    return pieces


def _doc_id(path: str, base: str) -> str:
    """A file's id: its path relative to the store's folder (POSIX), or absolute outside it."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return PurePath(path).as_posix()
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return PurePath(path).as_posix()
    return PurePath(rel).as_posix()


def _doc_path(doc_id: str, base: str) -> str:
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


def _collect_files(paths: Sequence[str], exclude: set[str]) -> tuple[list[str], list[str]]:
    """Absolute file paths to index, and the roots under which vanished files are removed."""
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
                _warn(f"no files match {given!r}")
            roots.append(_glob_base(given))
            for found in matches:
                files[os.path.abspath(found)] = None
        else:
            raise click.ClickException(f"{given!r}: no such file or folder.")
    return [f for f in files if f not in exclude], roots


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


@dataclass
class _Stored:
    """What the collection holds for one indexed file."""

    hashes: set[tuple[Any, Any]] = field(default_factory=set)
    chunks: int = 0


@dataclass
class _Pending:
    doc_id: str
    chunks: list[Chunk]
    extra: dict[str, Any]
    replaces: int


def _stored_files(collection: Collection) -> dict[str, _Stored]:
    """Files ``index`` wrote into the collection (records with a content hash in ``extra``)."""
    stored: dict[str, _Stored] = {}
    for hit in _iter_hits(collection):
        extra = hit.extra or {}
        if hit.doc_id is None or HASH_KEY not in extra:
            continue
        entry = stored.setdefault(hit.doc_id, _Stored())
        entry.hashes.add((extra.get(HASH_KEY), extra.get(MAX_CHARS_KEY)))
        entry.chunks += 1
    return stored


def _split_file(path: str, text: str, doc_id: str, max_chars: int) -> list[Chunk]:
    if FOLDER_SUFFIXES.get(Path(path).suffix.lower()) == "markdown":
        return split_markdown(text, source=doc_id, max_chars=max_chars)
    return split_paragraphs(text, source=doc_id, max_chars=max_chars)


def _embed(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    vectors = np.asarray(embedder.embed_documents(list(texts)), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise SqliteVecStoreError(f"The embedder returned {vectors.shape} vectors for {len(texts)} texts")
    return vectors


@dataclass
class _Target:
    """The collection ``index`` writes to, registered only by its first write.

    A new collection (or an empty one whose recorded model this run replaces)
    is created inside the transaction of the first batch of records, after
    the model has loaded and embedded it: a run that fails before leaves no
    trace of the collection or its model.
    """

    db: Database
    name: str
    model_id: str
    collection: Collection | None = None
    replace: bool = False

    def open(self) -> Collection:
        """The collection, created now if needed; call it inside the write transaction."""
        if self.collection is None or self.replace:
            if self.replace:
                self.db.drop_collection(self.name)
            self.collection = self.db.create_collection(self.name, model_id=self.model_id, exist_ok=False)
            self.replace = False
        return self.collection


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


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@_db_option
@_collection_option
@_model_option
@_backend_option
@click.option(
    "--max-chars",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    help="Longest chunk, in characters.",
)
@_batch_option
@click.option("--quiet", "-q", is_flag=True, help="No progress output (bar or lines) and no status lines.")
def index(
    *,
    paths: tuple[str, ...],
    db_path: Path,
    collection_name: str,
    model_name: str | None,
    backend: str | None,
    max_chars: int,
    batch_size: int,
    quiet: bool,
) -> None:
    """Index Markdown and text files: PATHS are files, folders or globs.

    Folders are searched recursively for *.md, *.markdown and *.txt (hidden
    files and folders skipped); quote globs ('docs/**/*.md'). Markdown is
    split at headings, each chunk keeping its heading path as metadata; text
    files are split at blank lines.

    A chunk's id is "<file>#<n>", where <file> is the file's path relative to
    the folder of the store file (absolute outside it); the file's path is also
    the chunk's doc_id and its "source" metadata. Re-running skips files whose
    content is unchanged, replaces the chunks of changed files, and removes the
    chunks of files that no longer exist under the given PATHS.

    \b
    Example:
      sqlitevec-store index docs/ notes.txt 'wiki/**/*.md' --db store.db
    """  # noqa: D301 - click's \b keeps a paragraph unwrapped
    started = time.perf_counter()
    base = os.path.dirname(os.path.abspath(db_path))
    db_file = os.path.abspath(db_path)
    exclude = {db_file + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    files, roots = _collect_files(paths, exclude)

    with _undo_new_file(db_path), Database(db_path) as db:
        existing = db.collection(collection_name, create=False) if db.has_collection(collection_name) else None
        recorded = existing.info().model_id if existing is not None else None
        replace = False
        if existing is not None and existing.dimension is None:
            # it holds no vectors, so it has built nothing: this run may record another model
            model = _unbuilt_model(recorded, model_name, backend)
            replace = recorded is not None and model is not None and model != recorded
        elif existing is not None:
            model = _resolve_model(existing, model_name, backend)
            if model is None:
                raise _no_model(collection_name)
        else:
            model = canonical_model_id(model_name, backend=backend or "torch") if model_name is not None else None
        model = model or canonical_model_id(DEFAULT_MODEL, backend=backend or "torch")
        embedder = make_embedder(model, backend)
        model_id = embedder.model_id or model
        target = _Target(db, collection_name, model_id, replace=replace)
        if existing is not None and not replace:
            target.collection = db.collection(collection_name, model_id=model_id)
        collection = target.collection

        stored = _stored_files(collection) if collection is not None else {}
        pending: list[_Pending] = []
        current: set[str] = set()
        skipped = unreadable = 0
        for path in files:
            doc_id = _doc_id(path, base)
            current.add(doc_id)
            try:
                data = Path(path).read_bytes()
                text = data.decode("utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                _warn(f"skipped {doc_id}: {exc}")
                unreadable += 1
                continue
            digest = hashlib.sha256(data).hexdigest()
            old = stored.get(doc_id)
            if old is not None and old.hashes == {(digest, max_chars)}:
                skipped += 1
                continue
            chunks = _split_file(path, text, doc_id, max_chars)
            if not chunks and old is None:
                skipped += 1  # empty, and nothing stored for it
                continue
            extra = {HASH_KEY: digest, MAX_CHARS_KEY: max_chars}
            pending.append(_Pending(doc_id, chunks, extra, old.chunks if old else 0))

        vanished = [
            doc_id
            for doc_id in stored
            if doc_id not in current
            and _under(_doc_path(doc_id, base), roots)
            and not os.path.exists(_doc_path(doc_id, base))
        ]
        removed_chunks = collection.delete(doc_ids=vanished) if vanished and collection is not None else 0

        texts = [chunk.text for p in pending for chunk in p.chunks]
        ends = np.cumsum([len(p.chunks) for p in pending]).tolist()
        written = 0  # files written so far
        first_row = 0  # row of the first chunk of pending[written] in `texts`
        parts: list[npt.NDArray[np.float32]] = []
        label = f"Embedding {len(texts)} chunks from {len(pending)} files"
        load_seconds = _load_model(embedder, quiet=quiet) if texts else 0.0
        with _progress(len(texts), label, quiet=quiet) as bar:
            for start in range(0, len(texts), batch_size):
                batch = texts[start : start + batch_size]
                parts.append(_embed(embedder, batch))
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
        embed_seconds = bar.elapsed
        if written < len(pending):  # files that became empty
            _write_files(db, target, pending[written:], np.zeros((0, 0), dtype=np.float32))
        if replace and not target.replace:  # replaced by the first write
            _warn(
                f"collection {collection_name!r} held no vectors, so nothing was built with the model it "
                f"recorded ({recorded!r}); it now records {model_id!r}."
            )
        elif target.collection is None:
            # nothing to write: an empty collection that records no model yet (the first write records it)
            target.collection = db.create_collection(collection_name)
        total = target.collection.count() if target.collection is not None else 0

    seconds = time.perf_counter() - started
    rate = len(texts) / embed_seconds if embed_seconds > 0 else 0.0
    deleted = sum(p.replaces for p in pending) + removed_chunks
    unread = f", {unreadable} unreadable" if unreadable else ""
    loading = f"model load {load_seconds:.2f} s, " if load_seconds else ""
    click.echo(f"Files:  {len(pending)} indexed, {skipped} unchanged, {len(vanished)} removed{unread}")
    click.echo(f"Chunks: {len(texts)} embedded, {deleted} deleted; {collection_name!r} holds {total}")
    click.echo(f"Time:   {seconds:.2f} s ({loading}embedding and writing {rate:.1f} chunks/s)")


# ---------------------------------------------------------------------------
# query
# ---------------------------------------------------------------------------


def _heading(hit: Hit) -> str:
    path = hit.metadata.get("heading_path")
    if isinstance(path, list) and all(isinstance(p, str) for p in path):
        return " > ".join(path)
    heading = hit.metadata.get("heading")
    return heading if isinstance(heading, str) else ""


def _preview(hit: Hit, width: int = PREVIEW_CHARS) -> str:
    text = hit.text
    heading = _heading(hit)
    if heading and text.startswith(heading):
        text = text[len(heading) :]  # split_markdown starts chunks with their heading path
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _other_metadata(hit: Hit) -> str:
    other = {k: v for k, v in hit.metadata.items() if k not in CHUNK_KEYS}
    return json.dumps(other, ensure_ascii=False, separators=(",", ":")) if other else ""


@cli.command()
@click.argument("text")
@_db_option
@_collection_option
@_model_option
@_backend_option
@click.option(
    "-k", "k", type=click.IntRange(min=1, max=MAX_COUNT), default=5, show_default=True, help="Number of hits."
)
@click.option(
    "--filter",
    "filter_",
    callback=_parse_filter,
    metavar="JSON",
    help='Metadata filter, e.g. \'{"heading": "Install"}\' or \'{"source": {"$like": "docs/%"}}\'.',
)
@click.option(
    "--mode",
    type=click.Choice(["dense", "keyword", "hybrid"]),
    default="dense",
    show_default=True,
    help="dense: vector similarity; keyword: BM25 over the words (no model needed); hybrid: both, fused.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Hybrid only: weight of the vector side, 1 = pure vector, 0 = pure keyword. Default 0.7.",
)
@click.option(
    "--index-type",
    type=click.Choice(["vec0", "flat", "rescore"]),
    default="vec0",
    show_default=True,
    help="How the vector search runs. vec0 (sqlite-vec's exact KNN) suits one query per process; "
    "flat and rescore first read every vector into RAM, which pays off only over many queries.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit (JSON lines).")
def query(
    *,
    text: str,
    db_path: Path,
    collection_name: str,
    model_name: str | None,
    backend: str | None,
    k: int,
    filter_: Filter | None,
    mode: str,
    alpha: float | None,
    index_type: str,
    as_json: bool,
) -> None:
    """Search a collection for the chunks nearest to TEXT.

    Dense scores are cosine similarities (1 is identical); the query is
    embedded with the model the collection was built with. Keyword mode ranks
    by BM25 (score s shown as s / (1 + s)); TEXT is plain words, never FTS5
    syntax. Hybrid scores are the fused score in [0, 1].

    \b
    Filters use the JSON dialect of LangChain's PGVector/Chroma:
      {"heading": "Install"}                        equality
      {"heading_path": {"$contains": "Setup"}}      any level of the heading path
      {"source": {"$in": ["a.md", "b.md"]}}         operators: $eq $ne $gt $gte $lt
      {"$or": [{"level": 1}, {"level": 2}]}         $lte $in $nin $like $ilike
                                                    $exists $contains; $and $or $not
    """  # noqa: D301 - click's \b keeps a paragraph unwrapped
    if alpha is not None and mode != "hybrid":
        raise click.UsageError("--alpha applies to --mode hybrid only")
    with _open_existing(db_path, read_only=True) as db:
        collection = _existing_collection(db, collection_name, index_type=index_type)
        hits: list[Hit] = []
        if mode != "dense" and collection.info().schema_version < KEYWORD_INDEX_VERSION:
            raise click.ClickException(
                f"Collection {collection.name!r} was written by an older sqlitevec-store and has no keyword "
                f"index yet; run `sqlitevec-store compact --db {str(db_path)!r}` once to build it."
            )
        if mode == "keyword":
            hits = collection.keyword_search(text, k=k, filter=filter_)
        elif collection.dimension is not None:
            model = _resolve_model(collection, model_name, backend)
            if model is None:
                raise _no_model(collection_name)
            with _show_slow_steps(quiet=False):  # a first ONNX export takes a while: say so, on stderr
                vector = make_embedder(model, backend).embed_query(text)
            if mode == "hybrid":
                hits = collection.hybrid_search(vector, text, k=k, filter=filter_, alpha=alpha)
            else:
                hits = collection.search(vector, k=k, filter=filter_)

    if as_json:
        for hit in hits:
            obj = {
                "id": hit.id,
                "similarity": hit.similarity,
                "distance": hit.distance,
                "doc_id": hit.doc_id,
                "metadata": hit.metadata,
                "text": hit.text,
            }
            click.echo(json.dumps(obj, ensure_ascii=False))
        return
    if not hits:
        click.echo("No results.", err=True)
        return
    with_metadata = any(_other_metadata(h) for h in hits)
    headers = ["score", "id", "heading", *(["metadata"] if with_metadata else []), "preview"]
    rows = [
        [
            f"{hit.similarity:.4f}",
            hit.id,
            _shorten(_heading(hit), 60),
            *([_shorten(_other_metadata(hit), 60)] if with_metadata else []),
            _preview(hit),
        ]
        for hit in hits
    ]
    for line in _table(headers, rows, right=[0]):
        click.echo(line)


# ---------------------------------------------------------------------------
# stats, compact
# ---------------------------------------------------------------------------


@cli.command()
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats(db_path: Path, as_json: bool) -> None:
    """Show the collections, their size and model, and the file's size.

    "unused" counts vector slots sqlite-vec has allocated but that hold no
    vector: holes left by deletions plus the unfilled end of the last block
    of slots (16 to 1024, growing with the collection); "reclaimable" is the
    part `compact` returns.
    """
    with _open_existing(db_path, read_only=True) as db:
        collections = [
            {**db.collection(info.name, create=False).stats(), "index": INDEX_TYPE, "created_at": info.created_at}
            for info in db.collections()
        ]
        file = db.file_stats()
    reclaimable = file["free_pages"] * file["page_size"]
    if as_json:
        click.echo(
            json.dumps(
                {"path": str(db_path), **file, "free_bytes": reclaimable, "collections": collections},
                ensure_ascii=False,
            )
        )
        return
    click.echo(
        f"{db_path}: {_human_bytes(file['size_bytes'])} ({file['page_count']} pages of {file['page_size']} bytes), "
        f"{file['free_pages']} free pages ({_human_bytes(reclaimable)}; `compact --vacuum` returns them)"
    )
    if not collections:
        click.echo("No collections.")
        return
    headers = ["collection", "records", "dimension", "model", "index", "vector slots", "unused", "reclaimable"]
    rows = [
        [
            c["name"],
            str(c["count"]),
            "-" if c["dimension"] is None else str(c["dimension"]),
            c["model_id"] or "-",
            c["index"],
            str(c["vector_slots"]),
            str(c["unused_slots"]),
            str(c["reclaimable_slots"]),
        ]
        for c in collections
    ]
    click.echo()
    for line in _table(headers, rows, right=[1, 2, 5, 6, 7]):
        click.echo(line)


@cli.command()
@_db_option
@_collection_option
@click.option("--all", "all_", is_flag=True, help="Compact every collection.")
@click.option(
    "--vacuum/--no-vacuum",
    default=True,
    show_default=True,
    help="Then rebuild the file so freed pages return to the file system.",
)
def compact(db_path: Path, collection_name: str, all_: bool, vacuum: bool) -> None:
    """Reclaim the vector space left by deleted records.

    sqlite-vec frees a block of vectors only when all of its slots are
    deleted; this rewrites the vector table so scattered deletions stop
    taking space, then (with --vacuum) shrinks the file.
    """
    given = click.get_current_context().get_parameter_source("collection_name")
    if all_ and given is not ParameterSource.DEFAULT:
        raise click.UsageError("Give --collection NAME or --all, not both.")
    with _open_existing(db_path, read_only=False) as db:
        names = db.collection_names() if all_ else [_existing_collection(db, collection_name).name]
        size_before = db.file_stats()["size_bytes"]
        for name in names:
            collection = db.collection(name, create=False)
            unused_before = collection.stats()["unused_slots"]
            result = collection.compact()
            unused_after = collection.stats()["unused_slots"]
            click.echo(
                f"{name}: vector slots {result['slots_before']} -> {result['slots_after']} "
                f"(unused {unused_before} -> {unused_after})"
            )
        if vacuum:
            db.vacuum()
        file = db.file_stats()
    if not names:
        click.echo("No collections.")
    note = "" if vacuum else f" ({file['free_pages']} free pages; --vacuum returns them to the file system)"
    click.echo(f"File size: {_human_bytes(size_before)} -> {_human_bytes(file['size_bytes'])}{note}")


# ---------------------------------------------------------------------------
# export, import, drop
# ---------------------------------------------------------------------------


@cli.command()
@_db_option
@_collection_option
@click.option("--vectors", is_flag=True, help="Include each vector (and the model that made it).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write here instead of stdout (replaced only once the export is complete).",
)
def export(db_path: Path, collection_name: str, vectors: bool, output: str) -> None:
    """Write a collection as JSON lines.

    Each line holds id, text, metadata and doc_id (and extra, when set); with
    --vectors also "vector" (a list of floats) and "model". `import` reads
    this format.
    """
    with _open_existing(db_path, read_only=True) as db:
        collection = _existing_collection(db, collection_name)
        model_id = collection.info().model_id
        count = 0
        with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
            for hit in _iter_hits(collection, include_vectors=vectors):
                obj: dict[str, Any] = {"id": hit.id, "text": hit.text, "metadata": hit.metadata, "doc_id": hit.doc_id}
                if hit.extra is not None:
                    obj["extra"] = hit.extra
                if vectors and hit.vector is not None:
                    obj["vector"] = hit.vector.tolist()
                    if model_id is not None:
                        obj["model"] = model_id
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
                count += 1
    if output != "-":
        click.echo(f"Exported {count} records from {collection_name!r} to {output}.", err=True)


@dataclass
class _ImportPlan:
    lines: int = 0
    to_embed: int = 0
    dimensions: set[int] = field(default_factory=set)
    models: set[str] = field(default_factory=set)


#: The fields of an export line: key, type, description ("text" is required).
_LINE_FIELDS: tuple[tuple[str, type, str], ...] = (
    ("text", str, "a string"),
    ("id", str, "a string"),
    ("doc_id", str, "a string"),
    ("metadata", dict, "an object"),
    ("extra", dict, "an object"),
    ("vector", list, "a list of numbers"),
    ("model", str, "a string"),
)


def _parse_line(line: str, number: int, source: str) -> dict[str, Any] | None:
    """One validated import line (``None`` for a blank line)."""
    if not line.strip():
        return None
    where = f"{source} line {number}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{where}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise click.ClickException(f"{where}: nested too deeply to read") from exc
    if not isinstance(obj, dict):
        raise click.ClickException(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key, kind, name in _LINE_FIELDS:
        value = obj.get(key)
        if value is None and key != "text":
            continue
        if not isinstance(value, kind):
            raise click.ClickException(f"{where}: {key!r} must be {name}, got {value!r:.60}")
    vector = obj.get("vector")
    if vector is not None and (
        not vector or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector)
    ):
        raise click.ClickException(f"{where}: 'vector' must be a non-empty list of numbers")
    return obj


def _read_lines(path: str) -> Callable[[], Iterable[str]]:
    """A way to read the import file (twice: once to check it, once to load it).

    Text that is not UTF-8 is an error naming the line (stdin is read as
    UTF-8 bytes too, whatever the locale).
    """
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        data: bytes = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise click.ClickException(
                f"stdin line {line}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from exc
        lines = io.StringIO(text).readlines()
        return lambda: lines

    def read() -> Iterator[str]:
        number = 0
        with open(path, "rb") as handle:
            for raw in handle:
                number += 1
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise click.ClickException(f"{path} line {number}: not valid UTF-8 ({exc.reason})") from exc

    return read


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@_db_option
@_collection_option
@_model_option
@_backend_option
@_batch_option
@click.option("--quiet", "-q", is_flag=True, help="No progress output (bar or lines) and no status lines.")
def import_(
    *,
    file: str,
    db_path: Path,
    collection_name: str,
    model_name: str | None,
    backend: str | None,
    batch_size: int,
    quiet: bool,
) -> None:
    """Load JSON lines written by `export` (FILE, or - for stdin) into a collection.

    Lines with a "vector" are stored as they are; the others are embedded
    with the model (the collection's, --model's, or the default). The whole
    file is checked first and loaded in one transaction: all or nothing.
    Records with an existing id are replaced.
    """
    started = time.perf_counter()
    source = "stdin" if file == "-" else file
    read = _read_lines(file)
    plan = _ImportPlan()
    for number, line in enumerate(read(), start=1):
        obj = _parse_line(line, number, source)
        if obj is None:
            continue
        plan.lines += 1
        if obj.get("vector") is None:
            plan.to_embed += 1
        else:
            plan.dimensions.add(len(obj["vector"]))
            if obj.get("model") is not None:
                plan.models.add(canonical_model_id(obj["model"]))
    if len(plan.dimensions) > 1:
        raise click.ClickException(f"{source}: vectors of different lengths: {sorted(plan.dimensions)}")
    if len(plan.models) > 1:
        raise click.ClickException(f"{source}: vectors from different models: {', '.join(sorted(plan.models))}")

    with _undo_new_file(db_path), Database(db_path) as db:
        exists = db.has_collection(collection_name)
        recorded = db.collection(collection_name, create=False).info().model_id if exists else None
        requested = canonical_model_id(model_name, backend=backend or "torch") if model_name is not None else None
        known = {m for m in (recorded, requested, *plan.models) if m is not None}
        if len(known) > 1:
            raise ModelMismatchError(
                f"Conflicting embedding models: collection {collection_name!r} "
                f"{'records ' + repr(recorded) if recorded else 'records none'}, --model is {requested!r}, "
                f"the file's vectors come from {', '.join(sorted(plan.models)) or 'no named model'}."
            )
        if exists and not known and plan.to_embed and db.collection(collection_name, create=False).dimension:
            raise _no_model(collection_name)
        if backend is not None and known and plan.to_embed:
            made = canonical_model_id(split_model_id(next(iter(known)))[0], backend=backend)
            if made not in known:
                raise ModelMismatchError(
                    f"--backend {backend} makes {made!r} vectors, but this import is for {', '.join(sorted(known))}."
                )
        default = canonical_model_id(DEFAULT_MODEL, backend=backend or "torch")
        model = next(iter(known)) if known else (default if plan.to_embed else None)
        embedder = make_embedder(model, backend) if plan.to_embed and model is not None else None
        model_id = (embedder.model_id if embedder is not None else None) or model
        if exists:
            db.collection(collection_name, model_id=model_id)  # checks the model before anything is embedded
        if embedder is not None:
            _load_model(embedder, quiet=quiet)  # before the write transaction, which it would hold up

        def records(bar: Any) -> Iterator[Record]:
            batch: list[dict[str, Any]] = []

            def flush() -> Iterator[Record]:
                missing = [obj["text"] for obj in batch if obj.get("vector") is None]
                vectors = iter(_embed(embedder, missing)) if missing and embedder is not None else iter(())
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

            for number, line in enumerate(read(), start=1):
                obj = _parse_line(line, number, source)
                if obj is None:
                    continue
                batch.append(obj)
                if len(batch) >= batch_size:
                    yield from flush()
            yield from flush()

        # a new collection is registered in the transaction of its records: a refused import leaves none
        with _progress(plan.lines, f"Importing {plan.lines} records", quiet=quiet) as bar, db.atomic():
            collection = db.collection(collection_name, model_id=model_id)
            collection.upsert(records(bar))
        total = collection.count()

    seconds = time.perf_counter() - started
    embedded = f", {plan.to_embed} embedded with {model_id}" if plan.to_embed else ""
    click.echo(
        f"Imported {plan.lines} records into {collection_name!r}{embedded} in {seconds:.2f} s; "
        f"the collection holds {total}."
    )


@cli.command()
@_db_option
@_collection_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def drop(db_path: Path, collection_name: str, yes: bool) -> None:
    """Delete a collection and all of its records."""
    with _open_existing(db_path, read_only=False) as db:
        collection = _existing_collection(db, collection_name)
        count = collection.count()
        if not yes:
            click.confirm(
                f"Drop collection {collection.name!r} ({count} records) from {str(db_path)!r}?",
                abort=True,
            )
        db.drop_collection(collection.name)
    click.echo(f"Dropped collection {collection_name!r} ({count} records).")


if __name__ == "__main__":  # pragma: no cover
    main()
