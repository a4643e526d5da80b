"""Where the time of a bulk write goes: the core's upsert beside each of its parts, on the same records.

Run:
    python benchmarks/bench_writes.py                      # 200,000 records, 3 rounds (~3 min)
    python benchmarks/bench_writes.py --n 1000000 --rounds 1
    python benchmarks/bench_writes.py --compare ../before  # also the core of another checkout, same rounds

Records: precomputed unit vectors (``--dim``, default 384, seeded Gaussian)
and English paragraphs (the Markdown of this repository and the installed
packages' documentation, cycled, each with a serial so no two texts are
equal), metadata ``{"source": ..., "n": ...}``. Each method writes all of them
into a fresh file in one transaction; the rounds interleave the methods, and
the table gives each method's median records per second.

Methods:

* ``core upsert``: ``Collection.upsert`` over a generator of ``Record`` (one
  call = one transaction; the keyword index complete when it returns).
* ``core upsert (--compare)``: the same call, run by the checkout given with
  ``--compare`` in a subprocess, on the same records.
* ``check records``: building and checking the records alone (``check_batches``), no SQL.
* ``raw items``: the records table alone (``executemany``), no keyword index.
* ``raw items + FTS trigger``: the same with a trigger indexing each inserted
  row (schema versions 2 and 3).
* ``raw items + FTS fill``: the same, then one ``INSERT ... SELECT`` into the
  index (schema version 4's way).
* ``raw vec0``: the vectors alone into a vec0 table (``executemany``).

Asserts nothing; prints a markdown table and writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# the code measured: this checkout, or (for --compare's subprocess) the one SVS_BENCH_ROOT names
sys.path.insert(0, os.environ.get("SVS_BENCH_ROOT", str(ROOT)))

from sqlitevec_store import Database, Record, __version__  # noqa: E402
from sqlitevec_store.backends.sqlite import ddl  # noqa: E402
from sqlitevec_store.validation import check_batches  # noqa: E402

TOKENIZER = ddl.FTS_TOKENIZER


def paragraphs() -> list[str]:
    """English paragraphs of 200-2,000 characters from Markdown and reST files on this machine, in a fixed order."""
    roots = [ROOT, Path(np.__file__).parents[1]]
    found: list[str] = []
    for root in roots:
        for path in sorted([*root.rglob("*.md"), *root.rglob("*.rst")]):
            if ".git" in path.parts:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            found.extend(p.strip() for p in text.split("\n\n") if 200 <= len(p.strip()) <= 2000)
    return found


class Corpus:
    """The records every method writes: texts, metadata and vectors, made once."""

    def __init__(self, n: int, dim: int) -> None:
        """Make ``n`` records of ``dim``-dimensional unit vectors."""
        base = paragraphs()
        self.texts = [f"{base[i % len(base)]} ({i})" for i in range(n)]
        self.metadata = [{"source": f"file-{i % 1000}.md", "n": i} for i in range(n)]
        rng = np.random.default_rng(0)
        self.vectors = rng.normal(size=(n, dim)).astype(np.float32)
        self.vectors /= np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.distinct_paragraphs = len(base)

    def __len__(self) -> int:
        return len(self.texts)

    def records(self) -> Iterator[Record]:
        """The records, made as they are consumed."""
        for i, text in enumerate(self.texts):
            yield Record(text, self.vectors[i], metadata=self.metadata[i], id=f"id-{i}")


def fresh_file(workdir: Path, name: str) -> Path:
    path = workdir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def core_upsert(corpus: Corpus, path: Path) -> float:
    with Database(path) as db:
        collection = db.collection("bench")
        start = time.perf_counter()
        collection.upsert(corpus.records())
        return time.perf_counter() - start


def check_only(corpus: Corpus, path: Path) -> float:
    start = time.perf_counter()
    for _ in check_batches(corpus.records(), 1000):
        pass
    return time.perf_counter() - start


def raw(kind: str) -> Callable[[Corpus, Path], float]:
    """A raw write of one part: ``items``, ``items+trigger``, ``items+fill`` or ``vec0``."""

    def run(corpus: Corpus, path: Path) -> float:
        with Database(path) as db:
            conn = db.conn
            conn.execute("CREATE TABLE items (pk INTEGER PRIMARY KEY, id TEXT UNIQUE, text TEXT, metadata TEXT)")
            if kind != "items":
                conn.execute(
                    "CREATE VIRTUAL TABLE fts USING fts5(text, content='items', content_rowid='pk', "
                    f"tokenize='{TOKENIZER}')"
                )
            if kind == "items+trigger":
                conn.execute(
                    "CREATE TRIGGER ai AFTER INSERT ON items BEGIN "
                    "INSERT INTO fts (rowid, text) VALUES (new.pk, new.text); END"
                )
            if kind == "vec0":
                conn.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{corpus.vectors.shape[1]}])")
            n = len(corpus)
            if kind == "vec0":
                rows: list[tuple[object, ...]] = [(i + 1, corpus.vectors[i].tobytes()) for i in range(n)]
            else:
                rows = [(i + 1, f"id-{i}", corpus.texts[i], json.dumps(corpus.metadata[i])) for i in range(n)]
            start = time.perf_counter()
            conn.execute("BEGIN")
            if kind == "vec0":
                conn.executemany("INSERT INTO v (rowid, embedding) VALUES (?, ?)", rows)
            else:
                for at in range(0, n, 1000):  # the core's chunks
                    conn.executemany(
                        "INSERT INTO items (pk, id, text, metadata) VALUES (?, ?, ?, ?)", rows[at : at + 1000]
                    )
                if kind == "items+fill":
                    conn.execute(
                        "INSERT INTO fts (rowid, text) SELECT pk, text FROM items WHERE pk >= ? ORDER BY pk", (1,)
                    )
            conn.execute("COMMIT")
            return time.perf_counter() - start

    return run


def other_checkout(checkout: Path, n: int, dim: int) -> Callable[[Corpus, Path], float]:
    """``core upsert`` run by another checkout's code, in a subprocess (same records: same seed and texts)."""

    def run(corpus: Corpus, path: Path) -> float:
        env = {**os.environ, "SVS_BENCH_ROOT": str(checkout)}
        args = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child-core",
            str(path),
            "--n",
            str(n),
            "--dim",
            str(dim),
        ]
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
        return float(done.stdout.strip().splitlines()[-1])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout whose core upsert runs beside this one")
    parser.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "bench_writes.json")
    parser.add_argument("--child-core", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_core:  # a --compare subprocess: time the core upsert of the checkout on PYTHONPATH
        print(core_upsert(Corpus(args.n, args.dim), args.child_core))
        return

    corpus = Corpus(args.n, args.dim)
    methods: dict[str, Callable[[Corpus, Path], float]] = {"core upsert": core_upsert}
    if args.compare:
        methods[f"core upsert ({args.compare})"] = other_checkout(args.compare.resolve(), args.n, args.dim)
    methods |= {
        "check records": check_only,
        "raw items": raw("items"),
        "raw items + FTS trigger": raw("items+trigger"),
        "raw items + FTS fill": raw("items+fill"),
        "raw vec0": raw("vec0"),
    }
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    sizes: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for round_ in range(args.rounds):
            for i, (name, method) in enumerate(methods.items()):
                path = fresh_file(workdir, f"m{i}")
                elapsed = method(corpus, path)
                seconds[name].append(elapsed)
                sizes[name] = path.stat().st_size / 1e6 if path.exists() else 0.0
                print(f"round {round_ + 1}: {name}: {elapsed:.2f} s", file=sys.stderr, flush=True)
    print(
        f"\n{len(corpus):,} records, {args.dim} dimensions, texts from {corpus.distinct_paragraphs:,} paragraphs; "
        f"sqlitevec-store {__version__}, Python {platform.python_version()}, {os.cpu_count()} cores; "
        f"median of {args.rounds}\n"
    )
    print("| method | seconds | records/s | file MB |\n|---|---|---|---|")
    results = {}
    for name, values in seconds.items():
        median = statistics.median(values)
        results[name] = {"seconds": values, "median_s": median, "records_per_s": len(corpus) / median}
        print(f"| {name} | {median:.2f} | {len(corpus) / median:,.0f} | {sizes[name]:.0f} |")
    args.json.write_text(json.dumps({"n": len(corpus), "dim": args.dim, "results": results}, indent=1))


if __name__ == "__main__":
    main()
