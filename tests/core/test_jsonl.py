"""The JSON-lines dump format, called from Python: writing, checking, and loading all or nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sqlitevec_store import Database, Record
from sqlitevec_store.errors import InvalidInputError
from sqlitevec_store.jsonl import Dump, load_dump, write_dump
from tests.fakes import FakeEmbedder


def lines_dump(*lines: str, source: str = "test") -> Dump:
    return Dump(source, lambda: list(lines))


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    with Database(tmp_path / "a.db") as db:
        collection = db.collection("c", model_id=embedder.model_id)
        collection.upsert(
            [
                Record(text="one", vector=embedder.vector("one"), metadata={"k": 1}, id="1", doc_id="d"),
                Record(text="two", vector=embedder.vector("two"), id="2", extra={"x": True}),
            ]
        )
        out = io.StringIO()
        assert write_dump(collection, out, include_vectors=True) == 2
    lines = out.getvalue().splitlines()
    assert json.loads(lines[1])["extra"] == {"x": True} and "extra" not in json.loads(lines[0])
    assert json.loads(lines[0])["model"] == embedder.model_id
    dump = lines_dump(*lines)
    plan = dump.plan()
    assert (plan.lines, plan.to_embed, plan.model) == (2, 0, embedder.model_id)
    with Database(tmp_path / "b.db") as db:
        loaded = load_dump(db, "c", dump, plan, embedder=None, model_id=plan.model)
        assert [(h.id, h.text, h.metadata, h.doc_id) for h in loaded.find()] == [
            ("1", "one", {"k": 1}, "d"),
            ("2", "two", {}, None),
        ]


def test_lines_without_vectors_are_embedded(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    dump = lines_dump('{"text": "a"}', "", '{"text": "b", "id": "b"}')
    plan = dump.plan()
    assert (plan.lines, plan.to_embed) == (2, 2)
    with Database(tmp_path / "s.db") as db:
        collection = load_dump(db, "c", dump, plan, embedder=embedder, model_id=embedder.model_id, batch_size=1)
        assert collection.count() == 2 and embedder.document_calls == 2
        with pytest.raises(InvalidInputError, match="no embedder"):
            load_dump(db, "c", dump, plan, embedder=None, model_id=None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "test line 2: not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"id": "x"}', "'text' must be a string"),
        ('{"text": "t", "vector": []}', "non-empty list of numbers"),
        ('{"text": "t", "vector": [1.0, 2.0, 3.0]}', "vectors of different lengths"),
    ],
)
def test_a_bad_line_is_refused_before_anything_is_written(line: str, message: str) -> None:
    dump = lines_dump('{"text": "ok", "vector": [1.0, 0.0]}', line)
    with pytest.raises(InvalidInputError, match=message):
        dump.plan()


def test_load_is_all_or_nothing(tmp_path: Path) -> None:
    """A line that fails while loading (here: the embedder) rolls back every line, and the new collection."""

    class FailsSecondBatch(FakeEmbedder):
        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            if self.document_calls == 1:
                raise RuntimeError("embedding failed")
            return super().embed_documents(texts)

    embedder = FailsSecondBatch()
    dump = lines_dump('{"text": "a"}', '{"text": "b"}', '{"text": "c"}')
    plan = dump.plan()
    with Database(tmp_path / "s.db") as db:
        with pytest.raises(RuntimeError, match="embedding failed"):
            load_dump(db, "new", dump, plan, embedder=embedder, model_id=embedder.model_id, batch_size=1)
        assert not db.has_collection("new")
        existing = db.collection("old", model_id=embedder.model_id)
        existing.upsert([Record(text="kept", vector=embedder.vector("kept"), id="kept")])
        embedder.document_calls = 0
        with pytest.raises(RuntimeError, match="embedding failed"):
            load_dump(db, "old", dump, plan, embedder=embedder, model_id=embedder.model_id, batch_size=1)
        assert [h.id for h in db.collection("old").find()] == ["kept"]


def test_dump_file_lines_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "\xff"}\n')
    with pytest.raises(InvalidInputError, match="line 2: not valid UTF-8"):
        Dump.open(str(path)).plan()
