"""sqlite-vec's ``vec0`` table: its declaration, growing its chunks, and reading every vector fast.

:func:`read_vec0_chunks` reads vec0's private chunk layout (sqlite-vec 0.1.x)
directly, checked against vec0's own answer; :func:`read_vectors` is the
portable row-by-row path it falls back to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ...records import chunks
from . import ddl, statements
from .connection import Connection, database_errors

__all__ = [
    "READ_CHUNK",
    "grow_vector_table",
    "read_vec0_chunks",
    "read_vectors",
    "rebuild_vector_table",
    "vec0_declaration",
    "vectors_by_pk",
]

#: Pks bound per statement when vectors are read by pk.
READ_CHUNK = 1000


def vec0_declaration(conn: Connection, tables: ddl.CollectionTables) -> ddl.Vec0Declaration | None:
    """The vector table's declared dimension and chunk size (``None``: no vector table)."""
    row = conn.execute(statements.vec0_declaration_sql(), (tables.vec[1:-1],)).fetchone()
    return None if row is None else ddl.parse_vec0_declaration(row[0])


def grow_vector_table(conn: Connection, tables: ddl.CollectionTables, dimension: int, incoming: int) -> None:
    """Inside a write, before ``incoming`` records: give the vector table larger chunks if it outgrows its own.

    Only tables of at most ~1,024 vectors have chunks smaller than the
    largest size, so a rebuild copies at most that many vectors (and at
    most twice in a collection's life: 16 -> 128 -> 1,024 slots).
    """
    declared = vec0_declaration(conn, tables)
    if declared is None or declared.chunk_size >= ddl.VEC0_CHUNK_SIZES[-1]:
        return
    count = int(conn.execute(statements.count_sql(tables, "1")).fetchone()[0])
    chunk_size = ddl.vec0_chunk_size_for(count + incoming)
    if chunk_size > declared.chunk_size:
        rebuild_vector_table(conn, tables, dimension, chunk_size)


def rebuild_vector_table(conn: Connection, tables: ddl.CollectionTables, dimension: int, chunk_size: int) -> None:
    """Inside a write: copy every vector into a fresh vec0 table with ``chunk_size`` slots per chunk."""
    for statement in statements.compact_copy_sql(tables):
        conn.execute(statement)
    conn.execute(statements.drop_table_sql(tables.vec))
    conn.execute(ddl.create_vec_sql(tables, dimension, chunk_size))
    for statement in statements.compact_restore_sql(tables):
        conn.execute(statement)


def vectors_by_pk(
    conn: Connection, tables: ddl.CollectionTables, pks: Sequence[int]
) -> dict[int, npt.NDArray[np.float32]]:
    """The stored vectors of ``pks`` (the vector table must exist), by pk."""
    if not pks:
        return {}
    out: dict[int, npt.NDArray[np.float32]] = {}
    for chunk in chunks(pks, READ_CHUNK):
        for rowid, blob in conn.execute(statements.select_vectors_sql(tables, len(chunk)), chunk):
            out[rowid] = np.frombuffer(blob, dtype=np.float32).copy()
    return out


def read_vectors(
    conn: Connection, tables: ddl.CollectionTables, dimension: int, expected: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every vector through vec0's own interface (row by row; the portable way)."""
    pks = np.empty(expected, np.int64)
    matrix = np.empty((expected, dimension), np.float32)
    count = 0
    cursor = conn.execute(statements.all_vectors_sql(tables))
    while batch := cursor.fetchmany(32768):
        end = count + len(batch)
        if end > len(pks):
            pks = np.resize(pks, end)
            matrix = np.resize(matrix, (end, dimension))
        pks[count:end] = [row[0] for row in batch]
        matrix[count:end] = np.frombuffer(b"".join([row[1] for row in batch]), np.float32).reshape(-1, dimension)
        count = end
    return pks[:count], matrix[:count]


def read_vec0_chunks(
    conn: Connection, tables: ddl.CollectionTables, dimension: int, expected: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None:
    """Every vector read straight from vec0's chunk tables: ~10x faster than row by row.

    Only for tables created by sqlite-vec 0.1.x, whose layout this knows:
    each chunk row holds ``size`` slots, a validity bitmap, the slots'
    rowids (int64) and the vectors (float32). The result is checked (as
    many live vectors as records, and a sample compared with vec0's own
    answer); any surprise returns ``None`` and the caller reads row by row.
    """
    try:
        created = conn.execute(statements.vec0_layout_sql(tables)).fetchone()
        if created is None or not str(created[0]).startswith("v0.1."):
            return None
        pks = np.empty(expected, np.int64)
        matrix = np.empty((expected, dimension), np.float32)
        count = 0
        for size, validity, rowids, vectors in conn.execute(statements.vec0_chunks_sql(tables)):
            if len(rowids) != 8 * size or len(vectors) != 4 * size * dimension or len(validity) * 8 < size:
                return None
            live = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[:size].astype(np.bool_)
            found = int(live.sum())
            if count + found > expected:
                return None
            end = count + found
            if found == size:
                pks[count:end] = np.frombuffer(rowids, np.int64)
                matrix[count:end] = np.frombuffer(vectors, np.float32).reshape(size, dimension)
            elif found:
                pks[count:end] = np.frombuffer(rowids, np.int64)[live]
                matrix[count:end] = np.frombuffer(vectors, np.float32).reshape(size, dimension)[live]
            count = end
    except database_errors():
        return None
    if count != expected:
        return None
    sample = sorted({0, len(pks) // 2, len(pks) - 1}) if len(pks) else []
    stored = vectors_by_pk(conn, tables, [int(pks[n]) for n in sample])
    if any(int(pks[n]) not in stored or not np.array_equal(stored[int(pks[n])], matrix[n]) for n in sample):
        return None
    return pks, matrix
