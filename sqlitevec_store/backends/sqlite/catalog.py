"""The registry table in SQLite: read and check entries, create, drop and migrate collections.

Functions over an open connection; the caller holds the lock and, for
writes, the transaction (:class:`.backend.SqliteBackend`). Entries are
checked by the engine-neutral :func:`sqlitevec_store.registry.info_from_row`.
"""

from __future__ import annotations

from ...errors import DimensionMismatchError, SchemaError
from ...records import CollectionInfo, is_int
from ...registry import COLLECTION_NAME_PATTERN, RegistryRow, bad_version_message, info_from_row
from . import ddl, ownership, statements
from .connection import Connection, database_errors, logger

__all__ = [
    "EXPECTED_REGISTRY_COLUMNS",
    "check_info",
    "check_registry",
    "create",
    "drop",
    "migrate_one",
    "registry_exists",
    "registry_row",
    "registry_rows",
    "set_dimension",
    "set_model_id",
    "stale_collections",
]

#: The registry table's columns, in order (anything else is not ours).
EXPECTED_REGISTRY_COLUMNS = ("name", "dimension", "model_id", "distance", "schema_version", "created_at")


def registry_exists(conn: Connection, where: str | None) -> bool:
    """Whether the file has the registry table (``where`` names the file in errors)."""
    try:
        row = conn.execute(statements.registry_exists_sql(), (ddl.REGISTRY_TABLE,)).fetchone()
    except database_errors() as exc:
        raise SchemaError(f"Cannot read {where or 'the database'}: {exc}") from exc
    return row is not None


def check_registry(conn: Connection, where: str | None) -> None:
    """Refuse a registry table this package did not write."""
    if not registry_exists(conn, where):
        return
    columns = tuple(row[1] for row in conn.execute(statements.registry_columns_sql()))
    if columns != EXPECTED_REGISTRY_COLUMNS:
        raise SchemaError(
            f"The table {ddl.REGISTRY_TABLE!r} was not written by sqlitevec-store "
            f"(columns {columns}); refusing to use this file"
        )


def registry_row(conn: Connection, name: str, where: str | None) -> RegistryRow | None:
    """The stored entry of ``name`` (names are case-insensitive), unchecked."""
    if not registry_exists(conn, where):
        return None
    row = conn.execute(statements.registry_select_sql(one=True), (name,)).fetchone()
    return None if row is None else RegistryRow(*row)


def registry_rows(conn: Connection, where: str | None) -> list[RegistryRow]:
    """Every stored entry, by name, unchecked."""
    if not registry_exists(conn, where):
        return []
    return [RegistryRow(*row) for row in conn.execute(statements.registry_select_sql(one=False))]


def check_info(row: RegistryRow) -> CollectionInfo:
    """A stored entry checked against what this backend writes."""
    return info_from_row(row, latest_version=ddl.SCHEMA_VERSION, max_dimension=ddl.VEC0_MAX_DIMENSION)


def create(conn: Connection, name: str, dimension: int | None, model_id: str | None) -> None:
    """Inside a write: register ``name`` and create its tables (refused when a name it needs is taken)."""
    tables = ddl.CollectionTables(name)
    ownership.refuse_taken_names(conn, name, tables)
    conn.execute(ddl.create_registry_sql())
    conn.execute(statements.registry_insert_sql(), (name, dimension, model_id, ddl.SCHEMA_VERSION))
    for statement in [*ddl.create_items_sql(tables), *ddl.create_fts_sql(tables), *ddl.create_changes_sql(tables)]:
        conn.execute(statement)
    if dimension is not None:
        conn.execute(ddl.create_vec_sql(tables, dimension, ddl.vec0_chunk_size_for(0)))


def drop(conn: Connection, name: str, where: str | None) -> str | None:
    """Inside a write: drop ``name``'s tables (only those of our shape) and entry; the registered name, or None.

    Raises:
        SchemaError: A damaged name, or a table of the collection's is not ours; nothing is dropped.

    """
    row = registry_row(conn, name, where)
    if row is None:
        return None
    registered = row.name
    if not isinstance(registered, str) or not COLLECTION_NAME_PATTERN.fullmatch(registered):
        raise SchemaError(f"The registry holds an invalid collection name {registered!r}; refusing to drop it")
    tables = ddl.CollectionTables(registered)
    found = ownership.objects(conn, tables.object_names())
    foreign = ownership.foreign_tables(conn, tables, found)
    if foreign:
        raise SchemaError(
            f"Refusing to drop collection {registered!r}: {', '.join(foreign)} "
            "was not created by sqlitevec-store. Rename or drop it yourself first."
        )
    for table in tables.all_tables():
        if table[1:-1] in found:
            conn.execute(statements.drop_table_sql(table))
    conn.execute(statements.registry_delete_sql(), (registered,))
    return registered


def stale_collections(conn: Connection, where: str | None, *, strict: bool) -> list[str]:
    """Names of collections below :data:`.ddl.SCHEMA_VERSION` (damaged versions raise, or are logged)."""
    if not registry_exists(conn, where):
        return []
    stale = []
    for name, version in conn.execute(statements.registry_versions_sql()).fetchall():
        if not is_int(version) or version < 1:
            # A damaged row: opening that collection raises SchemaError saying so.
            message = bad_version_message(name, version, ddl.SCHEMA_VERSION)
            if strict:
                raise SchemaError(message)
            logger.warning("collection %r not migrated: %s", name, message)
        elif version < ddl.SCHEMA_VERSION:
            stale.append(name)
    return stale


def migrate_one(conn: Connection, name: str) -> bool:
    """Inside a write: run :data:`.ddl.MIGRATIONS` for one collection; whether it was migrated."""
    # Read again inside the write transaction: another connection may have migrated it meanwhile.
    row = conn.execute(statements.registry_select_sql(one=True), (name,)).fetchone()
    if row is None or row[4] >= ddl.SCHEMA_VERSION:
        return False
    info = check_info(RegistryRow(*row))
    tables = ddl.CollectionTables(name)
    for step in range(info.schema_version, ddl.SCHEMA_VERSION):
        for statement in ddl.MIGRATIONS[step](tables):
            conn.execute(statement)
    conn.execute(statements.registry_set_version_sql(), (ddl.SCHEMA_VERSION, name))
    return True


def set_dimension(conn: Connection, info: CollectionInfo, dimension: int, incoming: int) -> None:
    """Inside a write: record the dimension and create the vector table, sized for ``incoming`` vectors."""
    if info.dimension is not None:
        if info.dimension != dimension:
            raise DimensionMismatchError(
                f"Collection {info.name!r} holds {info.dimension}-dimensional vectors; got {dimension}-dimensional ones"
            )
        return
    conn.execute(statements.registry_update_sql("dimension"), (dimension, info.name))
    tables = ddl.CollectionTables(info.name)
    conn.execute(ddl.create_vec_sql(tables, dimension, ddl.vec0_chunk_size_for(incoming)))


def set_model_id(conn: Connection, info: CollectionInfo, model_id: str) -> None:
    """Inside a write: record the model id of a collection that has none."""
    conn.execute(statements.registry_update_sql("model_id"), (model_id, info.name))
