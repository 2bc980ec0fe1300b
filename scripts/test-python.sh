#!/usr/bin/env bash
# Installs the wheel in dist/ into a fresh virtualenv (not editable) and runs the Python
# tests against the chaos upstream. `make test-python` builds the wheel first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/.tools/py-test"
CARGO="${CARGO:-cargo}"
log() { printf '[test-python] %s\n' "$*"; }

shopt -s nullglob
wheels=(dist/tether-*.whl)
if [ ${#wheels[@]} -ne 1 ]; then
  echo "expected exactly one dist/tether-*.whl (run make wheel), found ${#wheels[@]}" >&2
  exit 1
fi

log "building the chaos upstream"
$CARGO build --quiet -p tether-chaos --bin tether-chaos
export TETHER_CHAOS_BIN="$ROOT/target/debug/tether-chaos"

log "fresh venv $VENV"
rm -rf "$VENV"
"${PYTHON:-python3}" -m venv "$VENV"
# The test tools at the versions the bindings are developed with; tether's own dependencies
# come from its wheel metadata, constrained to the same pins.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c bindings-python/requirements-dev.txt "${wheels[0]}[fastapi]" pytest pytest-asyncio uvloop \
  uvicorn

# The tests must import the installed wheel, never the source tree.
installed=$(cd / && "$VENV/bin/python" -c 'import tether; print(tether.__file__)')
case "$installed" in
  "$VENV"/*) log "testing $installed" ;;
  *) echo "tether imported from $installed, not from the fresh venv" >&2; exit 1 ;;
esac

cd bindings-python
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
