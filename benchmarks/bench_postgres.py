"""Our store on Postgres + pgvector, side by side with langchain-postgres and raw SQL (issue #11).

Run (after ``pip install -e ".[all,dev]"`` and ``pip install -r benchmarks/requirements-bench.txt``):
    python benchmarks/perf_corpus.py             # once: 20K paragraphs embedded and cached
    python benchmarks/bench_postgres.py          # 100K, every contender: 12-15 min on 2 shared cores
    python benchmarks/bench_postgres.py --diagnose   # ~2 min: where insert and search time goes
    python benchmarks/bench_postgres.py --quick --ef 40,100   # ~7 min: writes and HNSW, new code beside the old paths

One Postgres server (pgserver's Postgres 16 + pgvector, its own data directory,
``--pgdata``; the settings in :data:`SERVER_SETTINGS` applied with ``ALTER
SYSTEM`` and a restart), one data set, every contender in the same process,
measured in turn. The unfiltered HNSW rows run all queries in ``--rounds``
interleaved rounds (so drift from other load hits all of them alike) and
report the median over the rounds of their p50 and p95; the exact and the
filtered rows run once over the first ``--exact-queries`` queries (an exact
scan takes 0.1-0.5 s at 100K).

Data: the vectors of ``perf_corpus.py`` grown to ``--n`` the way
``bench_perf.py`` grows them (:func:`bench_perf.make_set`: the 20K real
all-MiniLM-L6-v2 vectors plus noisy copies), texts ``texts[i % 20K]``,
metadata ``{"bucket": i % 1000}``; queries: the 200 held-out real paragraphs.
The truth is the exact numpy top 10 (:func:`bench_perf.exact_top`), per filter.

Contenders, k = 10, one query at a time, exact (sequential scan) and HNSW
(m = 16, ef_construction = 64, the same ``hnsw.ef_search`` for all):

- ``raw SQL``: psycopg + pgvector-python, ``SELECT id, text, metadata_text,
  embedding <=> %s FROM <our table> ORDER BY embedding <=> %s LIMIT 10`` on the
  very table and index our store uses (``hnsw.ef_search`` set once per session);
- ``core Collection.search``: our core on a ``postgresql://`` URL;
- ``ours: LangChain SQLiteVecVectorStore``: ``similarity_search(text)`` with
  ``db_path=URL``;
- ``langchain-postgres PGVectorStore``: ``similarity_search(text)`` on its own
  table (made by ``PGEngine.init_vectorstore_table``, filled with the same
  rows), ``HNSWIndex(m=16, ef_construction=64)`` and ``HNSWQueryOptions``.

Both LangChain stores get a fake ``Embeddings`` that looks each query text up
in the precomputed vectors: no model runs while timing. Filters (on the
metadata key ``bucket``) at 0.1%, 1%, 10% and 50% of the rows, through each
contender's own filter syntax. Writes: ``Collection.upsert`` of precomputed
vectors (batches of 1,000, and one call of all rows), and PGVectorStore's
``add_embeddings`` on a sample. Migration: file -> Postgres -> file of all
rows with ``sqlitevec_store.migration.migrate`` (verified).

Prints markdown tables, EXPLAIN ANALYZE of the main queries, and writes every
figure to ``benchmarks/pg_results.json``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import numpy.typing as npt
import perf_corpus
from bench_perf import K, exact_top, make_set, run_queries

HERE = Path(__file__).resolve().parent
Vectors = npt.NDArray[np.float32]

#: Server settings, the same for every contender (pgserver's initdb defaults are 128MB of shared
#: buffers and 64MB of maintenance memory: too small to keep three 100K tables and their HNSW
#: indexes in memory, or to build an HNSW index of 100K vectors in memory).
SERVER_SETTINGS = {
    "shared_buffers": "2GB",  # every table and index of the run stays in Postgres's own cache
    "effective_cache_size": "8GB",  # the planner's view of the OS cache (24 GB machine)
    "maintenance_work_mem": "1GB",  # HNSW builds in memory (our backend also sets 1GB for its build)
    "work_mem": "64MB",  # sorts of the exact scans stay in memory
    "max_wal_size": "4GB",  # no checkpoint storm in the middle of the bulk inserts
}

#: HNSW build parameters, the same for every contender (pgvector's defaults, and our backend's).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

#: Schemas this benchmark creates (dropped at the start of a run).
SCHEMAS = ("bench_ours", "bench_batches", "bench_lcpg", "bench_lcpg_sample", "bench_migrate", "bench_before")

COLLECTION = "perf"
VECTOR_LITERAL = re.compile(r"'\[[^\]]*\]'::vector")
LCPG_TABLE = "perf_lcpg"


@dataclass(frozen=True)
class FilterCase:
    """One metadata filter, in every contender's syntax, and the rows it matches."""

    name: str
    spec: dict[str, Any]  # the dict dialect both LangChain stores take (and our core parses)
    sql: str  # the same condition for raw SQL over our table
    mask: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]


FILTERS = (
    FilterCase("0.1%: bucket == 7", {"bucket": 7}, "(metadata->>'bucket')::int = 7", lambda b: b == 7),
    FilterCase("1%: bucket < 10", {"bucket": {"$lt": 10}}, "(metadata->>'bucket')::int < 10", lambda b: b < 10),
    FilterCase("10%: bucket < 100", {"bucket": {"$lt": 100}}, "(metadata->>'bucket')::int < 100", lambda b: b < 100),
    FilterCase("50%: bucket < 500", {"bucket": {"$lt": 500}}, "(metadata->>'bucket')::int < 500", lambda b: b < 500),
)


