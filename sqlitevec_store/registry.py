"""The collection registry, engine-neutral: names, registry entries checked, schema versions compared.

A backend stores one registry entry per collection (its name, dimension,
model id, distance, schema version and creation time) and hands it here as a
:class:`RegistryRow`; :func:`info_from_row` checks every value (the file may
have been edited) and returns a :class:`~sqlitevec_store.records.CollectionInfo`.
The schema version numbers and the migration steps themselves are the
backend's (for SQLite, :mod:`sqlitevec_store.backends.sqlite.ddl`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import InvalidCollectionNameError, SchemaError
from .records import CollectionInfo, is_int

__all__ = [
    "COLLECTION_NAME_PATTERN",
    "DEFAULT_COLLECTION",
    "RegistryRow",
    "bad_version_message",
    "info_from_row",
    "validate_collection_name",
]

#: The collection used when none is named (both adapters and the CLI agree).
DEFAULT_COLLECTION = "default"

#: Collection names: 1-64 characters, letters, digits, ``_`` and ``-``,
#: starting with a letter or digit. Names are case-insensitive.
COLLECTION_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")


def validate_collection_name(name: object) -> str:
    """Return ``name`` if it is a valid collection name.

    Raises:
        InvalidCollectionNameError: It is not a string matching
            :data:`COLLECTION_NAME_PATTERN`.

    """
    if not isinstance(name, str) or not COLLECTION_NAME_PATTERN.fullmatch(name):
        raise InvalidCollectionNameError(
            f"Invalid collection name {name!r}: expected 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


class RegistryRow(NamedTuple):
    """One registry entry as stored, values unchecked (the file may have been edited)."""

    name: object
    dimension: object
    model_id: object
    distance: object
    schema_version: object
    created_at: object


def bad_version_message(name: object, version: object, latest: int) -> str:
    """What :class:`SchemaError` says about a schema version this package never writes."""
    return (
        f"Collection {name!r} has schema_version {version!r} in the registry: expected an integer from 1 "
        f"to {latest}. The registry was edited or damaged."
    )


def info_from_row(row: RegistryRow, *, latest_version: int, max_dimension: int) -> CollectionInfo:
    """A registry row as a :class:`CollectionInfo`, each value checked.

    Args:
        row: The stored entry.
        latest_version: The newest schema version the backend writes.
        max_dimension: The largest dimension the backend stores.

    Raises:
        SchemaError: A value this package never writes, or a newer schema version.

    """
    name, dimension, model_id, distance, version, created_at = row
    if not isinstance(name, str) or not COLLECTION_NAME_PATTERN.fullmatch(name):
        raise SchemaError(f"The registry holds an invalid collection name {name!r}: it was edited or damaged.")
    if is_int(version) and version > latest_version:
        raise SchemaError(
            f"Collection {name!r} was written with schema version {version}; "
            f"this sqlitevec-store reads up to {latest_version}. Upgrade sqlitevec-store."
        )
    if not is_int(version) or version < 1:
        raise SchemaError(bad_version_message(name, version, latest_version))
    problem = None
    if dimension is not None and (not is_int(dimension) or not 1 <= dimension <= max_dimension):
        problem = f"dimension {dimension!r} (expected NULL or an integer from 1 to {max_dimension})"
    elif model_id is not None and not isinstance(model_id, str):
        problem = f"model_id {model_id!r} (expected NULL or text)"
    elif distance != "cosine":
        problem = f"distance {distance!r} (expected 'cosine')"
    elif not isinstance(created_at, str):
        problem = f"created_at {created_at!r} (expected text)"
    if problem is not None:
        raise SchemaError(f"Collection {name!r} has {problem} in the registry. The registry was edited or damaged.")
    assert isinstance(dimension, int | None) and isinstance(model_id, str | None) and isinstance(created_at, str)
    return CollectionInfo(name, dimension, model_id, "cosine", version, created_at)
