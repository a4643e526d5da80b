"""The ``export-state`` and ``import-state`` commands: the app state beside the collections, as JSON lines.

Parsing and printing only; :mod:`sqlitevec_store.app_state_dump` does the work.
"""

from __future__ import annotations

import click

from ..app_state_dump import load_app_state, read_app_state, write_app_state
from ..database import Database
from ._options import StoreLocation, db_option, open_existing, output_option, undo_new_file

__all__ = ["export_state", "import_state"]


@click.command("export-state")
@db_option
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    help="Export this namespace only (repeat for more). Default: every namespace.",
)
@output_option
def export_state(db_path: StoreLocation, namespaces: tuple[str, ...], output: str) -> None:
    """Write the app state as JSON lines: key-value entries and record-manager keys.

    The key-value space holds what the frameworks keep beside the vectors
    (LangChain byte stores, LlamaIndex document, index and chat stores, the
    embedding cache); the record-key log is LangChain's record manager. JSON
    values are written as JSON, bytes as base64; `import-state` reads it back.
    """
    with (
        open_existing(db_path, read_only=True) as db,
        click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out,
    ):
        count = write_app_state(db, out, namespaces=list(namespaces) or None)
    if output != "-":
        click.echo(f"Exported {count} app-state lines to {output}.", err=True)


@click.command("import-state")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@db_option
def import_state(file: str, db_path: StoreLocation) -> None:
    """Load JSON lines written by `export-state` (FILE, or - for stdin): all or nothing.

    Every line is checked first, then everything is written in one
    transaction. Existing keys are replaced; nothing else is deleted.
    """
    with click.open_file(file, "r", encoding="utf-8") as lines:
        load = read_app_state(lines, "stdin" if file == "-" else file)
    with undo_new_file(db_path), Database(db_path) as db:
        entries, keys = load_app_state(db, load)
    click.echo(f"Imported {entries} key-value entries and {keys} record keys.")
