"""Importing an adapter without its framework names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A meta-path finder that makes one top-level package look uninstalled, as in a
# fresh environment with only ``pip install sqlitevec-store``.
_BLOCKER = textwrap.dedent(
    """
    import sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == {blocked!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    from sqlitevec_store import MissingDependencyError, SqliteVecStoreError
    try:
        import {adapter}
    except ModuleNotFoundError as exc:
        assert isinstance(exc, MissingDependencyError) and isinstance(exc, SqliteVecStoreError), type(exc)
        assert exc.name and exc.name.startswith({blocked!r}), exc.name
        assert isinstance(exc.__cause__, ModuleNotFoundError)
        print(exc)
    else:
        raise SystemExit("the import succeeded")
    """
)


@pytest.mark.parametrize(
    ("adapter", "blocked", "extra"),
    [
        ("llamaindex_sqlitevec", "llama_index", "sqlitevec-store[llamaindex]"),
        ("langchain_sqlitevec", "langchain_core", "sqlitevec-store[langchain]"),
    ],
)
def test_importing_an_adapter_without_its_framework_names_the_extra(adapter: str, blocked: str, extra: str) -> None:
    code = _BLOCKER.format(adapter=adapter, blocked=blocked)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert f'pip install "{extra}"' in result.stdout


def test_a_module_missing_inside_the_framework_is_not_blamed_on_the_extra() -> None:
    # langchain-core installed but its own dependency missing: the original error, unchanged.
    code = _BLOCKER.format(adapter="langchain_sqlitevec", blocked="pydantic").split("from sqlitevec_store")[0]
    code += textwrap.dedent(
        """
        from sqlitevec_store import MissingDependencyError
        try:
            import langchain_sqlitevec
        except ImportError as exc:
            assert not isinstance(exc, MissingDependencyError) and "pydantic" in str(exc), repr(exc)
        else:
            raise SystemExit("the import succeeded")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
