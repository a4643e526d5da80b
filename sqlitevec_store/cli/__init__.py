"""The ``sqlitevec-store`` command line: fill, query and look inside a store file.

Built on the core (:class:`~sqlitevec_store.Database`); nothing here writes SQL.
Every command takes ``--db FILE`` or ``--db postgresql://...`` (``migrate``
takes two such stores); commands that act on one collection take
``--collection NAME`` (default :data:`~sqlitevec_store.DEFAULT_COLLECTION`, the
adapters' default too). Commands that only read (``query``, ``stats``,
``export``) open the store read-only, and no command but ``index``,
``import`` and ``migrate`` (its target) ever creates a file.

Errors print ``Error: ...`` to stderr and exit with status 1; bad options
(including a ``--filter`` that is not valid JSON or uses an unknown operator)
exit with status 2. A failed ``index`` or ``import`` leaves no file it created
and no collection it would have created.

Progress and status lines (loading the model, a first ONNX export) go to
stderr, never stdout: a bar on a terminal, else a line every
:data:`PROGRESS_INTERVAL` seconds (see :mod:`sqlitevec_store.progress`).

This package only parses arguments and formats output; the core does the
work: :mod:`sqlitevec_store.ingest` (``index``), :mod:`sqlitevec_store.jsonl`
(``export``, ``import``), :mod:`sqlitevec_store.migration` (``migrate``) and
:mod:`sqlitevec_store.model_choice` (which model).
Here are the commands that embed (``index``, ``query``, ``import``);
``_manage`` holds those that need no model, ``_migrate`` the copy between
stores, ``_options`` the shared options
and file opening, ``_output`` the printing.

The embedding model is made by :func:`make_embedder` (looked up in this
module, so tests replace it here with a fake). It is created only when
something has to be embedded, and sentence-transformers (and torch) are
imported only when it embeds.
"""

from __future__ import annotations

import time

import click

from .. import __version__
from ..chunking import split_paragraphs
from ..database import Database
from ..errors import ModelMismatchError, SchemaError
from ..filters import Filter
from ..ingest import DEFAULT_MAX_CHARS, FOLDER_SUFFIXES, HASH_KEY, MAX_CHARS_KEY, sync_files
from ..jsonl import Dump, load_dump
from ..model_choice import Embedder, ModelChoice, default_model, make_embedder, no_model_error, resolve_model
from ..progress import DEFAULT_INTERVAL, Progress
from ..records import MAX_COUNT, Hit
from ._app_state import export_state, import_state
from ._manage import compact, drop, export, stats
from ._migrate import migrate
from ._options import (
    Group,
    StoreLocation,
    backend_option,
    batch_option,
    collection_option,
    db_option,
    describe_store,
    existing_collection,
    model_option,
    open_existing,
    parse_filter,
    undo_new_file,
)
from ._output import echo_hits, echo_index_summary, load_model, show_slow_steps, warn

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


#: Seconds between two progress lines when stderr is not a terminal.
PROGRESS_INTERVAL = DEFAULT_INTERVAL


def _progress(total: int, label: str, *, quiet: bool) -> Progress:
    """Progress on stderr: a bar on a terminal, else a line every :data:`PROGRESS_INTERVAL` seconds."""
    return Progress(total, label, enabled=not quiet, interval=PROGRESS_INTERVAL)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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


for _command in (stats, compact, export, drop, migrate, export_state, import_state):
    cli.add_command(_command)


# ---------------------------------------------------------------------------
# index
# ---------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@db_option
@collection_option
@model_option
@backend_option
@click.option(
    "--max-chars",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    help="Longest chunk, in characters.",
)
@batch_option
@click.option(
    "--embedding-cache/--no-embedding-cache",
    default=True,
    show_default=True,
    help="Reuse the vector of every chunk whose exact text this model embedded before (kept in the store).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output (bar or lines) and no status lines.")
