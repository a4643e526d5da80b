"""Progress of long work (embedding and writing many texts), reported on stderr.

One small reporter serves the command line and the adapters' add paths:

* On a terminal, a bar (click's), redrawn in place.
* Anywhere else (output piped, logged, run by a scheduler), one plain line
  every ``interval`` seconds and one at the end, each with done/total and the
  rate, so a log shows that a long run is alive and how far it got::

    Embedding 2400 chunks from 31 files: 640/2400 (27%), 21.3/s, about 83 s left
    Embedding 2400 chunks from 31 files: 2400/2400 (100%) in 112.6 s, 21.3/s

The rate is measured from :meth:`Progress.start_clock` (by default the
reporter's creation), so work done before it, such as loading a model, does
not count against it. Messages never go to stdout, which may carry data
(``--json``, ``export``). click is imported only when a bar is drawn, so the
core stays light.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

__all__ = ["DEFAULT_INTERVAL", "Progress"]

#: Seconds between two progress lines when the output is not a terminal.
DEFAULT_INTERVAL = 10.0


class Progress:
    """Done/total of one job, as a bar on a terminal or as periodic lines elsewhere.

    Use it as a context manager; call :meth:`update` with the number of items
    just finished. A disabled reporter (``enabled=False``) prints nothing.

    Args:
        total: How many items the job has.
        label: What is done, e.g. ``"Embedding 120 chunks from 4 files"``.
        enabled: Report at all (``False``: a silent reporter, for ``--quiet``).
        stream: Where to write (default ``sys.stderr``, looked up on entry).
        interval: Seconds between two lines when ``stream`` is not a terminal.
        tty: Draw a bar (default: whether ``stream`` is a terminal).
        clock: The time source, in seconds (tests pass a fake).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> with Progress(4, "Embedding 4 texts", stream=out, interval=0) as progress:
        ...     progress.update(4)
        >>> out.getvalue().splitlines()[-1].startswith("Embedding 4 texts: 4/4 (100%) in ")
        True

    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float = DEFAULT_INTERVAL,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.enabled = enabled and self.total > 0
        self.done = 0
        self._stream = stream
        self._interval = interval
        self._tty = tty
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._bar: Any = None
        self._bar_context: Any = None

    # -- context ------------------------------------------------------------

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        stream = self._stream if self._stream is not None else sys.stderr
        self._stream = stream
        if self._tty is None:
            isatty = getattr(stream, "isatty", None)
            self._tty = bool(isatty()) if isatty is not None else False
        if self._tty:
            import click

            self._bar_context = click.progressbar(length=self.total, label=self.label, file=stream)
            self._bar = self._bar_context.__enter__()
        else:
            self._write(f"{self.label} ...")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self.enabled:
            return
        if self._bar_context is not None:
            self._bar_context.__exit__(exc_type, exc, traceback)
            self._bar = self._bar_context = None
        elif exc_type is None:
            self._write(self._line(final=True))

    # -- reporting ----------------------------------------------------------

    def start_clock(self) -> None:
        """Measure the rate from now (call it once slow preparation, like loading a model, is over)."""
        self._started = self._last_line = self._clock()

    @property
    def elapsed(self) -> float:
        """Seconds since the clock started."""
        return max(self._clock() - self._started, 0.0)

    @property
    def rate(self) -> float | None:
        """Items per second since the clock started (``None`` before any time has passed)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else None

    def update(self, n: int) -> None:
        """Count ``n`` more items as done, and report if it is time."""
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last_line >= self._interval and self.done < self.total:
            self._last_line = now
            self._write(self._line(final=False))

    def note(self, message: str) -> None:
        """Write one status line (e.g. ``"Loading the embedding model ..."``), if enabled."""
        if self.enabled:
            self._write(message)

    def _line(self, *, final: bool) -> str:
        percent = 100 * self.done // self.total if self.total else 100
        text = f"{self.label}: {self.done}/{self.total} ({percent}%)"
        rate = self.rate
        if final:
            text += f" in {self.elapsed:.1f} s"
        if rate is not None:
            text += f", {rate:.1f}/s"
            if not final and rate > 0:
                text += f", about {round((self.total - self.done) / rate)} s left"
        return text

    def _write(self, line: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(line + "\n")
        stream.flush()
