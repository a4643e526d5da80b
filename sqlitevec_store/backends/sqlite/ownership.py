"""Which objects of the file a collection owns: refuse taken names, check table shapes before use or drop.

A collection owns exactly the names of :meth:`.ddl.CollectionTables.object_names`;
nothing here ever adopts or drops a table of another shape (the user's own
tables in the same file are left alone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ...errors import InvalidCollectionNameError, SchemaError
from ...records import CollectionInfo
from . import ddl, statements
from .connection import Connection

__all__ = ["SchemaObject", "check_collection_tables", "foreign_tables", "objects", "refuse_taken_names"]


class SchemaObject(NamedTuple):
    """One row of ``sqlite_master``."""

    type: str
    sql: str | None


def objects(conn: Connection, names: Sequence[str]) -> dict[str, SchemaObject]:
    """The objects of the file among ``names`` (lower-case), by lower-case name."""
    rows = conn.execute(statements.objects_named_sql(len(names)), list(names))
    return {row[0]: SchemaObject(row[1], row[2]) for row in rows}


def foreign_tables(conn: Connection, tables: ddl.CollectionTables, objects: Mapping[str, SchemaObject]) -> list[str]:
    """The collection's four table names that hold something of another shape than this package creates."""
    foreign = []
    for quoted in tables.all_tables():
        found = objects.get(quoted[1:-1])
        if found is None:
            continue
        if found.type != "table":
            ours = False
        elif quoted == tables.vec:
            ours = ddl.parse_vec0_declaration(found.sql) is not None
        elif quoted == tables.fts:
            ours = ddl.is_fts5_declaration(found.sql, tables)
        else:
            columns = tuple(row[1] for row in conn.execute(statements.table_columns_sql(quoted)))
            expected = ddl.ITEM_COLUMN_NAMES if quoted == tables.items else ddl.CHANGES_COLUMN_NAMES
            ours = columns == expected and not str(found.sql).upper().startswith("CREATE VIRTUAL")
        if not ours:
            foreign.append(f"the {found.type} {quoted[1:-1]!r}")
    return foreign


def refuse_taken_names(conn: Connection, name: str, tables: ddl.CollectionTables) -> None:
    """Before a collection is created: refuse it if any name it would use is taken in the file."""
    taken = sorted(objects(conn, tables.object_names()))
    if taken:
        raise InvalidCollectionNameError(
            f"Cannot create collection {name!r}: the file already has {', '.join(map(repr, taken))}, "
            "a name this collection needs, and no collection owns it (your own table, or one left "
            "from an old or damaged file). sqlitevec-store never takes over or drops tables it did "
            "not create: choose another collection name, or rename that table."
        )


def check_collection_tables(conn: Connection, info: CollectionInfo) -> None:
    """Check that a registered collection's tables are there and agree with its registry entry.

    Raises:
        SchemaError: A table is missing, is not of the shape this package
            creates, or the vector table's declared dimension is not the
            registry's.

    """
    tables = ddl.CollectionTables(info.name)
    found = objects(conn, [quoted[1:-1] for quoted in tables.all_tables()])
    problems = foreign_tables(conn, tables, found)
    required = [tables.items]
    if info.schema_version >= ddl.KEYWORD_INDEX_VERSION:
        required.append(tables.fts)
    if info.schema_version >= ddl.CHANGE_LOG_VERSION:
        required.append(tables.changes)
    problems += [f"its table {quoted[1:-1]!r} is missing" for quoted in required if quoted[1:-1] not in found]
    vec = found.get(tables.vec[1:-1])
    if info.dimension is None and vec is not None:
        problems.append("it has a vector table but the registry records no dimension")
    elif info.dimension is not None and vec is None:
        problems.append(f"its vector table {tables.vec[1:-1]!r} is missing")
    elif info.dimension is not None and vec is not None:
        declared = ddl.parse_vec0_declaration(vec.sql)
        if declared is not None and declared.dimension != info.dimension:
            problems.append(
                f"the registry records dimension {info.dimension} but its vector table holds "
                f"{declared.dimension}-dimensional vectors"
            )
    if problems:
        raise SchemaError(
            f"Collection {info.name!r} cannot be used: {'; '.join(problems)}. The file was edited or damaged."
        )
