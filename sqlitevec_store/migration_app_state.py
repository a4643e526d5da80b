"""Copy the app state beside the collections between two stores, and verify the copy entry by entry.

What :func:`sqlitevec_store.migration.migrate` runs after the collections
when it copies a whole store: every namespace of the key-value space (the
frameworks' byte, document, index and chat stores, the embedding cache) and
of the record-key log (LangChain's record manager).

* **Exact.** Key-value entries keep their bytes (JSON values are stored as
  bytes, so nothing is re-encoded); record keys keep their group id and
  their ``updated_at`` to the bit, and the target's clock of each namespace
  is raised to the source's, so ``index()`` on the target never stamps a
  time older than one copied.
* **Resumable, bounded.** Each namespace is read a page at a time in key
  order; entries the target already holds identically are skipped, the rest
  written one transaction per page. Nothing on the target is deleted.
* **Verified.** Both sides are read again in key order and compared entry by
  entry (a merge of two sorted streams): any entry missing, different or
  extra on the target fails the namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .backends.base import AppStateStorage, RecordKeyRow, kv_pages, record_key_pages
from .database import Database

__all__ = ["KEY_VALUE", "RECORD_KEYS", "AppStateMigration", "copy_app_state", "verify_app_state"]

#: The two kinds of app state.
KEY_VALUE = "key-value"
RECORD_KEYS = "record keys"


@dataclass
class AppStateMigration:
    """What was done to one namespace of the app state.

    Attributes:
        kind: :data:`KEY_VALUE` or :data:`RECORD_KEYS`.
        namespace: The namespace.
        source_count: Entries read from the source.
        copied: Entries the target lacked or held differently, written.
        skipped: Entries the target already held identically.
        verified: ``None`` when not verified; else whether both sides hold the same entries.
        differences: Entries missing, different or extra on the target (when verified).

    """

    kind: str
    namespace: str
    source_count: int = 0
    copied: int = 0
    skipped: int = 0
    verified: bool | None = None
    differences: int = 0

    @property
    def ok(self) -> bool:
        """Whether verification (if run) found both sides equal."""
        return self.verified is not False

    def summary(self) -> str:
        """One line: ``key-value 'parents': copied 10, skipped 0; verified: 10 entries equal``."""
        line = f"{self.kind} {self.namespace!r}: copied {self.copied}, skipped {self.skipped}"
        if self.verified is None:
            return line + "; not verified"
        if self.verified:
            return line + f"; verified: {self.source_count} entries equal"
        return line + f"; verification FAILED: {self.differences} entries missing, different or extra on the target"


def _namespaces(source: AppStateStorage) -> list[tuple[str, str]]:
    return [(KEY_VALUE, n.namespace) for n in source.kv_namespaces()] + [
        (RECORD_KEYS, n.namespace) for n in source.rk_namespaces()
    ]


def _pages(storage: AppStateStorage, kind: str, namespace: str, size: int) -> Iterator[list[tuple[str, Any]]]:
    """Every entry of a namespace as ``(key, comparable value)``, a page at a time, in key order."""
    if kind == KEY_VALUE:
        for rows in kv_pages(storage, namespace, size=size):
            yield [(row.key, row.value) for row in rows]
        return
    for found, _ in record_key_pages(storage, namespace, size=size):
        if found:
            yield [(row.key, row) for row in found]


def _copy_page(
    target: AppStateStorage, kind: str, namespace: str, page: list[tuple[str, Any]], clock: float | None
) -> int:
    """Write the page's entries the target lacks or holds differently; how many."""
    keys = [key for key, _ in page]
    if kind == KEY_VALUE:
        held = target.kv_get(namespace, keys)
        todo = [(key, value) for key, value in page if held.get(key) != value]
        if todo:
            target.kv_put(namespace, todo)
        return len(todo)
    there = {row.key: row for row in target.rk_get(namespace, keys)}
    rows: list[RecordKeyRow] = [row for key, row in page if there.get(key) != row]
    target.rk_put(namespace, rows, clock)
    return len(rows)


def copy_app_state(source_db: Database, target_db: Database, *, batch_size: int) -> list[AppStateMigration]:
    """Copy every app-state namespace of ``source_db`` to ``target_db`` (see the module docstring)."""
    source, target = source_db.backend.app_state, target_db.backend.app_state
    results = []
    for kind, namespace in _namespaces(source):
        done = AppStateMigration(kind, namespace)
        clock = source.rk_page(namespace, None, 0)[1] if kind == RECORD_KEYS else None
        for page in _pages(source, kind, namespace, batch_size):
            written = _copy_page(target, kind, namespace, page, clock)
            done.source_count += len(page)
            done.copied += written
            done.skipped += len(page) - written
        results.append(done)
    return results


def verify_app_state(
    source_db: Database, target_db: Database, results: list[AppStateMigration] | None = None, *, batch_size: int = 1000
) -> list[AppStateMigration]:
    """Compare every app-state namespace of the source with the target's, entry by entry."""
    source, target = source_db.backend.app_state, target_db.backend.app_state
    done = {(r.kind, r.namespace): r for r in results or []}
    checked = []
    for kind, namespace in _namespaces(source):
        result = done.get((kind, namespace)) or AppStateMigration(kind, namespace)
        theirs = _entries(target, kind, namespace, batch_size)
        count = differences = 0
        mine = _entries(source, kind, namespace, batch_size)
        a, b = next(mine, None), next(theirs, None)
        while a is not None or b is not None:
            if b is None or (a is not None and a[0] < b[0]):
                differences += 1  # missing on the target
                count += 1
                a = next(mine, None)
            elif a is None or b[0] < a[0]:
                differences += 1  # extra on the target
                b = next(theirs, None)
            else:
                differences += a[1] != b[1]
                count += 1
                a, b = next(mine, None), next(theirs, None)
        if not result.source_count:
            result.source_count = count
        result.verified = differences == 0
        result.differences = differences
        checked.append(result)
    return checked


def _entries(storage: AppStateStorage, kind: str, namespace: str, size: int) -> Iterator[tuple[str, Any]]:
    for page in _pages(storage, kind, namespace, size):
        yield from page
