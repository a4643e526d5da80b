"""Output of the command line: status lines on stderr, the model-loading notice, tables and previews.

Progress and status lines go to stderr, never stdout, which may carry data
(``--json``, ``export``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import click

from ..embeddings import export_logger
from ..ingest import IngestSummary
from ..model_choice import Embedder
from ..records import Hit

__all__ = ["echo_hits", "echo_index_summary", "human_bytes", "load_model", "show_slow_steps", "status", "table", "warn"]

#: Metadata keys written by the chunkers, left out of the query table's metadata column.
CHUNK_KEYS = frozenset({"source", "heading_path", "heading", "level", "chunk_index", "part"})


PREVIEW_CHARS = 100


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def status(message: str, *, quiet: bool) -> None:
    """A line on stderr saying what is happening (never stdout, which may carry data)."""
    if not quiet:
        click.echo(message, err=True)


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


class _EchoHandler(logging.Handler):
    """Shows the embedder's one-time slow steps (ONNX export, quantization) on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.getMessage()} ...", err=True)


@contextmanager
def show_slow_steps(*, quiet: bool) -> Iterator[None]:
    """While this is open, the embedder's export and quantization messages go to stderr."""
    if quiet:
        yield
        return
    handler = _EchoHandler(logging.INFO)
    was_level = export_logger.level
    export_logger.addHandler(handler)
    if export_logger.getEffectiveLevel() > logging.INFO:
        export_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        export_logger.removeHandler(handler)
        export_logger.setLevel(was_level)


def load_model(embedder: Embedder, *, quiet: bool) -> float:
    """Load the model before the first batch, saying so; the seconds it took.

    Loading takes from a few seconds to half a minute (torch, the weights,
    a first ONNX export), so it is announced, and it is kept out of the
    embedding rate.
    """
    load = getattr(embedder, "load", None)
    if load is None:  # an embedder without a separate load step (tests' fakes)
        return 0.0
    backend = getattr(embedder, "backend", None)
    on = f" ({backend})" if backend else ""
    status(f"Loading the embedding model {embedder.model_id}{on} ...", quiet=quiet)
    started = time.perf_counter()
    with show_slow_steps(quiet=quiet):
        load()
    seconds = time.perf_counter() - started
    status(f"Model loaded in {seconds:.1f} s.", quiet=quiet)
    return seconds


def echo_index_summary(summary: IngestSummary, collection_name: str, *, seconds: float, load_seconds: float) -> None:
    rate = summary.chunks_written / summary.embed_seconds if summary.embed_seconds > 0 else 0.0
    unread = f", {summary.files_unreadable} unreadable" if summary.files_unreadable else ""
    loading = f"model load {load_seconds:.2f} s, " if load_seconds else ""
    click.echo(
        f"Files:  {summary.files_indexed} indexed, {summary.files_unchanged} unchanged, "
        f"{summary.files_removed} removed{unread}"
    )
    click.echo(
        f"Chunks: {summary.chunks_written} written (embedded {summary.chunks_embedded}, "
        f"reused {summary.chunks_reused}), {summary.chunks_deleted} deleted; "
        f"{collection_name!r} holds {summary.total}"
    )
    click.echo(f"Time:   {seconds:.2f} s ({loading}embedding and writing {rate:.1f} chunks/s)")


def _heading(hit: Hit) -> str:
    path = hit.metadata.get("heading_path")
    if isinstance(path, list) and all(isinstance(p, str) for p in path):
        return " > ".join(path)
    heading = hit.metadata.get("heading")
    return heading if isinstance(heading, str) else ""


def _preview(hit: Hit, width: int = PREVIEW_CHARS) -> str:
    text = hit.text
    heading = _heading(hit)
    if heading and text.startswith(heading):
        text = text[len(heading) :]  # split_markdown starts chunks with their heading path
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _other_metadata(hit: Hit) -> str:
    other = {k: v for k, v in hit.metadata.items() if k not in CHUNK_KEYS}
    return json.dumps(other, ensure_ascii=False, separators=(",", ":")) if other else ""


def echo_hits(hits: Sequence[Hit], *, as_json: bool) -> None:
    """Print search hits: one JSON object per line, or a table of scores, headings and previews."""
    if as_json:
        for hit in hits:
            obj = {
                "id": hit.id,
                "similarity": hit.similarity,
                "distance": hit.distance,
                "doc_id": hit.doc_id,
                "metadata": hit.metadata,
                "text": hit.text,
            }
            click.echo(json.dumps(obj, ensure_ascii=False))
        return
    if not hits:
        click.echo("No results.", err=True)
        return
    with_metadata = any(_other_metadata(h) for h in hits)
    headers = ["score", "id", "heading", *(["metadata"] if with_metadata else []), "preview"]
    rows = [
        [
            f"{hit.similarity:.4f}",
            hit.id,
            _shorten(_heading(hit), 60),
            *([_shorten(_other_metadata(hit), 60)] if with_metadata else []),
            _preview(hit),
        ]
        for hit in hits
    ]
    for line in table(headers, rows, right=[0]):
        click.echo(line)
