"""LlamaIndex nodes to core records and back, with the node's bookkeeping kept opaque.

A node is stored as one core :class:`~sqlitevec_store.Record`: its text as the
record text, its user metadata as the record metadata (what filters and
LangChain see), its ``ref_doc_id`` as the indexed ``doc_id``, its embedding as
the vector, and everything else LlamaIndex needs to rebuild it (type,
relationships, templates, ...) in the record's ``extra``::

    {"_node_content": {...the node's JSON form, without metadata, text and embedding...},
     "_node_type": "TextNode"}

That is the node's JSON form as ``node_to_metadata_dict`` takes it (pydantic's
``"json"`` mode), kept whole as a nested object: the adapter never dumps or
parses it itself. Writing, the core serializes it once with the rest of the
row; reading, the core parses the row once and the node is built from that
dict (``from_dict``), not dumped to a string and parsed again as
``metadata_dict_to_node`` would. The bytes on disk are those earlier versions
wrote, so every file reads the same in any version and in LangChain. A
``_node_content`` held as a JSON string (LlamaIndex's own metadata-dict form)
is still read.
"""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.schema import (
    BaseNode,
    ImageNode,
    IndexNode,
    MetadataMode,
    Node,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)

from sqlitevec_store import Hit, Record
from sqlitevec_store.records import json_scalar

__all__ = ["NODE_CONTENT_KEY", "NODE_TYPE_KEY", "hit_to_node", "is_tracked_node", "node_to_record"]

#: The ``extra`` key holding the node's JSON form (the name LlamaIndex's own stores use).
NODE_CONTENT_KEY = "_node_content"

#: The ``extra`` key holding the node's class name.
NODE_TYPE_KEY = "_node_type"

_TEXT_RESOURCE_KEY = "text_resource"

# The classes metadata_dict_to_node rebuilds by name; any other name comes back as a TextNode.
_NODE_CLASSES: dict[str, type[BaseNode]] = {
    Node.class_name(): Node,
    IndexNode.class_name(): IndexNode,
    ImageNode.class_name(): ImageNode,
}

# Node types VectorStoreIndex tracks itself (and passes as query.node_ids).
_TRACKED_NODE_TYPES = frozenset({IndexNode.class_name(), ImageNode.class_name()})


def node_to_record(node: BaseNode) -> Record:
    """A core record: user metadata as metadata, LlamaIndex bookkeeping in ``extra``.

    Raises:
        ValueError: The node has no embedding.

    """
    embedding = node.get_embedding()  # ValueError when the node was not embedded
    # numpy scalars, dates and datetimes take the core's JSON form first (pydantic's JSON
    # dump refuses numpy scalars and keeps each datetime's own offset, so aware datetimes
    # would not compare as strings); anything else pydantic can dump is kept as before.
    if node.metadata:
        node = node.model_copy(update={"metadata": _json_form(node.metadata)})
    content: dict[str, Any] = node.model_dump(mode="json", exclude={"embedding"})
    # One copy of each thing: the metadata in the record (seen by filters and by
    # LangChain), the text in the record's text, the vector in the vector table.
    metadata = content.pop("metadata", None) or {}
    if "text" in content:
        content["text"] = ""
    resource = content.get(_TEXT_RESOURCE_KEY)
    if isinstance(resource, dict):
        resource["text"] = None  # the rest of the resource (path, url, mimetype) stays
    return Record(
        text=node.get_content(metadata_mode=MetadataMode.NONE),
        vector=embedding,
        metadata=metadata,
        id=node.node_id,
        doc_id=node.ref_doc_id,
        extra={NODE_CONTENT_KEY: content, NODE_TYPE_KEY: node.class_name()},
    )


def _json_form(value: Any) -> Any:
    """``value`` with numpy scalars, dates and datetimes (at any depth) in the core's JSON form."""
    if isinstance(value, dict):
        return {key: _json_form(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_form(item) for item in value]
    return json_scalar(value)


def hit_to_node(hit: Hit) -> BaseNode:
    """Rebuild the node a record was written from (a TextNode for rows without bookkeeping)."""
    extra = hit.extra or {}
    content = extra.get(NODE_CONTENT_KEY)
    if content is None:
        relationships = {}
        if hit.doc_id is not None:
            relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=hit.doc_id)
        return TextNode(id_=hit.id, text=hit.text, metadata=hit.metadata, relationships=relationships)
    # The dict the core parsed from the row, used as is (a shallow copy: the hit stays unchanged).
    fields: dict[str, Any] = json.loads(content) if isinstance(content, str) else dict(content)
    fields["metadata"] = hit.metadata
    fields["id_"] = hit.id
    resource = fields.get(_TEXT_RESOURCE_KEY)
    if isinstance(resource, dict):
        fields[_TEXT_RESOURCE_KEY] = {**resource, "text": hit.text}
    elif "text" in fields or _TEXT_RESOURCE_KEY not in fields:
        fields["text"] = hit.text
    node_type = extra.get(NODE_TYPE_KEY)
    node_class = _NODE_CLASSES.get(node_type, TextNode) if isinstance(node_type, str) else TextNode
    node = node_class.from_dict(fields)
    if node.get_content(metadata_mode=MetadataMode.NONE) != hit.text:
        # A type without its own class here (e.g. Document) came back as a TextNode.
        node.set_content(hit.text)
    return node


def is_tracked_node(hit: Hit) -> bool:
    """Whether a record holds an ``IndexNode``/``ImageNode`` (whose ids ``VectorStoreIndex`` tracks)."""
    return hit.extra is not None and hit.extra.get(NODE_TYPE_KEY) in _TRACKED_NODE_TYPES
