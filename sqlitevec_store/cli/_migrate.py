"""The ``migrate`` command: copy collections between a store file and Postgres (either way), then verify.

Parsing and printing only; :func:`sqlitevec_store.migration.migrate` does the work.
"""

from __future__ import annotations

import click

from ..migration import DEFAULT_BATCH_SIZE
from ..migration import migrate as migrate_stores
from ..progress import DEFAULT_INTERVAL, Progress
from ..records import MAX_COUNT
from ._options import StoreLocation, StoreLocationType, check_collection_names, wal_files_released

__all__ = ["migrate"]


@click.command()
@click.argument("source", type=StoreLocationType(), metavar="SRC")
@click.argument("target", type=StoreLocationType(), metavar="DST")
@click.option(
    "--collection",
    "collection_names",
    multiple=True,
    callback=check_collection_names,
    help="Copy this collection (repeat for more). Default: every collection of SRC.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=MAX_COUNT),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Records per transaction (memory stays bounded by one batch).",
)
@click.option("--no-verify", "no_verify", is_flag=True, help="Skip the check of counts and sample searches.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output (bar or lines).")
def migrate(
    *,
    source: StoreLocation,
    target: StoreLocation,
    collection_names: tuple[str, ...],
    batch_size: int,
    no_verify: bool,
    quiet: bool,
) -> None:
    """Copy collections from SRC to DST (each a FILE or postgresql:// URL).

    Records keep their ids, texts, metadata, doc ids, vectors and the
    collection's model: nothing is embedded again. Each batch is one
    transaction, so an interrupted run keeps what it finished, and running
    the same command again resumes: records DST already holds identically
    are skipped, changed ones updated. Nothing in DST is deleted.

    Without --collection, the app state beside the collections is copied
    too, exactly: the key-value space (LangChain byte stores, LlamaIndex
    document, index and chat stores, the embedding cache) and the record
    manager's keys and clock.

    Then (unless --no-verify) each collection is checked: equal counts, and
    20 SRC records used as queries return the same top 10 on both sides;
    each app-state namespace entry by entry.
    A failed check exits with status 1. DST's file is created if missing.

    \b
    Examples:
      sqlitevec-store migrate store.db postgresql://me@localhost/rag
      sqlitevec-store migrate postgresql://me@localhost/rag copy.db --collection docs
    """  # noqa: D301 - click's \b keeps a paragraph unwrapped
    with wal_files_released(source, read_only=True):  # the source is only read
        report = migrate_stores(
            str(source),
            str(target),
            collections=list(collection_names) or None,
            batch_size=batch_size,
            verify=not no_verify,
            progress=lambda total, label: Progress(total, label, enabled=not quiet, interval=DEFAULT_INTERVAL),
        )
    for done in report.collections:
        click.echo(done.summary())
    if not report.collections:
        click.echo(f"No collections in {report.source}.")
    for state in report.app_state:
        click.echo(state.summary())
    report.raise_for_failure()
