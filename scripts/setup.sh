#!/usr/bin/env bash
# Create .venv and install sqlitevec-store with every extra and the test tools.
# Idempotent: re-running only installs what is missing.
#
# torch is installed first, pinned, so that sentence-transformers does not pull
# a multi-GB CUDA build: on our machines torch==2.13.0 is a CPU build served
# from local disk. Override with TORCH_SPEC="torch==X.Y.Z" (or TORCH_SPEC=""
# to let pip choose).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC-torch==2.13.0}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
if [ -n "$TORCH_SPEC" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "$TORCH_SPEC"
fi
# setuptools warns on every editable build ("BuildBackendWarning: Editable installation ... folders in your
# working directory with the same name as your package"), and recent pip shows it even with --quiet. It is
# advice, not a problem here: silence that one warning by its message; errors and other warnings still show.
PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Editable installation" \
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[all,test]"
echo "setup done: $(.venv/bin/python -c 'import sqlitevec_store, sqlite_vec; print("sqlitevec-store", sqlitevec_store.__version__, "sqlite-vec", sqlite_vec.__version__ if hasattr(sqlite_vec, "__version__") else "")')"
