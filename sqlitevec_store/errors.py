"""The exceptions raised by sqlitevec-store.

Every error derives from :class:`SqliteVecStoreError`. Errors about bad
arguments also derive from :class:`ValueError` (or :class:`TypeError` for a
value of the wrong type), so ``except ValueError`` works as Python users expect.
An error SQLite reports while the package runs SQL for you is a
:class:`DatabaseError` (or one of its subclasses) whose ``__cause__`` is the
driver's exception: the standard library's ``sqlite3.Error`` or sqlean's,
which do not share a base class, so catch :class:`SqliteVecStoreError`.
"""

from __future__ import annotations

__all__ = [
    "CollectionNotFoundError",
    "CorruptDatabaseError",
    "DatabaseError",
    "DatabaseFullError",
    "DimensionMismatchError",
    "ExtensionLoadError",
    "InvalidCollectionNameError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "MigrationVerificationError",
    "MissingDependencyError",
    "ModelMismatchError",
    "ReadOnlyError",
    "ReadOnlyFileError",
    "SchemaError",
    "SqliteVecStoreError",
    "UncheckedModelWarning",
    "UnsupportedFilterError",
]


class SqliteVecStoreError(Exception):
    """Base class of every error this package raises."""


class ExtensionLoadError(SqliteVecStoreError):
    """sqlite-vec could not be loaded into the SQLite connection."""


class MissingDependencyError(SqliteVecStoreError, ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra to install.

    A :class:`ModuleNotFoundError`, so ``except ImportError`` still catches it;
    ``name`` is the missing module.
    """


class ReadOnlyError(SqliteVecStoreError):
    """A write was attempted on a database opened read-only."""


class DatabaseError(SqliteVecStoreError):
    """SQLite reported an error; the driver's exception is the ``__cause__``."""


class CorruptDatabaseError(DatabaseError):
    """The file is damaged or is not a SQLite database ("malformed", "not a database")."""


class DatabaseFullError(DatabaseError):
    """The disk, a file-size limit or ``max_page_count`` left no room ("database or disk is full")."""


class ReadOnlyFileError(DatabaseError, ReadOnlyError):
    """A write failed because the file cannot be written (permissions, a read-only file system)."""


class SchemaError(SqliteVecStoreError):
    """The file holds tables this package cannot use (foreign or newer schema)."""


class CollectionNotFoundError(SqliteVecStoreError, KeyError):
    """The named collection does not exist in the file."""

    def __str__(self) -> str:
        # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class InvalidInputError(SqliteVecStoreError, ValueError):
    """An argument has the right type but a value that cannot be accepted."""


class InvalidInputTypeError(SqliteVecStoreError, TypeError):
    """An argument has the wrong type."""


class InvalidCollectionNameError(InvalidInputError):
    """A collection name does not match the allowed pattern."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the collection's dimension."""


class ModelMismatchError(InvalidInputError):
    """The embedding model differs from the one the collection was built with."""


class MigrationVerificationError(SqliteVecStoreError):
    """A migrated collection failed its verification: counts or sample searches differ between the two stores."""


class UnsupportedFilterError(InvalidInputError):
    """A filter uses an unknown operator, a bad key or a value it cannot compare."""


class UncheckedModelWarning(UserWarning):
    """A collection records its embedding model, but the store was opened without a model id to check."""
