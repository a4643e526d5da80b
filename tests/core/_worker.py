"""Child-process side of tests/core/test_reliability.py.

Run as ``python _worker.py MODE ARGS...`` with ``sys.executable``; it needs
only ``sqlitevec_store`` and numpy. The parent reads its stdout line by line.

Modes:

``crash PATH COLLECTION TAG N DIM REPLACE``
    Open PATH, print ``START``, then upsert in ONE call the ids ``seed-0`` ..
    ``seed-{REPLACE-1}`` (replacing existing records) followed by ``N`` new
    records ``TAG-0`` .. ``TAG-{N-1}``, all from a generator; print ``DONE``.
    The parent kills it with SIGKILL somewhere in between.

``app PATH BATCHES SIZE``
    Open PATH, print ``START``, then write ``BATCHES`` batches of ``SIZE``
    records; each batch, in ONE ``db.atomic()`` block, upserts the records,
    puts one key-value entry per record (namespace ``parents``), stamps one
    record key per record (namespace ``index``) and caches the texts' vectors,
    printing ``BATCH i`` after each commit; then ``DONE``. Also one huge
    ``put_many`` (namespace ``bulk``) of 20,000 entries at the start.

``ops PATH PREFIX OPS SEED``
    Open PATH, print ``READY``, wait for a line on stdin, then run
    :func:`run_ops` and print its report as one JSON line.
"""

from __future__ import annotations

import json
import random
import sys
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from sqlitevec_store import Collection, Comparison, Database, Op, Record

#: Dimension of the vectors the concurrency workers write.
OPS_DIM = 16

#: The collection the concurrency workers share.
OPS_COLLECTION = "shared"


def vector_for(record_id: str, version: int, dim: int) -> npt.NDArray[np.float32]:
    """A deterministic unit vector for one version of one record."""
    seed = zlib.crc32(f"{record_id}\x00{version}".encode())
    v = np.random.default_rng(seed).standard_normal(dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def crash_records(tag: str, n: int, dim: int, replace: int) -> Iterator[Record]:
    """The batch the crash child writes: ``replace`` updated seeds, then ``n`` new records."""
    for i in range(replace):
        record_id = f"seed-{i}"
        yield Record(f"{record_id} by {tag}", vector_for(record_id, hash_tag(tag), dim), {"by": tag}, id=record_id)
    for i in range(n):
        record_id = f"{tag}-{i}"
        yield Record(f"{record_id} text", vector_for(record_id, 0, dim), {"by": tag, "i": i}, id=record_id)


def hash_tag(tag: str) -> int:
    """The vector version a crash run gives the seeds it replaces."""
    return zlib.crc32(tag.encode())


def run_ops(col: Collection, prefix: str, ops: int, seed: int) -> dict[str, Any]:
    """Mixed single-record upserts, deletes of own ids and filtered searches.

    Only this caller writes ids starting with ``prefix`` (and metadata
    ``{"owner": prefix}``), so every filtered search must see exactly the
    records this caller has committed so far. Exceptions are caught and
    reported as text, never raised.

    Returns:
        ``{"live": {id: text}, "deleted": [ids], "errors": [...], "searches": n}``.

    """
    rng = random.Random(seed)
    live: dict[str, str] = {}
    deleted: set[str] = set()
    errors: list[str] = []
    searches = 0
    mine = Comparison("owner", Op.EQ, prefix)
    for step in range(ops):
        roll = rng.random()
        try:
            if roll < 0.5 or not live:
                replace = bool(live) and rng.random() < 0.3
                record_id = rng.choice(sorted(live)) if replace else f"{prefix}-{step}"
                text = f"{record_id} v{step}"
                record = Record(
                    text, vector_for(record_id, step, OPS_DIM), {"owner": prefix, "step": step}, id=record_id
                )
                if col.upsert([record]) != [record_id]:
                    errors.append(f"step {step}: upsert returned the wrong id")
                live[record_id] = text
                deleted.discard(record_id)
            elif roll < 0.7:
                record_id = rng.choice(sorted(live))
                removed = col.delete([record_id])
                if removed != 1:
                    errors.append(f"step {step}: delete({record_id!r}) removed {removed}, expected 1")
                del live[record_id]
                deleted.add(record_id)
            else:
                searches += 1
                query = vector_for(f"{prefix}-query", step, OPS_DIM)
                hits = col.search(query, k=max(1, len(live)), filter=mine)
                seen = {h.id: h.text for h in hits}
                if live and seen != live:
                    missing = sorted(set(live) - set(seen))[:3]
                    extra = sorted(set(seen) - set(live))[:3]
                    stale = sorted(i for i in set(seen) & set(live) if seen[i] != live[i])[:3]
                    errors.append(f"step {step}: search saw missing={missing} extra={extra} stale={stale}")
                if col.count(mine) != len(live):
                    errors.append(f"step {step}: count(filter) disagrees with {len(live)} live records")
                col.search(query, k=5)  # unfiltered, over everybody's records
        except Exception as exc:  # reported to the parent, which fails the test
            errors.append(f"step {step}: {type(exc).__name__}: {exc}")
    return {"live": live, "deleted": sorted(deleted), "errors": errors, "searches": searches}


def _crash(path: str, collection: str, tag: str, n: str, dim: str, replace: str) -> None:
    db = Database(path)
    col = db.collection(collection)
    print("START", flush=True)
    col.upsert(crash_records(tag, int(n), int(dim), int(replace)))
    print("DONE", flush=True)
    db.close()


def _app(path: str, batches: str, size: str) -> None:
    db = Database(path)
    col = db.collection("app")
    parents, keys, cache = db.key_value("parents"), db.record_keys("index"), db.embedding_cache("fake")
    print("START", flush=True)
    db.key_value("bulk").put_many({f"bulk-{i:05d}": {"i": i, "pad": "x" * 200} for i in range(20_000)})
    for b in range(int(batches)):
        ids = [f"r{b:04d}-{i:03d}" for i in range(int(size))]
        vectors = [vector_for(record_id, 0, OPS_DIM) for record_id in ids]
        with db.atomic():
            col.upsert(Record(f"text of {i}", v, {"batch": b}, id=i) for i, v in zip(ids, vectors, strict=True))
            parents.put_many({i: {"batch": b} for i in ids})
            keys.update(ids, group_ids=[f"batch-{b}"] * len(ids))
            cache.store([f"text of {i}" for i in ids], vectors)
        print(f"BATCH {b}", flush=True)
    print("DONE", flush=True)
    db.close()


def _ops(path: str, prefix: str, ops: str, seed: str) -> None:
    print("READY", flush=True)
    sys.stdin.readline()
    try:
        # Opened after the go signal, so every process opens and creates the
        # collection at the same moment.
        db = Database(path)
        col = db.collection(OPS_COLLECTION)
        report = run_ops(col, prefix, int(ops), int(seed))
        db.close()
    except Exception as exc:
        report = {"live": {}, "deleted": [], "errors": [f"open: {type(exc).__name__}: {exc}"], "searches": 0}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"crash": _crash, "ops": _ops, "app": _app}[mode](*args)
