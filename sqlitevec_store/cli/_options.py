"""Parsing for the command line: the group that reports errors, the shared options, opening store files.

Every command takes ``--db FILE`` or ``--db postgresql://...`` (a
:data:`StoreLocation`: a :class:`~pathlib.Path` for a file, the URL as a
``str``); commands that act on one collection take ``--collection NAME``.
Commands that only read open the file read-only and never create it
(:func:`open_existing`); ``index`` and ``import`` wrap their work in
:func:`undo_new_file`, so a failed run leaves no file it created. A URL is
never treated as a file: no existence check, no ``-wal`` files, nothing to
remove.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from ..backends.sqlite.connection import database_errors, release_wal_files
from ..collection import Collection
from ..database import DEFAULT_COLLECTION, Database
from ..embeddings import BACKENDS, DEFAULT_MODEL
from ..errors import CollectionNotFoundError, SqliteVecStoreError
from ..filters import Filter, parse_filter_dict
from ..model_choice import DEFAULT_BATCH_SIZE
from ..opening import display_location, is_postgres_url
from ..records import MAX_COUNT
from ..registry import validate_collection_name

__all__ = [
    "DB_HELP",
    "Group",
    "StoreLocation",
    "StoreLocationType",
    "backend_option",
    "batch_option",
    "check_collection_names",
    "collection_option",
    "db_option",
    "describe_store",
    "existing_collection",
    "model_option",
    "open_existing",
    "parse_filter",
    "undo_new_file",
    "wal_files_released",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Where a store is, as the options give it: a file's :class:`Path`, or a ``postgresql://`` URL.
StoreLocation = Path | str

#: How ``--db`` (and ``migrate``'s arguments) are described.
DB_HELP = "FILE or postgresql:// URL"


class StoreLocationType(click.ParamType[StoreLocation, Any]):
    """A store file (a :class:`Path`; not a folder) or a ``postgresql://``/``postgres://`` URL (kept a ``str``)."""

    name = "FILE|URL"
    _file = click.Path(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> StoreLocation:
        if isinstance(value, Path):
            return value
        if is_postgres_url(value):
            return str(value)
        converted: Path = self._file.convert(value, param, ctx)
        return converted


def describe_store(location: StoreLocation) -> str:
    """A store's location fit to print (a URL's password hidden)."""
    return display_location(str(location))


class Group(click.Group):
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


def check_collection_names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Check each name of a repeatable ``--collection`` option."""
    return tuple(name for name in (_check_collection_name(ctx, param, v) for v in value) if name is not None)


def parse_filter(ctx: click.Context, param: click.Parameter, value: str | None) -> Filter | None:
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


def db_option(f: F) -> F:
    return click.option(
        "--db",
        "db_path",
        required=True,
        type=StoreLocationType(),
        help=f"The store: {DB_HELP}.",
    )(f)


def collection_option(f: F) -> F:
    return click.option(
        "--collection",
        "collection_name",
        default=DEFAULT_COLLECTION,
        show_default=True,
        callback=_check_collection_name,
        help="The collection.",
    )(f)


def output_option(f: F) -> F:
    """``-o/--output``: where an export is written (stdout by default; a file is replaced once complete)."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True),
        default="-",
        help="Write here instead of stdout (replaced only once the export is complete).",
    )(f)


def model_option(f: F) -> F:
    return click.option(
        "--model",
        "model_name",
        default=None,
        help=f"Embedding model (sentence-transformers id or folder). Default: the collection's, else {DEFAULT_MODEL}.",
    )(f)


def backend_option(f: F) -> F:
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


def batch_option(f: F) -> F:
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1, max=MAX_COUNT),
        default=DEFAULT_BATCH_SIZE,
        show_default=True,
        help="Texts per embedding call.",
    )(f)


@contextmanager
def open_existing(db_path: StoreLocation, *, read_only: bool) -> Iterator[Database]:
    """Open a store that must already exist (never creates a file).

    A read-only open of a WAL-mode file makes SQLite create ``-wal`` and
    ``-shm`` files beside it; when they were not there before, they are
    removed again afterwards if no other connection uses the file and it is
    writable (see :func:`~sqlitevec_store.backends.sqlite.connection.release_wal_files`).
    A Postgres URL is opened as it is (the server says whether it exists).
    """
    if not isinstance(db_path, Path):
        with Database(db_path, read_only=read_only) as db:
            yield db
        return
    if not db_path.exists():
        raise click.ClickException(f"Database file {str(db_path)!r} does not exist (nothing was created).")
    with wal_files_released(db_path, read_only=read_only), Database(db_path, read_only=read_only) as db:
        yield db


@contextmanager
def wal_files_released(db_path: StoreLocation, *, read_only: bool) -> Iterator[None]:
    """After a read-only use of a store file, remove the ``-wal``/``-shm`` files opening it created.

    Wrap the :class:`Database`, so it is closed first. Nothing is done for a
    URL, a writable open, or a file whose ``-wal`` was there before.
    """
    if not read_only or not isinstance(db_path, Path):
        yield
        return
    had_wal = Path(f"{db_path}-wal").exists()
    try:
        yield
    finally:
        if not had_wal:
            release_wal_files(db_path)


def existing_collection(
    db: Database, name: str, model_id: str | None = None, *, index_type: str = "vec0"
) -> Collection:
    try:
        return db.collection(name, model_id=model_id, create=False, index_type=index_type)
    except CollectionNotFoundError:
        names = db.collection_names()
        have = f"it has: {', '.join(names)}" if names else "it has no collections"
        where = describe_store(db.path or ":memory:")
        raise click.ClickException(f"No collection named {name!r} in {where!r}; {have}.") from None


@contextmanager
def undo_new_file(db_path: StoreLocation) -> Iterator[None]:
    """Leave no file behind when a command that would have created the store file fails.

    A file that did not exist is removed with its ``-wal``, ``-shm`` and
    ``-journal``; an empty file (which opening gives a header) is emptied again.
    Wrap the :class:`Database`, so it is closed first. A Postgres URL names no
    file: nothing is done (what a failed command wrote is rolled back by its
    transaction, as in a file).
    """
    if not isinstance(db_path, Path):
        yield
        return
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
