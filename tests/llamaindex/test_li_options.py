"""Opening, options and argument errors: the core's open-or-adopt rule, options checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from llamaindex_sqlitevec import SQLiteVecVectorStore
from sqlitevec_store import Database, InvalidInputError, InvalidInputTypeError
from tests.llamaindex.test_li_store import text_node, vec


def test_bad_index_options_are_refused_before_the_file_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    with pytest.raises(InvalidInputError, match="index_type"):
        SQLiteVecVectorStore(path, index_type="ivfflat")
    with pytest.raises(InvalidInputError, match="oversample"):
        SQLiteVecVectorStore(path, index_type="rescore", oversample=0)
    assert not path.exists()


def test_index_options_are_kept_as_checked(tmp_path: Path) -> None:
    store = SQLiteVecVectorStore(tmp_path / "a.db", index_type="rescore", oversample=np.int64(8))
    assert (store.index_type, store.oversample, type(store.oversample)) == ("rescore", 8, int)
    assert (store.collection.index_type, store.collection.oversample) == ("rescore", 8)


def test_a_path_passed_as_connection_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with pytest.raises(InvalidInputTypeError, match="pass a file path as db_path"):
        SQLiteVecVectorStore(connection=str(path))
    assert not path.exists()


def test_bad_hybrid_options_are_refused_before_filters_and_reads(store: SQLiteVecVectorStore) -> None:
    store.add([text_node("a", 1, kind="x")])
    # A filter the store cannot evaluate: the option is reported first, nothing is translated or read.
    unsupported = MetadataFilters(filters=[MetadataFilter(key="kind", value=["x"], operator=FilterOperator.EQ)])
    base = {"query_embedding": vec(1), "query_str": "text", "mode": VectorStoreQueryMode.HYBRID}
    with pytest.raises(InvalidInputError, match="fusion must be one of"):
        store.query(VectorStoreQuery(**base, filters=unsupported), hybrid_fusion="bogus")
    with pytest.raises(InvalidInputError, match="alpha must be"):
        store.query(VectorStoreQuery(**base, filters=unsupported, alpha=1.5))
    with pytest.raises(InvalidInputError, match="fetch_k must be at least 1"):
        store.query(VectorStoreQuery(**base, filters=unsupported, sparse_top_k=0))
    assert store.query(VectorStoreQuery(**base), hybrid_fusion="rrf").ids == ["a"]


MMR = VectorStoreQueryMode.MMR


@pytest.mark.parametrize(
    ("query", "kwargs", "match"),
    [
        (VectorStoreQuery(query_embedding=vec(1), mode=VectorStoreQueryMode.SVM), {}, "query mode"),
        (VectorStoreQuery(query_embedding=vec(1), mode=VectorStoreQueryMode.TEXT_SEARCH), {}, "query_str"),
        (VectorStoreQuery(query_str="x"), {}, "query_embedding"),
        (VectorStoreQuery(query_embedding=vec(1), mode=MMR), {"mmr_prefetch_k": 8, "mmr_prefetch_factor": 2}, "both"),
    ],
)
def test_query_argument_errors_are_store_errors(
    store: SQLiteVecVectorStore, query: VectorStoreQuery, kwargs: dict[str, int], match: str
) -> None:
    # InvalidInputError is a ValueError and a SqliteVecStoreError, as every error a user sees.
    with pytest.raises(InvalidInputError, match=match):
        store.query(query, **kwargs)


def test_connection_and_database_together_is_a_store_error() -> None:
    with Database() as db, pytest.raises(InvalidInputError, match="not both"):
        SQLiteVecVectorStore(connection=db.conn, database=db)
