"""The JSON-lines dump of the app state: the key-value space and the record-key log, out and back in.

What ``sqlitevec-store export-state`` writes and ``import-state`` reads (a
collection's records have their own dump: :mod:`sqlitevec_store.jsonl`). One
entry per line::

    {"kind": "key-value", "namespace": "parents", "key": "doc-1", "value": {"title": "Intro"}}
    {"kind": "key-value", "namespace": "cache", "key": "k", "bytes": "AAEC"}
    {"kind": "record-key", "namespace": "sqlite/docs", "key": "h1", "group_id": "a.md", "updated_at": 1764590000.5}
    {"kind": "record-clock", "namespace": "sqlite/docs", "last": 1764590000.5}

A JSON value is written as JSON (``value``), a bytes value base64-encoded
(``bytes``); record keys keep their group and time exactly, and each
namespace's clock comes along so the importing store's clock never runs
behind the keys it receives. Loading checks every line first, then writes
everything in one transaction: a refused or failed load writes nothing.
Entries with an existing key are replaced; nothing else is deleted.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from .backends.base import AppStateStorage, RecordKeyRow, StoredValue, kv_pages, record_key_pages
from .database import Database
from .errors import InvalidInputError, SqliteVecStoreError
from .stores.keys import check_key, check_namespace
from .stores.kv import decode_value, encode_value

__all__ = ["KINDS", "StateLoad", "load_app_state", "read_app_state", "write_app_state"]

#: The kinds of line.
KINDS = ("key-value", "record-key", "record-clock")

#: Entries read and written per call while dumping and loading.
PAGE = 1000


def _kv_lines(storage: AppStateStorage, namespace: str) -> Iterator[dict[str, Any]]:
    for rows in kv_pages(storage, namespace, size=PAGE):
        for row in rows:
            assert row.value is not None
            line: dict[str, Any] = {"kind": "key-value", "namespace": namespace, "key": row.key}
            if row.value.is_json:
                line["value"] = decode_value(row.value)
            else:
                line["bytes"] = base64.b64encode(row.value.data).decode("ascii")
            yield line


def _record_lines(storage: AppStateStorage, namespace: str) -> Iterator[dict[str, Any]]:
    clock: float | None = None
    for found, page_clock in record_key_pages(storage, namespace, size=PAGE):
        clock = page_clock  # the last page's is the latest
        for row in found:
            yield {
                "kind": "record-key",
                "namespace": namespace,
                "key": row.key,
                "group_id": row.group_id,
                "updated_at": row.updated_at,
            }
    if clock is not None:
        yield {"kind": "record-clock", "namespace": namespace, "last": clock}


def write_app_state(db: Database, out: IO[str], *, namespaces: Sequence[str] | None = None) -> int:
    """Write the app state (every namespace, or the ones named) to ``out``; the number of lines."""
    storage = db.backend.app_state
    wanted = None if namespaces is None else set(namespaces)
    sources = [(_kv_lines, n.namespace) for n in storage.kv_namespaces()]
    sources += [(_record_lines, n.namespace) for n in storage.rk_namespaces()]
    lines = 0
    for lines_of, namespace in sources:
        if wanted is None or namespace in wanted:
            for line in lines_of(storage, namespace):
                out.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
                lines += 1
    return lines


@dataclass
class StateLoad:
    """A checked app-state dump, ready to write.

    Attributes:
        entries: Key-value entries by namespace (in file order; a repeated key keeps its last value).
        record_keys: Record keys by namespace.
        clocks: The record clocks by namespace.

    """

    entries: dict[str, dict[str, StoredValue]] = field(default_factory=dict)
    record_keys: dict[str, dict[str, RecordKeyRow]] = field(default_factory=dict)
    clocks: dict[str, float] = field(default_factory=dict)

    @property
    def counts(self) -> tuple[int, int]:
        """Key-value entries and record keys."""
        return sum(map(len, self.entries.values())), sum(map(len, self.record_keys.values()))


def _time(value: object, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{where}: {name!r} must be a finite number, got {value!r}")
    return float(value)


def _parse(obj: object, where: str, load: StateLoad) -> None:
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise InvalidInputError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    try:
        namespace = check_namespace(obj.get("namespace"))
        if kind == "record-clock":
            load.clocks[namespace] = _time(obj.get("last"), where, "last")
            return
        key = check_key(obj.get("key"))
        if kind == "record-key":
            group = obj.get("group_id")
            group = None if group is None else check_key(group)
            row = RecordKeyRow(key, group, _time(obj.get("updated_at"), where, "updated_at"))
            load.record_keys.setdefault(namespace, {})[key] = row
            return
        if ("value" in obj) == ("bytes" in obj):
            raise InvalidInputError(f"{where}: a key-value line has either 'value' or 'bytes'")
        if "bytes" in obj:
            if not isinstance(obj["bytes"], str):
                raise InvalidInputError(f"{where}: 'bytes' must be a base64 string")
            value = encode_value(base64.b64decode(obj["bytes"], validate=True))
        else:
            value = encode_value(obj["value"])
    except binascii.Error as exc:
        raise InvalidInputError(f"{where}: 'bytes' is not valid base64: {exc}") from exc
    except SqliteVecStoreError as exc:
        raise InvalidInputError(f"{where}: {exc}") from exc
    load.entries.setdefault(namespace, {})[key] = value


def read_app_state(lines: Iterable[str], source: str) -> StateLoad:
    """Check every line of a dump (blank lines skipped) and gather what it holds.

    Raises:
        InvalidInputError: A line is not JSON, or not an entry this format
            allows; the message names the line.

    """
    load = StateLoad()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise InvalidInputError(f"{where}: not JSON ({exc})") from exc
        _parse(obj, where, load)
    return load


def load_app_state(db: Database, load: StateLoad) -> tuple[int, int]:
    """Write a checked dump in one transaction (all or nothing); the key-value entries and record keys written."""
    storage = db.backend.app_state
    with db.atomic():
        for namespace, entries in load.entries.items():
            items = list(entries.items())
            for start in range(0, len(items), PAGE):
                storage.kv_put(namespace, items[start : start + PAGE])
        for namespace in sorted(set(load.record_keys) | set(load.clocks)):
            rows = list(load.record_keys.get(namespace, {}).values())
            clock = load.clocks.get(namespace)
            for start in range(0, max(len(rows), 1), PAGE):
                storage.rk_put(namespace, rows[start : start + PAGE], clock)
    return load.counts
