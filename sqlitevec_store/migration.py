"""Copy collections between two stores (a file and Postgres, either way), resumably, and verify the copy.

:func:`migrate` reads each source collection a page at a time in pk order
(:meth:`StorageBackend.page <sqlitevec_store.backends.base.StorageBackend.page>`
and ``vectors`` inside one read snapshot per page) and writes each page to the
target as one checked :class:`~sqlitevec_store.validation.Batch` through
:meth:`Collection.upsert <sqlitevec_store.collection.Collection.upsert>`: no
re-embedding, one transaction per page. So:

* **Memory is bounded** by one page (``batch_size`` records and their vectors),
  whatever the collection's size.
* **An interrupted run keeps the pages it finished**, and **a re-run resumes**:
  each page is compared with what the target already holds under the same ids
  (text, parsed metadata, doc_id, parsed extra, vector within
  :data:`VECTOR_TOLERANCE`) and only the missing or different records are
  written. The report counts them as copied, updated and skipped.
* **Nothing on the target is deleted.** Records the target holds that the
  source does not are reported (and make the count check fail).
* **The source should not be written meanwhile.** Each page is read in its
  own snapshot: a record written to the source after its page was read is
  copied by the next run, and verification reports the difference.
* JSON is compared **parsed**: the same values spelled differently (key
  order, spacing, ``1e-300`` as ``0.000...1``, as a ``jsonb`` column prints
  them) are no change. Metadata and bookkeeping are written in the core's own
  JSON form (what a write through :class:`~sqlitevec_store.records.Record`
  stores; key order kept).

Verification (``verify=True``) then checks, per collection, that the counts
are equal and that ``sample`` source records, spread evenly over the source in
pk order, used as queries, give the same exact top-:data:`VERIFY_K` on both
sides: the same ids with cosine similarities equal within
:data:`SCORE_TOLERANCE` (records tied at the cut may differ, equal scores may
come in another order). Searches run server-side (``index_type="vec0"``), so
verifying loads no RAM copy of the vectors.

When the whole store is copied (no ``collections`` named, or
``app_state=True``), the app state beside the collections follows: every
namespace of the key-value space (framework stores, embedding cache) and of
the record-key log, copied exactly and verified entry by entry
(:mod:`sqlitevec_store.migration_app_state`).

A failed verification does not raise here: :func:`migrate` returns a
:class:`MigrationReport` whose ``ok`` is false, and
:meth:`MigrationReport.raise_for_failure` raises
:class:`~sqlitevec_store.errors.MigrationVerificationError` (what the command
line does, exiting with status 1).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .backends.base import StoredRow
from .collection import Collection
from .database import Database
from .errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    InvalidInputError,
    InvalidInputTypeError,
    MigrationVerificationError,
    ModelMismatchError,
)
from .migration_app_state import AppStateMigration, copy_app_state, verify_app_state
from .opening import display_location, is_postgres_url
from .options import IndexOptions
from .progress import Progress
from .records import CollectionInfo, Hit, check_count
from .registry import validate_collection_name
from .validation import Batch, ItemRow, canonical_json

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SAMPLE",
    "SCORE_TOLERANCE",
    "VECTOR_TOLERANCE",
    "VERIFY_K",
    "CollectionMigration",
    "MigrationReport",
    "QueryMismatch",
    "RankedId",
    "Verification",
    "migrate",
    "verify",
]

#: Records read, compared and written per transaction.
DEFAULT_BATCH_SIZE = 1000

#: Source records used as verification queries, per collection.
DEFAULT_SAMPLE = 20

#: How many hits each verification query compares.
VERIFY_K = 10

#: Largest difference of one vector component for two stored vectors to count as equal.
VECTOR_TOLERANCE = 1e-6

#: Largest difference of two cosine similarities for verification to count them equal.
SCORE_TOLERANCE = 1e-5

#: Records the target holds beyond the source: how many ids the report names.
EXTRA_IDS_SHOWN = 10

#: Makes the progress reporter of one collection: ``(total, label) -> Progress``.
ProgressFactory = Callable[[int, str], Progress]

#: Where a store is: a file path, a ``postgresql://`` URL, or an open database.
StoreLocation = str | os.PathLike[str] | Database

#: Verification searches run in the database (no RAM copy of the vectors).
_SEARCH_OPTIONS = IndexOptions("vec0")


class RankedId(NamedTuple):
    """One hit of a verification query: the record's id and its cosine similarity to the query."""

    id: str
    similarity: float


