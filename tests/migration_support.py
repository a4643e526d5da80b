"""Collections to migrate, and a comparison of two stores leaving nothing out (for file and Postgres tests)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sqlitevec_store import Database, Record

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
