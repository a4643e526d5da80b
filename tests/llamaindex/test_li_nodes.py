"""The node's stored form: unchanged on disk, dumped once on write, parsed once on read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.core.vector_stores.utils import node_to_metadata_dict

from llamaindex_sqlitevec import SQLiteVecVectorStore
from sqlitevec_store import Record
from tests.llamaindex.test_li_store import dump, rich_nodes, vec

# The extra column the previous version (0b35e6e..b714700) wrote for rich_nodes()[0], byte for byte.
OLD_RICH_EXTRA = (
    '{"_node_content":{"id_":"rich","excluded_embed_metadata_keys":["score"],'
    '"excluded_llm_metadata_keys":["nested","flag"],"relationships":{'
    '"1":{"node_id":"doc-1","node_type":null,"metadata":{"file":"a.md"},"hash":"h","class_name":"RelatedNodeInfo"},'
    '"2":{"node_id":"prev","node_type":null,"metadata":{},"hash":null,"class_name":"RelatedNodeInfo"},'
    '"3":{"node_id":"next","node_type":null,"metadata":{},"hash":null,"class_name":"RelatedNodeInfo"},'
    '"4":{"node_id":"parent","node_type":null,"metadata":{},"hash":null,"class_name":"RelatedNodeInfo"},'
    '"5":[{"node_id":"c1","node_type":null,"metadata":{},"hash":null,"class_name":"RelatedNodeInfo"},'
    '{"node_id":"c2","node_type":null,"metadata":{},"hash":null,"class_name":"RelatedNodeInfo"}]},'
    '"metadata_template":"{key}=>{value}","metadata_separator":" | ","text":"","mimetype":"text/plain",'
    '"start_char_idx":10,"end_char_idx":52,"text_template":"{metadata_str}\\n---\\n{content}",'
    '"class_name":"TextNode"},"_node_type":"TextNode"}'
)

# Every node's JSON form holds this key (BaseComponent adds it); a metadata or text column never does here.
MARKER = '"class_name"'


def compact(value: Any) -> str:
    """``value`` as the core writes JSON (no spaces, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def reference_extra(node: BaseNode) -> dict[str, Any]:
    """The ``extra`` the adapter stores, built from LlamaIndex's own ``node_to_metadata_dict``."""
    flat = node_to_metadata_dict(node, remove_text=False, flat_metadata=False)
    content = json.loads(flat["_node_content"])
    del content["metadata"], content["embedding"]
    if "text" in content:
        content["text"] = ""
    if isinstance(content.get("text_resource"), dict):
        content["text_resource"]["text"] = None
    return {"_node_content": content, "_node_type": flat["_node_type"]}


def upsert_old_row(store: SQLiteVecVectorStore, node: BaseNode, extra: dict[str, Any]) -> None:
    store.collection.upsert(
        [
            Record(
                node.get_content(metadata_mode=MetadataMode.NONE),
                vec(1),
                node.metadata,
                id=node.node_id,
                doc_id=node.ref_doc_id,
                extra=extra,
            )
        ]
    )


class JsonCalls:
    """Every text ``json.loads`` parses and ``json.dumps`` produces while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parsed: list[str] = []
        self.dumped: list[str] = []
        real_loads: Callable[..., Any] = json.loads
        real_dumps: Callable[..., str] = json.dumps

        def loads(text: str | bytes, *args: Any, **kwargs: Any) -> Any:
            self.parsed.append(text if isinstance(text, str) else text.decode())
            return real_loads(text, *args, **kwargs)

        def dumps(value: Any, *args: Any, **kwargs: Any) -> str:
            out = real_dumps(value, *args, **kwargs)
            self.dumped.append(out)
            return out

        monkeypatch.setattr(json, "loads", loads)
        monkeypatch.setattr(json, "dumps", dumps)

    def node_contents(self) -> tuple[int, int]:
        """How many parsed and dumped texts held a node's JSON form."""
        return sum(MARKER in t for t in self.parsed), sum(MARKER in t for t in self.dumped)


def test_a_row_written_by_the_previous_version_reads_back(store: SQLiteVecVectorStore) -> None:
    node = rich_nodes()[0]
    upsert_old_row(store, node, json.loads(OLD_RICH_EXTRA))
    (back,) = store.get_nodes(["rich"])
    assert type(back) is TextNode and dump(back) == dump(node)
    (hit,) = store.query(VectorStoreQuery(query_embedding=vec(1), similarity_top_k=1)).nodes or []
    assert dump(hit) == dump(node)


def test_node_content_held_as_a_json_string_reads_back(store: SQLiteVecVectorStore) -> None:
    # LlamaIndex's own metadata-dict form keeps the node content as a JSON string.
    node = rich_nodes()[0]
    extra = json.loads(OLD_RICH_EXTRA)
    upsert_old_row(store, node, {**extra, "_node_content": json.dumps(extra["_node_content"])})
    assert dump(store.get_nodes(["rich"])[0]) == dump(node)


def test_new_writes_keep_the_stored_form(store: SQLiteVecVectorStore) -> None:
    nodes = rich_nodes()
    store.add(nodes)
    hits = store.collection.get([n.node_id for n in nodes])
    for node, hit in zip(nodes, hits, strict=True):
        assert compact(hit.extra) == compact(reference_extra(node)), node.node_id
    assert compact(hits[0].extra) == OLD_RICH_EXTRA


def test_node_content_is_dumped_once_on_write_and_never_parsed(
    store: SQLiteVecVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = rich_nodes()
    calls = JsonCalls(monkeypatch)
    store.add(nodes)
    parsed, dumped = calls.node_contents()
    assert parsed == 0
    assert dumped <= len(nodes)  # the core writing the row (none if it stops using json.dumps)


def test_node_content_is_parsed_once_on_read_and_never_dumped(
    store: SQLiteVecVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = rich_nodes()
    store.add(nodes)
    calls = JsonCalls(monkeypatch)
    got = store.get_nodes([n.node_id for n in nodes])
    result = store.query(VectorStoreQuery(query_embedding=vec(1), similarity_top_k=len(nodes)))
    assert [dump(n) for n in got] == [dump(n) for n in nodes]
    assert len(result.nodes or []) == len(nodes)
    parsed, dumped = calls.node_contents()
    # Each node was read twice (get_nodes, query): one parse per read, the core reading the row.
    assert parsed <= 2 * len(nodes)
    assert dumped == 0