# -- results -------------------------------------------------------------------


@dataclass
class SearchRow:
    """One contender in one setting, measured once per round."""

    phase: str  # "exact" or "hnsw ef=N"
    contender: str
    filter: str  # "" when unfiltered
    p50_ms: list[float] = field(default_factory=list)
    p95_ms: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    queries: int = 0

    def median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None


@dataclass
class OtherRow:
    """A write, build or migration figure."""

    what: str
    seconds: float
    records: int
    note: str = ""

    @property
    def per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


SEARCHES: dict[tuple[str, str, str], SearchRow] = {}
OTHERS: list[OtherRow] = []
EXPLAINS: dict[str, str] = {}
STORAGE: dict[str, dict[str, float]] = {}
DIAGNOSIS: dict[str, float] = {}


def record_search(phase: str, contender: str, filter_name: str, p50: float, p95: float, recall: float, n: int) -> None:
    row = SEARCHES.setdefault((phase, contender, filter_name), SearchRow(phase, contender, filter_name))
    row.p50_ms.append(p50)
    row.p95_ms.append(p95)
    row.recall.append(recall)
    row.queries = n
    where = f", filter {filter_name}" if filter_name else ""
    print(f"  [{phase}] {contender}{where}: p50 {p50:.2f} ms, p95 {p95:.2f} ms, recall@10 {recall:.3f}", flush=True)


def record_other(row: OtherRow) -> None:
    OTHERS.append(row)
    print(f"  {row.what}: {row.seconds:.1f} s, {row.per_s:,.0f} records/s {row.note}", flush=True)


# -- the server ----------------------------------------------------------------


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options`` setting ``search_path`` to ``schema, public`` (as tests/pg_support.py)."""
    option = quote(f"-csearch_path={schema},public", safe="")
    return f"{url}{'&' if '?' in url else '?'}options={option}"


def start_server(pgdata: Path) -> tuple[Any, str]:
    """Start pgserver's Postgres on ``pgdata`` with :data:`SERVER_SETTINGS` (restarting it once if needed)."""
    import pgserver
    import psycopg
    from psycopg import sql

    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
        time.sleep(1.0)
        pending = [row[0] for row in conn.execute("SELECT name FROM pg_settings WHERE pending_restart")]
    if pending:
        print(f"# restarting the server for {pending}", flush=True)
        server.cleanup()  # stops it (this process holds the only handle)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for schema in SCHEMAS:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return server, url


def server_info(url: str) -> dict[str, str]:
    import psycopg

    names = [
        *SERVER_SETTINGS,
        "max_parallel_workers_per_gather",
        "max_parallel_maintenance_workers",
        "jit",
        "synchronous_commit",
        "fsync",
    ]
    with psycopg.connect(url, autocommit=True) as conn:

        def one(sql: str, *params: Any) -> str:
            row = conn.execute(sql, params).fetchone()
            return str(row[0] if row else None)

        out = {name: one("SELECT current_setting(%s)", name) for name in names}
        out["server"] = one("SELECT version()")
        out["pgvector"] = one("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        out["jit_available"] = one("SELECT pg_jit_available()")
    return out


# -- data ----------------------------------------------------------------------


class LookupEmbeddings:
    """A LangChain ``Embeddings`` that returns the precomputed vector of each query text (no model runs)."""

    def __init__(self, texts: Sequence[str], vectors: Vectors) -> None:
        self.by_text = {text: vector.tolist() for text, vector in zip(texts, vectors, strict=True)}
        self.dimension = vectors.shape[1]

    def embed_query(self, text: str) -> list[float]:
        return self.by_text[text]  # type: ignore[no-any-return]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.by_text[text] for text in texts]

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)


def lookup_embeddings(texts: Sequence[str], vectors: Vectors) -> Any:
    from langchain_core.embeddings import Embeddings

    class _Lookup(LookupEmbeddings, Embeddings):
        pass

    return _Lookup(texts, vectors)


def make_records(x: Vectors, texts: list[str], buckets: npt.NDArray[np.int64]) -> list[Any]:
    from sqlitevec_store import Record

    return [
        Record(text=texts[i % len(texts)], vector=x[i], metadata={"bucket": int(buckets[i])}, id=str(i))
        for i in range(len(x))
    ]


def lcpg_id(i: int) -> str:
    """PGVectorStore's id (a UUID column) for row ``i``."""
    return str(uuid.UUID(int=i))


# -- writes --------------------------------------------------------------------


def bench_upserts(url: str, records: list[Any], *, before: bool = False) -> None:
    from sqlitevec_store import Database

    n = len(records)
    batches_url = with_search_path(url, "bench_batches")
    with Database(batches_url) as db:
        col = db.collection(COLLECTION)
        started = time.perf_counter()
        for start in range(0, n, 1000):
            col.upsert(records[start : start + 1000])
        seconds = time.perf_counter() - started
    record_other(OtherRow("core Collection.upsert, batches of 1,000 (precomputed vectors)", seconds, n))
    with Database(with_search_path(url, "bench_ours")) as db:
        col = db.collection(COLLECTION)
        started = time.perf_counter()
        col.upsert(records)
        seconds = time.perf_counter() - started
    record_other(OtherRow(f"core Collection.upsert, one call of {n:,} (precomputed vectors)", seconds, n))
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA bench_batches CASCADE")
    if before:
        bench_upserts_before(url, records)


