"""Smoke test of examples/langchain_whole_app.py (real model: marked ``model``), each run a fresh process.

First run: everything embedded and indexed into one file. Second run, a new
process over the same file: every section skipped, nothing embedded, the same
answers. Third run after an edit: only the edited section is replaced, and
the answer shows the edit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sqlitevec_store import Database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "langchain_whole_app.py"

pytestmark = pytest.mark.model

SUMMARY = re.compile(
    r"sections: (\d+) added, (\d+) deleted, (\d+) unchanged; files: (\d+) re-split, (\d+) removed; "
    r"embedded (\d+) new texts"
)


def run_example(db: Path, docs: Path) -> tuple[list[int], list[str]]:
    """Run the example in a fresh interpreter; its summary numbers and its answer lines."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--db", str(db), "--docs", str(docs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=db.parent,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    found = SUMMARY.fullmatch(lines[0])
    assert found is not None, result.stdout
    return [int(n) for n in found.groups()], lines[1:]


def test_whole_app_builds_reopens_in_a_fresh_process_and_follows_an_edit(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "examples" / "docs", docs)
    db = tmp_path / "app.db"

    (added, deleted, unchanged, resplit, removed, embedded), answers = run_example(db, docs)
    assert added > 40 and (deleted, unchanged, removed) == (0, 0, 0) and resplit == 4 and embedded > added
    text = "\n".join(answers)
    assert "section: Backup and Restore > Restoring a backup (backup-and-restore.md)" in text
    assert "section: Configuration > Server settings > Listening port and address (configuration.md)" in text
    assert "parent:  configuration.md" in text
    assert "key-value ['embedding-cache', 'parents']" in text
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("app.db")) in (
        ["app.db"],
        ["app.db", "app.db-shm", "app.db-wal"],
    )

    # A fresh process over the same file: nothing to do, nothing embedded, the same answers.
    again, answers_again = run_example(db, docs)
    assert again == [0, 0, added, 0, 0, 0]
    assert answers_again == answers

    # Edit one section: only it is replaced, the file's passages re-split, almost nothing embedded.
    config = docs / "configuration.md"
    config.write_text(config.read_text(encoding="utf-8").replace("port 8420", "port 9431"), encoding="utf-8")
    edited, answers_edited = run_example(db, docs)
    assert edited[:5] == [1, 1, added - 1, 1, 0]
    assert 1 <= edited[5] <= 3  # the section, and the one or two passages holding the edit
    assert "port 9431" in "\n".join(answers_edited)

    with Database(db) as database:
        assert database.record_keys("sqlitevec/sections").count() == added
        assert database.collection("sections", create=False).count() == added
        assert database.key_value("parents").count() == 4
