"""Crash tests' shared helpers: start a child process, wait for its ``START`` line, SIGKILL it after a delay."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import pytest

#: Crash tests need SIGKILL, select() on pipes and fork.
posix_only = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL, select() on pipes and fork")


class KilledRun(NamedTuple):
    """What a killed child printed, and whether it finished before the kill landed."""

    out: str
    err: str
    finished: bool


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's next stdout line; fails the test if none comes within ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail(f"child printed nothing for {timeout} s")
    return proc.stdout.readline()


def kill_after_start(
    argv: Sequence[str],
    delay: float,
    *,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 60,
    after_lines: int = 0,
    line_prefix: str = "BATCH",
) -> KilledRun:
    """Run ``argv``; once it prints ``START``, and then ``after_lines`` lines starting with ``line_prefix``, SIGKILL it.

    The kill comes ``delay`` seconds after the last of those lines.

    The child must print ``START`` first and ``DONE`` when it finished its work;
    it must end by the kill or by itself (any other exit fails the test).
    Counting progress lines before the delay lets a kill land inside the
    child's work whatever the machine's speed.
    """
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=None if env is None else dict(env)
    )
    seen: list[str] = []
    try:
        line = read_line(proc, start_timeout)
        assert line.strip() == "START", line + proc.communicate(timeout=30)[1]
        while sum(1 for text in seen if text.startswith(line_prefix)) < after_lines and "DONE" not in seen:
            seen.append(read_line(proc, start_timeout).strip())
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (-signal.SIGKILL, 0), err
    out = "".join(f"{text}\n" for text in seen) + out
    return KilledRun(out, err, "DONE" in out)