class _ExtraRecords(NamedTuple):
    """Records the target holds that the source does not: how many, and the first few ids."""

    total: int
    ids: list[str]


class _Query(NamedTuple):
    """A verification query: a source record's id and its vector."""

    id: str
    vector: npt.NDArray[np.float32]


@dataclass(frozen=True)
class QueryMismatch:
    """One verification query whose results differ between source and target.

    Attributes:
        query_id: The id of the source record whose vector was the query.
        source: The source's hits, best first.
        target: The target's hits, best first.

    """

    query_id: str
    source: list[RankedId]
    target: list[RankedId]


@dataclass(frozen=True)
class Verification:
    """The verification of one collection.

    Attributes:
        source_count: Records in the source collection.
        target_count: Records in the target collection.
        queries: How many sample queries ran on both sides.
        mismatches: The queries whose top-:data:`VERIFY_K` differ.

    """

    source_count: int
    target_count: int
    queries: int
    mismatches: list[QueryMismatch] = field(default_factory=list)

    @property
    def counts_match(self) -> bool:
        """Whether both sides hold as many records."""
        return self.source_count == self.target_count

    @property
    def ok(self) -> bool:
        """Whether the counts and every search agree."""
        return self.counts_match and not self.mismatches

    def summary(self) -> str:
        """``counts and 20 searches OK``, or what failed."""
        if self.ok:
            return f"counts and {self.queries} searches OK"
        failed = []
        if not self.counts_match:
            failed.append(f"counts differ (source {self.source_count}, target {self.target_count})")
        if self.mismatches:
            first = ", ".join(repr(m.query_id) for m in self.mismatches[:3])
            failed.append(f"{len(self.mismatches)} of {self.queries} searches differ (queries {first})")
        return "FAILED: " + "; ".join(failed)


@dataclass(frozen=True)
class CollectionMigration:
    """What :func:`migrate` did to one collection.

    Attributes:
        name: The collection's name.
        dimension: Its vector dimension (``None``: it holds no vectors).
        model_id: Its embedding model id, if recorded.
        source_count: Records read from the source.
        copied: Records the target did not have, written.
        updated: Records the target had with other content, rewritten.
        skipped: Records the target already held identically (a resumed run).
        extra_in_target: Records the target holds that the source does not (never deleted).
        extra_ids: Up to :data:`EXTRA_IDS_SHOWN` of their ids.
        verification: The check of the copy, or ``None`` when not verified.

    """

    name: str
    dimension: int | None
    model_id: str | None
    source_count: int
    copied: int
    updated: int
    skipped: int
    extra_in_target: int = 0
    extra_ids: list[str] = field(default_factory=list)
    verification: Verification | None = None

    @property
    def ok(self) -> bool:
        """Whether the target holds no extra records and verification (if run) passed."""
        return self.extra_in_target == 0 and (self.verification is None or self.verification.ok)

    def summary(self) -> str:
        """One line: ``docs: copied 900, updated 0, skipped 100; verified: counts and 20 searches OK``."""
        line = f"{self.name}: copied {self.copied}, updated {self.updated}, skipped {self.skipped}"
        if self.extra_in_target:
            shown = ", ".join(repr(i) for i in self.extra_ids)
            line += f"; the target holds {self.extra_in_target} records the source does not ({shown})"
        verification = self.verification
        return line + ("; not verified" if verification is None else f"; verified: {verification.summary()}")


