"""The progress reporter: a bar on a terminal, periodic lines elsewhere, the rate without preparation time."""

from __future__ import annotations

import io

import pytest

from sqlitevec_store.progress import Progress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_interval_with_done_total_rate_and_time_left() -> None:
    clock, out = Clock(), io.StringIO()
    with Progress(100, "Embedding 100 chunks", stream=out, interval=10, clock=clock) as progress:
        for _ in range(10):
            clock.now += 3
            progress.update(10)
    assert out.getvalue().splitlines() == [
        "Embedding 100 chunks ...",
        "Embedding 100 chunks: 40/100 (40%), 3.3/s, about 18 s left",  # 12 s in: the first line after 10 s
        "Embedding 100 chunks: 80/100 (80%), 3.3/s, about 6 s left",
        "Embedding 100 chunks: 100/100 (100%) in 30.0 s, 3.3/s",
    ]


def test_rate_leaves_out_what_came_before_start_clock() -> None:
    """A model that loads for 25 s, then 4 chunks in 2 s: 2.0/s, not 0.15/s."""
    clock, out = Clock(), io.StringIO()
    progress = Progress(4, "Embedding 4 chunks", stream=out, clock=clock)
    clock.now += 25  # loading the model
    progress.start_clock()
    with progress:
        clock.now += 2
        progress.update(4)
    assert progress.rate == 2.0
    assert out.getvalue().splitlines()[-1] == "Embedding 4 chunks: 4/4 (100%) in 2.0 s, 2.0/s"


def test_disabled_or_empty_prints_nothing_but_still_counts() -> None:
    out = io.StringIO()
    with Progress(5, "Quiet", stream=out, enabled=False, interval=0) as progress:
        progress.update(5)
        progress.note("a status line")
    with Progress(0, "Nothing to do", stream=out, interval=0):
        pass
    assert out.getvalue() == ""
    assert progress.done == 5


def test_a_terminal_gets_a_bar() -> None:
    out = io.StringIO()
    with Progress(3, "Importing 3 records", stream=out, tty=True, interval=0) as progress:
        progress.update(3)
    text = out.getvalue()
    assert "Importing 3 records" in text and "/3" not in text  # click's bar, not the plain lines


def test_no_final_line_when_the_work_failed() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), Progress(3, "Importing 3 records", stream=out, interval=100) as progress:
        progress.update(1)
        raise RuntimeError("refused")
    assert out.getvalue() == "Importing 3 records ...\n"