def bench_upserts_before(url: str, records: list[Any]) -> None:
    """One call of all rows into a collection whose keyword index exists first: today's code, then as before.

    Before (to 8e41dec), every table had the keyword index from its creation
    and every batch went through the staging table's upsert; the second row
    puts both back (the index made first, :func:`statements.any_stored_sql`
    answering "stored"), so only the pool and the NUL check differ from then.
    """
    import psycopg

    from sqlitevec_store import Database
    from sqlitevec_store.backends.postgres import statements

    n = len(records)
    for label, staged in (("direct COPY of new ids", False), ("staged upsert of every batch, as before", True)):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS bench_before CASCADE")
            conn.execute("CREATE SCHEMA bench_before")
        original = statements.any_stored_sql
        with Database(with_search_path(url, "bench_before")) as db:
            col = db.collection(COLLECTION)
            db.backend.ensure_keyword_index(col.info())
            if staged:
                statements.any_stored_sql = lambda names: "SELECT true"
            try:
                started = time.perf_counter()
                col.upsert(records)
                seconds = time.perf_counter() - started
            finally:
                statements.any_stored_sql = original
        record_other(OtherRow(f"core Collection.upsert, one call, keyword index made first: {label}", seconds, n))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA bench_before CASCADE")


def our_table(url: str) -> str:
    """The schema-qualified table our store keeps the collection in (read from its registry)."""
    import psycopg

    with psycopg.connect(with_search_path(url, "bench_ours"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT table_id FROM sqlitevec_store_collections WHERE lower(name) = lower(%s)", (COLLECTION,)
        ).fetchone()
    assert row is not None
    return f'bench_ours."svs_c{int(row[0])}"'


def lcpg_engine(url: str) -> Any:
    from langchain_postgres import PGEngine

    return PGEngine.from_connection_string(url.replace("postgresql://", "postgresql+asyncpg://", 1))


def fill_lcpg(url: str, engine: Any, x: Vectors, texts: list[str], buckets: npt.NDArray[np.int64]) -> None:
    """PGVectorStore's table, made by its engine and filled (by COPY) with the same rows; and its own insert timed."""
    import psycopg

    engine.init_vectorstore_table(LCPG_TABLE, x.shape[1], schema_name="bench_lcpg")
    from psycopg.types import TypeInfo
    from psycopg.types.json import Json

    from sqlitevec_store.backends.postgres.connection import prepare_connection

    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        prepare_connection(conn, read_only=False)  # numpy arrays go out in pgvector's binary form
        info = TypeInfo.fetch(conn, "vector")
        assert info is not None
        columns = "langchain_id, content, embedding, langchain_metadata"
        with (
            conn.cursor() as cur,
            cur.copy(f'COPY bench_lcpg."{LCPG_TABLE}" ({columns}) FROM STDIN (FORMAT BINARY)') as copy,
        ):
            copy.set_types(["uuid", "text", info.oid, "json"])
            for i in range(len(x)):
                copy.write_row((uuid.UUID(int=i), texts[i % len(texts)], x[i], Json({"bucket": int(buckets[i])})))
    print(f"  PGVectorStore table filled by COPY in {time.perf_counter() - started:.1f} s (not a contender figure)")


def bench_lcpg_insert(engine: Any, x: Vectors, texts: list[str], sample: int) -> None:
    """PGVectorStore.add_embeddings of ``sample`` rows into a table of its own (it inserts row by row)."""
    from langchain_postgres import PGVectorStore

    engine.init_vectorstore_table(LCPG_TABLE, x.shape[1], schema_name="bench_lcpg_sample")
    store = PGVectorStore.create_sync(engine, lookup_embeddings([], x[:0]), LCPG_TABLE, schema_name="bench_lcpg_sample")
    rows = range(sample)
    started = time.perf_counter()
    store.add_embeddings(
        [texts[i % len(texts)] for i in rows],
        [x[i].tolist() for i in rows],
        metadatas=[{"bucket": i % 1000} for i in rows],
        ids=[lcpg_id(i) for i in rows],
    )
    seconds = time.perf_counter() - started
    record_other(OtherRow(f"langchain-postgres PGVectorStore.add_embeddings, {sample:,} rows", seconds, sample))


def inline_copy(url: str, table: str) -> str:
    """A copy of our table whose vectors stay in the heap rows (``STORAGE MAIN``), for the proposed-fix row.

    pgvector 0.6 gives ``vector`` the ``EXTERNAL`` storage: in a row longer
    than ~2 KB (ours hold text, metadata twice and the tsvector beside 1.5 KB
    of vector) the vector is moved out of line to the TOAST table, and every
    distance of a sequential scan fetches it from there.
    """
    import psycopg

    copy = "bench_ours.inline_main"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {copy}")
        conn.execute(f"CREATE TABLE {copy} AS SELECT * FROM {table} WITH NO DATA")
        conn.execute(f"ALTER TABLE {copy} ALTER COLUMN embedding SET STORAGE MAIN")
        conn.execute(f"INSERT INTO {copy} SELECT * FROM {table}")
        conn.execute(f"VACUUM (ANALYZE) {copy}")
    return copy


def storage_report(url: str, tables: Sequence[str]) -> None:
    """Heap and TOAST sizes of ``tables`` (where the vectors live)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            row = conn.execute(
                "SELECT pg_relation_size(oid), coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0) "
                "FROM pg_class WHERE oid = %s::regclass",
                (table,),
            ).fetchone()
            assert row is not None
            STORAGE[table] = {"heap_mb": row[0] / 1e6, "toast_mb": row[1] / 1e6}
            print(f"  {table}: heap {row[0] / 1e6:.0f} MB, TOAST {row[1] / 1e6:.0f} MB", flush=True)


def vacuum(url: str, tables: Sequence[str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM (ANALYZE) {table}")


# -- contenders ----------------------------------------------------------------


@dataclass
class Contender:
    """A name and its search: ``search(query_number, filter_case)`` -> row numbers."""

    name: str
    search: Callable[[int, FilterCase | None], Sequence[int]]
    set_ef: Callable[[int | None], None]  # None: exact
    close: Callable[[], None]


RAW = "raw SQL (psycopg + pgvector, our table)"
RAW_INLINE = "raw SQL, our table copied with embedding STORAGE MAIN (proposed fix)"
LCPG = "langchain-postgres PGVectorStore"


def raw_contender(url: str, table: str, queries: Vectors, name: str = RAW) -> Contender:
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)

    def set_ef(ef: int | None) -> None:
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef or 40),))

    def search(i: int, case: FilterCase | None) -> Sequence[int]:
        where = f"WHERE {case.sql} " if case else ""
        sql = (
            f"SELECT id, text, metadata_text, embedding <=> %(q)s AS distance FROM {table} "
            f"{where}ORDER BY embedding <=> %(q)s LIMIT {K}"
        )
        return [int(row[0]) for row in conn.execute(sql, {"q": queries[i]})]

    return Contender(name, search, set_ef, conn.close)


def core_contender(url: str, queries: Vectors) -> Contender:
    from sqlitevec_store import Database
    from sqlitevec_store.filters import parse_filter_dict
    from sqlitevec_store.options import IndexOptions

    db = Database(with_search_path(url, "bench_ours"))
    col = db.collection(COLLECTION, create=False)
    trees = {case.name: parse_filter_dict(case.spec) for case in FILTERS}

    def set_ef(ef: int | None) -> None:
        col.options = IndexOptions("flat") if ef is None else IndexOptions("hnsw", ef_search=ef)

    def search(i: int, case: FilterCase | None) -> Sequence[int]:
        tree = trees[case.name] if case else None
        return [int(hit.id) for hit in col.search(queries[i], k=K, filter=tree)]

    return Contender("ours: core Collection.search", search, set_ef, db.close)


CORE_BEFORE = "ours: core, as before (pool check per checkout, registry read per search)"


def core_before_contender(url: str, queries: Vectors) -> Contender:
    """The core as it searched before (to 8e41dec): the pool checks every checkout, every search reads the registry."""
    from sqlitevec_store import Database
    from sqlitevec_store.backends.postgres import connection
    from sqlitevec_store.options import IndexOptions

    idle, connection.IDLE_CHECK_SECONDS = connection.IDLE_CHECK_SECONDS, 0.0  # read when the pool is made
    try:
        db = Database(with_search_path(url, "bench_ours"))
    finally:
        connection.IDLE_CHECK_SECONDS = idle
    col = db.collection(COLLECTION, create=False)

    def set_ef(ef: int | None) -> None:
        col.options = IndexOptions("flat") if ef is None else IndexOptions("hnsw", ef_search=ef)

    def search(i: int, case: FilterCase | None) -> Sequence[int]:
        assert case is None
        col.search_entry = None  # the registry entry read again, in the search's connection, as before
        return [int(hit.id) for hit in col.search(queries[i], k=K)]

    return Contender(CORE_BEFORE, search, set_ef, db.close)


def langchain_contender(url: str, embeddings: Any, query_texts: list[str]) -> Contender:
    from langchain_sqlitevec import SQLiteVecVectorStore
    from sqlitevec_store.options import IndexOptions

    store = SQLiteVecVectorStore(embeddings, db_path=with_search_path(url, "bench_ours"), collection_name=COLLECTION)

    def set_ef(ef: int | None) -> None:
        # The store takes index_type but not ef_search: set both on its core collection.
        store.collection.options = IndexOptions("flat") if ef is None else IndexOptions("hnsw", ef_search=ef)

    def search(i: int, case: FilterCase | None) -> Sequence[int]:
        docs = store.similarity_search(query_texts[i], k=K, filter=case.spec if case else None)
        return [int(doc.id) for doc in docs]

    return Contender("ours: LangChain SQLiteVecVectorStore", search, set_ef, store.close)


def lcpg_contender(engine: Any, embeddings: Any, query_texts: list[str]) -> Contender:
    from langchain_postgres import PGVectorStore
    from langchain_postgres.v2.indexes import HNSWQueryOptions

    stores: dict[int | None, Any] = {}
    current: list[Any] = []

    def set_ef(ef: int | None) -> None:
        if ef not in stores:
            options = None if ef is None else HNSWQueryOptions(ef_search=ef)
            stores[ef] = PGVectorStore.create_sync(
                engine, embeddings, LCPG_TABLE, schema_name="bench_lcpg", index_query_options=options
            )
        current[:] = [stores[ef]]

    def search(i: int, case: FilterCase | None) -> Sequence[int]:
        docs = current[0].similarity_search(query_texts[i], k=K, filter=case.spec if case else None)
        return [uuid.UUID(doc.id).int for doc in docs]

    return Contender(LCPG, search, set_ef, lambda: None)


# -- measuring -----------------------------------------------------------------


def measure(
    phase: str,
    contender: Contender,
    case: FilterCase | None,
    n_queries: int,
    truth: list[set[int]],
) -> None:
    timed = run_queries(lambda i: contender.search(i, case), n_queries, truth, 1e9, f"{contender.name} {phase}")
    assert timed.recall is not None
    record_search(
        phase, contender.name, case.name if case else "", timed.p50_ms, timed.p95_ms, timed.recall, timed.queries
    )


def run_phase(
    phase: str,
    ef: int | None,
    contenders: list[Contender],
    cases: Sequence[FilterCase | None],
    n_queries: int,
    truths: Mapping[str, list[set[int]]],
) -> None:
    for contender in contenders:
        contender.set_ef(ef)
        for case in cases:
            measure(phase, contender, case, n_queries, truths[case.name if case else ""])


@contextmanager
def load_noted(what: str) -> Iterator[None]:
    before = os.getloadavg()
    yield
    print(f"# {what}: load average {before[0]:.2f} before, {os.getloadavg()[0]:.2f} after", flush=True)


def build_hnsw(url: str, table: str, core: Contender, engine: Any, queries: Vectors) -> None:
    """Build both HNSW indexes (ours by its first HNSW search, PGVectorStore's by apply_vector_index), timed."""
    from langchain_postgres import PGVectorStore
    from langchain_postgres.v2.indexes import HNSWIndex

    core.set_ef(40)
    started = time.perf_counter()
    core.search(0, None)
    record_other(
        OtherRow(
            f"ours: HNSW build (first hnsw search; m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION})",
            time.perf_counter() - started,
            count_rows(url, table),
        )
    )
    store = PGVectorStore.create_sync(engine, lookup_embeddings([], queries[:0]), LCPG_TABLE, schema_name="bench_lcpg")
    started = time.perf_counter()
    store.apply_vector_index(HNSWIndex(m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION))
    record_other(
        OtherRow(
            "langchain-postgres PGVectorStore: HNSW build (apply_vector_index)",
            time.perf_counter() - started,
            count_rows(url, f'bench_lcpg."{LCPG_TABLE}"'),
        )
    )


def count_rows(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def explain(url: str, table: str, query: Vectors, ef: int | None, label: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of our store's exact and HNSW statements and of the raw ones, query 0."""
    import psycopg
    from pgvector.psycopg import register_vector

    from sqlitevec_store.backends.postgres import statements
    from sqlitevec_store.backends.postgres.ddl import CollectionTable
    from sqlitevec_store.backends.postgres.filter_sql import compile_filter
    from sqlitevec_store.filters import parse_filter_dict

    table_id = int(table.split('"svs_c')[1].rstrip('"'))
    names = CollectionTable(table_id)
    one_percent = FILTERS[1]
    with psycopg.connect(with_search_path(url, "bench_ours"), autocommit=True) as conn:
        register_vector(conn)
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef or 40),))
        plans: dict[str, tuple[str, dict[str, Any]]] = {}
        if ef is None:
            tree = parse_filter_dict(one_percent.spec)
            assert tree is not None
            where = statements.where(None, None, statements.Where(*compile_filter(tree, "metadata")))
            plans["ours exact"] = (
                statements.exact_knn_sql(names, statements.Where("TRUE", {}), include_vectors=False),
                {},
            )
            plans[f"ours exact, filter {one_percent.name}"] = (
                statements.exact_knn_sql(names, where, include_vectors=False),
                dict(where.params),
            )
        else:
            plans[f"ours hnsw ef={ef}"] = (
                statements.hnsw_knn_sql(names, statements.Where("TRUE", {}), include_vectors=False),
                {},
            )
        plans[f"raw {label}"] = (
            f"SELECT id, text, metadata_text, embedding <=> %(q)s AS distance FROM {table} "
            f"ORDER BY embedding <=> %(q)s LIMIT {K}",
            {},
        )
        if ef is None:
            plans["raw exact, STORAGE MAIN copy"] = (
                f"SELECT id, text, metadata_text, embedding <=> %(q)s AS distance FROM bench_ours.inline_main "
                f"ORDER BY embedding <=> %(q)s LIMIT {K}",
                {},
            )
        for name, (statement, params) in plans.items():
            sql = statement.replace("%(q)b", "%(q)s")
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", dict(params, q=query, k=K)).fetchall()
            EXPLAINS[name] = VECTOR_LITERAL.sub("'[...]'::vector", "\n".join(row[0] for row in rows))
            print(f"\n-- EXPLAIN ANALYZE: {name}\n{EXPLAINS[name]}", flush=True)


# -- diagnostics (--diagnose) ----------------------------------------------------

#: Variations of our collection table for the insert diagnosis:
#: (label, vector storage, keyword index (tsvector + its GIN), GIN index on metadata).
TABLE_VARIANTS = (
    ("with the keyword index (vector MAIN, tsvector + GIN, metadata GIN)", None, True, True),
    ("embedding STORAGE MAIN", "MAIN", True, True),
    ("no metadata GIN index", None, True, False),
    ("no tsvector column and its GIN index", None, False, True),
    ("neither GIN index nor the tsvector", None, False, False),
)


def diagnose_inserts(url: str, records: list[Any]) -> None:
    """Server-side cost of the backend's upsert statement on variations of its table (same rows, same SQL).

    The rows are staged once with the backend's own binary COPY; each variant
    is a table made by the backend's DDL, then changed; the timed statement is
    :func:`statements.upsert_from_stage_sql` itself, so only the server's work
    is measured (no Python, no COPY).
    """
    import psycopg

    from sqlitevec_store.backends.postgres import ddl, statements
    from sqlitevec_store.backends.postgres.connection import prepare_connection

    n = len(records)
    dimension = len(records[0].vector)
    with psycopg.connect(with_search_path(url, "bench_batches"), autocommit=True) as conn:
        prepare_connection(conn, read_only=False)
        conn.execute("BEGIN")
        conn.execute(statements.create_stage_sql().replace("ON COMMIT DELETE ROWS", "ON COMMIT PRESERVE ROWS"))
        with conn.cursor() as cursor, cursor.copy(statements.copy_stage_sql()) as copy:
            copy.set_types(["int8", "text", "text", "text", "text", "text", "vector"])
            for order, record in enumerate(records):
                metadata = json.dumps(dict(record.metadata))
                copy.write_row((order, record.id, record.text, metadata, None, None, record.vector))
        conn.execute("COMMIT")
        for number, (label, storage, keyword, metadata_index) in enumerate(TABLE_VARIANTS, start=900):
            names = ddl.CollectionTable(number)
            for statement in ddl.create_table_sql(names, dimension):
                conn.execute(statement)
            if storage:
                conn.execute(f"ALTER TABLE {names.table} ALTER COLUMN embedding SET STORAGE {storage}")
            if not metadata_index:
                conn.execute(f"DROP INDEX {names.metadata_index}")
            if keyword:  # the keyword index the first keyword search adds (tables made before 2026-12-01 had it)
                for statement in ddl.keyword_index_sql(names):
                    conn.execute(statement)
            started = time.perf_counter()
            conn.execute(statements.upsert_from_stage_sql(names))
            seconds = time.perf_counter() - started
            record_other(OtherRow(f"diagnosis: server-side upsert statement, table {label}", seconds, n))
            conn.execute(f"DROP TABLE {names.table}")


def diagnose_round_trips(url: str, queries: Vectors, ef: int) -> None:
    """What one search costs beyond its query: a round trip, a pool checkout, and the statements our search sends."""
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg_pool import ConnectionPool

    def median_ms(action: Callable[[], object], repeat: int = 300) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            action()
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    ours = with_search_path(url, "bench_ours")
    table = our_table(url)
    with psycopg.connect(ours, autocommit=True) as conn:
        register_vector(conn)
        figures = {
            "round trip (empty statement)": median_ms(lambda: conn.execute("")),
            "registry read (Collection.info)": median_ms(
                lambda: conn.execute(
                    "SELECT * FROM sqlitevec_store_collections WHERE lower(name) = lower(%s)", (COLLECTION,)
                ).fetchone()
            ),
        }
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))
        query = queries[0]
        sql = (
            f"SELECT id, text, metadata_text, embedding <=> %(q)s AS distance FROM {table} "
            f"ORDER BY embedding <=> %(q)s LIMIT {K}"
        )
        figures[f"HNSW query alone, ef={ef}"] = median_ms(lambda: conn.execute(sql, {"q": query}).fetchall())

        def in_transaction() -> None:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
            conn.execute(sql, {"q": query}).fetchall()
            conn.execute("COMMIT")

        figures["the same in BEGIN + set_config + COMMIT (as knn sends it)"] = median_ms(in_transaction)
    with ConnectionPool(ours, min_size=1, max_size=2, kwargs={"autocommit": True}, open=True) as plain:

        def checkout() -> None:
            with plain.connection():
                pass

        figures["pool checkout, no check"] = median_ms(checkout)
    with ConnectionPool(
        ours, min_size=1, max_size=2, kwargs={"autocommit": True}, check=ConnectionPool.check_connection, open=True
    ) as checked:

        def checked_out() -> None:
            with checked.connection():
                pass

        figures["pool checkout with check_connection (as the backend's pool)"] = median_ms(checked_out)
    for what, ms in figures.items():
        DIAGNOSIS[what] = ms
        print(f"  {what}: {ms:.3f} ms", flush=True)


