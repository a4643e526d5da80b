"""Collections to migrate, and a comparison of two stores leaving nothing out (for file and Postgres tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sqlitevec_store import Database, Record
from sqlitevec_store.progress import Progress

MODEL_ID = "tests/migration-model"
DIMENSION = 12

#: Metadata that tends to change on its way through another engine: nesting, unicode, number forms.
TRICKY_METADATA: dict[str, Any] = {
    "nested": {"list": [1, 2.5, {"deep": [True, None, "x"]}], "empty": {}, "none": None},
    "unicode": "héllo wörld ✓ 日本語 🚀",
    "one_float": 1.0,
    "tiny": 1e-300,
    "big_int": 2**53,
    "big_negative": -(2**62),
    "float_small": -2.5e-7,
    "zero": 0,
    "neg_zero_int": -0,
    "text_number": "1.0",
    "bool": False,
    "z_key": "keys are not in order",
    "a_key": 3,
}


def vector(n: int, dimension: int = DIMENSION) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A pseudo-random vector, the same for the same ``n``."""
    return np.random.default_rng(n).standard_normal(dimension)


def records(count: int, *, start: int = 0) -> list[Record]:
    """``count`` records with every column set (``doc_id``/``extra`` on most, not all)."""
    return [
        Record(
            f"text {n} " + "ü" * (n % 5),
            vector(n),
            {**TRICKY_METADATA, "n": n, "part": n % 7} if n % 3 else {"n": n},
            id=f"rec-{n:05d}",
            doc_id=f"doc-{n // 4}" if n % 5 else None,
            extra={"node": {"ref": n, "kind": "chunk"}, "hash": f"{n:08x}"} if n % 2 else None,
        )
        for n in range(start, start + count)
    ]


def fill(db: Database, name: str = "docs", count: int = 50, *, model_id: str | None = MODEL_ID) -> None:
    """Create collection ``name`` with ``count`` records of :func:`records`."""
    db.create_collection(name, model_id=model_id).upsert(records(count))


def source_store(path: Path, *, docs: int, plain: tuple[str, int]) -> Path:
    """A store at ``path``: "docs" (``docs`` records of :func:`records`, model ``MODEL_ID``), ``plain`` (no model)."""
    with Database(path) as db:
        fill(db, "docs", docs)
        fill(db, plain[0], plain[1], model_id=None)
    return path


def nudge_vector(db: Database, record_id: str, *, collection: str = "docs") -> None:
    """Move one record's vector a little (everything else kept): what verification must catch."""
    docs = db.collection(collection, create=False)
    hit = docs.get([record_id])[0]
    moved = vector(int(record_id.removeprefix("rec-"))) + 0.05
    docs.upsert([Record(hit.text, moved, hit.metadata, id=hit.id, doc_id=hit.doc_id, extra=hit.extra)])


class Interrupt(Exception):
    """Raised by :func:`interrupt_after`'s reporter: a run that crashed mid-way."""


def interrupt_after(batches: int) -> Any:
    """A progress factory whose reporter raises :class:`Interrupt` once ``batches`` batches were written."""

    class Crashing(Progress):
        def update(self, n: int) -> None:
            super().update(n)
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == batches:
                raise Interrupt

    return lambda total, label: Crashing(total, label, enabled=False)


def snapshot(db: Database, name: str) -> dict[str, Any]:
    """Everything a collection holds: its registry entry (dimension, model) and every record with its vector."""
    collection = db.collection(name, create=False)
    info = collection.info()
    return {
        "dimension": info.dimension,
        "model_id": info.model_id,
        "records": {
            hit.id: (hit.text, hit.metadata, hit.doc_id, hit.extra, None if hit.vector is None else hit.vector.tolist())
            for hit in collection.find(include_vectors=True)
        },
    }


def assert_same_collection(a: Database, b: Database, name: str) -> None:
    """Both stores hold the same collection: model, dimension, ids, texts, parsed JSON, doc ids, vectors."""
    left, right = snapshot(a, name), snapshot(b, name)
    assert (left["dimension"], left["model_id"]) == (right["dimension"], right["model_id"])
    assert left["records"].keys() == right["records"].keys()
    for record_id, (text, metadata, doc_id, extra, vec) in left["records"].items():
        other = right["records"][record_id]
        assert (text, metadata, doc_id, extra) == other[:4], record_id
        assert _same_types(metadata, other[1]), record_id
        np.testing.assert_allclose(vec, other[4], atol=1e-6, rtol=0)


def _same_types(a: Any, b: Any) -> bool:
    """Equal JSON values of the same types (``1.0`` stays a float, ``2**53`` an int)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def add_app_state(db: Database, *, entries: int = 25) -> None:
    """Key-value entries (bytes and tricky JSON), an embedding cache and record keys, as an app keeps them."""
    kv = db.key_value("parents")
    kv.put_many(
        {f"doc-{n:03d}": {"n": n, "text": f"parent {n} \u00e9\U0001f600", "tiny": 1e-300} for n in range(entries)}
    )
    kv.put_many({"": b"", "raw": bytes(range(256)), "big": 2**62, "\U0010ffff": [True, None, 0.1]})
    db.key_value("llama_index/docstore/data").put("node-1", {"__data__": {"id_": "node-1", "text": "x"}})
    db.embedding_cache(MODEL_ID).store(["alpha", "beta"], [vector(1), vector(2)])
    keys = db.record_keys("sqlite/docs")
    keys.update(
        [f"hash-{n:03d}" for n in range(entries)], group_ids=[f"src-{n % 4}" if n % 5 else None for n in range(entries)]
    )
    keys.update(["late"], group_ids=["src-0"])


def app_state_of(db: Database) -> dict[str, Any]:
    """Everything the app state holds, as stored (record keys with their times and the clock)."""
    storage = db.backend.app_state
    state: dict[str, Any] = {}
    for space in storage.kv_namespaces():
        state[f"kv:{space.namespace}"] = [
            (r.key, r.value) for r in storage.kv_page(space.namespace, "", None, 10**6, values=True)
        ]
    for space in storage.rk_namespaces():
        rows, clock = storage.rk_page(space.namespace, None, 10**6)
        state[f"rk:{space.namespace}"] = (rows, clock)
    return state


def assert_same_app_state(a: Database, b: Database) -> None:
    """``b`` holds exactly ``a``'s app state; its record-key clocks are at least ``a``'s."""
    mine, theirs = app_state_of(a), app_state_of(b)
    assert mine.keys() == theirs.keys()
    for name, value in mine.items():
        if name.startswith("rk:"):
            assert value[0] == theirs[name][0], name
            assert theirs[name][1] >= value[1], name
        else:
            assert value == theirs[name], name
