#!/usr/bin/env bash
# Run the core test suite under the machine's system Python (Debian/Ubuntu: /usr/bin/python3).
#
# Its standard-library sqlite3 can load extensions but is an older SQLite (Debian 12: 3.40.1)
# on which FTS5 triggers fail under trusted_schema=OFF; sqlitevec_store/connection.py probes
# each driver and must pick sqlean there. This runs tests/core in a second venv (.venv-system)
# so both drivers are exercised. Installs Debian's python3-venv when it is missing (needs root).
# No torch here: tests that need the model or ONNX skip.
#
# Usage: bash scripts/test_system_python.sh [pytest args...]   (SYSTEM_PYTHON=/path overrides)
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM_PYTHON="${SYSTEM_PYTHON:-/usr/bin/python3}"
if [ ! -x "$SYSTEM_PYTHON" ]; then
  echo "no system Python at $SYSTEM_PYTHON; skipping the system-Python run"
  exit 0
fi
if ! "$SYSTEM_PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-venv
  else
    echo "$SYSTEM_PYTHON has no venv module and apt-get is not available" >&2
    exit 1
  fi
fi
if [ ! -x .venv-system/bin/python ]; then
  "$SYSTEM_PYTHON" -m venv .venv-system
fi
.venv-system/bin/python -m pip install --quiet --disable-pip-version-check -e . \
  "pytest>=8" "pytest-asyncio>=0.23" "hypothesis>=6.100"
.venv-system/bin/python - <<'PY'
import sqlite3

from sqlitevec_store.backends.sqlite.connection import chosen_driver

print(f"system Python: stdlib sqlite3 is SQLite {sqlite3.sqlite_version}; the core uses {chosen_driver()}")
PY
.venv-system/bin/python -m pytest tests/core -q -p no:randomly "$@"