def run_diagnosis(url: str, records: list[Any], queries: Vectors, ef: int) -> None:
    """The insert diagnosis, the core's upserts of the same rows, then (with our HNSW index) the round trips."""
    diagnose_inserts(url, records)
    bench_upserts(url, records)
    core = core_contender(url, queries)
    try:
        core.set_ef(ef)
        core.search(0, None)  # builds the HNSW index
        timed = run_queries(lambda i: core.search(i, None), len(queries), None, 1e9, "core hnsw")
        DIAGNOSIS[f"core Collection.search, HNSW ef={ef}, p50"] = timed.p50_ms
        print(f"  core Collection.search, HNSW ef={ef}: p50 {timed.p50_ms:.3f} ms", flush=True)
    finally:
        core.close()
    diagnose_round_trips(url, queries, ef)


# -- migration -----------------------------------------------------------------


def bench_migration(url: str, records: list[Any], workdir: Path) -> None:
    from sqlitevec_store import Database
    from sqlitevec_store.migration import migrate

    source = workdir / "source.db"
    with Database(source) as db:
        started = time.perf_counter()
        db.collection(COLLECTION).upsert(records)
        print(f"  source file written in {time.perf_counter() - started:.1f} s (not a migration figure)")
    target = with_search_path(url, "bench_migrate")
    n = len(records)
    for what, src, dst in (
        ("migrate file -> Postgres (+ verify)", str(source), target),
        ("migrate Postgres -> file (+ verify)", target, str(workdir / "back.db")),
    ):
        started = time.perf_counter()
        report = migrate(src, dst)
        seconds = time.perf_counter() - started
        done = report.collections[0]
        record_other(OtherRow(what, seconds, n, f"verified: ok={report.ok}, copied {done.copied:,}"))


