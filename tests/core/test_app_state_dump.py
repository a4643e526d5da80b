"""The app-state dump (sqlitevec_store/app_state_dump.py) and the export-state / import-state commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sqlitevec_store import Database, InvalidInputError
from sqlitevec_store.app_state_dump import load_app_state, read_app_state, write_app_state
from tests.cli_support import run_cli as run
from tests.migration_support import add_app_state, assert_same_app_state


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.db"
    with Database(path) as db:
        add_app_state(db)
    return path


def test_round_trip_through_the_commands(source: Path, tmp_path: Path) -> None:
    dump = tmp_path / "state.jsonl"
    run("export-state", "--db", str(source), "-o", str(dump))
    lines = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds.count("key-value") == 32 and kinds.count("record-key") == 26 and kinds.count("record-clock") == 1
    raw = next(line for line in lines if line["key"] == "raw" and line["namespace"] == "parents")
    assert set(raw) == {"kind", "namespace", "key", "bytes"}
    doc = next(line for line in lines if line.get("key") == "doc-001")
    assert doc["value"]["tiny"] == 1e-300
    target = tmp_path / "target.db"
    result = run("import-state", str(dump), "--db", str(target))
    assert result.stdout.strip() == "Imported 32 key-value entries and 26 record keys."
    with Database(source, read_only=True) as a, Database(target, read_only=True) as b:
        assert_same_app_state(a, b)


def test_export_one_namespace_to_stdout(source: Path) -> None:
    out = run("export-state", "--db", str(source), "--namespace", "sqlite/docs").stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert {line["namespace"] for line in lines} == {"sqlite/docs"} and len(lines) == 27


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"kind": "other", "namespace": "n", "key": "k"}', "'kind' must be"),
        ('{"kind": "key-value", "namespace": "", "key": "k", "value": 1}', "namespace"),
        ('{"kind": "key-value", "namespace": "n", "key": "k"}', "either 'value' or 'bytes'"),
        ('{"kind": "key-value", "namespace": "n", "key": "k", "bytes": "!!"}', "base64"),
        ('{"kind": "key-value", "namespace": "n", "key": "k", "value": null}', "None cannot be stored"),
        ('{"kind": "record-key", "namespace": "n", "key": "k", "updated_at": "now"}', "finite number"),
        ('{"kind": "record-key", "namespace": "n", "key": 5, "updated_at": 1}', "key must be a string"),
    ],
)
def test_a_bad_line_is_refused_before_anything_is_written(tmp_path: Path, line: str, message: str) -> None:
    good = '{"kind": "key-value", "namespace": "n", "key": "first", "value": 1}'
    with pytest.raises(InvalidInputError, match=message) as info:
        read_app_state([good, "", line], "dump.jsonl")
    assert "dump.jsonl, line 3" in str(info.value)
    dump = tmp_path / "bad.jsonl"
    dump.write_text(f"{good}\n{line}\n", encoding="utf-8")
    result = run("import-state", str(dump), "--db", str(tmp_path / "new.db"), code=1)
    assert "line 2" in result.stderr
    assert not (tmp_path / "new.db").exists()


def test_a_failed_load_writes_nothing(memdb: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    load = read_app_state(
        [
            '{"kind": "key-value", "namespace": "a", "key": "k", "value": 1}',
            '{"kind": "record-key", "namespace": "r", "key": "k", "group_id": null, "updated_at": 5}',
        ],
        "mem",
    )
    storage = memdb.backend.app_state

    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(storage), "rk_put", broken)
    with pytest.raises(RuntimeError):
        load_app_state(memdb, load)
    assert memdb.key_value("a").get("k") is None
    monkeypatch.undo()
    assert load_app_state(memdb, load) == (1, 1)
    assert memdb.record_keys("r").exists(["k"]) == [True] and memdb.record_keys("r").now() > 5


def test_write_counts_lines(memdb: Database) -> None:
    import io

    memdb.key_value("x").put("k", b"\x00")
    out = io.StringIO()
    assert write_app_state(memdb, out) == 1
    assert json.loads(out.getvalue()) == {"kind": "key-value", "namespace": "x", "key": "k", "bytes": "AA=="}
