"""Running the ``sqlitevec-store`` command in process, through click's runner."""

from __future__ import annotations

from click.testing import CliRunner, Result

from sqlitevec_store.cli import cli


def run_cli(*args: str, code: int = 0, input: str | None = None) -> Result:
    """Invoke the CLI with ``args`` (and ``input`` on stdin); fail the test unless it exits with ``code``."""
    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exit_code == code, (result.output, result.exception)
    return result