# -- output --------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def print_tables(raw_name: str, lcpg_name: str) -> None:
    if not SEARCHES:
        print_others()
        return
    print("\n### Search, k=10, one query at a time (median over rounds of each round's p50 / p95)\n")
    print("| phase | contender | filter | p50 ms | p95 ms | recall@10 | x raw SQL | x PGVectorStore |")
    print("|---|---|---|---|---|---|---|---|")
    for (phase, contender, filter_name), row in SEARCHES.items():
        p50 = row.median(row.p50_ms)
        raw = SEARCHES.get((phase, raw_name, filter_name))
        lcpg = SEARCHES.get((phase, lcpg_name, filter_name))
        raw_p50 = raw.median(raw.p50_ms) if raw else None
        lcpg_p50 = lcpg.median(lcpg.p50_ms) if lcpg else None
        print(
            f"| {phase} | {contender} | {filter_name or '-'} | {fmt(p50)} | {fmt(row.median(row.p95_ms))} "
            f"| {fmt(row.median(row.recall), 3)} | {fmt(p50 / raw_p50) if p50 and raw_p50 else ''} "
            f"| {fmt(p50 / lcpg_p50) if p50 and lcpg_p50 else ''} |"
        )
    print_others()


def print_others() -> None:
    if DIAGNOSIS:
        print("\n### Diagnosis: one search's parts (median ms)\n")
        print("| what | ms |")
        print("|---|---|")
        for what, ms in DIAGNOSIS.items():
            print(f"| {what} | {ms:.3f} |")
    print("\n### Writes, index builds, migration\n")
    print("| what | seconds | records | records/s | note |")
    print("|---|---|---|---|---|")
    for other in OTHERS:
        print(f"| {other.what} | {other.seconds:.1f} | {other.records:,} | {fmt(other.per_s)} | {other.note} |")


