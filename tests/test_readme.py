"""Every Python snippet in the README runs, so the README cannot drift."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sqlitevec_store import UncheckedModelWarning

README = Path(__file__).resolve().parent.parent / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.model
@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncheckedModelWarning)  # the snippets show the careful way
        exec(compile(SNIPPETS[index], f"README.md snippet {index}", "exec"), {"__name__": "readme"})


@pytest.mark.model
def test_readme_main_command_runs_the_quickstart_cleanly(tmp_path: Path) -> None:
    """The README's first command ends in examples/quickstart.py: it runs, and warns about nothing of ours."""
    quickstart = README.parent / "examples" / "quickstart.py"
    result = subprocess.run(
        [sys.executable, str(quickstart), "--db", str(tmp_path / "quickstart.db")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "expected section ranked first" in result.stdout
    assert "Warning" not in result.stderr, result.stderr[-2000:]


@pytest.mark.model
def test_readme_langchain_and_llamaindex_snippets_report_the_same_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README says: LangChain's distance for the backup sentence is 1 - LlamaIndex's score.
    monkeypatch.chdir(tmp_path)
    printed = {}
    for module in ("langchain_sqlitevec", "llamaindex_sqlitevec"):
        snippet = next(s for s in SNIPPETS if f"from {module} import" in s)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(snippet, f"README.md {module} snippet", "exec"), {"__name__": "readme"})
        printed[module] = out.getvalue().split()
    lc, li = printed["langchain_sqlitevec"], printed["llamaindex_sqlitevec"]
    assert lc[0] == li[0] == "backup"
    assert float(lc[1]) + float(li[1]) == pytest.approx(1.0, abs=0.0015)
    text = README.read_text(encoding="utf-8")
    assert f"prints `backup {li[1]}`" in text and f"distance `{lc[1]} = 1 - {li[1]}`" in text


@pytest.mark.model
def test_readme_apps_run_unchanged_on_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str) -> None:
    """The README's promise: the LangChain and LlamaIndex examples, with only ``db_path`` made a URL, print the same."""
    monkeypatch.chdir(tmp_path)
    for module in ("langchain_sqlitevec", "llamaindex_sqlitevec"):
        snippet = next(s for s in SNIPPETS if f"from {module} import" in s)
        assert snippet.count('db_path="notes.db"') == 1
        printed = []
        for source in (snippet, snippet.replace('db_path="notes.db"', f"db_path={pg_url!r}")):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(source, f"README.md {module} snippet", "exec"), {"__name__": "readme"})
            printed.append(out.getvalue())
        assert printed[0] == printed[1] and "backup" in printed[0], printed


def _cli_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line") :]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)[0]


@pytest.mark.model
def test_readme_cli_block_runs(tmp_path: Path) -> None:
    """Run each command of the README's command-line block, in order, on the sample docs."""
    import os
    import shlex
    import shutil
    import subprocess
    import sys

    shutil.copytree(README.parent / "examples" / "docs", tmp_path / "docs")
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "HF_HUB_OFFLINE": "1"}
    # the ONNX export is shared with the ONNX tests' (one export per test session, in a temporary folder)
    from tests.onnx_support import onnx_available, session_cache_dir

    if onnx_available():
        env["SQLITEVEC_STORE_CACHE_DIR"] = str(session_cache_dir())
    outputs = []
    for line in _cli_block().splitlines():
        command = line.split("  #")[0].strip()
        if not command or ("--backend onnx" in command and not onnx_available()):
            continue
        argv = shlex.split(command)
        assert argv[0] == "sqlitevec-store"
        result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
    assert "Restoring a backup" in outputs[2]
    assert (tmp_path / "dump.jsonl").exists() and (tmp_path / "other.db").exists()
