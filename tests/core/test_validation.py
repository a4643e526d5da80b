"""validation: texts and records checked once into a Batch, which Collection.upsert writes as is."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from sqlitevec_store import (
    Database,
    DimensionMismatchError,
    InvalidInputError,
    InvalidInputTypeError,
    Record,
    validation,
)
from sqlitevec_store import collection as collection_module
from sqlitevec_store.validation import Batch, ItemRow, check_batches, check_records, check_texts

# -- check_texts ---------------------------------------------------------------


def test_check_texts_rows_and_defaults() -> None:
    batch = check_texts(
        ["a", "b"],
        [{"n": 1}, None],
        ["x", None],
        doc_ids=["d", None],
        extras=[None, {"node": [1, 2]}],
    )
    assert len(batch) == 2
    assert batch.vectors is None
    assert batch.texts == ["a", "b"]
    assert batch.rows[0] == ItemRow("x", "a", '{"n":1}', "d", None)
    generated = batch.rows[1]
    assert uuid.UUID(generated.id).version == 4
    assert batch.ids == ["x", generated.id]
    assert (generated.metadata, generated.doc_id, json.loads(generated.extra or "")) == ("{}", None, {"node": [1, 2]})


def test_check_texts_consumes_generators() -> None:
    batch = check_texts((t for t in ["a", "b", "c"]), (m for m in [None, None, {"k": "v"}]), iter(["1", "2", "3"]))
    assert batch.ids == ["1", "2", "3"]
    assert batch.rows[2].metadata == '{"k":"v"}'


def test_check_texts_every_uuid_differs() -> None:
    batch = check_texts(["t"] * 50)
    assert len(set(batch.ids)) == 50


def test_check_texts_converts_metadata_scalars() -> None:
    batch = check_texts(["a"], [{"n": np.int64(3), "f": np.float32(0.5)}])
    assert json.loads(batch.rows[0].metadata) == {"n": 3, "f": 0.5}


REFUSED_TEXTS = [
    pytest.param(
        lambda: check_texts("abc"),
        InvalidInputTypeError,
        "texts must be an iterable of strings, not one string",
        id="one string",
    ),
    pytest.param(
        lambda: check_texts(["a", 3]), InvalidInputTypeError, "text 1 must be a string, got int", id="text type"
    ),
    pytest.param(
        lambda: check_texts(["a"], {"k": 1}), InvalidInputTypeError, "metadatas must be a list of dicts", id="one dict"
    ),
    pytest.param(
        lambda: check_texts(["a", "b", "c"], [{}, {}]),
        InvalidInputError,
        "Got 3 texts but 2 metadatas; they must match",
        id="metadatas count",
    ),
    pytest.param(
        lambda: check_texts(["a"], [["x"]]),
        InvalidInputTypeError,
        "metadata 0 must be a dict or None, got list",
        id="metadata type",
    ),
    pytest.param(
        lambda: check_texts(["a"], [{"x": float("nan")}]),
        InvalidInputError,
        r"metadata 0\['x'\] is nan",
        id="metadata nan",
    ),
    pytest.param(
        lambda: check_texts(["a"], [{1: "x"}]), InvalidInputTypeError, "keys must be strings", id="metadata key"
    ),
    pytest.param(
        lambda: check_texts(["a"], [{"s": {1}}]), InvalidInputTypeError, "not JSON-serializable", id="metadata set"
    ),
    pytest.param(
        lambda: check_texts(["a"], ids="a"),
        InvalidInputTypeError,
        "ids must be a list of strings, not one string",
        id="ids one string",
    ),
    pytest.param(
        lambda: check_texts(["a", "b"], ids=["x"]),
        InvalidInputError,
        "Got 2 texts but 1 ids; they must match",
        id="ids count",
    ),
    pytest.param(
        lambda: check_texts(["a", "b"], ids=["x", 5]),
        InvalidInputTypeError,
        r"id 1 must be a string or None, got int \(5\)",
        id="id type",
    ),
    pytest.param(lambda: check_texts(["a"], ids=[""]), InvalidInputError, "id 0 is an empty string", id="empty id"),
    pytest.param(
        lambda: check_texts(["a", "b"], ids=["a", "a"]),
        InvalidInputError,
        "id 'a' appears twice in one batch",
        id="duplicate id",
    ),
    pytest.param(
        lambda: check_texts(["ok", "bad \ud800"]),
        InvalidInputError,
        "text 1 contains a character that is not valid UTF-8",
        id="surrogate text",
    ),
    pytest.param(
        lambda: check_texts(["a"], ids=["\ud800"]), InvalidInputError, "id 0 contains a character", id="surrogate id"
    ),
    pytest.param(
        lambda: check_texts(["a"], doc_ids=[]),
        InvalidInputError,
        "Got 1 texts but 0 doc_ids; they must match",
        id="doc_ids count",
    ),
    pytest.param(
        lambda: check_texts(["a"], doc_ids=[1]),
        InvalidInputTypeError,
        "doc_id 0 must be a string or None",
        id="doc_id type",
    ),
    pytest.param(
        lambda: check_texts(["a"], extras=[None, None]),
        InvalidInputError,
        "Got 1 texts but 2 extras",
        id="extras count",
    ),
    pytest.param(
        lambda: check_texts(["a"], extras=["x"]),
        InvalidInputTypeError,
        "extra 0 must be a dict or None",
        id="extra type",
    ),
    pytest.param(
        lambda: check_texts(["a"], extras=[{"v": float("inf")}]),
        InvalidInputError,
        r"extra 0\['v'\] is inf",
        id="extra json",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), REFUSED_TEXTS)
def test_check_texts_refuses(call: Callable[[], Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_check_texts_errors_are_value_and_type_errors() -> None:
    with pytest.raises(TypeError):
        check_texts([1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="twice"):
        check_texts(["a", "b"], ids=["i", "i"])


# -- Batch.with_vectors ---------------------------------------------------------


def test_with_vectors_normalizes_and_keeps_the_rows() -> None:
    batch = check_texts(["a", "b"], ids=["1", "2"])
    full = batch.with_vectors([[3.0, 4.0], [0.0, -2.0]])
    assert batch.vectors is None  # the original is unchanged
    assert full.rows == batch.rows
    assert full.vectors is not None
    assert full.vectors.dtype == np.float32
    np.testing.assert_allclose(full.vectors, [[0.6, 0.8], [0.0, -1.0]], rtol=1e-6)


def test_with_vectors_accepts_an_array() -> None:
    full = check_texts(["a"]).with_vectors(np.array([[1e300, 1e300]]))
    assert full.vectors is not None
    np.testing.assert_allclose(full.vectors, [[2**-0.5, 2**-0.5]], rtol=1e-6)


@pytest.mark.parametrize(
    ("vectors", "error", "message"),
    [
        ([[1.0, 0.0]], InvalidInputError, "The embedding model returned 1 vectors for 2 texts"),
        ([[1.0, 0.0]] * 3, InvalidInputError, "The embedding model returned 3 vectors for 2 texts"),
        ([[1.0, 0.0], [float("nan"), 1.0]], InvalidInputError, "vector 1 contains NaN or infinite values"),
        ([[0.0, 0.0], [1.0, 0.0]], InvalidInputError, "vector 0 is all zeros"),
        ([[1.0, 0.0], [1.0, 0.0, 0.0]], DimensionMismatchError, "different lengths"),
        ([[1.0, 0.0], "ab"], InvalidInputTypeError, "vector 1 must be a sequence of numbers"),
        ([[1.0, 0.0], []], InvalidInputError, "vector 1 must be a non-empty 1-D sequence"),
    ],
)
def test_with_vectors_refuses(vectors: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        check_texts(["a", "b"]).with_vectors(vectors)


def test_batch_refuses_vectors_that_do_not_fit_its_rows() -> None:
    rows = check_texts(["a", "b"]).rows
    with pytest.raises(InvalidInputError, match="2 rows but 1 vectors"):
        Batch(rows, np.ones((1, 2), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="2-D float32"):
        Batch(rows, np.ones((2, 2), dtype=np.float64))


# -- check_records ----------------------------------------------------------------


def test_check_records_rows_and_vectors() -> None:
    batch = check_records(
        [Record("a", [2.0, 0.0], {"k": 1}, id="x", doc_id="d", extra={"e": True}), Record("b", [0.0, 1.0])]
    )
    assert batch.rows[0] == ItemRow("x", "a", '{"k":1}', "d", '{"e":true}')
    assert uuid.UUID(batch.ids[1]).version == 4
    assert batch.vectors is not None
    np.testing.assert_allclose(batch.vectors, [[1.0, 0.0], [0.0, 1.0]])


def test_check_records_numbers_from_offset_and_shares_seen_ids() -> None:
    seen: set[str] = set()
    check_records([Record("a", [1.0], id="x")], seen=seen)
    with pytest.raises(InvalidInputError, match="id 'x' appears twice"):
        check_records([Record("b", [1.0], id="y"), Record("c", [1.0], id="x")], offset=1, seen=seen)
    with pytest.raises(InvalidInputTypeError, match="item 5 must be a Record, got str"):
        check_records(["nope"], offset=5)  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="vector 8 is all zeros"):
        check_records([Record("a", [1.0]), Record("b", [0.0])], offset=7)


def test_check_batches_cuts_a_batch_without_checking_it_again(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = check_texts([str(n) for n in range(7)]).with_vectors(np.eye(7))
    monkeypatch.setattr(validation, "check_records", _refuse)
    parts = list(check_batches(batch, 3))
    assert [len(p) for p in parts] == [3, 3, 1]
    assert [i for p in parts for i in p.ids] == batch.ids
    assert np.array_equal(np.vstack([p.vectors for p in parts if p.vectors is not None]), batch.vectors)


def test_check_batches_checks_records_a_part_at_a_time() -> None:
    produced: list[int] = []

    def records() -> Any:
        for n in range(5):
            produced.append(n)
            yield Record(str(n), [1.0, float(n)], id="same" if n in (1, 4) else None)

    parts = check_batches(records(), 2)
    assert len(next(parts)) == 2
    assert produced == [0, 1]  # the rest of the stream is not read yet
    assert len(next(parts)) == 2
    with pytest.raises(InvalidInputError, match="'same' appears twice"):
        next(parts)


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a checked Batch was checked again")


# -- Collection.upsert with a Batch -----------------------------------------------


def test_upsert_writes_a_batch_without_checking_it_again(memdb: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = check_texts(["a", "b"], [{"k": 1}, None], ["1", None]).with_vectors([[1.0, 0.0], [0.0, 1.0]])
    calls: list[str] = []
    for name in ("check_records", "vector_matrix", "_check_metadata", "_check_id", "check_encodable"):
        original = getattr(validation, name)

        def counting(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(validation, name, counting)
    docs = memdb.collection("docs")
    assert docs.upsert(batch) == batch.ids
    assert calls == []
    hits = docs.search([0.9, 0.1], k=2)
    assert [h.id for h in hits] == batch.ids
    assert hits[0].metadata == {"k": 1}
    # Records still go through the check, once each.
    docs.upsert([Record("c", [1.0, 1.0], id="c")])
    assert calls.count("check_records") == 1


def test_upsert_writes_a_large_batch_in_chunks(memdb: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collection_module, "WRITE_CHUNK_SIZE", 3)
    vectors = np.random.default_rng(0).normal(size=(10, 4))
    batch = check_texts([f"t{n}" for n in range(10)]).with_vectors(vectors)
    docs = memdb.collection("docs")
    assert docs.upsert(batch) == batch.ids
    assert docs.count() == 10
    stored = docs.get(batch.ids, include_vectors=True)
    assert [h.id for h in stored] == batch.ids
    np.testing.assert_allclose(np.vstack([h.vector for h in stored if h.vector is not None]), batch.vectors)


def test_upsert_refuses_a_batch_without_vectors(memdb: Database) -> None:
    docs = memdb.collection("docs")
    with pytest.raises(InvalidInputError, match="no vectors yet"):
        docs.upsert(check_texts(["a"]))
    assert docs.count() == 0


def test_upsert_refuses_a_batch_of_another_dimension(memdb: Database) -> None:
    docs = memdb.collection("docs")
    docs.upsert([Record("a", [1.0, 0.0], id="a")])
    with pytest.raises(DimensionMismatchError):
        docs.upsert(check_texts(["b"]).with_vectors([[1.0, 0.0, 0.0]]))
    assert docs.count() == 1


def test_upsert_of_an_empty_batch_writes_nothing(memdb: Database) -> None:
    docs = memdb.collection("docs")
    assert docs.upsert(check_texts([]).with_vectors([])) == []
    assert docs.dimension is None