@dataclass(frozen=True)
class MigrationReport:
    """What :func:`migrate` (or :func:`verify`) did, per collection.

    Attributes:
        source: Where the records came from (a URL's password hidden).
        target: Where they went.
        collections: One result per collection, in name order.
        app_state: One result per app-state namespace (empty when the app state was not copied).

    """

    source: str
    target: str
    collections: list[CollectionMigration]
    app_state: list[AppStateMigration] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every collection and namespace is complete on the target and passed its verification."""
        return all(c.ok for c in self.collections) and all(a.ok for a in self.app_state)

    def summary(self) -> str:
        """One line for the whole run."""
        copied = sum(c.copied for c in self.collections)
        updated = sum(c.updated for c in self.collections)
        skipped = sum(c.skipped for c in self.collections)
        failed = [c.name for c in self.collections if not c.ok] + [a.namespace for a in self.app_state if not a.ok]
        state = f"FAILED for {', '.join(failed)}" if failed else "OK"
        app = ""
        if self.app_state:
            entries = sum(a.copied for a in self.app_state)
            app = f"; app state: {len(self.app_state)} namespaces, copied {entries} entries"
        return (
            f"{len(self.collections)} collections from {self.source} to {self.target}: "
            f"copied {copied}, updated {updated}, skipped {skipped}{app}; {state}"
        )

    def raise_for_failure(self) -> None:
        """Raise :class:`MigrationVerificationError` unless :attr:`ok`, naming what failed.

        Raises:
            MigrationVerificationError: A collection failed its verification or
                the target holds records the source does not.

        """
        if not self.ok:
            lines = "; ".join(
                [c.summary() for c in self.collections if not c.ok] + [a.summary() for a in self.app_state if not a.ok]
            )
            raise MigrationVerificationError(f"The migration from {self.source} to {self.target} failed: {lines}")


def migrate(
    source: StoreLocation,
    target: StoreLocation,
    *,
    collections: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    verify: bool = True,
    sample: int = DEFAULT_SAMPLE,
    progress: ProgressFactory | None = None,
    app_state: bool | None = None,
) -> MigrationReport:
    """Copy collections from ``source`` to ``target`` (creating them there), resumably, then verify.

    See the module docstring for what is compared, written and verified. The
    source is opened read-only; a database given open is left open.

    Args:
        source: A store file, a ``postgresql://`` URL, or an open :class:`Database`.
        target: The same; a missing file is created.
        collections: The collections to copy (default: all of the source's).
        batch_size: Records per page: one read snapshot and one write transaction each.
        verify: Check counts and sample searches afterwards.
        sample: Source records used as verification queries per collection
            (all of them when fewer).
        progress: Makes a progress reporter per collection (default: silent).
        app_state: Copy (and verify) the key-value space and record-key log
            too; by default, when no ``collections`` are named (the whole store).

    Returns:
        The report; ``ok`` is false when a verification failed (nothing is
        raised for that: call :meth:`MigrationReport.raise_for_failure`).

    Raises:
        CollectionNotFoundError: A named collection is not in the source
            (nothing was written).
        DimensionMismatchError, ModelMismatchError: A target collection of
            that name exists with another dimension or model (nothing was written).
        InvalidInputError: The source file does not exist, source and target
            are the same store, or a bad ``batch_size``/``sample``.

    """
    batch_size = check_count(batch_size, "batch_size")
    sample = check_count(sample, "sample", minimum=0)
    make_progress = progress or (lambda total, label: Progress(total, label, enabled=False))
    _refuse_same_store(source, target)
    with _opened(source, read_only=True) as source_db:
        infos = _source_infos(source_db, collections)
        with _opened(target, read_only=False) as target_db:
            for info in infos:
                _check_target(target_db, info)
            results = []
            for info in infos:
                copied = _copy(source_db, target_db, info, batch_size, make_progress)
                results.append(_finish(source_db, target_db, copied, verify=verify, sample=sample))
            states: list[AppStateMigration] = []
            if app_state or (app_state is None and collections is None):
                states = copy_app_state(source_db, target_db, batch_size=batch_size)
                if verify:
                    states = verify_app_state(source_db, target_db, states, batch_size=batch_size)
            return MigrationReport(_describe(source, source_db), _describe(target, target_db), results, states)


def verify(
    source: StoreLocation,
    target: StoreLocation,
    *,
    collections: Sequence[str] | None = None,
    sample: int = DEFAULT_SAMPLE,
) -> MigrationReport:
    """Verify an earlier copy without writing anything (both stores opened read-only).

    The same checks as :func:`migrate` runs at its end: counts, records the
    target holds beyond the source, and ``sample`` searches; with no
    ``collections`` named, the app state entry by entry too. ``copied``,
    ``updated`` and ``skipped`` are 0 in the report.

    Raises:
        CollectionNotFoundError: A named collection is missing from the source or the target.

    """
    sample = check_count(sample, "sample", minimum=0)
    with _opened(source, read_only=True) as source_db, _opened(target, read_only=True) as target_db:
        results = []
        for info in _source_infos(source_db, collections):
            if not target_db.has_collection(info.name):
                raise CollectionNotFoundError(f"No collection named {info.name!r} in {_describe(target, target_db)}")
            count = source_db.collection(info.name, create=False).count()
            done = CollectionMigration(info.name, info.dimension, info.model_id, count, 0, 0, 0)
            results.append(_finish(source_db, target_db, done, verify=True, sample=sample))
        states = verify_app_state(source_db, target_db) if collections is None else []
        return MigrationReport(_describe(source, source_db), _describe(target, target_db), results, states)


# -- opening --------------------------------------------------------------------


@contextmanager
def _opened(location: StoreLocation, *, read_only: bool) -> Iterator[Database]:
    """An open database for ``location``: a given one as is, else opened here and closed afterwards."""
    if isinstance(location, Database):
        yield location
        return
    if not isinstance(location, (str, os.PathLike)):
        raise InvalidInputTypeError(
            f"a store must be a file path, a postgresql:// URL or a Database, got {type(location).__name__}"
        )
    text = os.fspath(location)
    if read_only and not is_postgres_url(text) and not os.path.isfile(text):
        raise InvalidInputError(f"Database file {text!r} does not exist")
    with Database(text, read_only=read_only) as db:
        yield db


def _describe(location: StoreLocation, db: Database) -> str:
    if isinstance(location, Database):
        return display_location(db.path or ":memory:")
    return display_location(os.fspath(location))


def _refuse_same_store(source: StoreLocation, target: StoreLocation) -> None:
    """Copying a store onto itself would only "skip" every record: refuse it."""
    if isinstance(source, Database) or isinstance(target, Database):
        same = source is target
    elif not isinstance(source, (str, os.PathLike)) or not isinstance(target, (str, os.PathLike)):
        return  # _opened names the wrong type
    else:
        a, b = os.fspath(source), os.fspath(target)
        same = a == b if is_postgres_url(a) or is_postgres_url(b) else _same_file(a, b)
    if same:
        raise InvalidInputError("The source and the target are the same store")


def _same_file(a: str, b: str) -> bool:
    if a == ":memory:" or b == ":memory:":
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


# -- checks before writing ------------------------------------------------------


def _source_infos(source_db: Database, names: Sequence[str] | None) -> list[CollectionInfo]:
    """The registry entries of the collections to copy; every missing name is an error."""
    infos = {info.name.lower(): info for info in source_db.collections()}
    if names is None:
        return sorted(infos.values(), key=lambda info: info.name)
    if isinstance(names, str):
        raise InvalidInputTypeError("collections must be a list of names, not one string")
    wanted = [validate_collection_name(name) for name in names]
    missing = [name for name in wanted if name.lower() not in infos]
    if missing:
        have = ", ".join(sorted(info.name for info in infos.values())) or "none"
        raise CollectionNotFoundError(
            f"No collection named {', '.join(repr(m) for m in missing)} in the source (it has: {have})"
        )
    return [infos[name.lower()] for name in dict.fromkeys(n.lower() for n in wanted)]


def _check_target(target_db: Database, info: CollectionInfo) -> None:
    """Refuse a target collection of the same name built with another dimension or model."""
    if not target_db.has_collection(info.name):
        return
    existing = target_db.collection(info.name, create=False).info()
    if info.dimension is not None and existing.dimension not in (None, info.dimension):
        raise DimensionMismatchError(
            f"Collection {info.name!r} has dimension {existing.dimension} on the target, {info.dimension} on the source"
        )
    if existing.model_id != info.model_id and existing.model_id is not None:
        raise ModelMismatchError(
            f"Collection {info.name!r} was built with {existing.model_id!r} on the target, "
            f"{info.model_id!r} on the source"
        )


# -- copying --------------------------------------------------------------------


def _copy(
    source_db: Database, target_db: Database, info: CollectionInfo, batch_size: int, make_progress: ProgressFactory
) -> CollectionMigration:
    """Stream one collection to the target, a page per transaction; what was copied, updated, skipped."""
    target = target_db.create_collection(
        info.name, dimension=info.dimension, model_id=info.model_id, options=_SEARCH_OPTIONS
    )
    backend = source_db.backend
    total = source_db.collection(info.name, create=False).count()
    copied = updated = skipped = read = 0
    after = 0
    with make_progress(total, f"Migrating {info.name} ({total} records)") as bar:
        while True:
            with backend.snapshot():
                rows = backend.page(info, after, batch_size)
                vectors = backend.vectors(info, [row.pk for row in rows])
            if not rows:
                break
            after = rows[-1].pk
            read += len(rows)
            plan = _plan_page(target, rows, vectors)
            if plan.batch is not None:
                target.upsert(plan.batch)
            copied += plan.new
            updated += plan.changed
            skipped += len(rows) - plan.new - plan.changed
            bar.update(len(rows))
    return CollectionMigration(info.name, info.dimension, info.model_id, read, copied, updated, skipped)


@dataclass(frozen=True)
class _PagePlan:
    """What to write of one source page: the batch (``None``: nothing), how many new and how many changed."""

    batch: Batch | None
    new: int
    changed: int


def _plan_page(target: Collection, rows: list[StoredRow], vectors: dict[int, npt.NDArray[np.float32]]) -> _PagePlan:
    """Compare a source page with the target's records of the same ids; keep those missing or different."""
    held = {hit.id: hit for hit in target.get([row.id for row in rows], include_vectors=True)}
    keep: list[ItemRow] = []
    matrix: list[npt.NDArray[np.float32]] = []
    new = changed = 0
    for row in rows:
        vector = vectors.get(row.pk)
        if vector is None:
            continue  # a record without a vector (deleted between the two reads): nothing to copy
        metadata = json.loads(row.metadata)
        extra = None if row.extra is None else json.loads(row.extra)
        hit = held.get(row.id)
        if hit is not None and _same_record(hit, row, metadata, extra, vector):
            continue
        if hit is None:
            new += 1
        else:
            changed += 1
        keep.append(
            ItemRow(
                row.id,
                row.text,
                canonical_json(metadata),
                row.doc_id,
                None if extra is None else canonical_json(extra),
            )
        )
        matrix.append(vector)
    if not keep:
        return _PagePlan(None, 0, 0)
    return _PagePlan(Batch(rows=keep, vectors=np.vstack(matrix).astype(np.float32, copy=False)), new, changed)


def _same_record(hit: Hit, row: StoredRow, metadata: Any, extra: Any, vector: npt.NDArray[np.float32]) -> bool:
    """Whether the target's record equals the source's (JSON compared parsed, vectors within tolerance)."""
    return (
        hit.text == row.text
        and hit.doc_id == row.doc_id
        and hit.metadata == metadata
        and hit.extra == extra
        and hit.vector is not None
        and hit.vector.shape == vector.shape
        and bool(np.all(np.abs(hit.vector - vector) <= VECTOR_TOLERANCE))
    )


# -- verifying ------------------------------------------------------------------


def _finish(
    source_db: Database, target_db: Database, done: CollectionMigration, *, verify: bool, sample: int
) -> CollectionMigration:
    """Add the records the target holds beyond the source, and the verification when asked for."""
    source = source_db.collection(done.name, create=False, options=_SEARCH_OPTIONS)
    target = target_db.collection(done.name, create=False, options=_SEARCH_OPTIONS)
    source_count, target_count = source.count(), target.count()
    extra = _ExtraRecords(0, [])
    if target_count != source_count:
        extra = _extra_records(source, target)
    verification = _verification(source, target, source_count, target_count, sample) if verify else None
    return CollectionMigration(
        done.name,
        done.dimension,
        done.model_id,
        done.source_count,
        done.copied,
        done.updated,
        done.skipped,
        extra.total,
        extra.ids,
        verification,
    )


def _extra_records(source: Collection, target: Collection) -> _ExtraRecords:
    """How many records the target holds that the source does not, and the first few ids (a paged scan)."""
    backend = target.db.backend
    info = target.info()
    count, shown = 0, list[str]()
    after = 0
    while rows := backend.page(info, after, DEFAULT_BATCH_SIZE):
        after = rows[-1].pk
        ids = [row.id for row in rows]
        present = {hit.id for hit in source.get(ids)}
        for record_id in ids:
            if record_id not in present:
                count += 1
                if len(shown) < EXTRA_IDS_SHOWN:
                    shown.append(record_id)
    return _ExtraRecords(count, shown)


def _verification(
    source: Collection, target: Collection, source_count: int, target_count: int, sample: int
) -> Verification:
    """Counts, and ``sample`` source records (evenly spread in pk order) searched on both sides."""
    queries = _sample_queries(source, source_count, sample)
    mismatches = []
    for query in queries:
        ours = [RankedId(hit.id, hit.similarity) for hit in source.search(query.vector, k=VERIFY_K)]
        theirs = [RankedId(hit.id, hit.similarity) for hit in target.search(query.vector, k=VERIFY_K)]
        if not _same_hits(ours, theirs):
            mismatches.append(QueryMismatch(query.id, ours, theirs))
    return Verification(source_count, target_count, len(queries), mismatches)


def _sample_queries(source: Collection, count: int, sample: int) -> list[_Query]:
    """The ids and vectors of ``sample`` source records at evenly spaced positions (all when fewer)."""
    if count == 0 or sample == 0 or source.info().dimension is None:
        return []
    wanted = min(sample, count)
    positions = [n * count // wanted for n in range(wanted)]  # distinct: count / wanted >= 1
    found: list[_Query] = []
    for position in positions:
        for hit in source.find(limit=1, offset=position, include_vectors=True):
            if hit.vector is not None:
                found.append(_Query(hit.id, hit.vector))
    return found


def _same_hits(ours: list[RankedId], theirs: list[RankedId]) -> bool:
    """Whether two top-k lists agree: scores equal within tolerance, ids equal but for ties at the cut."""
    if len(ours) != len(theirs):
        return False
    if not ours:
        return True
    scores_a = sorted((hit.similarity for hit in ours), reverse=True)
    scores_b = sorted((hit.similarity for hit in theirs), reverse=True)
    if any(abs(a - b) > SCORE_TOLERANCE for a, b in zip(scores_a, scores_b, strict=True)):
        return False
    a, b = dict(ours), dict(theirs)
    if any(abs(a[i] - b[i]) > SCORE_TOLERANCE for i in a.keys() & b.keys()):
        return False
    # An id on one side only must be tied with that side's last hit (another pick among equal scores).
    return all(abs(a[i] - scores_a[-1]) <= SCORE_TOLERANCE for i in a.keys() - b.keys()) and all(
        abs(b[i] - scores_b[-1]) <= SCORE_TOLERANCE for i in b.keys() - a.keys()
    )
