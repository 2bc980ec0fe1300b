#!/usr/bin/env bash
# Idempotent: the Python virtualenv the bindings are built, tested and benchmarked with
# (.tools/py), from bindings-python/requirements-dev.txt. Reinstalls only when that file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.tools/py"
REQ="bindings-python/requirements-dev.txt"
PYTHON="${PYTHON:-python3}"
log() { printf '[setup-python] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing $REQ"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$want" > "$stamp"
fi
log "venv ready: $VENV ($("$VENV/bin/python" --version 2>&1), maturin $("$VENV/bin/maturin" --version | cut -d' ' -f2))"
