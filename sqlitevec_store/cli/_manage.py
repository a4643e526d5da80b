"""The commands that need no embedding model: ``stats``, ``compact``, ``export`` and ``drop``."""

from __future__ import annotations

import json
from typing import Any

import click
from click.core import ParameterSource

from ..embeddings.cache import NAMESPACE_PREFIX as CACHE_NAMESPACE_PREFIX
from ..jsonl import write_dump
from ._options import (
    StoreLocation,
    collection_option,
    db_option,
    describe_store,
    existing_collection,
    open_existing,
    output_option,
)
from ._output import human_bytes, table

__all__ = ["compact", "drop", "export", "stats"]

#: How the index type is described by ``stats`` (sqlite-vec 0.1: brute force, exact).
INDEX_TYPE = "vec0 flat (exact)"


@click.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats(db_path: StoreLocation, as_json: bool) -> None:
    """Show the collections, their size and model, the app state beside them, and the file's size.

    The app state: each namespace of the key-value space (the frameworks'
    byte, document, index and chat stores), of the embedding cache (one per
    model) and of the record manager's log, with its entries and bytes.
    "unused" counts vector slots sqlite-vec has allocated but that hold no
    vector: holes left by deletions plus the unfilled end of the last block
    of slots (16 to 1024, growing with the collection); "reclaimable" is the
    part `compact` returns.
    """
    with open_existing(db_path, read_only=True) as db:
        collections = [
            {**db.collection(info.name, create=False).stats(), "index": INDEX_TYPE, "created_at": info.created_at}
            for info in db.collections()
        ]
        file = db.file_stats()
        app = db.app_state()
    key_value = [n._asdict() for n in app.key_value]
    record_keys = [n._asdict() for n in app.record_keys]
    reclaimable = file["free_pages"] * file["page_size"]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": describe_store(db_path),
                    **file,
                    "free_bytes": reclaimable,
                    "collections": collections,
                    "key_value": key_value,
                    "record_keys": record_keys,
                },
                ensure_ascii=False,
            )
        )
        return
    where = describe_store(db_path)
    click.echo(
        f"{where}: {human_bytes(file['size_bytes'])} ({file['page_count']} pages of {file['page_size']} bytes), "
        f"{file['free_pages']} free pages ({human_bytes(reclaimable)}; `compact --vacuum` returns them)"
    )
    if not collections:
        click.echo("No collections.")
    else:
        _collection_table(collections)
    if key_value or record_keys:
        click.echo()
        rows = [[*_kind(n["namespace"]), str(n["entries"]), human_bytes(n["value_bytes"])] for n in key_value]
        rows += [["record manager", n["namespace"], str(n["entries"]), "-"] for n in record_keys]
        for line in table(["app state", "namespace", "entries", "values"], rows, right=[2, 3]):
            click.echo(line)


def _kind(namespace: str) -> list[str]:
    """How a key-value namespace is shown: the embedding cache's by model id, the rest as they are."""
    if namespace.startswith(CACHE_NAMESPACE_PREFIX):
        return ["embedding cache", namespace[len(CACHE_NAMESPACE_PREFIX) :]]
    return ["key-value", namespace]


def _collection_table(collections: list[dict[str, Any]]) -> None:
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
    for line in table(headers, rows, right=[1, 2, 5, 6, 7]):
        click.echo(line)


@click.command()
@db_option
@collection_option
@click.option("--all", "all_", is_flag=True, help="Compact every collection.")
@click.option(
    "--vacuum/--no-vacuum",
    default=True,
    show_default=True,
    help="Then rebuild the file so freed pages return to the file system.",
)
def compact(db_path: StoreLocation, collection_name: str, all_: bool, vacuum: bool) -> None:
    """Reclaim the vector space left by deleted records.

    sqlite-vec frees a block of vectors only when all of its slots are
    deleted; this rewrites the vector table so scattered deletions stop
    taking space, then (with --vacuum) shrinks the file.
    """
    given = click.get_current_context().get_parameter_source("collection_name")
    if all_ and given is not ParameterSource.DEFAULT:
        raise click.UsageError("Give --collection NAME or --all, not both.")
    with open_existing(db_path, read_only=False) as db:
        names = db.collection_names() if all_ else [existing_collection(db, collection_name).name]
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
    click.echo(f"File size: {human_bytes(size_before)} -> {human_bytes(file['size_bytes'])}{note}")


@click.command()
@db_option
@collection_option
@click.option("--vectors", is_flag=True, help="Include each vector (and the model that made it).")
@output_option
def export(db_path: StoreLocation, collection_name: str, vectors: bool, output: str) -> None:
    """Write a collection as JSON lines.

    Each line holds id, text, metadata and doc_id (and extra, when set); with
    --vectors also "vector" (a list of floats) and "model". `import` reads
    this format.
    """
    with open_existing(db_path, read_only=True) as db:
        collection = existing_collection(db, collection_name)
        with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
            count = write_dump(collection, out, include_vectors=vectors)
    if output != "-":
        click.echo(f"Exported {count} records from {collection_name!r} to {output}.", err=True)


@click.command()
@db_option
@collection_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def drop(db_path: StoreLocation, collection_name: str, yes: bool) -> None:
    """Delete a collection and all of its records."""
    with open_existing(db_path, read_only=False) as db:
        collection = existing_collection(db, collection_name)
        count = collection.count()
        if not yes:
            click.confirm(
                f"Drop collection {collection.name!r} ({count} records) from {describe_store(db_path)!r}?",
                abort=True,
            )
        db.drop_collection(collection.name)
    click.echo(f"Dropped collection {collection_name!r} ({count} records).")
