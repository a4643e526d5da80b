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

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from . import __version__
from .chunking import split_paragraphs
from .connection import database_errors, release_wal_files
from .embeddings import BACKENDS, DEFAULT_MODEL, export_logger
from .errors import CollectionNotFoundError, ModelMismatchError, SqliteVecStoreError
from .filters import Filter, parse_filter_dict
from .ingest import DEFAULT_MAX_CHARS, FOLDER_SUFFIXES, HASH_KEY, MAX_CHARS_KEY, IngestSummary, sync_files
from .jsonl import Dump, load_dump, write_dump
from .model_choice import (
    DEFAULT_BATCH_SIZE,
    Embedder,
    ModelChoice,
    default_model,
    make_embedder,
    no_model_error,
    resolve_model,
)
from .progress import DEFAULT_INTERVAL, Progress
from .records import MAX_COUNT, Hit
from .schema import KEYWORD_INDEX_VERSION, validate_collection_name
from .store import DEFAULT_COLLECTION, Collection, Database

__all__ = [
    "DEFAULT_MAX_CHARS",
    "FOLDER_SUFFIXES",
    "HASH_KEY",
    "MAX_CHARS_KEY",
    "Embedder",
    "cli",
    "main",
    "make_embedder",
    "split_paragraphs",
]

F = TypeVar("F", bound=Callable[..., Any])

#: How the index type is described by ``stats`` (sqlite-vec 0.1: brute force, exact).
INDEX_TYPE = "vec0 flat (exact)"

#: Metadata keys written by the chunkers, left out of the query table's metadata column.
CHUNK_KEYS = frozenset({"source", "heading_path", "heading", "level", "chunk_index", "part"})

#: Seconds between two progress lines when stderr is not a terminal.
PROGRESS_INTERVAL = DEFAULT_INTERVAL

PREVIEW_CHARS = 100


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
    load_seconds = 0.0

    def load() -> None:
        nonlocal load_seconds
        load_seconds = _load_model(embedder, quiet=quiet)

    with _undo_new_file(db_path), Database(db_path) as db:
        choice = _choose_model(db, collection_name, model_name, backend)
        embedder = make_embedder(choice.model_id or default_model(backend), backend)
        summary = sync_files(
            db,
            collection_name,
            paths,
            embedder,
            max_chars=max_chars,
            batch_size=batch_size,
            progress=lambda total, label: _progress(total, label, quiet=quiet),
            before_embedding=load,
            warn=_warn,
        )
    if summary.replaced_model is not None:
        _warn(
            f"collection {collection_name!r} held no vectors, so nothing was built with the model it "
            f"recorded ({summary.replaced_model!r}); it now records {embedder.model_id!r}."
        )
    _echo_index_summary(summary, collection_name, seconds=time.perf_counter() - started, load_seconds=load_seconds)


def _choose_model(db: Database, collection_name: str, requested: str | None, backend: str | None) -> ModelChoice:
    """The model for ``collection_name`` given --model and --backend (see :func:`resolve_model`)."""
    collection = db.collection(collection_name, create=False) if db.has_collection(collection_name) else None
    choice = resolve_model(
        collection_name,
        recorded=collection.info().model_id if collection is not None else None,
        built=collection is not None and collection.dimension is not None,
        requested=requested,
        backend=backend,
    )
    if choice.model_id is None and collection is not None and collection.dimension is not None:
        raise no_model_error(collection_name)
    return choice


def _echo_index_summary(summary: IngestSummary, collection_name: str, *, seconds: float, load_seconds: float) -> None:
    rate = summary.chunks_embedded / summary.embed_seconds if summary.embed_seconds > 0 else 0.0
    unread = f", {summary.files_unreadable} unreadable" if summary.files_unreadable else ""
    loading = f"model load {load_seconds:.2f} s, " if load_seconds else ""
    click.echo(
        f"Files:  {summary.files_indexed} indexed, {summary.files_unchanged} unchanged, "
        f"{summary.files_removed} removed{unread}"
    )
    click.echo(
        f"Chunks: {summary.chunks_embedded} embedded, {summary.chunks_deleted} deleted; "
        f"{collection_name!r} holds {summary.total}"
    )
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
            model = _choose_model(db, collection.name, model_name, backend).model_id
            assert model is not None  # a collection with vectors has a model, or _choose_model raised
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
        with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
            count = write_dump(collection, out, include_vectors=vectors)
    if output != "-":
        click.echo(f"Exported {count} records from {collection_name!r} to {output}.", err=True)


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
    dump = Dump.open(file)
    plan = dump.plan()
    with _undo_new_file(db_path), Database(db_path) as db:
        collection = db.collection(collection_name, create=False) if db.has_collection(collection_name) else None
        recorded = collection.info().model_id if collection is not None else None
        built = collection is not None and collection.dimension is not None
        choice = resolve_model(
            collection_name,
            recorded=recorded,
            built=built,
            requested=model_name,
            backend=backend,
            vectors_from=plan.model,
        )
        if choice.replaces is not None:  # import keeps an empty collection's recorded model
            raise ModelMismatchError(
                f"Conflicting embedding models: collection {collection_name!r} records {recorded!r}, "
                f"this import is for {choice.model_id!r}."
            )
        if choice.model_id is None and built and plan.to_embed:
            raise no_model_error(collection_name)
        model = choice.model_id or (default_model(backend) if plan.to_embed else None)
        embedder = make_embedder(model, backend) if plan.to_embed and model is not None else None
        model_id = (embedder.model_id if embedder is not None else None) or model
        if collection is not None:
            db.collection(collection_name, model_id=model_id)  # checks the model before anything is embedded
        if embedder is not None:
            _load_model(embedder, quiet=quiet)  # before the write transaction, which it would hold up
        collection = load_dump(
            db,
            collection_name,
            dump,
            plan,
            embedder=embedder,
            model_id=model_id,
            batch_size=batch_size,
            progress=lambda total, label: _progress(total, label, quiet=quiet),
        )
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