def compare(
    args: argparse.Namespace,
    url: str,
    x: Vectors,
    texts: list[str],
    buckets: npt.NDArray[np.int64],
    records: list[Any],
    query_texts: list[str],
    queries: Vectors,
    truths: dict[str, list[set[int]]],
    workdir: Path,
) -> None:
    """Every contender, side by side: writes, exact, HNSW builds, HNSW, filtered, migration."""
    efs = [int(v) for v in args.ef.split(",") if v.strip()]
    contenders: list[Contender] = []
    if args.quick:
        quick(args, url, records, query_texts, queries, truths, efs)
        return
    try:
        print("\n## writes", flush=True)
        with load_noted("writes"):
            bench_upserts(url, records, before=args.before)
        table = our_table(url)
        engine = lcpg_engine(url)
        fill_lcpg(url, engine, x, texts, buckets)
        bench_lcpg_insert(engine, x, texts, args.lcpg_insert_sample)
        vacuum(url, [table, f'bench_lcpg."{LCPG_TABLE}"'])
        embeddings = lookup_embeddings(query_texts, queries)
        raw = raw_contender(url, table, queries)
        core = core_contender(url, queries)
        contenders = [
            raw,
            core,
            langchain_contender(url, embeddings, query_texts),
            lcpg_contender(engine, embeddings, query_texts),
        ]
        cases: list[FilterCase | None] = [None, *FILTERS]
        few = min(args.exact_queries, len(queries))
        print(f"\n## exact (sequential scans; no HNSW index exists yet), {few} queries", flush=True)
        inline = inline_copy(url, table)
        storage_report(url, [table, inline, f'bench_lcpg."{LCPG_TABLE}"'])
        explain(url, table, queries[0], None, "exact")
        with load_noted("exact"):
            run_phase("exact", None, contenders, cases, few, truths)
            fixed = raw_contender(url, inline, queries, RAW_INLINE)
            run_phase("exact", None, [fixed], [None, FILTERS[1]], few, truths)
            fixed.close()
        print("\n## HNSW builds", flush=True)
        with load_noted("HNSW builds"):
            build_hnsw(url, table, core, engine, queries)
        vacuum(url, [table, f'bench_lcpg."{LCPG_TABLE}"'])
        explain(url, table, queries[0], efs[0], f"hnsw ef={efs[0]}")
        for round_number in range(args.rounds):
            with load_noted(f"hnsw round {round_number + 1}"):
                for ef in efs:
                    run_phase(f"hnsw ef={ef}", ef, contenders, [None], len(queries), truths)
        with load_noted("hnsw filtered"):
            run_phase(f"hnsw ef={args.filter_ef}", args.filter_ef, contenders, FILTERS, few, truths)
        for contender in contenders:
            contender.close()
        contenders = []
        if not args.no_migration:
            print("\n## migration", flush=True)
            with load_noted("migration"):
                bench_migration(url, records, workdir)
    finally:
        for contender in contenders:
            contender.close()


