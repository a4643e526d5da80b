"""The one rule that picks a collection's embedding model (index, query and import share it)."""

from __future__ import annotations

import pytest

from sqlitevec_store import DEFAULT_MODEL
from sqlitevec_store.errors import ModelMismatchError
from sqlitevec_store.model_choice import ModelChoice, default_model, resolve_model

INT8 = f"{DEFAULT_MODEL}#onnx-int8"


def test_a_built_collection_is_bound_to_its_model() -> None:
    assert resolve_model("c", recorded=INT8, built=True) == ModelChoice(INT8)
    # a named model runs on the backend the recorded id implies
    assert resolve_model("c", recorded=INT8, built=True, requested="all-MiniLM-L6-v2") == ModelChoice(INT8)
    assert resolve_model("c", recorded=DEFAULT_MODEL, built=True, backend="onnx") == ModelChoice(DEFAULT_MODEL)
    with pytest.raises(ModelMismatchError, match="Use --backend onnx-int8"):
        resolve_model("c", recorded=INT8, built=True, backend="torch")
    with pytest.raises(ModelMismatchError, match="was built with"):
        resolve_model("c", recorded=DEFAULT_MODEL, built=True, requested="x/y")
    with pytest.raises(ModelMismatchError, match="Conflicting embedding models"):
        resolve_model("c", recorded=DEFAULT_MODEL, built=True, vectors_from="x/y")
    # vectors without a recorded model: what is named or brought
    assert resolve_model("c", recorded=None, built=True) == ModelChoice(None)
    assert resolve_model("c", recorded=None, built=True, vectors_from="x/y") == ModelChoice("x/y")


def test_an_unbuilt_collection_takes_what_is_named() -> None:
    assert resolve_model("c", recorded=None, built=False) == ModelChoice(None)
    assert resolve_model("c", recorded=None, built=False, backend="onnx-int8").model_id is None
    assert default_model("onnx-int8") == INT8 and default_model() == DEFAULT_MODEL
    assert resolve_model("c", recorded=None, built=False, requested="all-MiniLM-L6-v2") == ModelChoice(DEFAULT_MODEL)
    assert resolve_model("c", recorded="x/y", built=False) == ModelChoice("x/y")
    assert resolve_model("c", recorded="x/y", built=False, requested="a/b") == ModelChoice("a/b", replaces="x/y")
    assert resolve_model("c", recorded=DEFAULT_MODEL, built=False, backend="onnx-int8") == ModelChoice(
        INT8, replaces=DEFAULT_MODEL
    )
    assert resolve_model("c", recorded=None, built=False, vectors_from="x/y") == ModelChoice("x/y")
    with pytest.raises(ModelMismatchError, match="Conflicting embedding models"):
        resolve_model("c", recorded=None, built=False, requested="a/b", vectors_from="x/y")
    with pytest.raises(ModelMismatchError, match="--backend onnx-int8 makes"):
        resolve_model("c", recorded=None, built=False, backend="onnx-int8", vectors_from=DEFAULT_MODEL)
