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

from .errors import InvalidCollectionNameError

__all__ = ["COLLECTION_NAME_PATTERN", "validate_collection_name"]

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