def quick(
    args: argparse.Namespace,
    url: str,
    records: list[Any],
    query_texts: list[str],
    queries: Vectors,
    truths: dict[str, list[set[int]]],
    efs: list[int],
) -> None:
    """``--quick``: the two figures issue #11 missed, each with the code as it was: writes, then unfiltered HNSW."""
    print("\n## writes", flush=True)
    with load_noted("writes"):
        bench_upserts(url, records, before=True)
    table = our_table(url)
    vacuum(url, [table])
    raw = raw_contender(url, table, queries)
    core = core_contender(url, queries)
    contenders = [raw, core, core_before_contender(url, queries)]
    contenders.append(langchain_contender(url, lookup_embeddings(query_texts, queries), query_texts))
    try:
        print("\n## HNSW build", flush=True)
        core.set_ef(efs[0])
        started = time.perf_counter()
        core.search(0, None)
        record_other(OtherRow("ours: HNSW build (first hnsw search)", time.perf_counter() - started, len(records)))
        vacuum(url, [table])
        for round_number in range(args.rounds):
            with load_noted(f"hnsw round {round_number + 1}"):
                for ef in efs:
                    run_phase(f"hnsw ef={ef}", ef, contenders, [None], len(queries), truths)
    finally:
        for contender in contenders:
            contender.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="rows (20K real vectors + noisy copies)")
    parser.add_argument("--queries", type=int, default=200, help="held-out queries")
    parser.add_argument("--noise", type=float, default=0.05, help="sigma of the noisy copies (as bench_perf.py)")
    parser.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values, the same for every contender")
    parser.add_argument("--filter-ef", type=int, default=100, help="ef_search of the filtered HNSW rows")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the unfiltered HNSW rows")
    parser.add_argument(
        "--exact-queries", type=int, default=50, help="queries of the exact and filtered rows (one round)"
    )
    parser.add_argument("--lcpg-insert-sample", type=int, default=1000, help="rows for PGVectorStore.add_embeddings")
    parser.add_argument("--no-migration", action="store_true", help="leave out the migration rows")
    parser.add_argument(
        "--before",
        action="store_true",
        help="also the writes as before (keyword index from the start, staged upserts), one call of all rows",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only writes (with --before's rows) and unfiltered HNSW, with the core as before beside it (~6 min)",
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="only the diagnosis: server-side upsert on variations of our table, round-trip costs (~3 min)",
    )
    parser.add_argument("--diagnose-rows", type=int, default=20_000, help="rows of the insert diagnosis")
    parser.add_argument("--pgdata", type=Path, default=Path(tempfile.gettempdir()) / "svs-bench-pg")
    parser.add_argument(
        "--json", type=Path, default=None, help="default benchmarks/pg_results.json (pg_diagnosis.json)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    corpus = perf_corpus.load(build=False)
    x, how = make_set(corpus.vectors, args.n, args.noise)
    queries = corpus.query_vectors[: args.queries]
    query_texts = corpus.query_texts[: args.queries]
    buckets = np.arange(args.n, dtype=np.int64) % 1000
    truths: dict[str, list[set[int]]] = {"": exact_top(x, queries)}
    for case in FILTERS:
        truths[case.name] = exact_top(x, queries, case.mask(buckets))
    server, url = start_server(args.pgdata)
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "data": f"{how}; texts and metadata {{'bucket': i % 1000}}; {len(queries)} held-out queries",
        "corpus": corpus.describe(),
        "server": server_info(url),
        "args": {k: str(v) for k, v in vars(args).items()},
        "load_average_start": os.getloadavg(),
    }
    for key, value in info.items():
        print(f"# {key}: {value}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    try:
        records = make_records(x, corpus.texts, buckets)
        if args.diagnose:
            print(f"\n## diagnosis, {args.diagnose_rows:,} rows", flush=True)
            with load_noted("diagnosis"):
                run_diagnosis(url, records[: args.diagnose_rows], queries, args.filter_ef)
        else:
            compare(args, url, x, corpus.texts, buckets, records, query_texts, queries, truths, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        server.cleanup()
    info["load_average_end"] = os.getloadavg()
    print(f"\n# load average at start {info['load_average_start']}, at end {info['load_average_end']}")
    print_tables(RAW, LCPG)
    rows = [asdict(row) for row in SEARCHES.values()]
    out = args.json or HERE / ("pg_diagnosis.json" if args.diagnose else "pg_results.json")
    out.write_text(
        json.dumps(
            {
                "info": info,
                "search": rows,
                "other": [asdict(o) | {"per_s": o.per_s} for o in OTHERS],
                "explain": EXPLAINS,
                "storage": STORAGE,
                "diagnosis": DIAGNOSIS,
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
