#!/usr/bin/env bash
# Build the sdist and the wheel (the wheel from the sdist), check them, then install the built
# wheel into a fresh virtual environment for each extra and run scripts/wheel_smoke.py there:
# what `pip install "sqlitevec-store[EXTRA]"` gives a user, not the editable checkout.
#
#   bash scripts/wheel_matrix.sh                 # core langchain llamaindex local all
#   bash scripts/wheel_matrix.sh core langchain  # a subset
#
# Needs .venv from scripts/setup.sh (it has `build` and `twine`). Everything else goes to a
# temporary directory, removed at the end (KEEP_WORK=1 keeps it). pip's cache (~/.cache/pip or
# $PIP_CACHE_DIR) is shared by the environments, so only the first one downloads. torch is
# installed first, pinned, for the extras that need sentence-transformers (as in setup.sh;
# override with TORCH_SPEC). WHEEL_JOBS environments (default 2) are made at the same time, each
# still fresh and its own; the heaviest (all, local) start first. Exits non-zero if any build
# check or any environment fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_PY="${BUILD_PYTHON:-$ROOT/.venv/bin/python}"
# Fresh environments are made from the interpreter .venv was made from.
PYTHON="${PYTHON:-$("$BUILD_PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')}"
TORCH_SPEC="${TORCH_SPEC-torch==2.13.0}"
JOBS="${WHEEL_JOBS:-2}"
EXTRAS=("$@")
[ ${#EXTRAS[@]} -gt 0 ] || EXTRAS=(core langchain llamaindex local all)  # "postgres" too on request: "all" covers its imports
PIP=(--quiet --disable-pip-version-check)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wheel-matrix.XXXXXX")
if [ "${KEEP_WORK:-0}" = 1 ]; then
  echo "== work directory kept: $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
start=$SECONDS

# -- build and check -------------------------------------------------------------------------
t=$SECONDS
if ! "$BUILD_PY" -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log"
  echo "FAIL: python -m build"
  exit 1
fi
"$BUILD_PY" -m twine check --strict "$WORK"/dist/*
WHEEL=$(echo "$WORK"/dist/*.whl)
SDIST=$(echo "$WORK"/dist/*.tar.gz)
# The wheel holds the three packages with their py.typed markers, the license, and nothing else.
"$BUILD_PY" - "$WHEEL" "$SDIST" <<'EOF'
import sys, tarfile, zipfile

wheel, sdist = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
packages = ("sqlitevec_store", "langchain_sqlitevec", "llamaindex_sqlitevec")
problems = [f"{p}/py.typed missing" for p in packages if f"{p}/py.typed" not in names]
problems += [f"unexpected file {n}" for n in names if n.split("/")[0] not in packages and ".dist-info/" not in n]
problems += [f"no module in {p}" for p in packages if f"{p}/__init__.py" not in names]
if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
    problems.append("LICENSE missing from the wheel's metadata")
members = {m.split("/", 1)[-1] for m in tarfile.open(sdist).getnames()}
problems += [f"sdist lacks {f}" for f in ("LICENSE", "CHANGELOG.md", "README.md", "tests/conftest.py") if f not in members]
for problem in problems:
    print("FAIL:", problem)
print(f"wheel: {len(names)} files, {sum(i.file_size for i in zipfile.ZipFile(wheel).infolist()) // 1024} KiB unpacked")
sys.exit(1 if problems else 0)
EOF
echo "== built and checked $(basename "$SDIST") and $(basename "$WHEEL") in $((SECONDS - t)) s"

# -- one fresh environment per extra ---------------------------------------------------------
run_one() {
  local extra=$1 venv="$WORK/venv-$1" log="$WORK/$1.log" t0=$SECONDS t1 t2 spec="$WHEEL"
  [ "$extra" = core ] || spec="$WHEEL[$extra]"
  "$PYTHON" -m venv "$venv"
  if [ -n "$TORCH_SPEC" ] && { [ "$extra" = local ] || [ "$extra" = all ]; }; then
    "$venv/bin/python" -m pip install "${PIP[@]}" "$TORCH_SPEC"
  fi
  "$venv/bin/python" -m pip install "${PIP[@]}" "$spec"
  t1=$SECONDS
  if [ "$extra" = core ]; then
    # The bare core pulls neither torch nor any framework.
    local unwanted
    unwanted=$("$venv/bin/python" -m pip list --format=freeze --disable-pip-version-check |
      grep -i -E '^(torch|sentence[-_]transformers|transformers|langchain[-_]core|llama[-_]index[-_]core)==' || true)
    if [ -n "$unwanted" ]; then
      echo "FAIL: pip list of the bare core has: $unwanted"
      return 1
    fi
  fi
  # Run from the work directory so that the checkout is not importable.
  (cd "$WORK" && HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" "$ROOT/scripts/wheel_smoke.py" "$extra")
  t2=$SECONDS
  echo "timing [$extra]: install $((t1 - t0)) s, smoke $((t2 - t1)) s"
}

# One environment, in a subshell with errexit on (it would be off inside an `if` condition), so any
# failed step ends it; its log goes to $WORK/EXTRA.log and its exit status to $WORK/EXTRA.rc.
run_logged() {
  local extra=$1 t=$SECONDS rc
  set +e
  (set -e; run_one "$extra") >"$WORK/$extra.log" 2>&1
  rc=$?
  set -e
  rm -rf "$WORK/venv-$extra"
  echo "$((SECONDS - t))" >"$WORK/$extra.seconds"
  echo "$rc" >"$WORK/$extra.rc"
}

report() {
  local extra=$1
  if [ "$(cat "$WORK/$extra.rc")" = 0 ]; then
    echo "== [$extra] passed in $(cat "$WORK/$extra.seconds") s ($(grep '^timing' "$WORK/$extra.log" | cut -d: -f2-))"
  else
    # (without pip's notes about this machine's unused local index folders)
    grep -v "is ignored: it is neither a file nor a directory" "$WORK/$extra.log" || true
    echo "== [$extra] FAILED after $(cat "$WORK/$extra.seconds") s"
    failed+=("$extra")
  fi
}

# The environments with torch take longest: start them first so that the light ones fill the gaps.
ORDER=()
for extra in all local; do
  for wanted in "${EXTRAS[@]}"; do [ "$wanted" != "$extra" ] || ORDER+=("$extra"); done
done
for extra in "${EXTRAS[@]}"; do
  [ "$extra" = all ] || [ "$extra" = local ] || ORDER+=("$extra")
done

failed=()
running=0
for extra in "${ORDER[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_logged "$extra" &
  running=$((running + 1))
done
wait
# Reported in the order asked for, each log whole (not interleaved).
for extra in "${EXTRAS[@]}"; do
  report "$extra"
done

echo "== wheel matrix took $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== failed: ${failed[*]}"
  exit 1
fi
echo "== all passed: ${EXTRAS[*]}"