def index(
    *,
    paths: tuple[str, ...],
    db_path: StoreLocation,
    collection_name: str,
    model_name: str | None,
    backend: str | None,
    max_chars: int,
    batch_size: int,
    embedding_cache: bool,
    quiet: bool,
) -> None:
    """Index Markdown and text files: PATHS are files, folders or globs.

    Folders are searched recursively for *.md, *.markdown and *.txt (hidden
    files and folders skipped); quote globs ('docs/**/*.md'). Markdown is
    split at headings, each chunk keeping its heading path as metadata; text
    files are split at blank lines.

    A chunk's id is "<file>#<n>", where <file> is the file's path relative to
    the folder of the store file (of the current directory for a postgresql://
    URL; absolute outside it); the file's path is also
    the chunk's doc_id and its "source" metadata. Re-running skips files whose
    content is unchanged, replaces the chunks of changed files, and removes the
    chunks of files that no longer exist under the given PATHS. A changed
    file's chunks whose text is unchanged take their vectors from the store's
    embedding cache: only edited chunks are embedded ("embedded N, reused M"
    in the summary).

    \b
    Example:
      sqlitevec-store index docs/ notes.txt 'wiki/**/*.md' --db store.db
    """  # noqa: D301 - click's \b keeps a paragraph unwrapped
    started = time.perf_counter()
    load_seconds = 0.0

    def load() -> None:
        nonlocal load_seconds
        load_seconds = load_model(embedder, quiet=quiet)

    with undo_new_file(db_path), Database(db_path) as db:
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
            warn=warn,
            cache_embeddings=embedding_cache,
        )
    if summary.replaced_model is not None:
        warn(
            f"collection {collection_name!r} held no vectors, so nothing was built with the model it "
            f"recorded ({summary.replaced_model!r}); it now records {embedder.model_id!r}."
        )
    echo_index_summary(summary, collection_name, seconds=time.perf_counter() - started, load_seconds=load_seconds)


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


# ---------------------------------------------------------------------------
# query
# ---------------------------------------------------------------------------


@cli.command()
@click.argument("text")
@db_option
@collection_option
@model_option
@backend_option
@click.option(
    "-k", "k", type=click.IntRange(min=1, max=MAX_COUNT), default=5, show_default=True, help="Number of hits."
)
@click.option(
    "--filter",
    "filter_",
    callback=parse_filter,
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
    db_path: StoreLocation,
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
    with open_existing(db_path, read_only=True) as db:
        collection = existing_collection(db, collection_name, index_type=index_type)
        hits: list[Hit] = []
        if mode != "dense":
            try:  # the backend says whether the keyword index is there (a file of schema version 1 has none)
                db.backend.ensure_keyword_index(collection.info())
            except SchemaError:
                raise click.ClickException(
                    f"Collection {collection.name!r} was written by an older sqlitevec-store and has no keyword "
                    f"index yet; run `sqlitevec-store compact --db {describe_store(db_path)!r}` once to build it."
                ) from None
        if mode == "keyword":
            hits = collection.keyword_search(text, k=k, filter=filter_)
        elif collection.dimension is not None:
            model = _choose_model(db, collection.name, model_name, backend).model_id
            assert model is not None  # a collection with vectors has a model, or _choose_model raised
            with show_slow_steps(quiet=False):  # a first ONNX export takes a while: say so, on stderr
                vector = make_embedder(model, backend).embed_query(text)
            if mode == "hybrid":
                hits = collection.hybrid_search(vector, text, k=k, filter=filter_, alpha=alpha)
            else:
                hits = collection.search(vector, k=k, filter=filter_)

    echo_hits(hits, as_json=as_json)


# ---------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@db_option
@collection_option
@model_option
@backend_option
@batch_option
@click.option("--quiet", "-q", is_flag=True, help="No progress output (bar or lines) and no status lines.")
def import_(
    *,
    file: str,
    db_path: StoreLocation,
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
    with undo_new_file(db_path), Database(db_path) as db:
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
            load_model(embedder, quiet=quiet)  # before the write transaction, which it would hold up
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
